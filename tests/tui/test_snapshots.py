"""Snapshots of every tab at 80×24 and 120×40, in Russian and English.

The pairs are written with a frozen clock so the "updated" column is the same on every
run; the status bar shows a fixed workspace label instead of the temporary path.
Update after a deliberate change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs in ``__snapshots__/``.
"""

from __future__ import annotations

import itertools

import pytest

from core.workspace import Workspace
from tests.support.waits import settle, still
from tui.app import NastavnikApp
from tui.i18n import set_lang

pytestmark = pytest.mark.xdist_group("tui-snapshots")

PAIRS = [
    ("Что такое эпоха обучения?", "Один полный проход по всем обучающим примерам.", ["основы"], "approved", "train"),
    ("Чем LoRA отличается от полного дообучения?", "LoRA учит маленькие низкоранговые матрицы, а веса модели заморожены.", ["lora", "основы"], "approved", "train"),
    ("Какую скорость обучения выбрать для QLoRA?", "Начните с 2e-4 и следите за потерей на проверочной выборке.", ["гиперпараметры"], "draft", "train"),
    ("Зачем нужна проверочная выборка?", "Чтобы заметить переобучение: потеря на ней перестаёт падать.", ["основы"], "draft", "eval"),
    ("Что такое ёлочная гирлянда?", "Это к делу не относится.", [], "rejected", "train"),
    ("Сколько пар нужно для первого запуска?", "Сотни хватит, чтобы увидеть эффект; тысячи — чтобы закрепить стиль.", ["данные"], "draft", "train"),
    ("What is a chat template?", "The text format that wraps each turn in the model's special tokens.", ["templates"], "approved", "eval"),
    ("Как экспортировать модель в GGUF?", "Слить адаптер с базовой моделью и сконвертировать скриптом llama.cpp.", ["экспорт"], "draft", "train"),
    ("Почему потеря стала NaN?", "Чаще всего из-за fp16 на Gemma 3: включите bf16.", ["ошибки"], "draft", "train"),
    ("Нужен ли системный промпт?", "Не обязательно; если он есть при обучении, давайте его и в чате.", [], "approved", "train"),
]


@pytest.fixture(autouse=True)
def _english_after():
    """The app sets the process-wide UI language; leave English for the next test."""
    yield
    set_lang("en")


@pytest.fixture
def snap_ws(home, monkeypatch):
    import core.store.pairs as pairs_mod

    ticks = itertools.count()
    monkeypatch.setattr(pairs_mod, "now", lambda: f"2026-03-{1 + next(ticks) // 60:02d}T10:{next(ticks) % 60:02d}:00.000+00:00")
    ws = Workspace.open(home)
    with ws.store() as store:
        for q, a, tags, status, split in PAIRS:
            p = store.add_pair(q, a, tags=tags, system="Ты — терпеливый наставник." if "LoRA" in q else None)
            if status != "draft":
                store.set_status([p.id], status)
            if split != "train":
                store.set_split([p.id], split)
    yield ws
    set_lang("en")


TABS = {"pairs": "1", "train": "2", "chat": "3", "evaluate": "4"}
VIEWS = {"progress": "train-progress-view", "runs": "train-runs-view"}



@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("tab", list(TABS))
def test_tabs(snap_compare, snap_ws, tab, lang, size):
    app = NastavnikApp(snap_ws, lang, home_label="~/nastavnik")

    async def run_before(pilot):
        pilot.app.animation_level = "none"  # focus moving into a room scrolls without animating
        await settle(pilot)
        await pilot.press(TABS[tab])
        await settle(pilot)
        if tab != "pairs":
            # no focus inside the room: a focused field scrolls its panel at a moment that
            # depends on when the room's workers fill it in
            pilot.app.screen.set_focus(None)
            for widget in pilot.app.screen.query("*"):
                if widget.is_scrollable:
                    widget.scroll_home(animate=False, immediate=True)
        await still(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.fixture
def utc():
    """Times shown in UTC, whatever this machine's zone; the zone back after."""
    import os
    import time

    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def _finished_runs(ws, monkeypatch) -> None:
    """Two runs as the store keeps them: one done (a loss falling from the top left corner,
    where a legend inside the plot would sit, lr warming up and decaying, three evals), one
    cancelled on a long hub base name. Times are frozen (and shown in UTC, see ``utc``)."""
    import core.store.runs as runs_mod

    monkeypatch.setattr(runs_mod, "now", lambda: "2026-03-02T09:30:00.000+00:00")
    with ws.store() as store:
        old = store.create_run(base="unsloth/gemma-3-12b-it-bnb-4bit", preset="gemma3-12b", backend="unsloth", config={})
        store.update_run(old.id, status="cancelled", step=120, max_steps=500, loss=1.8765, dataset_sha256="cd" * 32)
        run = store.create_run(base="demo", preset="demo", backend="hf", config={})
        for step in range(1, 31):
            store.add_metric(run.id, step, loss=0.4 + 3.0 * 0.88 ** step, lr=2e-3 * min(1.0, step / 5) * (31 - step) / 30,
                             grad_norm=1.0, tokens_per_s=812.0)
            if step % 10 == 0:
                store.add_metric(run.id, step, eval_loss=0.9 + 2.0 * 0.9 ** step)
        store.update_run(run.id, status="done", step=30, max_steps=30, loss=0.4 + 3.0 * 0.88 ** 30, eval_loss=0.9 + 2.0 * 0.9 ** 30,
                         dataset_sha256="ab" * 32)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("view", ["progress", "runs"])
def test_train_views(snap_compare, snap_ws, utc, monkeypatch, view, lang, size):
    """The Train room's Progress (plot with its legend above it, stats) and Runs views on a
    finished run, every column of the runs in view at 80 columns."""
    _finished_runs(snap_ws, monkeypatch)
    app = NastavnikApp(snap_ws, lang, home_label="~/nastavnik")

    async def run_before(pilot):
        pilot.app.animation_level = "none"
        await settle(pilot)
        await pilot.press(TABS["train"])
        await settle(pilot)
        pilot.app.query_one("#train-room").action_view(VIEWS[view])
        await settle(pilot)
        pilot.app.screen.set_focus(None)  # no focus highlight that depends on timing
        await still(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_pairs_search_and_marks(snap_compare, snap_ws, lang):
    """Matches highlighted (ё = е, any case), two rows marked, cursor on the third."""
    app = NastavnikApp(snap_ws, lang, home_label="~/nastavnik")

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("slash", *"ОБУЧ", "enter")
        await settle(pilot)
        await pilot.press("space", "space")
        await settle(pilot)
        await still(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_editor(snap_compare, snap_ws, lang):
    app = NastavnikApp(snap_ws, lang, home_label="~/nastavnik")

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        pilot.app.screen.set_focus(None)  # no text cursor: its blink phase is not steady
        await still(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
