"""The Draft dialog: a teacher model drafts question–answer pairs from a document.

Opened from the Pairs room (w/ц) or the command palette. Choose the teacher (any registered
GGUF; the choice is kept in the workspace settings), name a file or paste the text, say how
many pairs, start. The teacher runs in a child process (see the Chat room for why); the
work is ``core.loop.drafting.draft_from_document`` in a thread worker that gets plain values and
posts progress back. Esc stops a running draft (the pairs written so far are kept); the
drafts land as status draft, for review.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static, TextArea

from core.errors import UserError
from core.progress import ProgressEvent
from tui.dialogs.teacher_pick import default_teacher, teachers
from tui.i18n import error_text, t
from tui.keys import both
from tui.messages import PairsChanged
from tui.widgets.progress import draw

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


class DraftScreen(ModalScreen[int | None]):
    """Dismisses with how many drafts were saved (None: none were)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        both("escape", "stop_or_close", "draft.stop_or_close", show=False),
        both("ctrl+s", "run", "draft.run_key", show=False, priority=True),
    ]

    def __init__(self, ws: Workspace, *, text: str = "", path: str = "") -> None:
        super().__init__()
        self.ws = ws
        self.text = text
        self.path = path
        self.busy = False
        self.saved = 0
        self.report = None
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="draft-box"):
            yield Static(t("draft.title"), id="draft-title")
            with Horizontal(classes="draft-row"):
                yield Label(t("draft.teacher"), classes="draft-label")
                yield Select([], prompt=t("draft.teacher_pick"), id="draft-teacher")
            with Horizontal(classes="draft-row"):
                yield Label(t("draft.file"), classes="draft-label")
                yield Input(self.path, placeholder=t("draft.file_ph"), id="draft-file")
            with Horizontal(classes="draft-row"):
                yield Label(t("draft.count"), classes="draft-label")
                yield Input("10", id="draft-count", type="integer")
            yield Label(t("draft.text"))
            yield TextArea(self.text, id="draft-text", soft_wrap=True, tab_behavior="focus")
            yield ProgressBar(id="draft-progress", show_eta=False)
            yield Static("", id="draft-status")
            with VerticalScroll(id="draft-results"):
                yield Static("", id="draft-list")
            with Horizontal(id="draft-buttons"):
                yield Button(t("draft.run"), id="draft-run", variant="primary")
                yield Button(t("draft.close"), id="draft-close")

    def on_mount(self) -> None:
        self.query_one("#draft-progress", ProgressBar).display = False
        self._load_teachers()
        self.query_one("#draft-file", Input).focus()

    @work(thread=True, exit_on_error=False, exclusive=True, group="draft-teachers")
    def _load_teachers(self) -> None:
        from core.store import Store

        with Store(self.ws.db_path, migrate=False) as store:
            names = teachers(store)
        self.app.call_from_thread(self._show_teachers, names, default_teacher(self.ws, names))

    def _show_teachers(self, names: list[str], chosen: str | None) -> None:
        if not self.is_mounted:
            return
        sel = self.query_one("#draft-teacher", Select)
        sel.set_options([(n, n) for n in names])
        if chosen:
            sel.value = chosen
        if not names:
            self.status(t("draft.no_models"))

    def status(self, text: str) -> None:
        self.query_one("#draft-status", Static).update(text)

    # ------------------------------------------------------------ running

    @on(Button.Pressed, "#draft-run")
    def _run_pressed(self) -> None:
        self.action_run()

    @on(Button.Pressed, "#draft-close")
    def _close_pressed(self) -> None:
        self.action_stop_or_close()

    def action_run(self) -> None:
        if self.busy:
            return
        sel = self.query_one("#draft-teacher", Select)
        if sel.is_blank() or not isinstance(sel.value, str):
            self.notify(t("draft.need_teacher"), severity="warning")
            return
        path = self.query_one("#draft-file", Input).value.strip()
        text = self.query_one("#draft-text", TextArea).text
        if not path and not text.strip():
            self.notify(t("draft.need_text"), severity="warning")
            return
        try:
            count = int(self.query_one("#draft-count", Input).value)
            if count < 1:
                raise ValueError
        except ValueError:
            self.notify(t("draft.bad_count"), severity="warning")
            return
        self.busy = True
        self._stop.clear()
        bar = self.query_one("#draft-progress", ProgressBar)
        bar.update(total=count, progress=0)
        bar.display = True
        self.query_one("#draft-run", Button).disabled = True
        self.query_one("#draft-close", Button).label = t("draft.stop")
        self.query_one("#draft-list", Static).update("")
        self._draft(str(sel.value), path, text, count)

    @work(thread=True, exit_on_error=False, exclusive=True, group="draft-run")
    def _draft(self, teacher: str, path: str, text: str, count: int) -> None:
        from core.loop.drafting import draft_from_document, read_document

        lines: list[str] = []

        def progress(e) -> None:
            text = t(f"draft.st.{e.stage}", m=e.message)
            if e.stage in ("draft", "duplicate", "failed"):
                lines.append(text)
            self.app.call_from_thread(self._progress, e, text, list(lines))

        try:
            if path:
                text, name = read_document(Path(path).expanduser()), path
            else:
                name = t("draft.pasted")
            self.ws.update_settings(teacher=teacher)
            report = draft_from_document(self.ws, teacher, text, count=count, name=name, in_process=False,
                                         progress=progress, cancel=self._stop.is_set)
        except UserError as exc:
            self.app.call_from_thread(self._failed, error_text(exc, " — "))
            return
        except OSError as exc:
            self.app.call_from_thread(self._failed, f"{path}: {exc.strerror or exc}")
            return
        self.app.call_from_thread(self._finished, report)

    def _progress(self, e: ProgressEvent, message: str, lines: list[str]) -> None:
        if not self.is_mounted:
            return
        if e.stage in ("draft", "duplicate", "failed"):
            draw(self.query_one("#draft-progress", ProgressBar), e)
            self.query_one("#draft-list", Static).update("\n".join(lines[-50:]))
        self.status(t("draft.running", done=e.done, total=e.total, message=message))

    def _idle(self) -> None:
        self.busy = False
        self.query_one("#draft-progress", ProgressBar).display = False
        self.query_one("#draft-run", Button).disabled = False
        self.query_one("#draft-close", Button).label = t("draft.close")

    def _failed(self, message: str) -> None:
        if not self.is_mounted:
            return
        self._idle()
        self.status(message)
        self.notify(message, severity="error", timeout=8)

    def _finished(self, report) -> None:
        if not self.is_mounted:
            return
        self._idle()
        self.report = report
        self.saved += len(report.saved)
        summary = (t("draft.stopped") if report.cancelled else "") + t(
            "draft.done", saved=len(report.saved), requested=report.requested, duplicates=report.duplicates,
            failed=report.failed)
        self.status(summary + ("\n" + t("draft.review") if report.saved else ""))
        self.query_one("#draft-list", Static).update("\n".join(f"#{p.id} {p.question}" for p in report.saved))
        if report.saved:
            self.app.post_message(PairsChanged())

    def action_stop_or_close(self) -> None:
        if self.busy:
            self._stop.set()
            return
        self.dismiss(self.saved or None)
