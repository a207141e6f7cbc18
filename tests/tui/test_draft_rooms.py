"""Teacher drafts in the app, with the exported demo GGUF as the teacher (in its own child
process): ctrl+t in the pair editor streams a draft that the user edits and saves, Esc
throws a draft away, and the Draft dialog fills the store with drafts from pasted text."""

from __future__ import annotations

import pytest
from textual.widgets import TextArea

from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.app import NastavnikApp
from tui.i18n import set_lang

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("export")]


@pytest.fixture(autouse=True)
def _english_after():
    yield
    set_lang("en")


async def wait_for(pilot, predicate, what: str, limit: float = 90) -> None:
    for _ in range(int(limit / 0.1)):
        await pilot.pause(0.1)
        if predicate():
            await pilot.pause()
            return
    raise AssertionError(f"timed out waiting for {what}")


@async_test
async def _draft_edit_save(home):
    from tui.dialogs.teacher_pick import TeacherPickScreen
    from tui.dialogs.edit_pair import EditPairScreen

    app = NastavnikApp(Workspace.open(home), "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditPairScreen)
        await pilot.press(*"Что такое эпоха обучения?")
        await pilot.press("ctrl+t")
        await settle(pilot)
        # two GGUFs are registered and none was chosen before: the user picks the teacher
        assert isinstance(app.screen, TeacherPickScreen)
        await pilot.press("enter")  # the first: demo-q8_0
        await wait_for(pilot, lambda: editor.teacher_draft is not None, "the teacher's draft")
        answer = editor.query_one("#answer", TextArea)
        teacher, draft = editor.teacher_draft
        assert teacher == "demo-q8_0" and draft and answer.text == draft and not answer.read_only
        answer.load_text(draft + " Правка наставника.")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, EditPairScreen)

        # Esc while the teacher writes throws the draft away and keeps the old answer
        await pilot.press("n")
        await settle(pilot)
        editor = app.screen
        await pilot.press(*"Что такое LoRA?", "tab", *"Мой ответ.")
        await pilot.press("ctrl+t", "escape")  # the teacher was chosen before: no picker now
        await wait_for(pilot, lambda: not editor.drafting, "the draft to stop")
        assert editor.query_one("#answer", TextArea).text == "Мой ответ." and editor.teacher_draft is None
        await pilot.press("ctrl+s")
        await settle(pilot)
    return draft


def test_ctrl_t_drafts_the_answer_the_user_edits_and_saves(exported_copy):
    draft = _draft_edit_save(exported_copy)
    ws = Workspace.open(exported_copy)
    assert ws.setting("teacher") == "demo-q8_0"  # remembered for the next draft
    with ws.store() as store:
        drafted, mine = store.list_pairs(limit=None)
        assert drafted.source == "teacher:demo-q8_0" and drafted.teacher == "demo-q8_0" and drafted.status == "draft"
        assert drafted.draft == draft and drafted.answer == draft + " Правка наставника." and drafted.edited is True
        assert (mine.source, mine.draft, mine.answer) == ("tui", None, "Мой ответ.")
        assert store.draft_stats()["waiting"] == 1


@async_test
async def _dialog(home, text):
    from tui.dialogs.draft import DraftScreen

    app = NastavnikApp(Workspace.open(home), "en")
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ц")  # w on the Russian layout
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DraftScreen)
        assert dialog.query_one("#draft-teacher").value == "demo-f16"  # the newest GGUF, none chosen before
        dialog.query_one("#draft-teacher").value = "demo-q8_0"
        dialog.query_one("#draft-text", TextArea).load_text(text)
        dialog.query_one("#draft-count").value = "2"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: dialog.report is not None and not dialog.busy, "the drafts")
        status = str(dialog.query_one("#draft-status").render())
        assert "Drafts saved:" in status and "failed: 0" in status
        report = dialog.report
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, DraftScreen)
    return report


def test_the_draft_dialog_drafts_pairs_from_pasted_text(exported_copy):
    from tests.support.data import NOTES

    report = _dialog(exported_copy, NOTES)
    assert report.failed == 0 and 1 <= len(report.saved) <= 2
    with Workspace.open(exported_copy).store() as store:
        pairs = store.list_pairs(limit=None)
        assert [p.id for p in pairs] == [p.id for p in report.saved]
        assert all(p.teacher == "demo-q8_0" and p.status == "draft" for p in pairs)
