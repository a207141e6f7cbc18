"""The Export dialog of the Pairs room: a path, one of the formats ``core.formats`` writes, the
number of pairs, done. The file is written in a thread worker with its own ``Store``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from core.errors import UserError
from tui.dialogs.confirm import ConfirmScreen
from tui.dialogs.pairs_io import field_row, format_names
from tui.i18n import error_lines, error_text, t
from tui.keys import both
from tui.widgets.completing_input import CompletingInput, PathSuggester

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


EXPORT_FORMATS = ("messages", "sharegpt", "alpaca", "csv", "tsv", "parquet", "hf")


_EXPORT_EXT = {
    "messages": ".jsonl",
    "sharegpt": ".jsonl",
    "alpaca": ".jsonl",
    "csv": ".csv",
    "tsv": ".tsv",
    "parquet": ".parquet",
    "hf": "",
}


class ExportScreen(ModalScreen):
    """Dismisses with the number of pairs exported, or None."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [both("escape", "close", "import_export.export.close")]

    def __init__(self, ws: Workspace, flt=None, path: str | None = None, fmt: str = "messages") -> None:
        super().__init__()
        self.ws = ws
        self.flt = flt
        self.fmt = fmt
        self.initial_path = path or str(Path(ws.exports_dir) / ("pairs" + _EXPORT_EXT.get(fmt, "")))
        self.count: int | None = None
        self.exported: int | None = None
        self._dialog_closed = False

    def compose(self) -> ComposeResult:
        names = [n for n in EXPORT_FORMATS if n in format_names("write")] or list(EXPORT_FORMATS)
        with Vertical(id="exp-box", classes="dlg-box"):
            yield Static(t("import_export.export.title"), classes="dlg-title")
            yield Static(t("import_export.export.counting"), id="exp-count")
            yield field_row(t("import_export.export.format"), Select([(n, n) for n in names], value=self.fmt, allow_blank=False, id="exp-format", compact=True))
            yield field_row(
                t("import_export.export.path"),
                CompletingInput(self.initial_path, suggester=PathSuggester(), id="exp-path", compact=True),
            )
            with VerticalScroll(id="exp-report", classes="dlg-report"):
                yield Static("", id="exp-result")
            with Horizontal(classes="dlg-buttons"):
                yield Button(t("import_export.export.run"), variant="primary", id="exp-run", compact=True)
                yield Button(t("import_export.import.close"), id="exp-close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#exp-path", Input).focus()
        self.count_pairs()

    @work(thread=True, exit_on_error=False, exclusive=True, group="count")
    def count_pairs(self) -> None:
        try:
            with self.ws.store() as store:
                n = store.count_pairs(self.flt)
        except UserError as exc:
            self.app.call_from_thread(self._show_error, error_lines(exc)[0])
            return
        self.app.call_from_thread(self._show_count, n)

    def _show_count(self, n: int) -> None:
        self.count = n
        if self._dialog_closed:
            return
        self.query_one("#exp-count", Static).update(Text(t("import_export.export.count", n=n), style="bold"))

    @on(Select.Changed, "#exp-format")
    def _format_changed(self, event: Select.Changed) -> None:
        new = str(event.value)
        field = self.query_one("#exp-path", Input)
        path = Path(field.value)
        old_ext = _EXPORT_EXT.get(self.fmt, "")
        if field.value and (not old_ext or path.suffix == old_ext):
            stem = path.with_suffix("") if old_ext else path
            field.value = str(stem) + _EXPORT_EXT.get(new, "")
        self.fmt = new

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_run()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "exp-run":
            self.action_run()
        elif event.button.id == "exp-close":
            self.action_close()

    def action_run(self) -> None:
        value = self.query_one("#exp-path", Input).value.strip()
        if not value:
            self._show_error(t("import_export.import.no_path"))
            return
        out = Path(value).expanduser()
        fmt = str(self.query_one("#exp-format", Select).value)
        if out.exists() and (out.is_file() or any(out.iterdir())):

            def answered(yes: bool | None) -> None:
                if yes:
                    self._start(out, fmt)

            self.app.push_screen(ConfirmScreen(t("import_export.export.overwrite", path=value)), answered)
            return
        self._start(out, fmt)

    def _start(self, out: Path, fmt: str) -> None:
        self.query_one("#exp-run", Button).disabled = True
        self.query_one("#exp-result", Static).update(Text(t("import_export.export.running"), style="dim"))
        self.run_export(out, fmt)

    @work(thread=True, exit_on_error=False, exclusive=True, group="export")
    def run_export(self, out: Path, fmt: str) -> None:
        from core.formats.pairs_io import export_pairs

        try:
            with self.ws.store() as store:
                result = export_pairs(store, out, fmt=fmt, flt=self.flt)
        except UserError as exc:
            self.app.call_from_thread(self._show_error, error_text(exc))
            return
        n = result if isinstance(result, int) else getattr(result, "count", getattr(result, "exported", 0))
        self.app.call_from_thread(self._done, n, out)

    def _show_error(self, message: str) -> None:
        if self._dialog_closed:
            return
        self.query_one("#exp-run", Button).disabled = False
        self.query_one("#exp-result", Static).update(Text(message, style="bold red"))
        self.query_one("#exp-report").add_class("-error")

    def _done(self, n: int, out: Path) -> None:
        self.exported = n
        if self._dialog_closed:
            return
        self.query_one("#exp-report").remove_class("-error")
        self.query_one("#exp-result", Static).update(Text(t("import_export.export.done", n=n, path=str(out)), style="bold green"))
        self.query_one("#exp-run", Button).disabled = False
        self.query_one("#exp-close", Button).focus()

    def action_close(self) -> None:
        self._dialog_closed = True
        self.dismiss(self.exported)
