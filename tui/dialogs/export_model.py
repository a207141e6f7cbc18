"""The Export dialog: a finished run (or a model) → GGUF files, as a background job.

Choose the source, how a run is exported — as a GGUF LoRA on its base GGUF (the default: the
base is converted once and reused, the run's adapter alone is written) or as the full merge (one
self-contained GGUF, for Ollama and for sharing) — the quantizations (Q8_0 by default) and a name.
A run that cannot be a LoRA export says why under the choice before it starts (``lora_refusal``,
asked up front) and is merged; the job's outcome says which export it became. Start begins the same
export as ``nastavnik export`` in a detached worker (``core.export.jobs``), and the dialog
follows it from the store: the step (merge, convert, quantize, parity) on a bar with an
ETA, then the parity check in one line — or loudly, with the first differing token. Esc
closes the dialog and leaves the job running (the status bar counts it); opening the dialog
again for the same source, or from the palette while a job runs, attaches to it, also after
the app was closed and opened again. "Cancel job" stops it; nothing of it stays registered.

With ``jobs=[…]`` the dialog follows jobs someone else started (the Train room's "export
and chat") and closes itself with True once every one of them is done.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Select, SelectionList, Static
from textual.worker import get_current_worker

from core.errors import UserError
from core.store import ACTIVE
from tui.i18n import error_text, has, job_error_text, t
from tui.keys import both, localize
from tui.messages import ExportFinished

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace

QUANT_CHOICES = ("q8_0", "q4_k_m", "q5_k_m", "f16")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def stage_label(stage: str | None) -> str:
    return t(f"export_model.stage.{stage}") if stage else "—"


def source_label(source: str) -> str:
    """A job's source as the user knows it: ``прогон #3`` for a run id, ``прогон #3, контрольная
    точка 40`` for one of its checkpoints (``3@40``, ``3@best``), a model's name as it is."""
    from core.export.source import split_checkpoint

    run, checkpoint = split_checkpoint(str(source))
    if checkpoint == "best":
        return t("export_model.src_best", id=run)
    if checkpoint is not None:
        return t("export_model.src_checkpoint", id=run, step=checkpoint)
    return t("export_model.src_run", id=source) if str(source).isdigit() else str(source)


def run_options(run, checkpoints: list[int]) -> list[tuple[str, str]]:
    """A finished run's choices in the source list: its final adapter, then each checkpoint on disk
    (the best one its evaluations picked marked so), newest first."""
    from core.export.source import checkpoint_ref

    out = [(t("export_model.run", id=run.id, base=run.base, steps=run.step), str(run.id))]
    for step in sorted(checkpoints, reverse=True):
        best = t("export_model.checkpoint_best") if step == run.best_step else ""
        out.append((t("export_model.checkpoint", id=run.id, step=step, best=best), checkpoint_ref(run.id, step)))
    return out


def mismatch_line(m) -> str:
    """One ``core.export.parity.Mismatch`` in the UI language (a line stored before the records
    as it is)."""
    if m.kind == "other":
        return m.text
    return t(f"export_model.par.{m.kind}", at=m.at, hf=m.hf, gguf=m.gguf, side=m.side, quant=m.quant, question=repr(m.question))


def parity_line(report) -> str:
    """A ``core.export.parity.ParityReport`` in one line: what agreed when all did, else the
    mismatch to look at first."""
    if not report.ok:
        return mismatch_line(report.headline)
    answers = ", ".join(t("export_model.par.quant", quant=q.quant, identical=q.identical, answers=q.answers) for q in report.quants)
    return t("export_model.par.ok") + (t("export_model.par.same", answers=answers) if answers else "")


def outcome(job) -> tuple[str, bool]:
    """(the line saying how ``job`` ended, whether it is bad news)."""
    from core.export.jobs import parity_report

    if job.status == "done":
        became = became_line(job)
        prefix = became + " " if became else ""
        report = parity_report(job.result)
        if report is None:
            return prefix + t("export_model.parity_none"), False
        if report.ok:
            return prefix + t("export_model.parity_ok", line=parity_line(report)), False
        more = len(report.mismatches) - 1
        return (prefix + t("export_model.parity_bad", line=parity_line(report))
                + (t("export_model.parity_more", n=more, id=job.id) if more else "")), True
    if job.status == "failed":
        return t("export_model.failed", error=job_error_text(job)), True
    if job.status == "cancelled":
        return t("export_model.cancelled"), False
    if job.status == "interrupted":
        return t("export_model.interrupted"), True
    return "", False


def _while_shown(method):
    """A worker's result landing on the UI thread: dropped when the dialog is being taken down
    (closed, the app quitting) meanwhile."""

    @functools.wraps(method)
    def call(self, *args):
        if not self.is_attached:
            return None
        try:
            return method(self, *args)
        except NoMatches:
            return None

    return call


def _default_name(ref: str) -> str:
    """The name an export of ``ref`` gets unless the user types one: ``run-3``, ``run-3-step40``."""
    from core.export.source import split_checkpoint

    run, checkpoint = split_checkpoint(ref)
    if checkpoint is not None:
        return f"run-{run}-step{checkpoint}"
    return f"run-{ref}" if ref.isdigit() else ref


def refusal_text(refused) -> str:
    """Why a run cannot be a LoRA export (``core.export.lora.Refusal`` or its stored dict), in the UI
    language; a reason stored without a code as it is."""
    if not refused:
        return ""
    if not isinstance(refused, dict):
        refused = {"code": refused.code, "params": refused.params, "reason": refused.english}
    code = refused.get("code")
    if code and has(code):
        try:
            return t(code, **(refused.get("params") or {}))
        except (KeyError, IndexError, ValueError):  # a table entry naming a param the refusal did not give
            pass
    return str(refused.get("reason") or "")


def became_line(job) -> str:
    """Which export a finished job became: a GGUF LoRA, or a full merge and why when a LoRA was asked for."""
    from core.export.jobs import export_kind

    how, refused = export_kind(job.result)
    if how == "lora":
        return t("export_model.became_lora")
    if refused:
        return t("export_model.became_merged_because", reason=refusal_text(refused))
    return ""


def finished(job) -> ExportFinished:
    """The message that tells the app ``job`` ended."""
    from core.export.jobs import parity_report

    report = parity_report(job.result) if job.status == "done" else None
    return ExportFinished(job.id, job.status, None if report is None else report.ok, outcome(job)[0])


class ExportModelScreen(ModalScreen[bool]):
    """See the module docstring. Dismisses True when every followed job ended done."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        both("escape", "close", "export_model.close"),
        both("ctrl+s", "start", "export_model.start", priority=True),
    ]
    POLL_S = 0.25

    def __init__(self, ws: Workspace, *, source: str | None = None, jobs: list[int] | None = None, chat: bool = False) -> None:
        super().__init__()
        self.ws = ws
        self.source = source
        self.job_ids: list[int] = list(jobs or [])
        self.chat = chat
        self.jobs: list = []  # the followed jobs as last read
        self._ended: set[int] = set()
        self._timer = None
        self._defaults: dict[str, str] = {}  # source → the name its export gets by default
        # the chosen source as last planned: (whether it is a run's adapter — None before the first
        # plan —, why it cannot be a LoRA export, in the UI language, or "")
        self.plan: tuple[bool | None, str] = (None, "")

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical(id="exp-box"):
            yield Label(t("export_model.title_chat" if self.chat else "export_model.title"), id="exp-title")
            with Vertical(id="exp-form"):
                yield Label(t("export_model.source"), classes="exp-label")
                yield Select([], prompt=t("export_model.source_prompt"), id="exp-source")
                with Horizontal(id="exp-row"):  # side by side: the dialog keeps its buttons in view at 80×24
                    with Vertical(id="exp-quants-box"):
                        yield Label(t("export_model.quants"), classes="exp-label")
                        yield SelectionList(*[(q.upper(), q, q == "q8_0") for q in QUANT_CHOICES], id="exp-quants")
                    with Vertical(id="exp-how-box"):
                        yield Label(t("export_model.how"), classes="exp-label", id="exp-how-label")
                        yield Select([(t("export_model.how_lora"), "lora"), (t("export_model.how_merged"), "merged")],
                                     value="lora", allow_blank=False, compact=True, id="exp-how")
                        yield Static("", id="exp-how-note")
                yield Label(t("export_model.name"), classes="exp-label")
                yield Input(id="exp-name")
            with Vertical(id="exp-job"):
                yield Static("", id="exp-job-title")
                yield ProgressBar(total=100, show_eta=False, id="exp-bar")
                yield Static("", id="exp-step")
                yield Static("", id="exp-parity")
            yield Static("", id="exp-error")
            with Horizontal(id="exp-buttons"):
                yield Button(t("export_model.start") + " (ctrl+s)", id="exp-start", variant="primary")
                yield Button(t("export_model.cancel_job"), id="exp-cancel", variant="error")
                yield Button(t("export_model.close") + " (esc)", id="exp-close")

    def on_mount(self) -> None:
        localize(self)
        self.query_one("#exp-job").display = False
        self.query_one("#exp-cancel").display = False
        if self.job_ids:
            self._follow(self.job_ids)
        else:
            self.query_one("#exp-start").display = False  # until the sources are known
            self._load_sources(self.source)

    # ------------------------------------------------------------------ the form

    @work(thread=True, exit_on_error=False, exclusive=True, group="export-sources")
    def _load_sources(self, source: str | None) -> None:
        from core.export.jobs import active_job_for, refresh
        from core.train.runs import run_checkpoints

        with self.ws.store() as store:
            refresh(self.ws, store)
            active = active_job_for(store, source) if source else next(iter(store.list_export_jobs(status=ACTIVE)), None)
            runs = [r for r in store.list_runs(limit=50) if r.status == "done"]
            models = [m for m in store.list_models() if m.kind in ("base", "merged")]
        options = [option for r in runs for option in run_options(r, run_checkpoints(r))]
        options += [(t("export_model.model", name=m.name), m.name) for m in models]
        defaults = {ref: _default_name(ref) for _label, ref in options} | {m.name: m.name for m in models}
        if source and source not in defaults:
            options.insert(0, (source, source))
            defaults[source] = Path(source).name
        self.app.call_from_thread(self._sources_loaded, options, defaults, active.id if active else None)

    @_while_shown
    def _sources_loaded(self, options: list, defaults: dict, active: int | None) -> None:
        if active is not None:
            self._follow([active])
            return
        self._defaults = defaults
        select = self.query_one("#exp-source", Select)
        select.set_options(options)
        if self.source in defaults:
            select.value = self.source
        elif options:
            select.value = options[0][1]
        self.query_one("#exp-start").display = True
        self.query_one("#exp-quants", SelectionList).focus()

    @on(Select.Changed, "#exp-source")
    def _source_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#exp-name", Input).placeholder = self._defaults.get(event.value, "")
            self._plan(event.value)

    @work(thread=True, exit_on_error=False, exclusive=True, group="export-plan")
    def _plan(self, source: str) -> None:
        """Whether ``source`` is a run (a LoRA export is possible) and why it would fall back: read from
        its adapter's config, cheaply, before anything starts."""
        from core.export.lora import planned_refusal

        try:
            is_run, refusal = planned_refusal(self.ws, source)
        except UserError:
            is_run, refusal = False, None  # Start says why it cannot be exported
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._planned, source, is_run, refusal_text(refusal) if refusal is not None else "")

    @_while_shown
    def _planned(self, source: str, is_run: bool, reason: str) -> None:
        if self.query_one("#exp-source", Select).value != source:
            return  # another source was chosen meanwhile: its own plan follows
        self.plan = (is_run, reason)
        self.query_one("#exp-how-label").display = is_run
        self.query_one("#exp-how").display = is_run
        self._show_how_note()

    @on(Select.Changed, "#exp-how")
    def _how_changed(self) -> None:
        self._show_how_note()

    def how(self) -> str:
        """The export asked for: ``lora`` for a run unless the full merge is chosen; ``merged`` for a model."""
        return "merged" if self.query_one("#exp-how", Select).value == "merged" else "lora"  # a model: merged (start_job)

    def _show_how_note(self) -> None:
        is_run, reason = self.plan
        note = self.query_one("#exp-how-note", Static)
        if is_run is None:
            note.update("")
        elif not is_run:
            note.update(t("export_model.how_whole"))
        elif self.how() == "lora" and reason:
            note.update(Text(t("export_model.how_falls_back", reason=reason)))
        elif self.how() == "lora":
            note.update(t("export_model.how_lora_note"))
        else:
            note.update(t("export_model.how_merged_note"))
        note.set_class(bool(is_run and reason and self.how() == "lora"), "-warn")

    def quants(self) -> list[str]:
        chosen = set(self.query_one("#exp-quants", SelectionList).selected)
        return [q for q in QUANT_CHOICES if q in chosen]

    def _error(self, text: str) -> None:
        self.query_one("#exp-error", Static).update(text)

    @on(Button.Pressed, "#exp-start")
    def _start_pressed(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        if self.job_ids or not self.query_one("#exp-start").display:
            return
        source = self.query_one("#exp-source", Select).value
        if not isinstance(source, str):
            self._error(t("export_model.no_source"))
            return
        quants = self.quants()
        if not quants:
            self._error(t("export_model.no_quant"))
            return
        self._error("")
        name = self.query_one("#exp-name", Input).value.strip() or None
        self.query_one("#exp-start").disabled = True
        self._start_job(source, quants, name, self.how())

    @work(thread=True, exit_on_error=False, exclusive=True, group="export-start")
    def _start_job(self, source: str, quants: list[str], name: str | None, how: str = "lora") -> None:
        from core.export.jobs import start_job

        try:
            job = start_job(self.ws, source, quants=quants, name=name, how=how)
        except UserError as exc:
            self.app.call_from_thread(self._start_failed, error_text(exc, " — "))
            return
        self.app.call_from_thread(self._follow, [job.id])

    @_while_shown
    def _start_failed(self, message: str) -> None:
        self._error(message)
        self.query_one("#exp-start").disabled = False
        self.app.notify(message, severity="error")

    # ------------------------------------------------------------------ following the job

    @_while_shown
    def _follow(self, ids: list[int]) -> None:
        self.job_ids = list(ids)
        self.query_one("#exp-form").display = False
        self.query_one("#exp-start").display = False
        self.query_one("#exp-job").display = True
        self.query_one("#exp-cancel").display = True
        self.query_one("#exp-close", Button).focus()
        self._poll()
        if self._timer is None:
            self._timer = self.set_interval(self.POLL_S, self._poll)

    def _poll(self) -> None:
        if self.is_attached and self.job_ids:
            self._read(list(self.job_ids))

    @work(thread=True, exit_on_error=False, exclusive=True, group="export-poll")
    def _read(self, ids: list[int]) -> None:
        from core.export.jobs import last_seconds, refresh

        with self.ws.store() as store:
            refresh(self.ws, store)
            jobs = [store.get_export_job(i) for i in ids]
            history = last_seconds(store)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_jobs, jobs, history)

    @_while_shown
    def _show_jobs(self, jobs: list, history: dict | None) -> None:
        from core.export.jobs import job_progress

        self.jobs = jobs
        for job in jobs:
            if not job.active and job.id not in self._ended:
                self._ended.add(job.id)
                self.app.post_message(finished(job))
        # the job at work first: a queued one waits behind it (exports run one at a time)
        current = next((j for j in jobs if j.status == "running"), None) or next((j for j in jobs if j.active), jobs[-1])
        title = t("export_model.job", id=current.id, source=source_label(current.source),
                  quants=", ".join(q.upper() for q in current.quants), status=t(f"export_model.status.{current.status}"))
        if len(jobs) > 1:
            title += " · " + t("export_model.job_of", n=jobs.index(current) + 1, total=len(jobs))
        self.query_one("#exp-job-title", Static).update(title)
        progress = job_progress(current, history)
        self.query_one("#exp-bar", ProgressBar).update(total=100, progress=round(progress.fraction * 100, 1))
        step = self.query_one("#exp-step", Static)
        if current.status == "queued":
            ahead = next((j.id for j in jobs if j.status == "running"), None)
            step.update(t("export_model.waiting", message=current.message or "…",
                          ahead=t("export_model.waiting_for", id=ahead) if ahead is not None else ""))
        elif current.active:
            part = f" {current.done}/{current.total}" if progress.step == current.stage and (current.total or 0) > 1 else ""
            step.update(t("export_model.step", index=max(progress.index, 1), steps=progress.steps, stage=stage_label(progress.step),
                          part=part, message=current.message or "…", eta=_clock(progress.eta_s)))
        else:
            step.update("")
        self._show_outcomes(jobs)
        if all(not j.active for j in jobs):
            self._stopped()
            if self.chat and all(j.status == "done" for j in jobs):
                self.dismiss(True)

    def _show_outcomes(self, jobs: list) -> None:
        lines, bad = [], False
        for job in jobs:
            if job.active:
                continue
            line, is_bad = outcome(job)
            if line:
                lines.append((f"#{job.id} " if len(jobs) > 1 else "") + line)
                bad = bad or is_bad
        parity = self.query_one("#exp-parity", Static)
        parity.update(Text("\n".join(lines)))  # no markup: an error or a token may hold [brackets]
        parity.set_class(bad, "-bad")
        parity.set_class(bool(lines) and not bad, "-ok")

    def _stopped(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.query_one("#exp-cancel").display = False

    @on(Button.Pressed, "#exp-cancel")
    def _cancel_pressed(self) -> None:
        active = [j.id for j in self.jobs if j.active] or list(self.job_ids)
        self.query_one("#exp-cancel", Button).disabled = True
        self._cancel(active)

    @work(thread=True, exit_on_error=False, exclusive=True, group="export-cancel")
    def _cancel(self, ids: list[int]) -> None:
        from core.export.jobs import cancel_job

        for job_id in ids:
            try:
                cancel_job(self.ws, job_id)
            except UserError:
                pass  # it ended meanwhile: the next poll shows how
        self.app.call_from_thread(self._poll)

    # ------------------------------------------------------------------ closing

    @on(Button.Pressed, "#exp-close")
    def _close_pressed(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        running = [j for j in self.jobs if j.active]
        if running:
            self.app.notify(t("export_model.continues", id=running[0].id))
        self.dismiss(bool(self.jobs) and all(j.status == "done" for j in self.jobs))

    def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.stop()
