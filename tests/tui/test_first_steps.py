"""The first-run guide («Первые шаги»): shown on the demo's first run, ticked as the store shows
each step done, hidden with ctrl+g and brought back from the palette or by the key help lists."""

from __future__ import annotations

import json

import pytest

from core.loop.corrections import correct_message
from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.app import NastavnikApp
from tui.dialogs.help import HelpScreen
from tui.i18n import set_lang
from tui.widgets.first_steps import FirstStepsGuide
from tui.widgets.pair_table import PairTable


@pytest.fixture(autouse=True)
def _english_after():
    yield
    set_lang("en")


@pytest.fixture
def demo_ws(home):
    """What `nastavnik demo` leaves: approved pairs and the demo base registered."""
    ws = Workspace.open(home)
    with ws.store() as store:
        for q, a in (("Что такое токен?", "Кусочек текста."), ("Что такое эпоха?", "Один проход по данным.")):
            store.set_status([store.add_pair(q, a).id], "approved")
        store.add_model("base", "demo", str(ws.models_dir / "demo"), meta={"demo": True})
    return ws


def drawn(widget) -> list[str]:
    """The lines a widget draws on the screen, as text."""
    return ["".join(seg.text for seg in widget.render_line(y)).rstrip() for y in range(widget.region.height)]


def guide(app) -> FirstStepsGuide:
    return app.query_one(FirstStepsGuide)


async def ticked(pilot, text: str) -> str:
    """Ask the app to read the store again and wait until the guide says ``text``."""
    for _ in range(50):
        pilot.app._read_guide()
        await settle(pilot)
        if text in guide(pilot.app).text():
            return guide(pilot.app).text()
    raise AssertionError(f"the guide never said {text!r}:\n{guide(pilot.app).text()}")


@async_test
async def test_the_guide_shows_on_the_demos_first_run_and_ticks_each_step(demo_ws):
    app = NastavnikApp(demo_ws, "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        g = guide(app)
        assert g.display and not g.compact
        text = g.text()
        assert "Первые шаги" in text and "Это демо" in text and "nastavnik demo" in text
        for line in ("☐ 1 Обучить: 2, затем ctrl+s", "☐ 2 Экспорт и чат: c на готовом запуске",
                     "☐ 3 Исправить ответ: e в чате", "☐ 4 Обучить снова: 2, затем ctrl+s"):
            assert line in text
        # the first screen still has its table, the guide above the status bar, in 80 columns
        assert app.query_one(PairTable).region.height >= 8
        assert g.region.bottom == app.query_one("#status-bar").region.y
        shown = drawn(g)
        assert len(shown) <= 6 and all(step in "\n".join(shown) for step in ("1 Обучить", "2 Экспорт и чат", "3 Исправить",
                                                                           "4 Обучить снова", "ctrl+g — скрыть"))

        # the other rooms keep one line of it, with the next step's keys
        await pilot.press("2")
        await settle(pilot)
        assert g.compact and g.region.height == 1
        assert "☐ обучить" in g.text() and "далее: 2, затем ctrl+s" in g.text()

        with demo_ws.store() as store:
            run = store.create_run(base="demo", preset="demo", backend="hf", config={})
            store.update_run(run.id, status="done")
        assert "далее: c на готовом запуске" in await ticked(pilot, "✓ обучить")
        await settle(pilot)
        assert g.region.height == 1, drawn(g)  # the longest of its lines still fits 80 columns

        with demo_ws.store() as store:
            store.add_model("gguf", "run-1-q8_0", str(demo_ws.exports_dir / "run-1.gguf"), run_id=run.id)
            conv = store.add_conversation(["demo", "run-1-q8_0"])
            store.add_message(conv.id, "user", "Что такое токен?")
            answer = store.add_message(conv.id, "assistant", "токен токен", model="run-1-q8_0")
        assert "далее: e в чате" in await ticked(pilot, "✓ чат")

        with demo_ws.store() as store:
            correct_message(store, answer.id, "Кусочек текста, с которым работает модель.", status="approved",
                            replace=1)
        assert "далее: 2, затем ctrl+s" in await ticked(pilot, "✓ исправить")

        with demo_ws.store() as store:
            store.create_run(base="demo", preset="demo", backend="hf", config={})
        await ticked(pilot, "✓ снова")
        await pilot.press("ctrl+pageup")  # back to Pairs: the whole guide, every step ticked
        await settle(pilot)
        text = guide(app).text()
        assert "Цикл пройден" in text and "☐" not in text and text.count("✓") == 4


@async_test
async def test_ctrl_g_hides_the_guide_for_good_and_the_palette_brings_it_back(demo_ws):
    app = NastavnikApp(demo_ws, "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert guide(app).display
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert not guide(app).display
        assert app.query_one(PairTable).region.height >= 15  # the table has its lines back
    assert json.loads(demo_ws.settings_path.read_text())["first_steps"] is False

    app = NastavnikApp(demo_ws, "ru")  # the next start remembers it
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not guide(app).display
        # help lists the key that brings it back
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert any("ctrl+g" in keys and "первые шаги" in desc for keys, desc, *_ in app.screen.entries)
        await pilot.press("escape")
        await settle(pilot)
        # the palette's «Первые шаги» shows it again
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Первые шаги")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert guide(app).display and "Это демо" in guide(app).text()
    assert json.loads(demo_ws.settings_path.read_text())["first_steps"] is True


@async_test
async def test_a_workspace_without_the_demo_opens_without_the_guide_until_asked(home):
    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_pair("Что такое LoRA?", "Низкоранговый адаптер.")
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not guide(app).display
        await pilot.press("ctrl+g")
        await settle(pilot)
        text = guide(app).text()
        assert guide(app).display and "First steps" in text and "your own pairs" in text and "☐ 1 Train: 2, then ctrl+s" in text


@async_test
async def test_the_guide_names_the_keys_as_the_keymap_setting_remaps_them(demo_ws):
    """The guide read «2, затем ctrl+s» whatever the ``keymap`` setting bound: it names the keys
    bound now, in the whole guide and in its one line, and the keys it names do what it says."""
    demo_ws.update_settings(keymap={"app.tab.train": "f7", "train.k.start": "f5", "train.export_chat": "o",
                                    "chat.edit": "k", "app.guide": "ctrl+o", "app.help": "f1", "app.tab.evaluate": "f4"})
    app = NastavnikApp(demo_ws, "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = guide(app).text()
        for line in ("☐ 1 Обучить: f7, затем f5", "☐ 2 Экспорт и чат: o на готовом запуске", "☐ 3 Исправить ответ: k в чате",
                     "☐ 4 Обучить снова: f7, затем f5", "ctrl+o — скрыть; вернуть: ctrl+o, справка (f1)"):
            assert line in text, text
        assert "ctrl+s" not in text and "ctrl+g" not in text
        await pilot.press("f7")  # the key it names opens Train, where the one line names the next keys
        await settle(pilot)
        assert app.query_one("TabbedContent#rooms").active == "train"
        assert guide(app).compact and "далее: f7, затем f5" in guide(app).text()
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert not guide(app).display
