"""The Train room's Runs view: every run in a table (status, steps, losses, data, when, base);
choosing one shows it in the Progress view; d/в shows what changed from the run before it
(its data and settings, ``tui.dialogs.run_diff``).

``TrainRuns`` is one of the four views ``TrainRoom`` (room.py) is made of.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from tui.dialogs.run_diff import RunDiffScreen
from tui.i18n import t
from tui.rooms.train.progress import failure
from tui.statuses import run_status

# the runs table: (column key, label key); the row of a run is built in _run_row in this order
COLUMNS = (
    ("col_id", "train.col_id"),
    ("col_status", "train.col_status"),
    ("col_steps", "train.col_steps"),
    ("col_loss", "train.col_loss"),
    ("col_eval", "train.col_eval"),
    ("col_data", "train.col_data"),
    ("col_created", "train.col_created"),
    ("col_base", "train.col_base"),
)
BASE_WIDTH = 14  # with it every column fits in 80 columns, the scroll bar included


def _short_base(base: str | None) -> str:
    """``unsloth/gemma-3-4b-it-bnb-4bit`` → ``gemma-3-4b-it…``: the model's own name, cut on the right."""
    name = (base or "").rstrip("/").rsplit("/", 1)[-1]
    return name if len(name) <= BASE_WIDTH else name[: BASE_WIDTH - 1] + "…"


def _created(stamp: str | None) -> str:
    """``2026-03-01T10:00:00+00:00`` → ``03-01 10:00`` in local time."""
    if not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%m-%d %H:%M")
    except ValueError:
        return stamp[:16]


def _run_row(r) -> tuple[str, ...]:
    return (
        str(r.id),
        run_status(r.status),
        f"{r.step}/{r.max_steps or '?'}",
        f"{r.loss:.3f}" if r.loss is not None else "—",
        f"{r.eval_loss:.3f}" if r.eval_loss is not None else "—",
        (r.dataset_sha256 or "")[:8],
        _created(r.created),
        _short_base(r.base),
    )


class TrainRuns(Vertical):
    """The Runs view's part of ``TrainRoom``: fills the table from each poll's runs."""

    def compose_runs(self) -> ComposeResult:
        """The Runs view: the table, and under it why the highlighted run failed (when it did)."""
        yield DataTable(id="train-runs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="train-runs-why")

    def localize_runs(self) -> None:
        """The table's column headers in the current language (the rows follow on the next show)."""
        table = self.query_one("#train-runs", DataTable)
        table.clear(columns=True)
        self._add_columns()

    def _add_columns(self) -> None:
        table = self.query_one("#train-runs", DataTable)
        for key, label in COLUMNS:
            table.add_column(t(label), key=key)

    def _show_runs(self, runs) -> None:
        table = self.query_one("#train-runs", DataTable)
        self._listed = {r.id: r for r in runs}
        rows = [_run_row(r) for r in runs]
        current = [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]
        if current == rows:
            self._show_why()  # the same rows; a language switch words the reason anew
            return
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row, key=row[0])
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        self._show_why()

    @on(DataTable.RowHighlighted, "#train-runs")
    def _row_highlighted(self) -> None:
        self._show_why()

    def _show_why(self) -> None:
        """Why the highlighted run failed, under the table; nothing for a run that did not."""
        table = self.query_one("#train-runs", DataTable)
        run = None
        if table.row_count:
            run = self._listed.get(int(table.get_row_at(table.cursor_row)[0]))
        why = failure(run) if run is not None else ""
        if why == self._why_shown:
            return  # each poll: a widget updated would lay the room out again
        self._why_shown = why
        label = self.query_one("#train-runs-why", Static)
        label.update(Text(why))  # no markup: an error may hold [brackets]
        label.display = bool(why)

    @on(DataTable.RowSelected, "#train-runs")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.run_id = int(event.row_key.value)
        self._shown_step = -1
        self.action_view("train-progress-view")
        self.poll()

    def action_diff_run(self) -> None:
        """What changed from the run before the highlighted one to it (another can be picked there)."""
        table = self.query_one("#train-runs", DataTable)
        if not table.row_count:
            self.notify(t("train.diff_none"), severity="warning")
            return
        run_id = int(table.get_row_at(table.cursor_row)[0])
        self.app.push_screen(RunDiffScreen(self.ws, run_id))
