"""The Train room's Progress view: the run's loss and lr (or reward margin) plotted live, its
progress bar, stats line and log tail, and cancelling it. A run with evaluation steps plots the
chrF of its answers at each evaluation (core/train/answer_eval.py) on the right axis, in place
of the lr, beside its eval losses.

Everything shown comes from the store and the run folder, read in a thread worker on a timer,
never from the worker process itself — so quitting the app and opening it again, even from
another SSH session, re-attaches to a running training and the plot goes on.
``TrainProgress`` is one of the four views ``TrainRoom`` (room.py) is made of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Button, ProgressBar, RichLog, Static
from textual_plotext import PlotextPlot

from core.store.runs import ACTIVE  # a run in these is still going: its end is announced
from tui.i18n import job_error_text, t
from tui.statuses import run_status

# the colours of the plot's series, written once for the curves and for the legend above them
SERIES = {
    "loss": ((0, 170, 255), "━", "train.legend.loss"),
    "lr": ((255, 140, 0), "━", "train.legend.lr"),
    "eval loss": ((60, 200, 90), "●", "train.legend.eval"),
    "margin": ((220, 80, 200), "━", "train.legend.margin"),
    "chrF": ((240, 220, 60), "◆", "train.legend.chrf"),
}
# the series of a run by its kind: a preference run has its margin on the right axis, a run that
# answers at its evaluations their chrF (0–100, no scale to share with the lr)
PLOTTED = {"sft": ("loss", "lr", "eval loss"), "pref": ("loss", "margin"), "answers": ("loss", "eval loss", "chrF")}


@dataclass
class Snapshot:
    """What one poll of the store found (built in a thread, shown on the UI thread)."""

    runs: list = field(default_factory=list)
    current: object | None = None
    metrics: list = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)


def _kind(method: str | None, config: dict | None = None) -> str:
    """``pref`` (DPO/ORPO), ``answers`` (SFT that answers at its evaluation steps) or ``sft``."""
    if (method or "sft") != "sft":
        return "pref"
    config = config or {}
    return "answers" if config.get("eval_steps") and config.get("answer_eval_max", 8) else "sft"


def _metric_name(run) -> str:
    """What picked the run's best checkpoint, as the stats line names it."""
    metric = (run.config or {}).get("best_metric", "chrf")
    return {"chrf": "chrF", "judge": t("train.metric.judge")}.get(metric) or t("train.legend.eval")


def run_kind(run) -> str:
    return _kind(run.method, run.config)


def _legend(kind: str = "sft") -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for n, (color, mark, key) in enumerate(SERIES[name] for name in PLOTTED[kind]):
        if n:
            text.append("   ")
        text.append(mark + " ", style="rgb({},{},{})".format(*color))
        text.append(t(key))
    return text


def failure(run) -> str:
    """Why a failed or interrupted run ended, in the UI's language («Ошибка: …»); "" for another."""
    if run.status not in ("failed", "interrupted") or not run.error:
        return ""
    return t("train.failed_why", error=job_error_text(run))


def _step_ticks(steps: list[int], most: int = 5) -> list[int]:
    """Up to ``most`` whole, evenly spread steps from the first to the last."""
    if not steps:
        return []
    lo, hi = min(steps), max(steps)
    n = min(most, hi - lo + 1)
    return sorted({round(lo + (hi - lo) * i / max(n - 1, 1)) for i in range(n)})


class TrainProgress(Vertical):
    """The Progress view's part of ``TrainRoom``: polls the store and draws the run shown."""

    def compose_progress(self) -> ComposeResult:
        """The Progress view: the legend over the plot, cancel and the bar, the stats line, the log."""
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

    def localize_progress(self) -> None:
        """The cancel button, the legend and the stats line in the current language."""
        self.query_one("#train-cancel", Button).label = t("train.cancel")
        self.query_one("#train-legend", Static).update(_legend(self._legend_method))
        if self._last is not None:
            self._show(self._last)  # the stats line and the rows again, in the new words
        else:
            self.query_one("#train-stats", Static).update(t("train.idle"))

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
        if run_kind(run) != self._legend_method:
            self._legend_method = run_kind(run)
            self.query_one("#train-legend", Static).update(_legend(self._legend_method))
        if snap.metrics:
            self._plot(snap.metrics, run_kind(run))
        elif other_run:
            self._plot([], run_kind(run))  # a run just started: not the previous run's curves under its number
        changed = (run.id, run.step, run.status) != (self._shown_run, self._shown_step, self._shown_status)
        offer = (run.id, run.status) != (self._shown_run, self._shown_status)
        ended = not other_run and self._shown_status in ACTIVE and run.status not in ACTIVE
        self._shown_run, self._shown_step, self._shown_status = run.id, run.step, run.status
        if offer:
            self.refresh_bindings()  # export is offered for a finished run only
        if ended:  # said wherever the user is: the next step is one key away
            done = run.status == "done"
            why = failure(run)
            self.app.notify(t("train.ended_done" if done else "train.ended", id=run.id, status=run_status(run.status))
                            + (f"\n{why}" if why else ""), severity="information" if done else "warning", timeout=8,
                            markup=False)
        bar = self.query_one("#train-progress", ProgressBar)
        if run.max_steps:
            bar.update(total=run.max_steps, progress=run.step)
        elif other_run:
            bar.update(total=1, progress=0)
        if snap.metrics:  # metrics are re-read only when the run moved: keep the newest row
            self._last_metric = next((m for m in reversed(snap.metrics) if m.loss is not None), None)
            # the judge's mean at the latest judged evaluation (a run with a judge, core/train/answer_eval.py)
            self._judge = next((m.judge for m in reversed(snap.metrics) if getattr(m, "judge", None) is not None), None)
        elif changed:
            self._last_metric = None
            self._judge = None
        last = self._last_metric
        from core.train.runs import eta_s

        eta = eta_s(run)
        eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}" if eta is not None and run.status == "running" else "—"
        if run.method != "sft":
            line = (t(
                "train.stats_pref", id=run.id, method=run.method, step=run.step, total=run.max_steps or "?",
                loss=f"{run.loss:.4f}" if run.loss is not None else "—",
                margin=f"{last.margin:.3f}" if last and last.margin is not None else "—",
                acc=f"{last.accuracy:.2f}" if last and last.accuracy is not None else "—",
                eta=eta_text, status=run_status(run.status),
            ))
        else:
            line = (
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
                ) + (t("train.stats_best", step=run.best_step, metric=_metric_name(run), value=f"{run.best_value:.4g}")
                     if getattr(run, "best_step", None) is not None and run.best_value is not None else "")
                + (t("train.stats_judge", value=f"{judged:.2f}") if (judged := self._judge) is not None else "")
            )
        why = failure(run)
        stats.update(Text(line + (f"\n{why}" if why else "")))  # no markup: an error may hold [brackets]
        if changed or snap.log_tail:
            log = self.query_one("#train-log", RichLog)
            log.clear()
            for line in snap.log_tail:
                log.write(line)

    def _plot(self, metrics, kind: str = "sft") -> None:
        """Loss (left axis), lr (right axis) and the eval losses — for a run that answers at its
        evaluations their chrF on the right axis instead of the lr; for a DPO/ORPO run loss and
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
        if kind == "pref":
            margins = [(m.step, m.margin) for m in metrics if m.margin is not None]
            if margins:
                plt.plot([s for s, _ in margins], [v for _, v in margins], yside="right", marker="braille", color=SERIES["margin"][0])
                self.series.append("margin")
            ticks = _step_ticks(steps + [s for s, _ in margins])
            if ticks:
                plt.xticks(ticks, [str(x) for x in ticks])
            widget.refresh()
            return
        lr_steps = [m.step for m in metrics if m.lr is not None] if kind != "answers" else []
        if lr_steps:
            plt.plot(lr_steps, [m.lr for m in metrics if m.lr is not None], yside="right", marker="braille", color=SERIES["lr"][0])
            self.series.append("lr")
        evals = [(m.step, m.eval_loss) for m in metrics if m.eval_loss is not None]
        if evals:
            plt.scatter([s for s, _ in evals], [v for _, v in evals], marker=SERIES["eval loss"][1], color=SERIES["eval loss"][0])
            self.series.append("eval loss")
        chrfs = [(m.step, m.chrf) for m in metrics if getattr(m, "chrf", None) is not None]
        if chrfs:
            plt.scatter([s for s, _ in chrfs], [v for _, v in chrfs], yside="right", marker=SERIES["chrF"][1], color=SERIES["chrF"][0])
            self.series.append("chrF")
        ticks = _step_ticks(steps + lr_steps + [s for s, _ in evals] + [s for s, _ in chrfs])
        if ticks:
            plt.xticks(ticks, [str(x) for x in ticks])  # steps are whole numbers: no "20.8" on the axis
        widget.refresh()

    def plotted(self) -> dict[str, tuple[list, list]]:
        """What the plot holds now: series name → (x values, y values)."""
        monitor = self.query_one("#train-plot", PlotextPlot).plt.monitor
        return {name: (list(monitor.x[i]), list(monitor.y[i])) for i, name in enumerate(self.series) if i < len(monitor.x)}
