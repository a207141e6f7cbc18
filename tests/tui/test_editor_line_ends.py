"""The pair editor saves new text with ``\\n`` line ends and leaves untouched fields as stored.

A pair imported before line ends were normalised can hold ``\\r\\n``; Textual's TextArea
keeps a document's own line ends, so typing a new line into such an answer adds another
``\\r\\n``. Saving writes the edited answer with ``\\n`` only; the question, not edited, stays
byte for byte as it was (its content hash with it).
"""

from __future__ import annotations

from textual.widgets import TextArea

import core.store.pairs as store_pairs
from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.app import ReportingApp
from tui.dialogs.edit_pair import EditPairScreen

QUESTION = "Что такое эпоха?\r\nКратко."
ANSWER = "Один проход\r\nпо всем данным."


class Host(ReportingApp):  # worker errors end as the app's do
    def __init__(self, db_path, pair) -> None:
        super().__init__()
        self.db_path, self.pair, self.saved = db_path, pair, []

    def on_mount(self) -> None:
        self.push_screen(EditPairScreen(self.db_path, self.pair), self.saved.append)


def old_crlf_pair(ws, monkeypatch):
    with ws.store() as store, monkeypatch.context() as m:  # as the store wrote it before normalising
        m.setattr(store_pairs, "normalize_newlines", lambda text: text)
        return store.add_pair(QUESTION, ANSWER, system="Ты\r\nнаставник.")


@async_test
async def test_editor_save_normalises_the_edited_field_only(home, monkeypatch):
    ws = Workspace.open(home)
    pair = old_crlf_pair(ws, monkeypatch)
    app = Host(ws.db_path, pair)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditPairScreen)
        assert not editor.editor.dirty  # opening a CRLF pair is not an edit
        area = editor.query_one("#answer", TextArea)
        area.focus()
        area.move_cursor(area.document.end)
        await pilot.press("enter", *"Ещё строка.")
        assert area.text == ANSWER + "\r\nЕщё строка."  # the TextArea keeps the document's CRLF
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.saved and app.saved[0] is not None
    with ws.store() as store:
        now = store.get_pair(pair.id)
    assert now.answer == "Один проход\nпо всем данным.\nЕщё строка."
    assert now.question == QUESTION and now.system == "Ты\r\nнаставник."


@async_test
async def test_new_pair_pasted_with_crlf_is_saved_with_lf(home):
    ws = Workspace.open(home)
    ws.store().close()  # the app creates the store before any editor opens
    app = Host(ws.db_path, None)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        editor = app.screen
        editor.query_one("#question", TextArea).load_text("Вопрос\r\nв две строки")
        editor.query_one("#answer", TextArea).load_text("Ответ\rиз старого Mac")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.saved and app.saved[0] is not None
    with ws.store() as store:
        (p,) = store.list_pairs()
    assert (p.question, p.answer) == ("Вопрос\nв две строки", "Ответ\nиз старого Mac")
