"""The Training room: choose settings, start a run, watch loss and lr live, cancel, browse runs.

The method (SFT on the approved pairs, DPO or ORPO on the preference pairs) is one row of the
form; a preference run started here trains a new adapter on the base in the form (the CLI's
``--from-run N`` starts one from a finished run instead). Its plot shows the reward margin
(chosen − rejected, as TRL logs it) on the right axis where an SFT run shows the lr.

Three views take turns inside the room — Settings, Progress and Runs — as tabs, so each has
the whole room even in an 80×24 terminal. Starting a run, or opening the room while one
runs, shows its progress; choosing a run in Runs shows that one.

Everything shown comes from the store and the run folder (read in a thread worker on a
timer), never from the worker process itself — so quitting the app and opening it again,
even from another SSH session, re-attaches to a running training and the plot goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Label,
    ProgressBar,
    RichLog,
    Select,
    Static,
    TabbedContent,
    TabPane,
    Tabs,
)
from textual_plotext import PlotextPlot

from core.errors import UserError
from core.store.runs import ACTIVE  # a run in these is still going: its end is announced
from tui.i18n import t
from tui.keys import both, localize
from tui.messages import ExportRequested
from tui.statuses import run_status

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


_CSS = Path(__file__).with_name("train.tcss").read_text(encoding="utf-8")
PRESET_NAMES = ("demo", "gemma3-4b", "gemma3-12b", "qwen3-8b", "llama3.1-8b")
# (input id, config field, label key, parser)
FIELDS = (
    ("train-base", "base", "train.base", str),
    ("train-steps", "max_steps", "train.steps", int),
    ("train-epochs", "epochs", "train.epochs", float),
    ("train-lr", "lr", "train.lr", float),
    ("train-lora-r", "lora_r", "train.lora_r", int),
    ("train-max-len", "max_seq_len", "train.max_len", int),
    ("train-batch", "batch_size", "train.batch", int),
)
# the form's labels and the TrainConfig field each names: a label's tooltip is the field's help
HELP_LABELS = {
    "train-preset-label": "preset", "train-method-label": "method", "train-4bit-label": "load_in_4bit",
    "train-backend-label": "backend", "train-dtype-label": "dtype",
    **{f"{input_id}-label": fld for input_id, fld, _label, _parser in FIELDS},
}
VIEWS = ("train-setup", "train-progress-view", "train-runs-view")
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
# the colours of the plot's series, written once for the curves and for the legend above them
SERIES = {
    "loss": ((0, 170, 255), "━", "train.legend.loss"),
    "lr": ((255, 140, 0), "━", "train.legend.lr"),
    "eval loss": ((60, 200, 90), "●", "train.legend.eval"),
    "margin": ((220, 80, 200), "━", "train.legend.margin"),
}
# the series of a run by its method: a preference run has its margin on the right axis
PLOTTED = {"sft": ("loss", "lr", "eval loss"), "pref": ("loss", "margin")}


@dataclass
class Snapshot:
    """What one poll of the store found (built in a thread, shown on the UI thread)."""

    runs: list = field(default_factory=list)
    current: object | None = None
    metrics: list = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)


def _field_row(label_key: str, widget, label_id: str) -> Horizontal:
    return Horizontal(Label(t(label_key), id=label_id, classes="train-label"), widget, classes="train-field")


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


def _kind(method: str | None) -> str:
    return "sft" if (method or "sft") == "sft" else "pref"


def _legend(method: str | None = "sft") -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for n, (color, mark, key) in enumerate(SERIES[name] for name in PLOTTED[_kind(method)]):
        if n:
            text.append("   ")
        text.append(mark + " ", style="rgb({},{},{})".format(*color))
        text.append(t(key))
    return text


class TrainRoom(Vertical):
    """Shown as a tab of the app."""

    DEFAULT_CSS = _CSS
    POLL_S = 1.0
    BINDINGS = [
        both("s", "view('train-setup')", "train.k.setup"),
        both("p", "view('train-progress-view')", "train.k.progress"),
        both("r", "view('train-runs-view')", "train.k.runs"),
        # in Settings (Enter in a field does the same): no hunting for the button with Tab
        both("ctrl+s", "start_key", "train.k.start"),
        # offered once the run shown is done (see check_action); the app opens the Export dialog
        both("e", "export", "train.export"),
        both("c", "export_chat", "train.export_chat"),
    ]

    def __init__(self, ws: Workspace, **kw) -> None:
        super().__init__(**kw)
        self.ws = ws
        self.run_id: int | None = None  # the run shown; None = the newest
        self._shown_step = -1
        self._shown_run: int | None = None
        self._shown_status: str | None = None
        self._last_metric = None  # the newest metrics row with a loss, for the stats line
        self._last: Snapshot | None = None  # the last poll, shown again after a language switch
        self._first_poll = True
        self.series: list[str] = []  # the names of the plotted series, in the plot's order
        self._legend_method = "sft"  # whose series the legend names

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with TabbedContent(id="train-views", initial="train-setup"):
            with TabPane(t("train.tab.setup"), id="train-setup"):
                with Horizontal(id="train-setup-row"):
                    with VerticalScroll(id="train-form"):
                        yield _field_row(
                            "train.preset",
                            Select([(n, n) for n in PRESET_NAMES], value="demo", allow_blank=False, compact=True, id="train-preset"),
                            "train-preset-label",
                        )
                        yield _field_row("train.method", Select(self._options("method"), value="sft", allow_blank=False, compact=True,
                                                                id="train-method"), "train-method-label")
                        for input_id, _field, label, _parser in FIELDS:
                            yield _field_row(label, Input(id=input_id, type="text", compact=True), f"{input_id}-label")
                        yield _field_row("train.4bit", Checkbox("", compact=True, id="train-4bit"), "train-4bit-label")
                        yield _field_row("train.backend", Select(self._options("backend"), value="auto", allow_blank=False, compact=True,
                                                                 id="train-backend"), "train-backend-label")
                        yield _field_row("train.dtype", Select(self._options("dtype"), value="auto", allow_blank=False, compact=True,
                                                               id="train-dtype"), "train-dtype-label")
                        yield Static("", id="train-form-error")
                        with Horizontal(id="train-buttons"):
                            yield Button(t("train.start"), id="train-start", variant="primary", compact=True)
                            yield Button(t("train.preview"), id="train-preview-btn", compact=True)
                    with VerticalScroll(id="train-data"):
                        yield Static("", id="train-dataset")
                        yield Static("", id="train-drafts")
                        yield Static("", id="train-preview")
            with TabPane(t("train.tab.progress"), id="train-progress-view"):
                yield Static(_legend(), id="train-legend")
                yield PlotextPlot(id="train-plot")
                with Horizontal(id="train-progress-row"):
                    # no ETA of its own: the stats line has the run's, from its steps (the bar's would
                    # count from when this room first saw the run)
                    # at the left: notices pop up over the right-hand side
                    yield Button(t("train.cancel"), id="train-cancel", variant="error", compact=True, disabled=True)
                    yield ProgressBar(total=1, show_eta=False, id="train-progress")
                yield Static(t("train.idle"), id="train-stats")
                yield RichLog(id="train-log", max_lines=200, wrap=False, markup=False)
            with TabPane(t("train.tab.runs"), id="train-runs-view"):
                yield DataTable(id="train-runs", cursor_type="row", zebra_stripes=True)

    @staticmethod
    def _options(which: str) -> list[tuple[str, str]]:
        from core.train.config import BACKENDS, DTYPES, METHODS

        return [(name, name) for name in {"backend": BACKENDS, "dtype": DTYPES, "method": METHODS}[which]]

    def on_mount(self) -> None:
        localize(self)
        self._add_columns()
        self.query_one("#train-steps", Input).placeholder = t("train.steps_hint")
        self._fill_form("demo")
        localize(self)
        self._help_tooltips()
        self.load_dataset_summary()
        self.poll()
        self.set_interval(self.POLL_S, self.poll)

    def on_show(self) -> None:
        # pairs approved (or corrections saved) in another room since: count them again
        self.load_dataset_summary()

    def load_dataset_summary(self) -> None:
        self._load_dataset_summary(self.method)

    def _help_tooltips(self) -> None:
        for label_id, fld in HELP_LABELS.items():
            self.query_one(f"#{label_id}", Label).tooltip = t(f"train.help.{fld}")

    def _add_columns(self) -> None:
        table = self.query_one("#train-runs", DataTable)
        for key, label in COLUMNS:
            table.add_column(t(label), key=key)

    def localize(self) -> None:
        """Texts in the current language, in place: the form keeps what the user typed."""
        localize(self)
        self._help_tooltips()
        tabs = self.query_one("#train-views", TabbedContent)
        for pane_id, key in zip(VIEWS, ("train.tab.setup", "train.tab.progress", "train.tab.runs")):
            tabs.get_tab(pane_id).label = t(key)
        self.query_one("#train-preset-label", Label).update(t("train.preset"))
        for input_id, _field, label, _parser in FIELDS:
            self.query_one(f"#{input_id}-label", Label).update(t(label))
        for wid, key in (("train-4bit", "train.4bit"), ("train-backend", "train.backend"), ("train-dtype", "train.dtype"),
                         ("train-method", "train.method")):
            self.query_one(f"#{wid}-label", Label).update(t(key))
        self.query_one("#train-steps", Input).placeholder = t("train.steps_hint")
        for wid, key in (("train-start", "train.start"), ("train-cancel", "train.cancel"), ("train-preview-btn", "train.preview")):
            self.query_one(f"#{wid}", Button).label = t(key)
        self.query_one("#train-legend", Static).update(_legend(self._legend_method))
        self._label_4bit()
        table = self.query_one("#train-runs", DataTable)
        table.clear(columns=True)
        self._add_columns()
        if self._last is not None:
            self._show(self._last)  # the stats line and the rows again, in the new words
        else:
            self.query_one("#train-stats", Static).update(t("train.idle"))
        self.query_one("#train-preview", Static).update("")
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

    # ------------------------------------------------------------------ form

    def _fill_form(self, preset_name: str) -> None:
        from core.train.config import TrainConfig

        cfg = TrainConfig.from_preset(preset_name)
        values = {
            "base": cfg.base,
            "max_steps": "",
            "epochs": f"{cfg.epochs:g}",
            "lr": f"{cfg.lr:g}",
            "lora_r": str(cfg.lora_r),
            "max_seq_len": str(cfg.max_seq_len),
            "batch_size": str(cfg.batch_size),
        }
        for input_id, fld, _label, _parser in FIELDS:
            self.query_one(f"#{input_id}", Input).value = values[fld]
        self.query_one("#train-4bit", Checkbox).value = cfg.load_in_4bit  # the preset's choice is the default
        self._label_4bit()

    @on(Checkbox.Changed, "#train-4bit")
    def _4bit_changed(self) -> None:
        self._label_4bit()

    def _label_4bit(self) -> None:
        """The switch says its state in words: its colour alone is lost on a plain terminal."""
        box = self.query_one("#train-4bit", Checkbox)
        box.label = t("train.on") if box.value else t("train.off")

    @on(Select.Changed, "#train-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        if event.value and event.value != Select.BLANK:
            self._fill_form(str(event.value))

    @on(Select.Changed, "#train-method")
    def _method_changed(self) -> None:
        self.query_one("#train-preview", Static).update("")
        self.load_dataset_summary()  # the pairs or the preference pairs

    @property
    def method(self) -> str:
        return str(self.query_one("#train-method", Select).value)

    def form_config(self):
        """The form as a validated TrainConfig, or a UserError naming the field."""
        from core.train.config import TrainConfig

        preset = str(self.query_one("#train-preset", Select).value)
        values: dict = {}
        for input_id, fld, label, parser in FIELDS:
            raw = self.query_one(f"#{input_id}", Input).value.strip()
            if not raw:
                continue
            try:
                values[fld] = parser(raw)
            except ValueError:
                raise UserError(t("train.bad_number", field=t(label), value=raw)) from None
        values["load_in_4bit"] = self.query_one("#train-4bit", Checkbox).value
        values["backend"] = str(self.query_one("#train-backend", Select).value)
        values["dtype"] = str(self.query_one("#train-dtype", Select).value)
        values["method"] = self.method
        cfg = TrainConfig.from_preset(preset, **values)
        if not values.get("max_steps"):
            cfg = cfg.with_(max_steps=-1)
        return cfg.validate()

    def _show_form_error(self, message: str) -> None:
        try:
            self.query_one("#train-form-error", Static).update(message)
            if message:
                self.action_view("train-setup")  # where the field to fix is
        except NoMatches:
            return

    @on(Button.Pressed, "#train-start")
    def _start_pressed(self) -> None:
        self.action_start()

    def action_start_key(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        """Start a run with the form's settings (the button, and the command palette)."""
        try:
            cfg = self.form_config()
        except UserError as exc:
            self._show_form_error(str(exc))
            self.app.notify(str(exc), severity="error")
            return
        self._show_form_error("")
        self.start_run(cfg)

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-action")
    def start_run(self, cfg) -> None:
        from core.train.runs import start_run

        try:
            run = start_run(self.ws, cfg)
        except UserError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), severity="error")
            self.app.call_from_thread(self._show_form_error, str(exc))
            return
        self.app.call_from_thread(self._started, run.id)

    def _started(self, run_id: int) -> None:
        self.run_id = None  # follow the newest run
        self.app.notify(t("train.started", id=run_id))
        self.action_view("train-progress-view")
        self.poll()

    @on(Button.Pressed, "#train-cancel")
    def _cancel_pressed(self) -> None:
        self.cancel_run()

    def action_cancel_run(self) -> None:
        self.cancel_run()

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-action")
    def cancel_run(self) -> None:
        from core.train.runs import cancel_run

        with self.ws.store() as store:
            run = store.active_run()
        if run is None:
            return
        run = cancel_run(self.ws, run.id)
        self.app.call_from_thread(self._cancelled, run.id, run.status)

    def _cancelled(self, run_id: int, status: str) -> None:
        self.app.notify(t("train.cancelled", id=run_id, status=run_status(status)))
        self.poll()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("export", "export_chat"):
            return self._shown_status == "done"
        if action == "start_key":  # the key, not the action: the palette starts a run from any view
            return self.view == "train-setup"
        return True

    @on(TabbedContent.TabActivated, "#train-views")
    def _view_shown(self) -> None:
        self.refresh_bindings()  # ctrl+s start is offered in Settings only

    @on(Input.Submitted)
    def _field_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field of the form starts the run, as in any form."""
        if event.input.id in {input_id for input_id, *_ in FIELDS}:
            event.stop()
            self.action_start()

    def action_export(self) -> None:
        self.post_message(ExportRequested(self._shown_run))

    def action_export_chat(self) -> None:
        self.post_message(ExportRequested(self._shown_run, chat=True))

    # ------------------------------------------------------------------ dataset summary + preview

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-dataset")
    def _load_dataset_summary(self, method: str) -> None:
        from core.store import PairFilter
        from core.text import estimate_tokens
        from core.train.pipeline import take_snapshot

        with self.ws.store() as store:
            drafts = store.count_pairs(PairFilter(status="draft"))
            try:
                snap = take_snapshot(store, method)
            except UserError:
                snap = None
        if method != "sft":
            if snap is None:
                text = t("train.no_prefs")
            else:
                tokens = sum(estimate_tokens(m["content"]) for ex in snap.examples for m in ex.prompt) + sum(
                    estimate_tokens(ex.chosen) + estimate_tokens(ex.rejected) for ex in snap.examples)
                text = t("train.prefs", n=len(snap.examples), method=method, tokens=tokens, sha=snap.sha256[:12])
        elif snap is None:
            text = t("train.no_data")
        else:
            tokens = sum(estimate_tokens(m["content"]) for ex in snap.train for m in ex.messages)
            text = t("train.dataset", train=len(snap.train), eval=len(snap.eval), tokens=tokens, sha=snap.sha256[:12])
        self.app.call_from_thread(self._set_dataset, text, drafts)

    def _set_dataset(self, text, drafts: int) -> None:
        try:
            self.query_one("#train-dataset", Static).update(text)
            # said only when some wait: "0 drafts wait" is a line to read for nothing
            self.query_one("#train-drafts", Static).update(t("train.drafts", n=drafts) if drafts else "")
        except NoMatches:
            return

    def _set_preview(self, text) -> None:
        try:
            self.query_one("#train-preview", Static).update(text)
        except NoMatches:
            return

    @on(Button.Pressed, "#train-preview-btn")
    def _preview_pressed(self) -> None:
        self.action_preview()

    def action_preview(self) -> None:
        try:
            cfg = self.form_config()
        except UserError as exc:
            self._show_form_error(str(exc))
            return
        self._show_form_error("")
        self.action_view("train-setup")
        self.load_preview(cfg)

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-preview")
    def load_preview(self, cfg) -> None:
        from transformers import AutoTokenizer

        from core.train.dataset import preview, template_source
        from core.train.pipeline import take_snapshot
        from core.train.runs import resolve_base
        from core.train.templates import get_template

        try:
            with self.ws.store() as store:
                snap = take_snapshot(store, cfg.method)
                _label, path = resolve_base(store, cfg.base)
            tok = AutoTokenizer.from_pretrained(path)
            source = template_source(tok, get_template(cfg.template) if cfg.template else None)
            if cfg.preference:
                from core.train.preference_data import preview as preference_preview

                pv = preference_preview(tok, source, snap, max_len=cfg.max_seq_len, samples=1)
            else:
                pv = preview(tok, source, snap, max_len=cfg.max_seq_len, samples=1)
        except OSError as exc:  # the tokenizer files cannot be read
            self.app.call_from_thread(self.app.notify, str(exc), severity="error")
            return
        if cfg.preference:
            self.app.call_from_thread(self._set_preview, _preference_text(pv, cfg, snap.sha256))
            return
        text = Text()
        text.append(t("train.dataset", train=pv.examples, eval=len(snap.eval), tokens=pv.tokens, sha=snap.sha256[:12]) + "\n")
        text.append(t("train.preview_legend") + "\n", style="dim")
        for sample in pv.samples:
            for piece, trained in sample["pieces"]:
                text.append(piece, style="bold green" if trained else "dim")
        if pv.truncated:
            text.append("\n" + t("train.truncated", n=len(pv.truncated), max=cfg.max_seq_len), style="yellow")
        self.app.call_from_thread(self._set_preview, text)

    # ------------------------------------------------------------------ live view

    def poll(self) -> None:
        if self.is_attached:
            self.read_store(self.run_id, (self._shown_run, self._shown_step, self._shown_status))

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-poll")
    def read_store(self, run_id, shown: tuple) -> None:
        from core.train.runs import refresh

        snap = Snapshot()
        with self.ws.store() as store:
            refresh(store)
            snap.runs = store.list_runs(limit=50)
            if run_id is not None:
                snap.current = next((r for r in snap.runs if r.id == run_id), None)
            elif snap.runs:
                snap.current = snap.runs[0]
            # metrics again when the run, its step or its status moved: the eval after the last
            # step lands while the step stays the same, just before the run turns "done"
            if snap.current is not None and (snap.current.id, snap.current.step, snap.current.status) != shown:
                snap.metrics = store.run_metrics(snap.current.id)
        if snap.current is not None and snap.current.run_dir:
            log = Path(snap.current.run_dir) / "train.log"
            try:
                with log.open("rb") as fh:
                    fh.seek(0, 2)
                    size = fh.tell()
                    fh.seek(max(0, size - 4000))
                    snap.log_tail = fh.read().decode("utf-8", "replace").splitlines()[-12:]
            except OSError:
                pass
        self.app.call_from_thread(self.show, snap)

    def show(self, snap: Snapshot) -> None:
        try:
            self._show(snap)
        except NoMatches:  # the room was removed (quit) while the thread read
            return

    def _show(self, snap: Snapshot) -> None:
        self._last = snap
        self._show_runs(snap.runs)
        run = snap.current
        if self._first_poll:
            self._first_poll = False
            if run is not None and run.active:
                self.action_view("train-progress-view")  # opened while a run goes: show it going
        stats = self.query_one("#train-stats", Static)
        self.query_one("#train-cancel", Button).disabled = not any(r.active for r in snap.runs)
        if run is None:
            stats.update(t("train.idle"))
            return
        other_run = run.id != self._shown_run
        if _kind(run.method) != _kind(self._legend_method):
            self._legend_method = run.method
            self.query_one("#train-legend", Static).update(_legend(run.method))
        if snap.metrics:
            self._plot(snap.metrics, run.method)
        elif other_run:
            self._plot([], run.method)  # a run just started: not the previous run's curves under its number
        changed = (run.id, run.step, run.status) != (self._shown_run, self._shown_step, self._shown_status)
        offer = (run.id, run.status) != (self._shown_run, self._shown_status)
        ended = not other_run and self._shown_status in ACTIVE and run.status not in ACTIVE
        self._shown_run, self._shown_step, self._shown_status = run.id, run.step, run.status
        if offer:
            self.refresh_bindings()  # export is offered for a finished run only
        if ended:  # said wherever the user is: the next step is one key away
            done = run.status == "done"
            self.app.notify(t("train.ended_done" if done else "train.ended", id=run.id, status=run_status(run.status)),
                            severity="information" if done else "warning", timeout=8)
        bar = self.query_one("#train-progress", ProgressBar)
        if run.max_steps:
            bar.update(total=run.max_steps, progress=run.step)
        elif other_run:
            bar.update(total=1, progress=0)
        if snap.metrics:  # metrics are re-read only when the run moved: keep the newest row
            self._last_metric = next((m for m in reversed(snap.metrics) if m.loss is not None), None)
        elif changed:
            self._last_metric = None
        last = self._last_metric
        from core.train.runs import eta_s

        eta = eta_s(run)
        eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}" if eta is not None and run.status == "running" else "—"
        if run.method != "sft":
            stats.update(t(
                "train.stats_pref", id=run.id, method=run.method, step=run.step, total=run.max_steps or "?",
                loss=f"{run.loss:.4f}" if run.loss is not None else "—",
                margin=f"{last.margin:.3f}" if last and last.margin is not None else "—",
                acc=f"{last.accuracy:.2f}" if last and last.accuracy is not None else "—",
                eta=eta_text, status=run_status(run.status),
            ))
        else:
                stats.update(
                t(
                    "train.stats",
                    id=run.id,
                    step=run.step,
                    total=run.max_steps or "?",
                    loss=f"{run.loss:.4f}" if run.loss is not None else "—",
                    lr=f"{last.lr:.2e}" if last and last.lr is not None else "—",
                    tps=f"{last.tokens_per_s:.0f}" if last and last.tokens_per_s else "—",
                    eta=eta_text,
                    status=run_status(run.status),
                )
            )
        if changed or snap.log_tail:
            log = self.query_one("#train-log", RichLog)
            log.clear()
            for line in snap.log_tail:
                log.write(line)

    def _plot(self, metrics, method: str = "sft") -> None:
        """Loss (left axis), lr (right axis) and the eval losses — for a DPO/ORPO run loss and
        the reward margin (right axis); no legend inside the plot — it would sit on the
        curve — but one line above it, in the same colours."""
        widget = self.query_one("#train-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        self.series = []
        steps = [m.step for m in metrics if m.loss is not None]
        if steps:
            plt.plot(steps, [m.loss for m in metrics if m.loss is not None], marker="braille", color=SERIES["loss"][0])
            self.series.append("loss")
        if _kind(method) == "pref":
            margins = [(m.step, m.margin) for m in metrics if m.margin is not None]
            if margins:
                plt.plot([s for s, _ in margins], [v for _, v in margins], yside="right", marker="braille", color=SERIES["margin"][0])
                self.series.append("margin")
            ticks = _step_ticks(steps + [s for s, _ in margins])
            if ticks:
                plt.xticks(ticks, [str(x) for x in ticks])
            widget.refresh()
            return
        lr_steps = [m.step for m in metrics if m.lr is not None]
        if lr_steps:
            plt.plot(lr_steps, [m.lr for m in metrics if m.lr is not None], yside="right", marker="braille", color=SERIES["lr"][0])
            self.series.append("lr")
        evals = [(m.step, m.eval_loss) for m in metrics if m.eval_loss is not None]
        if evals:
            plt.scatter([s for s, _ in evals], [v for _, v in evals], marker=SERIES["eval loss"][1], color=SERIES["eval loss"][0])
            self.series.append("eval loss")
        ticks = _step_ticks(steps + lr_steps + [s for s, _ in evals])
        if ticks:
            plt.xticks(ticks, [str(x) for x in ticks])  # steps are whole numbers: no "20.8" on the axis
        widget.refresh()

    def plotted(self) -> dict[str, tuple[list, list]]:
        """What the plot holds now: series name → (x values, y values)."""
        monitor = self.query_one("#train-plot", PlotextPlot).plt.monitor
        return {name: (list(monitor.x[i]), list(monitor.y[i])) for i, name in enumerate(self.series) if i < len(monitor.x)}

    def _show_runs(self, runs) -> None:
        table = self.query_one("#train-runs", DataTable)
        rows = [_run_row(r) for r in runs]
        current = [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]
        if current == rows:
            return
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row, key=row[0])
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    @on(DataTable.RowSelected, "#train-runs")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.run_id = int(event.row_key.value)
        self._shown_step = -1
        self.action_view("train-progress-view")
        self.poll()


def _preference_text(pv, cfg, sha: str) -> Text:
    """A preference pair as the trainer gets it: the prompt dim, the chosen answer green, the rejected red."""
    text = Text()
    text.append(t("train.prefs", n=pv.examples, method=cfg.method, tokens=pv.tokens, sha=sha[:12]) + "\n")
    text.append(t("train.pref_legend") + "\n", style="dim")
    for sample in pv.samples:
        text.append(sample["prompt"], style="dim")
        text.append(sample["chosen"] + "\n", style="bold green")
        text.append(sample["rejected"], style="bold red")
    if pv.truncated:
        text.append("\n" + t("train.pref_truncated", n=len(pv.truncated), max=cfg.max_seq_len), style="yellow")
    return text


def _step_ticks(steps: list[int], most: int = 5) -> list[int]:
    """Up to ``most`` whole, evenly spread steps from the first to the last."""
    if not steps:
        return []
    lo, hi = min(steps), max(steps)
    n = min(most, hi - lo + 1)
    return sorted({round(lo + (hi - lo) * i / max(n - 1, 1)) for i in range(n)})
