"""Keys: a ``keymap`` in the workspace settings rebinds an action by its id, with the Russian twin;
the footer, the help and the palette read the live bindings; a bad entry is a clear warning."""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.app import NastavnikApp
from tui.commands import commands
from tui.keys import check_keymap, known_ids
from tui.widgets.pair_table import PairTable


@pytest.fixture
def ws(home):
    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_pair("Что такое эпоха?", "Один проход по данным.")
        store.add_pair("Что такое LoRA?", "Низкоранговый адаптер.")
    return ws


def footer_keys(app) -> dict[str, str]:
    return {k.description: k.key_display for k in app.screen.query(FooterKey)}


def help_entries(app) -> dict[str, tuple[str, str]]:
    return {desc: (latin, russian) for _, desc, latin, russian in app.screen.entries}


def status_under_cursor(app, ws) -> str:
    pair_id = app.query_one(PairTable).cursor_pair.id
    with ws.store() as store:
        return store.get_pair(pair_id).status


@async_test
async def test_a_keymap_entry_rebinds_the_action_on_both_layouts_and_every_list_shows_it(ws):
    ws.update_settings(keymap={"pairs.approve": "v"})
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        app.query_one(PairTable).focus()
        await settle(pilot)
        assert footer_keys(app)["approve"] == "v"
        await pilot.press("a")  # the old key no longer approves
        await settle(pilot)
        assert status_under_cursor(app, ws) == "draft"
        await pilot.press("v")
        await settle(pilot)
        assert status_under_cursor(app, ws) == "approved"
        await pilot.press("u", "м")  # back to draft, then the Russian twin of v
        await settle(pilot)
        assert status_under_cursor(app, ws) == "approved"
        assert "Pairs: approve (v)" in dict(commands(app))
        await pilot.press("f1")
        await pilot.pause()
        assert help_entries(app)["approve"] == ("v", "м")
        assert help_entries(app)["reject"] == ("x", "ч")  # the others keep theirs
        assert not [n for n in app._notifications if "keymap" in n.message]  # a good keymap says nothing


@async_test
async def test_a_bad_keymap_entry_is_a_warning_naming_the_setting_and_the_rest_applies(ws):
    ws.update_settings(keymap={"pairs.aprove": "v", "pairs.reject": "ctrl+nonsense", "pairs.tags": "j"})
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        warnings = [n.message for n in app._notifications]
        assert any("keymap" in m and "pairs.aprove" in m for m in warnings), warnings
        assert any("keymap" in m and "ctrl+nonsense" in m and "pairs.reject" in m for m in warnings), warnings
        app.query_one(PairTable).focus()
        await settle(pilot)
        keys = footer_keys(app)
        assert keys["reject"] == "x" and keys["tags"] == "j"


def test_the_keymap_check_knows_every_dialogs_ids_and_adds_twins():
    good, problems = check_keymap({"history.restore": "e", "pairs.undo": "ctrl+u", "app.help": "f5,question_mark"},
                                  known_ids(["history.restore"]))
    assert good == {"history.restore": "e,у", "pairs.undo": "ctrl+u", "app.help": "f5,question_mark"}
    assert problems == []
    assert check_keymap(["v"], known_ids())[1]  # not an object: a problem, nothing applied


@async_test
async def test_help_lists_the_bindings_of_the_room_in_focus(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("4")  # the Evaluate room
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        entries = help_entries(app)
        assert entries["evaluate"] == ("r", "к") and "only worse" in entries, entries
        assert "approve" not in entries, entries
        assert "help" in entries and "quit" in entries  # the app's own keys are there too
        await pilot.press("escape")
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        entries = help_entries(app)
        assert entries["approve"] == ("a", "ф") and "only worse" not in entries


@async_test
async def test_a_dialog_names_its_keys_in_the_russian_ui(ws):
    """The dialogs' bindings were built on import, in English, and stayed so in a Russian UI."""
    from tui.dialogs.history import HistoryScreen

    app = NastavnikApp(ws, "ru")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        app.push_screen(HistoryScreen(ws, 1))
        await settle(pilot)
        descriptions = {b.description for _, b in app.screen._bindings}
        assert {"Вернуть", "Закрыть"} <= descriptions, descriptions
        app.set_language("en")
        await settle(pilot)
        app.pop_screen()
        app.push_screen(HistoryScreen(ws, 1))
        await settle(pilot)
        assert {"Restore", "Close"} <= {b.description for _, b in app.screen._bindings}


@async_test
async def test_textuals_own_palette_commands_speak_russian_and_keys_opens_our_help(ws):
    from tui.dialogs.help import HelpScreen

    app = NastavnikApp(ws, "ru")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        system = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Тема", "Выход", "Клавиши", "Снимок экрана"} <= set(system), list(system)
        assert "Quit" not in system and "Keys" not in system
        system["Клавиши"].callback()
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert ("a", "ф") == {d: (lat, ru) for _, d, lat, ru in app.screen.entries}["одобрить"]


def help_keys(app) -> list[str]:
    return [key for keys, *_ in app.screen.entries for key in keys.split(",")]


@async_test
async def test_in_chat_the_digits_grade_and_alt_digit_switches_rooms_with_no_grade_dialog(ws):
    from textual.widgets import TabbedContent

    from tui.dialogs.grade import GradeScreen

    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        app.query_one("#chat-log").focus()  # where the grading keys work (Esc after an answer)
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        entries = app.screen.entries
        keys = help_keys(app)
        assert len(keys) == len(set(keys)), keys  # one meaning per key
        meaning = {key: desc for k, desc, *_ in entries for key in k.split(",")}
        assert meaning["4"].startswith("grade") and meaning["alt+4"] == "Evaluate", meaning
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("alt+4")
        await settle(pilot)
        assert app.query_one(TabbedContent).active == "evaluate"
        assert not isinstance(app.screen, GradeScreen)
        await pilot.press("alt+3")  # back in Chat the cursor is in the question box: alt+digit still switches
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "chat-input"
        await pilot.press("alt+2")
        await settle(pilot)
        assert app.query_one(TabbedContent).active == "train"


@async_test
async def test_help_in_train_lists_trains_keys_not_the_pairs_keys_however_the_room_was_opened(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        for opening in ("2", "click"):
            if opening == "click":
                await pilot.press("1")
                await settle(pilot)
                await pilot.click("#--content-tab-train")
            else:
                await pilot.press(opening)
                await settle(pilot)
                assert footer_keys(app)["preview"] == "v"  # the preview's key, in the footer
            await settle(pilot)
            await pilot.press("f1")
            await pilot.pause()
            entries = help_entries(app)
            assert entries["settings"] == ("s", "ы") and entries["runs"] == ("r", "к"), entries
            assert entries["preview"] == ("v, ctrl+r", "м, ctrl+r"), entries  # the preview has a key on both layouts
            assert "approve" not in entries and "train/eval" not in entries, entries
            keys = help_keys(app)
            assert len(keys) == len(set(keys)), keys
            await pilot.press("escape")
            await pilot.pause()


@async_test
async def test_a_room_chosen_by_a_click_on_its_tab_takes_the_keys_and_the_footer_shows_them(ws):
    """A click on a tab left the focus on the tab bar: the footer showed only the app's keys and
    the room's keys did nothing until the user clicked into the room."""
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        for tab, key in (("train", "preview"), ("chat", "stop"), ("evaluate", "only worse"), ("pairs", "approve")):
            await pilot.click(f"#--content-tab-{tab}")
            await settle(pilot)
            assert app.query_one("TabbedContent#rooms").active == tab
            room = app.query_one(PairTable) if tab == "pairs" else app.query_one(f"#{tab}-room")
            assert app.focused is not None and (room in app.focused.ancestors_with_self), (tab, app.focused)
            assert key in footer_keys(app), (tab, footer_keys(app))
        await pilot.click("#--content-tab-train")
        await settle(pilot)
        await pilot.press("r")  # the room's own key, straight after the click: its Runs view
        await settle(pilot)
        assert app.query_one("#train-views").active == "train-runs-view"
