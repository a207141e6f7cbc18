"""The full-screen pair editor: ``EditPairScreen`` hosts the ``PairEditor`` form (it fits 80×24),
saves with ctrl+s as one revision (in a worker, with its own store) and asks before throwing
away unsaved edits on escape (the shared ``ConfirmScreen`` asks).

ctrl+t asks a teacher model (any registered GGUF; the one last chosen, else a picker) to draft
the answer to the question being written: it streams into the answer field (Esc stops and
puts the old answer back), the user edits it and saves; the pair keeps the teacher and its
draft (``core.store.drafts``), so whether a person changed it is known. A new drafted pair
has the source ``teacher:<model>``.

A save carries the pair as the editor loaded it: if someone changed it elsewhere in the
meantime (another window, the CLI, a correction from Chat, an undo) the store refuses
(``PairChanged``) and ``PairConflictScreen`` shows what differs and lets the user overwrite,
take the saved version or keep editing; if the pair went to the trash, save the edit as a
new pair or discard it. Nothing is lost without the user choosing it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from core.errors import UserError
from core.store import Pair, PairChanged, Store
from tui.dialogs.confirm import ConfirmScreen
from tui.dialogs.conflict import PairConflictScreen, merged
from tui.i18n import error_text, t
from tui.keys import both, localize
from tui.widgets.pair_editor import PairEditor, editable

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


class EditPairScreen(Screen[Pair | None]):
    """Full-screen editor; dismisses with the saved pair, or None when cancelled."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")

    BINDINGS = [
        both("ctrl+s", "save", "editor.save", priority=True),
        both("ctrl+t", "draft", "editor.draft", priority=True),
        both("escape", "cancel", "editor.cancel"),
    ]

    def __init__(self, db_path: Path, pair: Pair | None, *, system: str | None = None, tags: list[str] | None = None,
                 ws: Workspace | None = None) -> None:
        super().__init__()
        self.db_path = db_path
        self.pair = pair  # as loaded: a save refuses to overwrite a change made since
        self.defaults = {"system": system, "tags": tags}
        self._saving = False
        #: True once a save found the pair changed elsewhere: whoever shows pairs should re-read
        self.store_changed = False
        if ws is None:
            from core.workspace import Workspace

            ws = Workspace(Path(db_path).parent)  # the store lives in its workspace's folder
        self.ws = ws
        #: (teacher key, its text) once a teacher drafted the answer: the save records it
        self.teacher_draft: tuple[str, str] | None = None
        self.drafting = False
        self._draft_stop = threading.Event()
        self._answer_before = ""
        self._teacher = None  # the teacher's model process, kept for the next draft
        self._teacher_name: str | None = None

    def _title(self) -> str:
        if self.pair is None:
            return t("editor.title.new")
        return t("editor.title.edit", id=self.pair.id, status=t("pairs.status." + self.pair.status), split=t("pairs.split." + self.pair.split))

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="editor-title")
        yield PairEditor(self.pair, system=self.defaults["system"], tags=self.defaults["tags"], id="editor")
        yield Footer()

    def on_mount(self) -> None:
        localize(self)
        if self.pair is not None:
            self._check_fresh(self.pair.id)

    @work(thread=True, exit_on_error=False, group="editor-fresh", exclusive=True)
    def _check_fresh(self, pair_id: int) -> None:
        """The editor opens at once from the table's copy; read the pair again behind it."""
        try:
            with Store(self.db_path, migrate=False) as store:
                pair = store.get_pair(pair_id)
        except UserError:
            return  # gone: the save will say so and offer to keep the text
        self.app.call_from_thread(self._fresh, pair)

    def _fresh(self, pair: Pair) -> None:
        """If the pair changed since the table read it and nothing is typed yet, show it as it is now."""
        if self.pair is None or self._saving or pair.id != self.pair.id or pair.updated == self.pair.updated:
            return
        if pair.deleted is not None or self.editor.dirty:
            return  # trashed, or typed in already: a save shows the difference and lets the user choose
        if editable(pair) != editable(self.pair):
            self.editor.load(pair)
            self.store_changed = True  # the table behind showed an older copy
        self.pair = pair
        self.query_one("#editor-title", Static).update(self._title())

    @property
    def editor(self) -> PairEditor:
        return self.query_one(PairEditor)

    def action_save(self) -> None:
        if self._saving:
            return
        if self.drafting:
            self.notify(t("editor.draft_busy"), severity="warning")
            return
        values = self.editor.values()
        if self.pair is not None and not self.editor.dirty and self.teacher_draft is None:
            self.notify(t("editor.unchanged"))
            self.dismiss(None)
            return
        self._saving = True
        self._save(values, draft=self.teacher_draft)

    @work(thread=True, exit_on_error=False, group="editor-save", exclusive=True)
    def _save(self, values: dict, expected: Pair | None = None, as_new: bool = False,
              draft: tuple[str, str] | None = None) -> None:
        """Write ``values``: over the pair if it is still as ``expected`` (default: as loaded), or as a new pair;
        with the teacher's ``draft`` (teacher, text) recorded beside it."""
        try:
            with Store(self.db_path, migrate=False) as store:
                system = values["system"] if values["system"].strip() else None
                fields = dict(question=values["question"], answer=values["answer"], system=system, tags=values["tags"])
                if self.pair is None or as_new:
                    split = self.pair.split if self.pair is not None else "train"
                    if draft is not None:
                        pair = store.add_drafted_pair(teacher=draft[0], draft=draft[1], split=split, **fields)
                    else:
                        pair = store.add_pair(split=split, source="tui", **fields)
                elif draft is not None:
                    pair = store.update_drafted_pair(self.pair.id, teacher=draft[0], draft=draft[1],
                                                     expected=expected or self.pair, **fields)
                else:
                    pair = store.update_pair(self.pair.id, expected=expected or self.pair, **fields)
        except PairChanged as exc:
            self.app.call_from_thread(self._conflict, exc, values)
            return
        except UserError as exc:
            self.app.call_from_thread(self._failed, error_text(exc, " — "))
            return
        self.app.call_from_thread(self._saved, pair, as_new)

    def _failed(self, message: str) -> None:
        self._saving = False
        self.notify(message, severity="error", timeout=6)

    def _saved(self, pair: Pair, as_new: bool = False) -> None:
        self.notify(t("editor.saved_new" if as_new else "editor.saved", id=pair.id))
        self.dismiss(pair)

    def _conflict(self, exc: PairChanged, values: dict) -> None:
        """The pair changed elsewhere since it was loaded: let the user choose, write nothing until then."""
        self._saving = False
        self.store_changed = True

        def chosen(choice: str | None) -> None:
            if choice == "mine":  # overwrite, but only the version the dialog showed
                self._saving = True
                self._save(values, expected=exc.current, draft=self.teacher_draft)
            elif choice == "new":
                self._saving = True
                self._save(values, as_new=True, draft=self.teacher_draft)
            elif choice == "theirs":
                self.pair = exc.current
                self.editor.load(exc.current)
                self.query_one("#editor-title", Static).update(self._title())
                self.notify(t("editor.reloaded", id=exc.current.id))
                self.editor.query_one("#question", TextArea).focus()
            elif choice == "merge":  # shown, not saved: the user looks, then ctrl+s
                dialog_merge = merged(values, self.pair, exc.current)
                self.pair = exc.current
                self.editor.load(exc.current, dialog_merge)
                self.query_one("#editor-title", Static).update(self._title())
                self.notify(t("editor.merged"))
            elif choice == "discard":
                self.dismiss(None)
            # "keep" (or escape): back to the edit, still measured against what was loaded

        self.app.push_screen(PairConflictScreen(values, self.pair, exc.current), chosen)

    def action_cancel(self) -> None:
        if self.drafting:  # Esc while the teacher writes: stop it, keep the old answer
            self._draft_stop.set()
            return
        if not self.editor.dirty:
            self.dismiss(None)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen(t("editor.discard"), focus_yes=False), answered)

    # ------------------------------------------------------------------ teacher drafts

    def action_draft(self) -> None:
        """ctrl+t: the teacher drafts the answer to the question as written now."""
        if self.drafting or self._saving:
            return
        values = self.editor.values()
        if not values["question"].strip():
            self.notify(t("editor.draft_need_question"), severity="warning")
            return
        self.drafting = True
        context = list(self.pair.context) if self.pair is not None else []
        self._pick_teacher(values["question"], values["system"], context)

    @work(thread=True, exit_on_error=False, group="editor-draft", exclusive=True)
    def _pick_teacher(self, question: str, system: str, context: list[dict]) -> None:
        from tui.dialogs.teacher_pick import teachers

        with Store(self.db_path, migrate=False) as store:
            names = teachers(store)
        try:
            chosen = self.ws.setting("teacher")
        except UserError:
            chosen = None
        self.app.call_from_thread(self._teacher_known, names, chosen if chosen in names else None, question, system,
                                  context)

    def _teacher_known(self, names, chosen, question, system, context) -> None:
        """The teacher last chosen; the only model there is; else the user picks one."""
        if chosen:
            self._start_draft(chosen, question, system, context)
            return
        if len(names) == 1:
            self._start_draft(names[0], question, system, context, remember=True)
            return
        if not names:
            self.drafting = False
            self.notify(t("editor.draft_no_models"), severity="warning")
            return
        from tui.dialogs.teacher_pick import TeacherPickScreen

        def picked(name: str | None) -> None:
            if name is None:
                self.drafting = False
                return
            self._start_draft(name, question, system, context, remember=True)

        self.app.push_screen(TeacherPickScreen(names), picked)

    def _start_draft(self, teacher: str, question: str, system: str, context: list[dict], *, remember=False) -> None:
        area = self.editor.query_one("#answer", TextArea)
        self._answer_before = area.text
        area.read_only = True
        self._draft_stop.clear()
        self.query_one("#editor-title", Static).update(f"{self._title()} · {t('editor.draft_writing', model=teacher)}")
        self._run_draft(teacher, question, system, context, remember)

    @work(thread=True, exit_on_error=False, group="editor-draft-run", exclusive=True)
    def _run_draft(self, teacher: str, question: str, system: str, context: list[dict], remember: bool) -> None:
        """Stream the teacher's answer into the answer field (pieces posted back at most every 50 ms)."""
        from core.loop.drafting import draft_answer, open_teacher

        pieces: list[str] = []
        last = [0.0]

        def piece(text: str) -> None:
            pieces.append(text)
            now = time.monotonic()
            if now - last[0] > 0.05:
                last[0] = now
                self.app.call_from_thread(self._draft_show, "".join(pieces))

        try:
            if remember:
                self.ws.update_settings(teacher=teacher)
            if self._teacher is None or self._teacher_name != teacher:
                if self._teacher is not None:
                    self._teacher.close()
                self.app.call_from_thread(self.notify, t("editor.draft_loading", model=teacher), timeout=3)
                self._teacher = open_teacher(self.ws, teacher, in_process=False)
                self._teacher_name = teacher
                self._teacher.load()
            reply = draft_answer(self._teacher, question, system=system or None, context=context,
                                 cancel=self._draft_stop.is_set, on_piece=piece)
            key = self._teacher.ref.key
        except (UserError, OSError) as exc:
            why = error_text(exc, " — ") if isinstance(exc, UserError) else str(exc)  # in the UI's language
            self.app.call_from_thread(self._draft_finished, None, "", "error", why)
            return
        # Esc while it wrote means "not this one", even if the last token beat the stop request
        reason = "cancelled" if self._draft_stop.is_set() else reply.reason
        self.app.call_from_thread(self._draft_finished, key, reply.text.strip(), reason, teacher)

    def _draft_show(self, text: str) -> None:
        if self.drafting and self.is_mounted:
            self.editor.query_one("#answer", TextArea).load_text(text)

    def _draft_finished(self, key: str | None, text: str, reason: str, label: str) -> None:
        self.drafting = False
        if not self.is_mounted:
            return
        area = self.editor.query_one("#answer", TextArea)
        area.read_only = False
        self.query_one("#editor-title", Static).update(self._title())
        if key is None or reason == "cancelled" or not text:
            area.load_text(self._answer_before)
            if key is None:
                self.notify(label, severity="error", timeout=8)
            elif reason == "cancelled":
                self.notify(t("editor.draft_cancelled"), timeout=3)
            else:
                self.notify(t("editor.draft_empty", model=label), severity="warning")
            return
        area.load_text(text)
        area.move_cursor(area.document.end)  # typing goes on where the teacher stopped
        self.teacher_draft = (key, text)
        area.focus()
        self.notify(t("editor.draft_done", model=label), timeout=5)

    def on_unmount(self) -> None:
        self._draft_stop.set()
        if self._teacher is not None:
            self._teacher.close()
            self._teacher = None
