"""Refresh, cancel, wait for and follow jobs of any kind, over the small protocol a job table implements.

A training run and an export job live alike: a row (status, pid, heartbeat, a cancel flag)
and a detached worker. What tells them apart — the store functions that read and write
their rows, the worker's module, what is cleaned up after one that did not finish — is
their table (``core.train.runs.RunTable``, ``core.export.jobs.ExportTable``); everything
else is here, once.

A worker is judged by ``liveness``: ``alive``; ``paused`` when its process is stopped
(SIGSTOP, as tests pause runs, or a debugger) — it is left alone however old its heartbeat;
``hung`` when it is there and running but beats no more — it is killed, so it cannot write
after its verdict; ``dead`` when it is gone. Hung and dead jobs end ``interrupted``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from core.errors import UserError
from core.jobs.host import HOST, STOPPED, Host
from core.jobs.process import stop_pid
from core.store.runs import ACTIVE, RUN_STATUSES

TERMINAL = tuple(s for s in RUN_STATUSES if s not in ACTIVE)  # done, failed, cancelled, interrupted


class JobRow(Protocol):
    id: int
    status: str
    pid: int | None
    heartbeat: str | None
    created: str
    cancel_requested: bool


class JobTable(Protocol):
    """One kind of job, over one store connection."""

    noun: str  # how messages name one: "run", "export job"
    code: str  # the first part of its errors' codes: "run", "export" (run.already_ended)
    marker: bytes  # in its worker's command line (``core.train.worker``)
    lost: str  # the error of a job whose worker vanished

    def on(self, store: Any) -> JobTable: ...  # the same table over another connection (a heartbeat thread's)

    def get(self, job_id: int) -> Any: ...

    def active(self) -> list[Any]: ...  # the queued and running ones

    def update(self, job_id: int, **values: Any) -> Any: ...

    def claim(self, job_id: int, *, expect: Iterable[str], **values: Any) -> bool: ...  # compare-and-set on status

    def heartbeat(self, job_id: int) -> None: ...

    def ended(self, job: Any) -> None: ...  # after an end other than done was written (clean up)


def now(host: Host = HOST) -> str:
    """A store timestamp from ``host``'s clock."""
    return host.clock.now().isoformat(timespec="milliseconds")


def worker_alive(table: JobTable, job: Any, host: Host = HOST) -> bool:
    """Whether the job's worker lives (a job still queued may be mid-spawn)."""
    young = job.status == "queued" and host.age_s(job.created) < host.stale_s
    return host.processes.alive(job.pid, marker=table.marker, starting=young)


def liveness(table: JobTable, job: Any, host: Host = HOST) -> str:
    """``alive``, ``paused``, ``hung`` or ``dead`` (see the module's doc); ``ended`` for a finished job."""
    if job.status not in ACTIVE:
        return "ended"
    if job.pid is None:  # queued and no worker was ever started: the starting process died, or is slow
        return "dead" if host.age_s(job.heartbeat or job.created) > host.stale_s * 5 else "alive"
    if not worker_alive(table, job, host):
        return "dead"
    if host.processes.state(job.pid) in STOPPED:
        return "paused"
    if job.status == "running" and host.age_s(job.heartbeat) > host.stale_s:
        return "hung"
    return "alive"


def refresh(table: JobTable, host: Host = HOST) -> list[int]:
    """End the jobs whose worker died (kill -9, reboot) or hung as ``interrupted``; their ids.

    A hung worker is killed first (with what it started): it must not write after its verdict.
    """
    changed = []
    for job in table.active():
        verdict = liveness(table, job, host)
        if verdict not in ("dead", "hung"):
            continue
        if verdict == "hung":
            host.processes.signal(job.pid, signal.SIGKILL)
        if table.claim(job.id, expect=(job.status,), status="interrupted", error=table.lost,
                       error_code=f"{table.code}.lost", error_params=None, finished=now(host)):
            table.ended(table.get(job.id))
            changed.append(job.id)
    return changed


def cancel(table: JobTable, job_id: int, host: Host = HOST, *, wait_s: float = 30.0) -> Any:
    """Stop a job: the cancel flag, SIGTERM (and SIGCONT, should it be stopped), SIGKILL after
    ``wait_s``; it ends ``cancelled`` unless its worker wrote another end first."""
    refresh(table, host)
    job = table.get(job_id)
    if job.status in TERMINAL:
        raise UserError(f"{table.noun} {job_id} is already {job.status}", code=f"{table.code}.already_ended",
                        params={"id": job_id, "status": job.status})
    table.update(job.id, cancel_requested=1)
    if worker_alive(table, job, host):
        stop_pid(job.pid, lambda: worker_alive(table, job, host), grace_s=wait_s, send=host.processes.signal,
                 sleep=host.clock.sleep, monotonic=host.clock.monotonic)
    table.claim(job.id, expect=ACTIVE, status="cancelled", finished=now(host))
    job = table.get(job.id)
    if job.status != "done":
        table.ended(job)
    return job


def follow(table: JobTable, job_id: int, host: Host = HOST, *, timeout: float = 600.0, poll: float = 0.5) -> Iterator[Any]:
    """The job's row on each poll (refreshed first), the last one ended; a UserError after ``timeout``."""
    deadline = host.clock.monotonic() + timeout
    while True:
        refresh(table, host)
        job = table.get(job_id)
        yield job
        if job.status in TERMINAL:
            return
        if host.clock.monotonic() > deadline:
            raise UserError(f"{table.noun} {job_id} is still {job.status} after {timeout:.0f} s")
        host.clock.sleep(poll)


def wait(table: JobTable, job_id: int, host: Host = HOST, *, timeout: float = 600.0, poll: float = 0.5,
         on_update: Callable[[Any], None] | None = None) -> Any:
    """Block until the job ends (or ``timeout``); ``on_update(job)`` on each poll; the ended row."""
    job = None
    for job in follow(table, job_id, host, timeout=timeout, poll=poll):
        if on_update is not None:
            on_update(job)
    return job
