"""The Training room: choose settings, start a run, watch loss and lr live, cancel, browse runs.

The method (SFT on the approved pairs, DPO or ORPO on the preference pairs) is one row of the
form; a preference run started here trains a new adapter on the base in the form (the CLI's
``--from-run N`` starts one from a finished run instead). Its plot shows the reward margin
(chosen − rejected, as TRL logs it) on the right axis where an SFT run shows the lr.

Three views take turns inside the room — Settings (setup.py), Progress (progress.py) and Runs
(runs.py) — as tabs, so each has the whole room even in an 80×24 terminal. Starting a run, or
opening the room while one runs, shows its progress; choosing a run in Runs shows that one.
This module holds what the views share: the tabs, the keys, the room's state and its language.
The three views are the room's bases, not widgets of their own: ``TrainRoom`` inherits each
view's ``compose_*``, handlers and workers, so the room is still one widget with one set of ids
and one stylesheet (room.tcss), and a view reaches the others through ``self``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, TabbedContent, TabPane, Tabs

from tui.i18n import t
from tui.keys import both, localize
from tui.messages import ExportRequested
from tui.rooms.train.progress import Snapshot, TrainProgress
from tui.rooms.train.runs import TrainRuns
from tui.rooms.train.setup import TrainSetup
from tui.styles import sibling_css

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


VIEWS = ("train-setup", "train-progress-view", "train-runs-view")


class TrainRoom(TrainSetup, TrainProgress, TrainRuns):
    """Shown as a tab of the app."""

    DEFAULT_CSS = sibling_css(__file__)
    POLL_S = 1.0
    BINDINGS = [
        both("s", "view('train-setup')", "train.k.setup"),
        both("p", "view('train-progress-view')", "train.k.progress"),
        both("r", "view('train-runs-view')", "train.k.runs"),
        # in Settings (Enter in a field does the same): no hunting for the button with Tab
        both("ctrl+s", "start_key", "train.k.start"),
        # v/м from the view tabs, ctrl+r from a field of the form (where a letter is typed)
        both("v,ctrl+r", "preview", "train.k.preview"),
        # offered once the run shown is done (see check_action); the app opens the Export dialog
        both("e", "export", "train.export"),
        both("c", "export_chat", "train.export_chat"),
        # in Runs: what changed from the run before the chosen one (runs.py)
        both("d", "diff_run", "train.k.diff"),
    ]

    def __init__(self, ws: Workspace, **kw) -> None:
        super().__init__(**kw)
        self.ws = ws
        self.run_id: int | None = None  # the run shown; None = the newest
        self._shown_step = -1
        self._shown_run: int | None = None
        self._shown_status: str | None = None
        self._last_metric = None  # the newest metrics row with a loss, for the stats line
        self._judge: float | None = None  # the judge's mean at the latest judged evaluation, for the stats line
        self._last: Snapshot | None = None  # the last poll, shown again after a language switch
        self._first_poll = True
        self.series: list[str] = []  # the names of the plotted series, in the plot's order
        self._legend_method = "sft"  # whose series the legend names
        self._listed: dict = {}  # the runs in the Runs table by id, for why the highlighted one failed
        self._why_shown = ""  # what the Runs view says under its table

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with TabbedContent(id="train-views", initial="train-setup"):
            with TabPane(t("train.tab.setup"), id="train-setup"):
                yield from self.compose_setup()
            with TabPane(t("train.tab.progress"), id="train-progress-view"):
                yield from self.compose_progress()
            with TabPane(t("train.tab.runs"), id="train-runs-view"):
                yield from self.compose_runs()

    def on_mount(self) -> None:
        localize(self)
        self._add_columns()
        self.query_one("#train-steps", Input).placeholder = t("train.steps_hint_short")  # beside Epochs: the rest in its tooltip
        self.query_one("#train-steps", Input).tooltip = t("train.steps_hint")
        self._fill_form("demo")
        localize(self)
        self._help_tooltips()
        self.load_dataset_summary()
        self.poll()
        self.set_interval(self.POLL_S, self.poll)

    def on_show(self) -> None:
        # pairs approved (or corrections saved) in another room since: count them again
        self.load_dataset_summary()

    def localize(self) -> None:
        """Texts in the current language, in place: the form keeps what the user typed."""
        localize(self)
        tabs = self.query_one("#train-views", TabbedContent)
        for pane_id, key in zip(VIEWS, ("train.tab.setup", "train.tab.progress", "train.tab.runs")):
            tabs.get_tab(pane_id).label = t(key)
        self.localize_setup()
        self.localize_runs()
        self.localize_progress()
        self.load_dataset_summary()

    # ------------------------------------------------------------------ views

    def action_view(self, view: str) -> None:
        """Show one of the room's views (Settings, Progress, Runs).

        The focus leaves the view being hidden first: a focused widget that gets hidden hands
        the focus to a neighbour in its own view, and the tabs then switch straight back (the
        Start button kept the room on Settings after a run started, and s/p/r did nothing).
        The Runs view takes the focus on its table (arrows and Enter choose a run at once);
        the others on the view tabs, where s/p/r keep working."""
        if view not in VIEWS:
            return
        tabs = self.query_one("#train-views", TabbedContent)
        focused = self.screen.focused
        pane = tabs.get_pane(view)
        if focused is not None and tabs in focused.ancestors and pane not in focused.ancestors_with_self:
            target = self.query_one("#train-runs", DataTable) if view == "train-runs-view" else tabs.query_one(Tabs)
            self.screen.set_focus(target)
        tabs.active = view

    @property
    def view(self) -> str:
        return self.query_one("#train-views", TabbedContent).active

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("export", "export_chat"):
            return self._shown_status == "done"
        if action == "start_key":  # the key, not the action: the palette starts a run from any view
            return self.view == "train-setup"
        if action == "diff_run":
            return self.view == "train-runs-view"
        return True

    @on(TabbedContent.TabActivated, "#train-views")
    def _view_shown(self) -> None:
        self.refresh_bindings()  # ctrl+s start is offered in Settings only

    def action_export(self) -> None:
        self.post_message(ExportRequested(self._shown_run))

    def action_export_chat(self) -> None:
        self.post_message(ExportRequested(self._shown_run, chat=True))
