"""The Import dialog of the Pairs room.

A path with completion (Tab), the format the file is detected as, options, a progress bar,
then either the counts or the error report (file, line, reason — and nothing imported).
Store and file work runs in thread workers, each with its own ``Store``. (Export is
export_pairs.py; the rows and format lists both forms use are pairs_io.py.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from core.errors import UserError
from core.store import SPLITS, STATUSES
from core.progress import ProgressEvent
from core.text import split_tags
from tui.i18n import error_lines, t
from tui.keys import both
from tui.dialogs.pairs_io import field_row, format_names
from tui.widgets.completing_input import CompletingInput, PathSuggester
from tui.widgets.progress import draw, from_worker

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


# the errors whose message already says that nothing was imported
NOTHING_IMPORTED = {"import.bad_record", "import.bad_json", "import.invalid_json", "import.empty"}


def detect_format(path: Path, fmt: str | None = None, encoding: str | None = None) -> str:
    """How ``core.formats.detect`` will read ``path`` (e.g. "messages", "csv"); UserError if it cannot."""
    from core.formats import detect

    plan = detect(path, fmt, encoding)
    return str(getattr(plan, "format", None) or getattr(plan, "name", plan))


def rejects_path(ws: Workspace, source: Path) -> Path:
    """Where skipped bad rows of an import go: the workspace's logs folder, one file per import."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(ws.logs_dir) / f"rejects-{source.stem}-{stamp}.jsonl"


class ImportScreen(ModalScreen):
    """Dismisses with the ``ImportCounts`` of a finished import, or None."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [both("escape", "close", "import_export.import.close")]

    def __init__(self, ws: Workspace, path: str | None = None) -> None:
        super().__init__()
        self.ws = ws
        self.initial_path = path or ""
        self.counts = None
        self.error: str | None = None
        self.detected: str | None = None
        self.rejects: Path | None = None
        self._dialog_closed = False

    def compose(self) -> ComposeResult:
        status_opts = [(t("import_export.import.from_file"), "")] + [(t(f"import_export.import.status.{s}"), s) for s in STATUSES]
        split_opts = [(t("import_export.import.from_file"), "")] + [(t(f"import_export.import.split.{s}"), s) for s in SPLITS]
        fmt_opts = [(t("import_export.import.auto"), "")] + [(n, n) for n in format_names("read")]
        with Vertical(id="imp-box", classes="dlg-box"):
            yield Static(t("import_export.import.title"), classes="dlg-title")
            yield field_row(
                t("import_export.import.path"),
                CompletingInput(self.initial_path, placeholder=t("import_export.import.path_ph"), suggester=PathSuggester(), id="imp-path", compact=True),
            )
            yield field_row(t("import_export.import.detected"), Static(t("import_export.import.detect_wait"), id="imp-detected"))
            with Horizontal(classes="dlg-row"):
                yield Label(t("import_export.import.format"), classes="dlg-label")
                yield Select(fmt_opts, value="", allow_blank=False, id="imp-format", compact=True)
                yield Label(t("import_export.import.encoding"), classes="dlg-label2")
                yield Input(placeholder=t("import_export.import.auto"), id="imp-encoding", compact=True)
            with Horizontal(classes="dlg-row"):
                yield Label(t("import_export.import.status"), classes="dlg-label")
                yield Select(status_opts, value="", allow_blank=False, id="imp-status", compact=True)
                yield Label(t("import_export.import.split"), classes="dlg-label2")
                yield Select(split_opts, value="", allow_blank=False, id="imp-split", compact=True)
            yield field_row(t("import_export.import.tag"), Input(placeholder=t("import_export.import.tag_ph"), id="imp-tags", compact=True))
            with Horizontal(classes="dlg-row"):
                yield Checkbox(t("import_export.import.skip_bad"), False, id="imp-skip-bad", compact=True)
                yield Checkbox(t("import_export.import.skip_dup"), True, id="imp-skip-dup", compact=True)
            yield ProgressBar(total=None, show_eta=False, id="imp-progress")
            with VerticalScroll(id="imp-report", classes="dlg-report"):
                yield Static("", id="imp-result")
            with Horizontal(classes="dlg-buttons"):
                yield Button(t("import_export.import.run"), variant="primary", id="imp-run", compact=True)
                yield Button(t("import_export.import.close"), id="imp-close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#imp-path", Input).focus()
        self.query_one("#imp-progress").display = False
        if self.initial_path:
            self.redetect()

    # ---------------------------------------------------------------- detection

    @on(Input.Changed, "#imp-path")
    def _path_changed(self, event: Input.Changed) -> None:
        self.redetect()

    @on(Select.Changed, "#imp-format")
    @on(Input.Changed, "#imp-encoding")
    def redetect(self, event=None) -> None:
        fmt = self.query_one("#imp-format", Select).value or None
        encoding = self.query_one("#imp-encoding", Input).value.strip() or None
        self.detect(self.query_one("#imp-path", Input).value, fmt, encoding)

    @work(thread=True, exit_on_error=False, exclusive=True, group="detect")
    def detect(self, value: str, fmt: str | None = None, encoding: str | None = None) -> None:
        time.sleep(0.15)  # let typing settle; a newer keystroke cancels this one
        if get_current_worker().is_cancelled:
            return
        value = value.strip()
        if not value:
            fmt, text = None, Text(t("import_export.import.detect_wait"), style="dim")
        elif not Path(value).expanduser().exists():
            fmt, text = None, Text(t("import_export.import.detect_missing"), style="dim")
        else:
            try:
                found = detect_format(Path(value).expanduser(), fmt, encoding)
                text = Text(t("import_export.import.detected_as" if fmt is None else "import_export.import.forced_as", fmt=found), style="bold green")
                fmt = found
            except (UserError, OSError, ValueError) as exc:
                reason = error_lines(exc)[0] if isinstance(exc, UserError) else str(exc)
                fmt, text = None, Text(t("import_export.import.detect_fail", reason=reason), style="yellow")
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_detected, fmt, text)

    def _show_detected(self, fmt: str | None, text: Text) -> None:
        if self._dialog_closed:
            return
        self.detected = fmt
        self.query_one("#imp-detected", Static).update(text)

    # ---------------------------------------------------------------- import

    def options(self) -> dict:
        tags = split_tags(self.query_one("#imp-tags", Input).value)
        return {
            "fmt": self.query_one("#imp-format", Select).value or None,
            "encoding": self.query_one("#imp-encoding", Input).value.strip() or None,
            "tags": tags,
            "status": self.query_one("#imp-status", Select).value or None,
            "split": self.query_one("#imp-split", Select).value or None,
            "skip_bad": self.query_one("#imp-skip-bad", Checkbox).value,  # a path, set in action_run
            "skip_duplicates": self.query_one("#imp-skip-dup", Checkbox).value,
        }

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_run()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "imp-run":
            self.action_run()
        elif event.button.id == "imp-close":
            self.action_close()

    def action_run(self) -> None:
        value = self.query_one("#imp-path", Input).value.strip()
        if not value:
            self._show_error(t("import_export.import.no_path"))
            return
        path = Path(value).expanduser()
        if not path.exists():
            self._show_error(t("import_export.import.not_found", path=value))
            return
        bar = self.query_one("#imp-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#imp-run", Button).disabled = True
        self.query_one("#imp-result", Static).update(Text(t("import_export.import.running"), style="dim"))
        opts = self.options()
        opts["skip_bad"] = rejects_path(self.ws, path) if opts["skip_bad"] else None
        self.rejects = opts["skip_bad"]
        self.run_import(path, opts)

    @work(thread=True, exit_on_error=False, exclusive=True, group="import")
    def run_import(self, path: Path, opts: dict) -> None:
        from core.formats.pairs_io import import_files

        worker = get_current_worker()

        forward = from_worker(self.app, self._progress)

        def progress(e: ProgressEvent) -> None:
            if worker.is_cancelled:
                raise UserError("import cancelled", code="import.cancelled")
            forward(e)

        try:
            with self.ws.store() as store:
                counts = import_files(store, [path], progress=progress, **opts)
        except UserError as exc:
            label = t("import_export.import.skip_bad")
            lines = error_lines(exc, label=label)
            if not exc.code and exc.hint and "--skip-bad" in exc.hint:  # the CLI's advice; here it is a checkbox
                lines = [exc.message, t("import_export.import.tip_skip_bad", label=label)]
            self.app.call_from_thread(self._show_error, "\n".join(lines), exc.code in NOTHING_IMPORTED)
            return
        self.app.call_from_thread(self._done, counts)

    def _progress(self, e: ProgressEvent) -> None:
        if self._dialog_closed:
            return
        draw(self.query_one("#imp-progress", ProgressBar), e)

    def _show_error(self, message: str, said: bool = False) -> None:
        """Show why the import failed; ``said``: the message already says nothing was imported."""
        if self._dialog_closed:
            return
        self.error = message
        self.query_one("#imp-progress").display = False
        self.query_one("#imp-run", Button).disabled = False
        text = Text(message, style="bold red")
        if not said and "nothing was imported" not in message.casefold():
            text.append("\n" + t("import_export.import.failed"), style="red")
        self.query_one("#imp-result", Static).update(text)
        self.query_one("#imp-report").add_class("-error")

    def _done(self, counts) -> None:
        self.counts = counts
        if self._dialog_closed:
            return
        self.error = None
        bar = self.query_one("#imp-progress", ProgressBar)
        if bar.total is None:
            bar.update(total=1, progress=1)
        report = self.query_one("#imp-report")
        report.remove_class("-error")
        text = Text(t("import_export.import.done", **counts.to_dict()), style="bold green")
        rejects = self.rejects
        if rejects and counts.rejected:
            text.append("\n" + t("import_export.import.rejects", path=str(rejects)), style="yellow")
        for example in getattr(counts, "duplicate_examples", [])[:5]:
            text.append("\n  = " + example, style="dim")
        self.query_one("#imp-result", Static).update(text)
        self.query_one("#imp-run", Button).disabled = False
        self.query_one("#imp-close", Button).focus()

    def action_close(self) -> None:
        # a running import stops at its next progress report and imports nothing
        self.workers.cancel_group(self, "detect")
        self.workers.cancel_group(self, "import")
        self._dialog_closed = True
        self.dismiss(self.counts)


