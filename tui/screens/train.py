"""The Training room: choose settings, start a run, watch loss and lr live, cancel, browse runs.

Everything shown comes from the store and the run folder (read in a thread worker on a
timer), never from the worker process itself — so quitting the app and opening it again,
even from another SSH session, re-attaches to a running training and the plot goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, RichLog, Select, Static
from textual_plotext import PlotextPlot

from core.errors import UserError
from tui.i18n import register, t
from tui.keys import both, localize
from tui.messages import ExportRequested

register(
    ru={
        "train.preset": "Пресет",
        "train.base": "Базовая модель",
        "train.steps": "Шаги (пусто — по эпохам)",
        "train.epochs": "Эпохи",
        "train.lr": "Скорость обучения",
        "train.lora_r": "Ранг LoRA",
        "train.max_len": "Макс. длина (токены)",
        "train.batch": "Размер батча",
        "train.start": "Старт",
        "train.cancel": "Стоп",
        "train.preview": "Превью",
        "train.dataset": "Данные: {train} пар для обучения, {eval} для проверки, ~{tokens} токенов; sha256 {sha}",
        "train.no_data": "Нет одобренных пар для обучения: одобрите пары в комнате «Пары».",
        "train.started": "Запущено обучение #{id}",
        "train.cancelled": "Обучение #{id}: {status}",
        "train.stats": "шаг {step}/{total} · loss {loss} · lr {lr} · {tps} ток/с · осталось {eta} · {status}",
        "train.idle": "Обучений ещё не было.",
        "train.bad_number": "{field}: «{value}» — не число",
        "train.plot_title": "loss (и lr, правая ось)",
        "train.col_id": "#",
        "train.col_status": "статус",
        "train.col_base": "база",
        "train.col_steps": "шаги",
        "train.col_loss": "loss",
        "train.col_data": "данные",
        "train.preview_legend": "Зелёным — токены, на которых модель учится (ответ).",
        "train.truncated": "{n} пар длиннее {max} токенов будут обрезаны",
        "train.export": "экспорт",
        "train.export_chat": "экспорт и чат",
    },
    en={
        "train.preset": "Preset",
        "train.base": "Base model",
        "train.steps": "Steps (empty: by epochs)",
        "train.epochs": "Epochs",
        "train.lr": "Learning rate",
        "train.lora_r": "LoRA rank",
        "train.max_len": "Max length (tokens)",
        "train.batch": "Batch size",
        "train.start": "Start",
        "train.cancel": "Stop",
        "train.preview": "Preview",
        "train.dataset": "Data: {train} train pairs, {eval} eval, ~{tokens} tokens; sha256 {sha}",
        "train.no_data": "No approved train pairs: approve some in the Pairs room.",
        "train.started": "Training run #{id} started",
        "train.cancelled": "Run #{id}: {status}",
        "train.stats": "step {step}/{total} · loss {loss} · lr {lr} · {tps} tok/s · ETA {eta} · {status}",
        "train.idle": "No runs yet.",
        "train.bad_number": "{field}: {value!r} is not a number",
        "train.plot_title": "loss (and lr, right axis)",
        "train.col_id": "#",
        "train.col_status": "status",
        "train.col_base": "base",
        "train.col_steps": "steps",
        "train.col_loss": "loss",
        "train.col_data": "data",
        "train.preview_legend": "Green: the tokens the model learns from (the answer).",
        "train.truncated": "{n} pairs are longer than {max} tokens and will be cut",
        "train.export": "export",
        "train.export_chat": "export and chat",
    },
)

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


@dataclass
class Snapshot:
    """What one poll of the store found (built in a thread, shown on the UI thread)."""

    runs: list = field(default_factory=list)
    current: object | None = None
    metrics: list = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)


class TrainRoom(Vertical):
    """Shown as a tab of the app."""

    DEFAULT_CSS = _CSS
    POLL_S = 1.0
    # offered once the run shown is done (see check_action); the app opens the Export dialog
    BINDINGS = [both("e", "export", "train.export"), both("c", "export_chat", "train.export_chat")]

    def __init__(self, ws, **kw) -> None:
        super().__init__(**kw)
        self.ws = ws
        self.run_id: int | None = None  # the run shown; None = the newest
        self._shown_step = -1
        self._shown_run: int | None = None
        self._shown_status: str | None = None
        self._last_metric = None  # the newest metrics row with a loss, for the stats line
        self._log_size = 0

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="train-top"):
            with Vertical(id="train-form"):
                yield Label(t("train.preset"))
                yield Select([(n, n) for n in PRESET_NAMES], value="demo", allow_blank=False, id="train-preset")
                for input_id, _field, label, parser in FIELDS:
                    yield Label(t(label))
                    yield Input(id=input_id, type="text")
                yield Static("", id="train-form-error")
                with Horizontal(id="train-buttons"):
                    yield Button(t("train.start"), id="train-start", variant="primary")
                    yield Button(t("train.cancel"), id="train-cancel", variant="error")
                    yield Button(t("train.preview"), id="train-preview-btn")
            with Vertical(id="train-live"):
                yield Static("", id="train-dataset")
                yield PlotextPlot(id="train-plot")
                with Horizontal(id="train-progress-row"):
                    yield ProgressBar(total=1, show_eta=True, id="train-progress")
                yield Static(t("train.idle"), id="train-stats")
                yield RichLog(id="train-log", max_lines=200, wrap=False, markup=False)
        yield DataTable(id="train-runs", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#train-runs", DataTable)
        for key in ("col_id", "col_status", "col_base", "col_steps", "col_loss", "col_data"):
            table.add_column(t(f"train.{key}"), key=key)
        self._fill_form("demo")
        localize(self)
        self.load_dataset_summary()
        self.poll()
        self.set_interval(self.POLL_S, self.poll)

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

    @on(Select.Changed, "#train-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        if event.value and event.value != Select.BLANK:
            self._fill_form(str(event.value))

    def form_config(self):
        """The form as a validated TrainConfig, or a UserError naming the field."""
        from core.train.config import TrainConfig

        preset = str(self.query_one("#train-preset", Select).value)
        values = {}
        for input_id, fld, label, parser in FIELDS:
            raw = self.query_one(f"#{input_id}", Input).value.strip()
            if not raw:
                continue
            try:
                values[fld] = parser(raw)
            except ValueError:
                raise UserError(t("train.bad_number", field=t(label), value=raw)) from None
        cfg = TrainConfig.from_preset(preset, **values)
        if not values.get("max_steps"):
            cfg = cfg.with_(max_steps=-1)
        return cfg.validate()

    def _show_form_error(self, message: str) -> None:
        try:
            self.query_one("#train-form-error", Static).update(message)
        except NoMatches:
            return

    @on(Button.Pressed, "#train-start")
    def _start_pressed(self) -> None:
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

    @work(thread=True, exclusive=True, group="train-action")
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

    @on(Button.Pressed, "#train-cancel")
    def _cancel_pressed(self) -> None:
        self.cancel_run()

    def action_cancel_run(self) -> None:
        self.cancel_run()

    @work(thread=True, exclusive=True, group="train-action")
    def cancel_run(self) -> None:
        from core.train.runs import cancel_run

        with self.ws.store() as store:
            run = store.active_run()
        if run is None:
            return
        try:
            run = cancel_run(self.ws, run.id)
        except UserError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.app.notify, t("train.cancelled", id=run.id, status=run.status))

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("export", "export_chat"):
            return self._shown_status == "done"
        return True

    def action_export(self) -> None:
        self.post_message(ExportRequested(self._shown_run))

    def action_export_chat(self) -> None:
        self.post_message(ExportRequested(self._shown_run, chat=True))

    # ------------------------------------------------------------------ dataset summary + preview

    @work(thread=True, exclusive=True, group="train-dataset")
    def load_dataset_summary(self) -> None:
        from core.dataset import snapshot
        from core.text import estimate_tokens

        try:
            with self.ws.store() as store:
                snap = snapshot(store)
        except UserError:
            self.app.call_from_thread(self._set_dataset, t("train.no_data"))
            return
        tokens = sum(estimate_tokens(m["content"]) for ex in snap.train for m in ex.messages)
        text = t("train.dataset", train=len(snap.train), eval=len(snap.eval), tokens=tokens, sha=snap.sha256[:12])
        self.app.call_from_thread(self._set_dataset, text)

    def _set_dataset(self, text) -> None:
        try:
            self.query_one("#train-dataset", Static).update(text)
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
        self.load_preview(cfg)

    @work(thread=True, exclusive=True, group="train-dataset")
    def load_preview(self, cfg) -> None:
        from transformers import AutoTokenizer

        from core.dataset import preview, snapshot, template_source
        from core.train.runs import resolve_base
        from core.train.templates import get_template

        try:
            with self.ws.store() as store:
                snap = snapshot(store)
                _label, path = resolve_base(store, cfg.base)
            tok = AutoTokenizer.from_pretrained(path)
            pv = preview(tok, template_source(tok, get_template(cfg.template) if cfg.template else None), snap, max_len=cfg.max_seq_len, samples=1)
        except (UserError, OSError) as exc:
            self.app.call_from_thread(self.app.notify, str(exc), severity="error")
            return
        text = Text()
        text.append(t("train.dataset", train=pv.examples, eval=len(snap.eval), tokens=pv.tokens, sha=snap.sha256[:12]) + "\n")
        text.append(t("train.preview_legend") + "\n", style="dim")
        for sample in pv.samples:
            for piece, trained in sample["pieces"]:
                text.append(piece, style="bold green" if trained else "dim")
        if pv.truncated:
            text.append("\n" + t("train.truncated", n=len(pv.truncated), max=cfg.max_seq_len), style="yellow")
        self.app.call_from_thread(self._set_dataset, text)

    # ------------------------------------------------------------------ live view

    def poll(self) -> None:
        if self.is_attached:
            self.read_store(self.run_id, (self._shown_run, self._shown_step, self._shown_status))

    @work(thread=True, exclusive=True, group="train-poll")
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
        except NoMatches:  # the room was removed (language switch, quit) while the thread read
            return

    def _show(self, snap: Snapshot) -> None:
        self._show_runs(snap.runs)
        run = snap.current
        stats = self.query_one("#train-stats", Static)
        if run is None:
            stats.update(t("train.idle"))
            return
        if snap.metrics:
            self._plot(snap.metrics)
        changed = (run.id, run.step, run.status) != (self._shown_run, self._shown_step, self._shown_status)
        offer = (run.id, run.status) != (self._shown_run, self._shown_status)
        self._shown_run, self._shown_step, self._shown_status = run.id, run.step, run.status
        if offer:
            self.refresh_bindings()  # export is offered for a finished run only
        bar = self.query_one("#train-progress", ProgressBar)
        if run.max_steps:
            bar.update(total=run.max_steps, progress=run.step)
        if snap.metrics:  # metrics are re-read only when the run moved: keep the newest row
            self._last_metric = next((m for m in reversed(snap.metrics) if m.loss is not None), None)
        elif changed:
            self._last_metric = None
        last = self._last_metric
        from core.train.runs import eta_s

        eta = eta_s(run)
        stats.update(
            t(
                "train.stats",
                step=run.step,
                total=run.max_steps or "?",
                loss=f"{run.loss:.4f}" if run.loss is not None else "—",
                lr=f"{last.lr:.2e}" if last and last.lr is not None else "—",
                tps=f"{last.tokens_per_s:.0f}" if last and last.tokens_per_s else "—",
                eta=f"{int(eta // 60)}:{int(eta % 60):02d}" if eta is not None and run.status == "running" else "—",
                status=run.status,
            )
        )
        if changed or snap.log_tail:
            log = self.query_one("#train-log", RichLog)
            log.clear()
            for line in snap.log_tail:
                log.write(line)

    def _plot(self, metrics) -> None:
        widget = self.query_one("#train-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        steps = [m.step for m in metrics if m.loss is not None]
        losses = [m.loss for m in metrics if m.loss is not None]
        if steps:
            plt.plot(steps, losses, label="loss", marker="braille")
        lr_steps = [m.step for m in metrics if m.lr is not None]
        if lr_steps:
            plt.plot(lr_steps, [m.lr for m in metrics if m.lr is not None], label="lr", yside="right", marker="braille")
        evals = [(m.step, m.eval_loss) for m in metrics if m.eval_loss is not None]
        if evals:
            plt.scatter([s for s, _ in evals], [v for _, v in evals], label="eval loss")
        ticks = _step_ticks(steps + lr_steps + [s for s, _ in evals])
        if ticks:
            plt.xticks(ticks, [str(x) for x in ticks])  # steps are whole numbers: no "20.8" on the axis
        plt.title(t("train.plot_title"))
        widget.refresh()

    def _show_runs(self, runs) -> None:
        table = self.query_one("#train-runs", DataTable)
        rows = [
            (str(r.id), r.status, r.base, f"{r.step}/{r.max_steps or '?'}", f"{r.loss:.4f}" if r.loss is not None else "—", (r.dataset_sha256 or "")[:12])
            for r in runs
        ]
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
        self.poll()


def _step_ticks(steps: list[int], most: int = 5) -> list[int]:
    """Up to ``most`` whole, evenly spread steps from the first to the last."""
    if not steps:
        return []
    lo, hi = min(steps), max(steps)
    n = min(most, hi - lo + 1)
    return sorted({round(lo + (hi - lo) * i / max(n - 1, 1)) for i in range(n)})
