"""The Training room: choose settings, start a run, watch loss and lr live, cancel, browse runs.

The method (SFT on the approved pairs, DPO or ORPO on the preference pairs) is one row of the
form; a preference run started here trains a new adapter on the base in the form (the CLI's
``--from-run N`` starts one from a finished run instead). Its plot shows the reward margin
(chosen − rejected, as TRL logs it) on the right axis where an SFT run shows the lr.

Four views take turns inside the room — Settings (setup.py), Progress (progress.py), Runs
(runs.py) and Models (models.py) — as tabs, so each has the whole room even in an 80×24 terminal. Starting a run, or
opening the room while one runs, shows its progress; choosing a run in Runs shows that one.
This module holds what the views share: the tabs, the keys, the room's state and its language.
The four views are the room's bases, not widgets of their own: ``TrainRoom`` inherits each
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
from tui.rooms.train.models import TrainModels
from tui.rooms.train.progress import Snapshot, TrainProgress
from tui.rooms.train.runs import TrainRuns
from tui.rooms.train.setup import TrainSetup
from tui.styles import sibling_css

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


VIEWS = ("train-setup", "train-progress-view", "train-runs-view", "train-models-view")
TAB_KEYS = ("train.tab.setup", "train.tab.progress", "train.tab.runs", "train.tab.models")


class TrainRoom(TrainSetup, TrainProgress, TrainRuns, TrainModels):
    """Shown as a tab of the app."""

    DEFAULT_CSS = sibling_css(__file__)
    POLL_S = 1.0
    BINDINGS = [
        both("s", "view('train-setup')", "train.k.setup"),
        both("p", "view('train-progress-view')", "train.k.progress"),
        both("r", "view('train-runs-view')", "train.k.runs"),
        both("m", "view('train-models-view')", "train.k.models", show=False),  # its tab says it; at 80 columns the footer keeps c (export and chat)
        # in Settings (Enter in a field does the same): no hunting for the button with Tab
        both("ctrl+s", "start_key", "train.k.start"),
        # v/м from the view tabs, ctrl+r from a field of the form (where a letter is typed)
        both("v,ctrl+r", "preview", "train.k.preview"),
        # offered once the run shown is done (see check_action); the app opens the Export dialog
        both("e", "export", "train.export"),
        both("c", "export_chat", "train.export_chat"),
        # in Runs: what changed from the run before the chosen one (runs.py)
        both("d", "diff_run", "train.k.diff"),
        # in Models (models.py): add a base, delete one, make one the form's base
        both("a", "add_model", "models.k.add"),
        both("x,delete", "delete_model", "models.k.delete"),
        both("b", "use_as_base", "models.k.use"),
        both("k", "cancel_download", "models.k.cancel_pull"),
        both("u", "resume_download", "models.k.resume_pull"),
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
            with TabPane(t("train.tab.models"), id="train-models-view"):
                yield from self.compose_models()

    def on_mount(self) -> None:
        localize(self)
        self._add_columns()
        self._add_model_columns()
        self.query_one("#train-steps", Input).placeholder = t("train.steps_hint_short")  # beside Epochs: the rest in its tooltip
        self.query_one("#train-steps", Input).tooltip = t("train.steps_hint")
        self._fill_form("demo")
        localize(self)
        self._help_tooltips()
        self.load_dataset_summary()
        self.load_models(totals=False)  # the bases the form's base field offers
        self.poll()
        self.set_interval(self.POLL_S, self.poll)
        self.set_interval(self.POLL_S, self.tick_downloads)

    def on_show(self) -> None:
        # pairs approved (or corrections saved) in another room since: count them again
        self.load_dataset_summary()

    def localize(self) -> None:
        """Texts in the current language, in place: the form keeps what the user typed."""
        localize(self)
        tabs = self.query_one("#train-views", TabbedContent)
        for pane_id, key in zip(VIEWS, TAB_KEYS):
            tabs.get_tab(pane_id).label = t(key)
        self.localize_setup()
        self.localize_runs()
        self.localize_models()
        self.localize_progress()
        self.load_dataset_summary()

    # ------------------------------------------------------------------ views

    def action_view(self, view: str) -> None:
        """Show one of the room's views (Settings, Progress, Runs, Models).

        The focus leaves the view being hidden first: a focused widget that gets hidden hands
        the focus to a neighbour in its own view, and the tabs then switch straight back (the
        Start button kept the room on Settings after a run started, and s/p/r did nothing).
        The Runs and Models views take the focus on their tables (arrows choose at once);
        the others on the view tabs, where s/p/r/m keep working."""
        if view not in VIEWS:
            return
        tabs = self.query_one("#train-views", TabbedContent)
        focused = self.screen.focused
        pane = tabs.get_pane(view)
        if focused is not None and tabs in focused.ancestors and pane not in focused.ancestors_with_self:
            tables = {"train-runs-view": "#train-runs", "train-models-view": "#models-table"}
            target = self.query_one(tables[view], DataTable) if view in tables else tabs.query_one(Tabs)
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
        if action in ("add_model", "delete_model", "use_as_base"):
            return self.view == "train-models-view"
        if action in ("cancel_download", "resume_download"):
            return self.view == "train-models-view" and self.pull_can(action)
        return True

    @on(TabbedContent.TabActivated, "#train-views")
    def _view_shown(self) -> None:
        self.refresh_bindings()  # ctrl+s start is offered in Settings only
        if self.view == "train-models-view":
            self.load_models()  # sizes and users as they are now
            self.poll_downloads()

    def action_export(self) -> None:
        self.post_message(ExportRequested(self._shown_run))

    def action_export_chat(self) -> None:
        self.post_message(ExportRequested(self._shown_run, chat=True))
