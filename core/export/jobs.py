"""Exports as background jobs, like training runs: start, follow, cancel, clean up after a kill.

A job is a row in ``export_jobs`` plus a detached worker (``python -m core.export.worker``,
see ``core.jobs``) that runs the same ``core.export.export`` as ``nastavnik export`` and
writes each progress event into its row. Jobs run one at a time (the worker waits for a
lock in the workspace cache while its job is ``queued``), survive the app or terminal that started
them, and end ``done``, ``failed``, ``cancelled`` or — when the worker vanished —
``interrupted``. A job that did not end ``done`` leaves nothing behind: its staging folder
and any published folder whose files were not registered are removed (by the worker, or by
``refresh`` / ``cancel_job`` when the worker was killed).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core import jobs
from core.errors import UserError
from core.export.parity import ParityReport
from core.jobs import table
from core.jobs.host import HOST, Host
from core.jobs.table import TERMINAL  # noqa: F401 - callers read a job's possible ends from here
from core.store import ACTIVE

if TYPE_CHECKING:  # annotations only
    from core.store import Store
    from core.store.exports import ExportJob

STEPS = ("merge", "convert", "quantize", "parity")  # what the progress bar counts
LORA_STEPS = ("base", "convert", "parity")  # a LoRA export's: the base GGUF (made once, else reused), the adapter
WORKER = "core.export.worker"
MARKER = WORKER.encode()
LOCK_NAME = "export-jobs.lock"  # in the workspace cache: one export at a time


# ---------------------------------------------------------------------------- paths


def staging_dir(ws, job_id: int) -> Path:
    return ws.exports_dir / f".job-{int(job_id)}.part"


def log_path(ws, job_id: int) -> Path:
    return ws.logs_dir / f"export-job-{int(job_id)}.log"


# ---------------------------------------------------------------------------- start


def active_job_for(store: Store, source: str) -> ExportJob | None:
    """The queued or running job exporting ``source``, if any."""
    return next((j for j in store.list_export_jobs(status=ACTIVE) if j.source == str(source)), None)


def start_job(ws, ref: str, *, quants: list[str] | None = None, name: str | None = None, system: str | None = None,
              parity: bool = True, how: str = "lora", store=None, host: Host = HOST):
    """Check what to export now (errors show at once, not in a log), create the job, start its worker.

    ``how``: ``lora`` (the default: a run's adapter as a GGUF LoRA on its base GGUF, falling back to
    the full merge with the reason in the job's result when the run cannot be one) or ``merged``.
    A whole model is merged either way, and its job says so."""
    from core.export import DEFAULT_QUANTS, parse_quants
    from core.export.source import resolve_source

    quants = parse_quants(",".join(quants)) if quants else list(DEFAULT_QUANTS)
    if name is not None and (not name.strip() or "/" in name or name.startswith(".")):
        raise UserError(f"{name!r} cannot name an export folder", hint="use letters, digits, '-' and '_'",
                        code="export.bad_name", params={"name": name})
    if how not in ("lora", "merged"):
        raise ValueError(f"an export is lora or merged, not {how!r}")
    source = resolve_source(ws, str(ref))
    if source.adapter_dir is None:
        how = "merged"  # a whole model: nothing to export as a LoRA
    if how == "merged" or _refused(source):
        from core.export.preflight import check

        check(source, quants, ws.exports_dir, light=True)  # no room: refused here, in the UI's language, not in a log
    own = store is None
    store = store or ws.store()
    try:
        refresh(ws, store, host)
        busy = active_job_for(store, str(ref))
        if busy is not None:
            raise UserError(f"{ref} is already being exported (export job {busy.id}, {busy.status})",
                            hint=f"follow it: `nastavnik exports show {busy.id}`",
                            code="export.busy", params={"ref": str(ref), "id": busy.id, "status": busy.status})
        run_id = source.run_id if isinstance(source.run_id, int) else None
        job = store.create_export_job(source=str(ref), quants=quants, name=name or None, run_id=run_id,
                                      parity=parity, system=system, how=how)
        log = log_path(ws, job.id)
        try:
            cmd = [sys.executable, "-m", WORKER, "--home", str(ws.home), "--job", str(job.id)]
            pid = host.processes.spawn(cmd, log, cwd=ws.home, env=jobs.worker_env(ws.home))
        except OSError as exc:
            store.update_export_job(job.id, status="failed", error=f"cannot start the worker: {exc}", finished=_now(),
                                    error_code="export.no_worker", error_params={"why": str(exc)})
            raise UserError(f"cannot start the export worker: {exc}", code="export.no_worker", params={"why": str(exc)}) from exc
        return store.update_export_job(job.id, pid=pid, log_path=str(log))
    finally:
        if own:
            store.close()


def _refused(source) -> bool:
    """Whether a run asked for as a LoRA export falls back to the full merge (whose room is checked then)."""
    from core.export.lora import lora_refusal

    return lora_refusal(source) is not None


# ---------------------------------------------------------------------------- liveness and clean-up


class ExportTable:
    """Export jobs as a job table (``core.jobs.table``): the store's export-job functions, and a
    job that did not end done leaves nothing behind (``clean_up``)."""

    noun = "export job"
    code = "export"  # its errors' codes: export.already_ended
    marker = MARKER
    lost = "the export worker stopped without finishing (killed or crashed)"

    def __init__(self, ws, store) -> None:
        self.ws = ws
        self.store = store

    def on(self, store) -> ExportTable:
        return ExportTable(self.ws, store)

    def get(self, job_id: int):
        return self.store.get_export_job(job_id)

    def active(self) -> list:
        return self.store.list_export_jobs(status=("queued", "running"))

    def update(self, job_id: int, **values):
        return self.store.update_export_job(job_id, **values)

    def claim(self, job_id: int, *, expect, **values) -> bool:
        return self.store.claim_export_job(job_id, expect=expect, **values)

    def heartbeat(self, job_id: int) -> None:
        self.store.heartbeat_export_job(job_id)

    def ended(self, job) -> None:
        clean_up(self.ws, self.store, job)


def worker_alive(job, host: Host = HOST) -> bool:
    """Whether the job's worker lives (a job still queued may be mid-spawn)."""
    return table.worker_alive(ExportTable(None, None), job, host)


def liveness(job, host: Host = HOST) -> str:
    """``alive``, ``paused`` (its worker is stopped), ``hung``, ``dead`` or ``ended`` (``core.jobs.table.liveness``)."""
    return table.liveness(ExportTable(None, None), job, host)


def refresh(ws, store, host: Host = HOST) -> list[int]:
    """Mark jobs whose worker died (kill -9, reboot) or hung as ``interrupted`` (a hung worker is
    killed) and remove what they left; their ids. A paused worker (SIGSTOP) is left alone."""
    return table.refresh(ExportTable(ws, store), host)


def clean_up(ws, store, job) -> list[Path]:
    """Remove what an export that did not finish left in ``exports/``; the folders removed."""
    if job.status == "done":
        return []
    removed = []
    exports = ws.exports_dir.resolve()
    from core.export.lora import base_staging

    staging = Path(job.staging) if job.staging else staging_dir(ws, job.id)
    for folder in (staging, base_staging(staging)):  # a LoRA export converts its base GGUF beside it
        if folder.exists() and folder.resolve().parent == exports:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if job.folder:
        folder = Path(job.folder)
        inside = str(folder.resolve()) + os.sep
        registered = [m for m in store.list_models(kind="gguf") if str(Path(m.path).resolve()).startswith(inside)]
        if folder.exists() and folder.resolve().parent == exports and not registered:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


# ---------------------------------------------------------------------------- cancel / wait


def cancel_job(ws, job_id: int, *, store=None, wait_s: float = 30.0, host: Host = HOST):
    """Stop a job: SIGTERM (and SIGCONT, should it be stopped), SIGKILL after ``wait_s``; nothing is
    left registered or in ``exports/``. A job already registering its files finishes ``done``."""
    own = store is None
    store = store or ws.store()
    try:
        return table.cancel(ExportTable(ws, store), job_id, host, wait_s=wait_s)
    finally:
        if own:
            store.close()


def wait_job(ws, job_id: int, *, timeout: float = 600.0, poll: float = 0.2, on_update=None, store=None, host: Host = HOST):
    """Block until the job ends (or ``timeout``); ``on_update(job)`` on each poll."""
    own = store is None
    store = store or ws.store()
    try:
        return table.wait(ExportTable(ws, store), job_id, host, timeout=timeout, poll=poll, on_update=on_update)
    finally:
        if own:
            store.close()


# ---------------------------------------------------------------------------- progress


@dataclass
class JobProgress:
    """Where a job stands, for a bar: ``fraction`` of the steps done, the step, seconds left."""

    fraction: float
    step: str | None  # one of STEPS, or "fetch"/"register"/"done" around them
    index: int  # 1-based position of ``step`` in the steps (0 before the first)
    steps: int
    eta_s: float | None


def steps_of(job) -> tuple[str, ...]:
    """The steps the bar counts: a LoRA export's, until it turns out a full merge (its merge step began)."""
    lora = job.how == "lora" and "merge" not in (job.steps or {}) and (job.result or {}).get("how", "lora") == "lora"
    steps = LORA_STEPS if lora else STEPS
    return steps if job.parity else tuple(s for s in steps if s != "parity")


def export_kind(result: dict | None) -> tuple[str | None, dict | None]:
    """What a finished export job's ``result`` became: (``lora`` or ``merged``, None when unknown) and,
    for a run that asked for a LoRA and fell back to the merge, why (``{"code", "params", "reason"}``)."""
    result = result or {}
    return result.get("how"), result.get("lora_refused")


def job_progress(job, history: dict[str, float] | None = None, *, now_s: float | None = None) -> JobProgress:
    """``history``: the seconds each step took last time (``result["seconds"]`` of the newest
    finished job); without it the ETA comes only from the pace inside the current step."""
    steps = steps_of(job)
    if job.status == "done":
        return JobProgress(1.0, "done", len(steps), len(steps), 0.0)
    recorded = job.steps or {}
    done = 0.0
    current = None
    for s in steps:
        info = recorded.get(s) or {}
        if info.get("seconds") is not None:
            done += 1
        elif s == job.stage:
            current = s
            if job.total:
                done += min(job.done, job.total) / job.total
    step = current or job.stage
    index = steps.index(current) + 1 if current else sum(1 for s in steps if (recorded.get(s) or {}).get("seconds") is not None)
    eta = _eta(job, steps, recorded, current, history, now_s)
    return JobProgress(done / len(steps), step, index, len(steps), eta)


def _eta(job, steps, recorded, current, history, now_s) -> float | None:
    if job.status != "running":
        return None
    elapsed = None
    if current and (recorded.get(current) or {}).get("started"):
        elapsed = max(0.0, (now_s if now_s is not None else time.time()) - _epoch(recorded[current]["started"]))
    left_after = [s for s in steps if (recorded.get(s) or {}).get("seconds") is None and s != current]
    if history and all(s in history for s in steps):
        rest = sum(history[s] for s in left_after)
        if current:
            expected = history[current]
            if job.total > 1 and job.done and elapsed is not None:  # a step in parts: its own pace
                expected = elapsed / job.done * job.total
            rest += max(0.0, expected - (elapsed or 0.0))
        return rest
    if current and not left_after and job.total > 1 and job.done and elapsed is not None:
        return elapsed / job.done * (job.total - job.done)
    return None


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def last_seconds(store) -> dict[str, float] | None:
    """The seconds each step took in the newest finished job (for ETAs)."""
    for job in store.list_export_jobs(status="done", limit=5):
        secs = (job.result or {}).get("seconds") or {}
        if secs:
            return {k: float(v) for k, v in secs.items()}
    return None


def parity_report(result: dict | None) -> ParityReport | None:
    """The parity check an export job stored in its result, as records; None when none ran."""
    parity = (result or {}).get("parity")
    return ParityReport.from_dict(parity) if parity else None


# ---------------------------------------------------------------------------- export and chat


@dataclass
class Lineup:
    """Who sits side by side in Chat after a run: its base, the previous run, the run itself.

    Each is a registered GGUF name, or None while it has no GGUF yet (``to_export`` says what
    to export for it: the base without an adapter — once, then reused — and the run). A run
    exported as a GGUF LoRA (``lora``: the default, when it can be) converts its base GGUF itself,
    once, and that GGUF is the base it sits beside: the base is then not exported on its own."""

    run_id: int
    base_ref: str
    base: str | None = None
    previous: str | None = None
    tuned: str | None = None
    lora: bool = False  # the run, still to export, will be a GGUF LoRA on a base GGUF its export makes

    @property
    def models(self) -> list[str]:
        return [m for m in (self.base, self.previous, self.tuned) if m]

    @property
    def to_export(self) -> list[str]:
        base = self.base is None and not (self.tuned is None and self.lora)
        return ([self.base_ref] if base else []) + ([str(self.run_id)] if self.tuned is None else [])


def _newest_gguf(models, quant: str) -> str | None:
    models = sorted(models, key=lambda m: (m.quant == quant, m.id))
    return models[-1].name if models else None


def chat_lineup(store, run_id: int, *, quant: str = "q8_0", ws=None) -> Lineup:
    """The GGUFs to chat with after ``run_id`` finished (see ``Lineup``). With ``ws``, whether the run
    still to export will be a GGUF LoRA is asked up front (``Lineup.lora``)."""
    run = store.get_run(run_id)
    if run.status != "done":
        raise UserError(f"run {run_id} is {run.status}, not done", hint="export and chat need a finished run",
                        code="export.run_unfinished", params={"id": run_id, "status": run.status})
    ggufs = [m for m in store.list_models(kind="gguf") if Path(m.path).is_file()]
    base_model = store.find_model(run.base)
    base_names = {run.base, str((run.config or {}).get("base") or "")}
    if base_model is not None:
        base_names |= {base_model.path, str(Path(base_model.path).resolve())}
    base_names.discard("")
    lineup = Lineup(run_id=run.id, base_ref=base_model.name if base_model is not None else run.base)
    lineup.base = _newest_gguf([m for m in ggufs if m.run_id is None and m.base in base_names], quant)
    # a run's model is its own export, not one of its checkpoints' (``run-7-step40``, registered under its id too)
    ggufs = [m for m in ggufs if m.checkpoint is None]
    tuned = [m for m in ggufs if m.run_id == run.id]
    lineup.tuned = _newest_gguf(tuned, quant)
    on = max(tuned, key=lambda m: (m.quant == quant, m.id), default=None)
    if on is not None and (on.meta or {}).get("lora"):  # a GGUF LoRA: beside the very base GGUF it applies to
        lineup.base = next((m.name for m in ggufs if m.run_id is None and m.path == on.path), lineup.base)
    if lineup.tuned is None and ws is not None:
        from core.export.lora import planned_refusal

        try:
            is_run, refusal = planned_refusal(ws, str(run.id))
        except UserError:
            is_run, refusal = False, None  # its export will say why
        lineup.lora = is_run and refusal is None
    for prev in store.list_runs(status="done"):
        if prev.id < run.id and prev.base == run.base:
            lineup.previous = _newest_gguf([m for m in ggufs if m.run_id == prev.id], quant)
            if lineup.previous:
                break
    return lineup


def _now() -> str:
    from core.store.base import now

    return now()
