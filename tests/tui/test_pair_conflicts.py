"""The pair editor never saves over a change made elsewhere while it was open.

Each test opens the editor on pair 1, changes the same pair through a second store
connection (what another window, the CLI or an undo does), presses ctrl+s and answers the
dialog; the store is then checked for exactly what the choice promised.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.app import NastavnikApp
from tui.dialogs.conflict import PairConflictScreen, word_diff
from tui.dialogs.confirm import ConfirmScreen
from tui.dialogs.edit_pair import EditPairScreen
from tui.widgets.pair_table import PairTable


@pytest.fixture
def ws(home):
    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_pair("Что такое эпоха?", "Один проход по данным.", tags=["основы"], split="eval")
        store.add_pair("Что такое батч?", "Пачка примеров.")
    return ws


def elsewhere(ws, fn):
    """Change the store through its own connection, as another Nastavnik window would."""
    with ws.store() as store:
        return fn(store)


def get(ws, pid):
    return elsewhere(ws, lambda s: s.get_pair(pid))


async def open_and_edit(pilot, ws, *, answer_suffix=" Моя правка."):
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    app = pilot.app
    assert isinstance(app.screen, EditPairScreen)
    area = app.screen.query_one("#answer", TextArea)
    area.focus()
    area.move_cursor(area.document.end)
    await pilot.press(*answer_suffix)
    return area


async def save_into_dialog(pilot) -> PairConflictScreen:
    await pilot.press("ctrl+s")
    await settle(pilot)
    assert isinstance(pilot.app.screen, PairConflictScreen), pilot.app.screen
    return pilot.app.screen


def dialog_text(screen) -> str:
    return "\n".join(str(w.render()) for w in screen.query("Static"))


@async_test
async def test_overwrite_with_mine_after_showing_the_diff(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_and_edit(pilot, ws)
        elsewhere(ws, lambda s: s.update_pair(1, answer="Один полный проход по всем данным.", status="approved"))
        dialog = await save_into_dialog(pilot)
        assert dialog.changed_fields() == ["answer"]
        assert not dialog.query("#merge")  # both sides changed the answer: no merge to offer
        await pilot.press("m")
        await settle(pilot)
        assert app.screen is dialog
        text = dialog_text(dialog)
        assert "Answer · changed there and by you" in text
        assert "полный" in text and "Моя правка." in text  # their words and mine both shown
        assert "Also changed there: status" in text
        # nothing was written while the dialog waits
        assert get(ws, 1).answer == "Один полный проход по всем данным."
        await pilot.press("o")
        await settle(pilot)
        assert not isinstance(app.screen, (PairConflictScreen, EditPairScreen))
        assert app.query_one(PairTable).cursor_pair.answer == "Один проход по данным. Моя правка."
    pair = get(ws, 1)
    assert pair.answer == "Один проход по данным. Моя правка."
    assert pair.status == "approved"  # their status change is kept
    history = elsewhere(ws, lambda s: s.history(1))
    assert "Один полный проход по всем данным." in [r.answer for r in history]  # theirs stays in history


@async_test
async def test_take_theirs_reloads_the_editor_and_writes_nothing(ws):
    app = NastavnikApp(ws, "ru")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_and_edit(pilot, ws)
        elsewhere(ws, lambda s: s.update_pair(1, question="Что такое эпоха обучения?", tags=["основы", "термины"]))
        dialog = await save_into_dialog(pilot)
        assert "Вопрос · изменено там" in dialog_text(dialog)  # the Russian strings
        n_history = len(elsewhere(ws, lambda s: s.history(1)))
        await pilot.press("е")  # t on the Russian layout: take theirs
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditPairScreen)
        assert editor.query_one("#question", TextArea).text == "Что такое эпоха обучения?"
        assert editor.query_one("#answer", TextArea).text == "Один проход по данным."
        assert editor.query_one("#tags", Input).value == "основы, термины"
        assert not editor.editor.dirty
        await pilot.press("escape")  # nothing of mine left: closes without asking
        await settle(pilot)
        assert not isinstance(app.screen, (EditPairScreen, ConfirmScreen))
        # the table behind shows the pair as it is now
        assert app.query_one(PairTable).cursor_pair.question == "Что такое эпоха обучения?"
    assert get(ws, 1).answer == "Один проход по данным."
    assert len(elsewhere(ws, lambda s: s.history(1))) == n_history


@async_test
async def test_keep_editing_writes_nothing_and_asks_again_on_the_next_save(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        area = await open_and_edit(pilot, ws)
        elsewhere(ws, lambda s: s.update_pair(1, answer="Их ответ."))
        await save_into_dialog(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, EditPairScreen)
        assert area.text == "Один проход по данным. Моя правка."  # my edit is still on screen
        assert get(ws, 1).answer == "Их ответ."
        await pilot.press(*" Ещё")
        await save_into_dialog(pilot)
        await pilot.click("#mine")
        await settle(pilot)
        assert not isinstance(app.screen, (PairConflictScreen, EditPairScreen))
    assert get(ws, 1).answer == "Один проход по данным. Моя правка. Ещё"


@async_test
async def test_status_changed_elsewhere_is_no_conflict(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_and_edit(pilot, ws)
        elsewhere(ws, lambda s: s.set_status([1], "approved"))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, (PairConflictScreen, EditPairScreen))
    pair = get(ws, 1)
    assert (pair.answer, pair.status) == ("Один проход по данным. Моя правка.", "approved")


@async_test
async def test_trashed_meanwhile_save_as_new_pair(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_and_edit(pilot, ws)
        elsewhere(ws, lambda s: s.delete_pairs([1]))
        dialog = await save_into_dialog(pilot)
        assert "moved to the trash" in dialog_text(dialog)
        await pilot.press("o")  # "overwrite" is not offered: there is nothing to overwrite
        await settle(pilot)
        assert app.screen is dialog
        await pilot.press("т")  # n on the Russian layout: save as a new pair
        await settle(pilot)
        assert not isinstance(app.screen, (PairConflictScreen, EditPairScreen))
        assert any("new pair #3" in str(n.message) for n in app._notifications)
    new = get(ws, 3)
    assert (new.question, new.answer, new.tags, new.split) == (
        "Что такое эпоха?", "Один проход по данным. Моя правка.", ["основы"], "eval"
    )
    assert new.deleted is None
    trashed = get(ws, 1)
    assert trashed.deleted and trashed.answer == "Один проход по данным."  # the trashed pair is untouched


@async_test
async def test_trashed_meanwhile_discard(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_and_edit(pilot, ws)
        elsewhere(ws, lambda s: s.delete_pairs([1]))
        await save_into_dialog(pilot)
        await pilot.press("в")  # d on the Russian layout: discard my edit
        await settle(pilot)
        assert not isinstance(app.screen, (PairConflictScreen, EditPairScreen, ConfirmScreen))
        assert app.query_one(PairTable).cursor_pair.id == 2  # the table no longer shows the trashed pair
    assert elsewhere(ws, lambda s: s.count_pairs()) == 1
    assert get(ws, 1).answer == "Один проход по данным."


def test_word_diff_marks_removed_and_added_words_and_elides_long_equal_runs():
    theirs = "один два три четыре пять шесть семь восемь девять десять одиннадцать двенадцать тринадцать конец"
    mine = theirs.replace("конец", "финал")
    diff = word_diff(theirs, mine)
    assert diff.plain.startswith("… ")  # the unchanged start is elided
    assert "конец" in diff.plain and "финал" in diff.plain and "один " not in diff.plain
    styles = {diff.plain[s.start : s.end]: str(s.style) for s in diff.spans}
    assert styles["конец"] == "red strike" and styles["финал"] == "green"


@async_test
async def test_editor_opened_from_a_stale_row_shows_the_pair_as_it_is_now(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        # changed elsewhere after the table read its rows: the row on screen is old
        elsewhere(ws, lambda s: s.update_pair(1, answer="Свежий ответ.", status="approved"))
        assert app.query_one(PairTable).cursor_pair.answer == "Один проход по данным."
        await pilot.press("enter")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditPairScreen)
        assert editor.query_one("#answer", TextArea).text == "Свежий ответ."
        assert "approved" in str(editor.query_one("#editor-title").render())
        assert not editor.editor.dirty
        area = editor.query_one("#answer", TextArea)
        area.focus()
        area.move_cursor(area.document.end)
        await pilot.press(*" Да.")
        await pilot.press("ctrl+s")  # saved against the fresh copy: no dialog
        await settle(pilot)
        assert not isinstance(app.screen, (PairConflictScreen, EditPairScreen))
    assert get(ws, 1).answer == "Свежий ответ. Да."


@async_test
async def test_merge_when_the_two_sides_changed_different_fields(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_and_edit(pilot, ws)
        elsewhere(ws, lambda s: s.update_pair(1, question="Что такое эпоха обучения?", tags=["термины"]))
        dialog = await save_into_dialog(pilot)
        assert dialog.query_one("#merge")
        assert "Tags · changed there" in dialog_text(dialog) and "Answer · changed by you" in dialog_text(dialog)
        await pilot.press("ь")  # m on the Russian layout
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditPairScreen)
        # merged on screen, not yet saved
        assert editor.query_one("#question", TextArea).text == "Что такое эпоха обучения?"
        assert editor.query_one("#answer", TextArea).text == "Один проход по данным. Моя правка."
        assert editor.query_one("#tags", Input).value == "термины"
        assert editor.editor.dirty
        assert get(ws, 1).answer == "Один проход по данным."
        await pilot.press("ctrl+s")  # measured against their version now: saves without a dialog
        await settle(pilot)
        assert not isinstance(app.screen, (PairConflictScreen, EditPairScreen))
    pair = get(ws, 1)
    assert (pair.question, pair.answer, pair.tags) == (
        "Что такое эпоха обучения?", "Один проход по данным. Моя правка.", ["термины"]
    )
