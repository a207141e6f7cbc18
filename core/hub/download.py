"""Downloads of hub checkpoints as background jobs, like training runs and exports.

A job is a row in ``download_jobs`` plus a detached worker (``python -m core.hub.worker``,
see ``core.jobs``): it survives the app, the terminal or the SSH session that started it,
writes its bytes done and total into its row as it goes, and ends ``done`` with the base
model registered (``store.add_model``, hub id, revision and commit in its meta), ``failed``
(a gated repository, a missing file, a full disk: said with a code the app translates),
``cancelled`` or — its worker killed — ``interrupted``. What a stopped job fetched stays in
the Hugging Face cache, so pulling the same id again resumes where it stopped.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from core.hub.fetch import hub_from_env, human, is_hub_id, offline
from core.jobs import table
from core.jobs.host import HOST, Host
from core.jobs.process import child_env
from core.progress import ProgressEvent
from core.store import ACTIVE

if TYPE_CHECKING:  # annotations only
    from core.store import Store
    from core.store.downloads import DownloadJob

WORKER = "core.hub.worker"
MARKER = WORKER.encode()
# the worker fetches, so the hub stays reachable for it; nothing else reports home
QUIET_ENV = {"HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
             "TOKENIZERS_PARALLELISM": "false"}

__all__ = ["DownloadTable", "active_download_for", "base_to_fetch", "cancel_download", "hub_model", "download_error", "download_progress",
           "hub_settings", "is_hub_id", "log_path", "refresh_downloads", "resume_download", "start_download",
           "wait_download"]


def log_path(ws, job_id: int) -> Path:
    return ws.logs_dir / f"download-job-{int(job_id)}.log"


def worker_env(ws) -> dict[str, str]:
    """The worker's environment: this one (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE pass on), unbuffered, quiet."""
    env = child_env(PYTHONUNBUFFERED="1", TQDM_DISABLE="1", NASTAVNIK_HOME=str(ws.home))
    for key, value in QUIET_ENV.items():
        env.setdefault(key, value)
    return env


def active_download_for(store: Store, hub_id: str) -> DownloadJob | None:
    """The queued or running job fetching ``hub_id``, if any."""
    return next(iter(store.list_download_jobs(status=ACTIVE, hub_id=hub_id)), None)


def hub_model(store: Store, hub_id: str):
    """The base a download of ``hub_id`` registered (its meta names the hub id), if any."""
    return next((m for m in store.list_models("base") if (m.meta or {}).get("hub_id") == hub_id), None)


def base_to_fetch(store: Store, base: str) -> str | None:
    """The hub id a training base names when the workspace does not hold it: not a registered
    model's name, not a folder, no download of it registered. The app offers to download it
    (a job, with its progress) instead of a run or a preview downloading inline. None otherwise."""
    base = (base or "").strip()
    if not is_hub_id(base) or store.find_model(base) is not None or Path(base).expanduser().exists():
        return None
    return None if hub_model(store, base) is not None else base


def start_download(ws, hub_id: str, *, revision: str | None = None, name: str | None = None, store=None,
                   host: Host = HOST) -> DownloadJob:
    """Check what can be checked without the network, create the job, start its worker; the job's row.

    The hub is asked nothing here (the app's screen does not wait on it): the worker lists the
    files, refuses a disk too small, fetches and registers.
    """
    hub_id = str(hub_id).strip()
    if not is_hub_id(hub_id):
        raise UserError(f"{hub_id!r} is not a hub id", hint="a hub id reads owner/name, like unsloth/gemma-3-4b-it-bnb-4bit",
                        code="download.bad_id", params={"hub_id": hub_id})
    if offline():
        raise UserError(f"cannot download {hub_id}: HF_HUB_OFFLINE is set", hint="unset HF_HUB_OFFLINE (and TRANSFORMERS_OFFLINE) to reach the hub",
                        code="download.offline", params={"hub_id": hub_id})
    own = store is None
    store = store or ws.store()
    try:
        refresh_downloads(ws, store, host)
        busy = active_download_for(store, hub_id)
        if busy is not None:
            raise UserError(f"{hub_id} is already being downloaded (download job {busy.id}, {busy.status})",
                            hint=f"follow it: `nastavnik downloads show {busy.id} --follow`",
                            code="download.busy", params={"hub_id": hub_id, "id": busy.id, "status": busy.status})
        label = name or hub_id.rsplit("/", 1)[-1]
        model = store.find_model(label)
        if model is not None and (model.meta or {}).get("hub_id") != hub_id:
            raise UserError(f"a model named {label} exists already ({model.path})", hint="give the download another --name",
                            code="download.name_taken", params={"name": label})
        job = store.create_download_job(hub_id=hub_id, revision=revision or None, name=label)
        log = log_path(ws, job.id)
        try:
            cmd = [sys.executable, "-m", WORKER, "--home", str(ws.home), "--job", str(job.id)]
            pid = host.processes.spawn(cmd, log, cwd=ws.home, env=worker_env(ws))
        except OSError as exc:
            store.update_download_job(job.id, status="failed", error=f"cannot start the worker: {exc}",
                                      finished=table.now(host))
            raise UserError(f"cannot start the download worker: {exc}", code="download.no_worker",
                            params={"why": str(exc)}) from exc
        return store.update_download_job(job.id, pid=pid, log_path=str(log))
    finally:
        if own:
            store.close()


def resume_download(ws, job_id: int, *, store=None, host: Host = HOST) -> DownloadJob:
    """A new job for what an ended job (interrupted, cancelled, failed) was fetching: the same hub id,
    revision and name; it picks up the parts the first one left in the cache."""
    own = store is None
    store = store or ws.store()
    try:
        refresh_downloads(ws, store, host)
        job = store.get_download_job(job_id)
        if job.status in ACTIVE or job.status == "done":
            raise UserError(f"download job {job_id} is {job.status}: there is nothing to resume",
                            code="download.not_resumable", params={"id": job_id, "status": job.status})
        return start_download(ws, job.hub_id, revision=job.revision, name=job.name, store=store, host=host)
    finally:
        if own:
            store.close()


class DownloadTable:
    """Download jobs as a job table (``core.jobs.table``). Nothing is cleaned after a job that
    did not end done: its part files stay in the cache for the next pull to resume."""

    noun = "download job"
    code = "download"  # its errors' codes: download.already_ended
    marker = MARKER
    lost = "the download worker stopped without finishing (killed or crashed); pull again to resume"

    def __init__(self, ws, store) -> None:
        self.ws = ws
        self.store = store

    def on(self, store) -> DownloadTable:
        return DownloadTable(self.ws, store)

    def get(self, job_id: int):
        return self.store.get_download_job(job_id)

    def active(self) -> list:
        return self.store.list_download_jobs(status=ACTIVE)

    def update(self, job_id: int, **values):
        return self.store.update_download_job(job_id, **values)

    def claim(self, job_id: int, *, expect, **values) -> bool:
        return self.store.claim_download_job(job_id, expect=expect, **values)

    def heartbeat(self, job_id: int) -> None:
        self.store.heartbeat_download_job(job_id)

    def ended(self, job) -> None:
        return None  # what arrived stays in the cache, for a resume


def refresh_downloads(ws, store, host: Host = HOST) -> list[int]:
    """Mark jobs whose worker died or hung as ``interrupted``; their ids."""
    return table.refresh(DownloadTable(ws, store), host)


def cancel_download(ws, job_id: int, *, store=None, wait_s: float = 30.0, host: Host = HOST):
    """Stop a download (SIGTERM, SIGKILL after ``wait_s``); the row as it ended. What arrived stays cached."""
    own = store is None
    store = store or ws.store()
    try:
        return table.cancel(DownloadTable(ws, store), job_id, host, wait_s=wait_s)
    finally:
        if own:
            store.close()


def wait_download(ws, job_id: int, *, timeout: float = 3600.0, poll: float = 0.25, on_update=None, store=None,
                  host: Host = HOST):
    """Block until the job ends (or ``timeout``); ``on_update(job)`` on each poll; the ended row."""
    own = store is None
    store = store or ws.store()
    try:
        return table.wait(DownloadTable(ws, store), job_id, host, timeout=timeout, poll=poll, on_update=on_update)
    finally:
        if own:
            store.close()


def eta_s(job) -> float | None:
    """Seconds left at the job's recent pace; None before the pace is known."""
    if job.status != "running" or not job.speed or not job.total:
        return None
    return max(0.0, (job.total - job.done) / job.speed)


def download_progress(job) -> ProgressEvent:
    """The job's row as the one progress event: bytes done of total, ETA, file n of m in ``info``."""
    eta = eta_s(job)
    stage = job.stage or job.status
    parts = [f"{human(job.done)} / {human(job.total)}" if job.total else ""]
    if job.speed and job.status == "running":
        parts.append(f"{human(job.speed)}/s")
    if eta is not None:
        parts.append(f"ETA {int(eta // 60)}:{int(eta % 60):02d}")
    if job.file and job.status == "running":
        parts.append(f"{job.file} ({job.files_done + 1}/{job.files_total})")
    info: dict[str, Any] = {"eta_s": eta, "speed": job.speed, "file": job.file, "files_done": job.files_done,
                            "files_total": job.files_total, "hub_id": job.hub_id}
    return ProgressEvent(stage, job.done, job.total or None, " · ".join(p for p in parts if p), info)


def download_error(job) -> UserError | None:
    """The error a failed job ended with, coded as the worker raised it (the app says it in its language)."""
    if not job.error:
        return None
    message, _, hint = job.error.partition(" — ")
    return UserError(message, hint=hint or None, code=job.error_code, params=job.error_params or {})


def hub_settings() -> dict[str, Any]:
    """Where downloads come from and go (the endpoint, the cache folder, whether a token is set), for a screen."""
    hub = hub_from_env()
    return {"endpoint": hub.endpoint, "cache": str(hub.cache), "token": bool(hub.token), "offline": offline()}
