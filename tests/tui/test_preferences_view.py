"""The Preferences view (from the Pairs room and the palette), the stats panel's draft
counts, and a side-by-side pick in Chat — driven with Pilot, checked in the store."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.app import NastavnikApp
from tui.commands import commands
from tui.i18n import set_lang


@pytest.fixture(autouse=True)
def _english_after():
    yield
    set_lang("en")


@pytest.fixture
def ws(home):
    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_pair("Что такое эпоха?", "Один проход по данным.")
        store.add_preference("Что такое эпоха?", "Один проход по данным.", "Отдых модели.", model="run-1-q8_0",
                             run_id=1, source="chat:1", system="Отвечай кратко.")
        store.add_preference("Что такое LoRA?", "Низкоранговая добавка.", "A radio protocol.", model="demo-q8_0",
                             source="eval:4:demo-q8_0")
        store.add_preference("Кто выше?", "Жираф.", "Мышь.", model="m", chosen_model="big", source="compare:2")
    return ws


def live(ws):
    with ws.store() as store:
        return [p.id for p in store.live_preferences()]


async def open_prefs(pilot, key="p"):
    from tui.dialogs.preferences import PreferencesScreen

    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, PreferencesScreen)
    return pilot.app.screen


@async_test
async def test_list_show_delete_undo(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_prefs(pilot)
        table = screen.query_one("#prefs-table", DataTable)
        assert table.row_count == 3 and [p.id for p in screen.rows] == [3, 2, 1]  # newest first
        assert "Preferences · 3" in str(screen.query_one("#prefs-title").render())
        detail = str(screen.query_one("#prefs-detail").render())
        assert "Жираф." in detail and "Мышь." in detail and "chosen: the answer of big" in detail
        await pilot.press("down", "down")
        await settle(pilot)
        detail = str(screen.query_one("#prefs-detail").render())
        assert "Отдых модели." in detail and "Отвечай кратко." in detail and "written by a person" in detail

        await pilot.press("d")  # delete the chat preference
        await settle(pilot)
        assert live(ws) == [2, 3] and table.row_count == 2
        assert any("Moved to trash: preference #1" in str(n.message) for n in app._notifications)
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert live(ws) == [1, 2, 3] and table.row_count == 3

        await pilot.press("в")  # the Russian layout's d
        await settle(pilot)
        assert len(live(ws)) == 2
        await pilot.press("t")  # the trash
        await settle(pilot)
        assert [p.deleted is not None for p in screen.rows] == [True]
        assert "in the trash · 1" in str(screen.query_one("#prefs-title").render())
        await pilot.press("r")
        await settle(pilot)
        assert len(live(ws)) == 3 and table.row_count == 0
        await pilot.press("е")  # back to the live list (Russian t)
        await settle(pilot)
        assert table.row_count == 3

        await pilot.press("slash", *"жираф")
        await settle(pilot)
        assert [p.id for p in screen.rows] == [3]
        await pilot.press("escape")  # clears the search first
        await settle(pilot)
        assert table.row_count == 3
        await pilot.press("escape")
        await settle(pilot)
        assert not hasattr(app.screen, "rows")  # closed, back in the Pairs room


@async_test
async def test_russian_layout_and_palette_open_it(ws):
    from tui.dialogs.preferences import PreferencesScreen

    app = NastavnikApp(ws, "ru")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_prefs(pilot, "з")
        assert "Предпочтения · 3" in str(screen.query_one("#prefs-title").render())
        await pilot.press("escape")
        await settle(pilot)
        entry = next(cb for title, cb in commands(app) if title.startswith("Пары: предпочтения"))
        entry()
        await settle(pilot)
        assert isinstance(app.screen, PreferencesScreen)


@async_test
async def test_an_empty_store_says_how_to_get_preferences(home):
    app = NastavnikApp(Workspace.open(home), "en")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_prefs(pilot)
        assert "correct an answer in Chat or Evaluate" in str(screen.query_one("#prefs-detail").render())
        await pilot.press("d")
        await settle(pilot)
        assert any("No preference selected" in str(n.message) for n in app._notifications)


@async_test
async def test_the_stats_panel_counts_teacher_drafts(home):
    ws = Workspace.open(home)
    with ws.store() as store:
        a = store.add_drafted_pair("Вопрос 1?", "Ответ 1.", teacher="big", draft="Ответ 1.")
        b = store.add_drafted_pair("Вопрос 2?", "Ответ 2, исправленный.", teacher="big", draft="Ответ 2.")
        store.add_drafted_pair("Вопрос 3?", "Ответ 3.", teacher="big", draft="Ответ 3.")
        store.set_status([a.id, b.id], "approved")
        store.add_preference("В?", "Да.", "Нет.")
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        text = str(app.query_one("#stats-counts").render())
        assert "Teacher drafts" in text and "Preferences: 1" in text
        lines = {line.split()[0]: line.split()[-1] for line in text.splitlines() if line.strip()}
        assert (lines["waiting"], lines["as"], lines["edited"]) == ("1", "1", "1")


# ---------------------------------------------------------------------------- Chat: the better of two


@async_test
async def test_chat_picks_the_better_answer_of_two(home):
    from tests.support.rooms import TWO_ANSWERS, RoomApp, add_two_models, compare_two
    from tui.rooms.chat import ChatRoom

    ws = Workspace.open(home)
    add_two_models(ws)
    texts = TWO_ANSWERS
    app = RoomApp(ChatRoom, ws)
    async with app.run_test(size=(110, 36)) as pilot:
        room = app.query_one(ChatRoom)
        await settle(pilot)
        compare_two(room, ws)
        room.ask("Что такое эпоха?", room.chosen())
        await settle(pilot)
        room.query_one("#chat-log").focus()
        await pilot.press("right", "з")  # the second answer is better (p on the Russian layout)
        await settle(pilot)
        assert any("Preference saved: run-1-q8_0 over demo-q8_0" in str(n.message) for n in app._notifications)
        assert room.answers[1].widget.parent.has_class("preferred")
        await pilot.press("p")  # the same pick again: refused, nothing doubled
        await settle(pilot)
        assert any("already stored" in str(n.message) for n in app._notifications)

        # one model only: nothing to compare with
        room.action_new_chat()
        room.query_one("#chat-model-1").clear()
        await settle(pilot)
        room.ask("Что такое LoRA?", ["demo-q8_0"])
        await settle(pilot)
        room.query_one("#chat-log").focus()
        await pilot.press("p")
        await settle(pilot)
        assert any("Nothing to compare with" in str(n.message) for n in app._notifications)
    with ws.store() as s:
        (pref,) = s.live_preferences()
        assert (pref.prompt, pref.chosen, pref.rejected) == ("Что такое эпоха?", texts["run-1-q8_0"], texts["demo-q8_0"])
        assert (pref.chosen_model, pref.chosen_run_id, pref.model, pref.kind) == ("run-1-q8_0", 1, "demo-q8_0", "compare")
        assert s.count_pairs() == 0


@async_test
async def test_evaluate_correction_records_a_preference(home):
    from tests.support.rooms import RoomApp, correct_in_compare, stored_grid
    from tui.rooms.evaluate import EvaluateRoom

    ws = stored_grid(home)
    app = RoomApp(EvaluateRoom, ws)
    async with app.run_test(size=(120, 36)) as pilot:
        room = app.query_one(EvaluateRoom)
        await settle(pilot)
        await correct_in_compare(pilot, room, 0)
        await pilot.press(*"Один полный проход по всем данным.", "ctrl+s")
        await settle(pilot)
        pair_id = room.rows_shown[0].pair_id
    with ws.store() as s:
        (pref,) = s.live_preferences()
        assert (pref.rejected, pref.chosen, pref.model) == ("ответ base-q8_0", "Один полный проход по всем данным.", "base-q8_0")
        assert pref.source == f"eval:{pair_id}:base-q8_0" and pref.prompt == "Что такое эпоха обучения?"


@pytest.mark.xdist_group("tui-snapshots")
def test_preferences_view_snapshot(ws, snap_compare):
    from tests.support.waits import still

    app = NastavnikApp(ws, "ru", home_label="~/nastavnik")

    async def run_before(pilot):
        pilot.app.animation_level = "none"
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("down", "down")
        await still(pilot)

    assert snap_compare(app, terminal_size=(110, 30), run_before=run_before)
