"""One worker's life, for every kind of job: claim the row → beat a heartbeat → run the body → claim the end.

The end is written only over ``queued`` or ``running``: a verdict someone else wrote while
the body ran — ``interrupted`` (the worker was found hung), ``cancelled`` (a cancel that
could not wait) — stands. SIGTERM and SIGINT mean "cancel" (the cancel flag in the row
too, seen by the heartbeat); SIGHUP is ignored, as a closed terminal is no reason to stop.
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.jobs.heartbeat import Heartbeat
from core.jobs.host import HEARTBEAT_S
from core.jobs.table import JobTable, now
from core.store.runs import ACTIVE


class Cancelled(BaseException):
    """Raised in the main thread by SIGTERM in an interruptible worker: no ``except Exception`` swallows it."""


@dataclass
class End:
    """How a body ended: its status, the error line for the store, more columns to write with it.

    ``error_code``/``error_params``: a ``UserError``'s code and params, stored beside its English
    line so the app can say it in its language (the CLI prints ``error``)."""

    status: str = "failed"
    error: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_params: dict[str, Any] = field(default_factory=dict)


def log(msg: str) -> None:
    print(msg, flush=True)  # stdout is the job's log file


@dataclass(eq=False)
class Worker:
    """The skeleton a worker module fills with its body (see the module's doc).

    ``interruptible``: SIGTERM raises ``Cancelled`` in the body (unless ``shielded`` — a step
    that must complete, like registering files); else it only sets ``stopping``, which the
    body polls (a training loop stops after its step). ``on_term`` runs on each SIGTERM
    (passing it on to children).
    """

    table: JobTable
    job_id: int
    open_store: Callable[[], Any] = field(kw_only=True)
    log_path: Path | None = field(default=None, kw_only=True)
    interruptible: bool = field(default=True, kw_only=True)
    on_term: Callable[[], None] | None = field(default=None, kw_only=True)
    every: float = field(default=HEARTBEAT_S, kw_only=True)
    stopping: threading.Event = field(default_factory=threading.Event, init=False)
    shielded: bool = field(default=False, init=False)

    def _term(self, signum: int, frame: Any) -> None:
        first = not self.stopping.is_set()
        self.stopping.set()
        if first:
            log(f"signal {signum}: cancelling")
        if self.on_term is not None:
            self.on_term()
        if first and self.interruptible and not self.shielded:
            raise Cancelled()

    def _beat(self, store: Any) -> bool:
        mine = self.table.on(store)
        mine.heartbeat(self.job_id)
        return bool(mine.get(self.job_id).cancel_requested)

    def run(self, body: Callable[[], End], **claim: Any) -> End | None:
        """Claim the queued job (with this pid and ``claim``'s columns), run ``body``, write its end.

        None when the job was not queued (nothing ran); else the body's ``End`` — also when its
        end was not written because another verdict stands.
        """
        table, job_id = self.table, self.job_id
        signal.signal(signal.SIGTERM, self._term)
        signal.signal(signal.SIGINT, self._term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if not table.claim(job_id, expect=("queued",), pid=os.getpid(), heartbeat=now(), **claim):
            log(f"{table.noun} {job_id} is not queued (status {table.get(job_id).status}); nothing to do")
            return None
        heart = Heartbeat(self.open_store, self._beat, on_stop=lambda: os.kill(os.getpid(), signal.SIGTERM),
                          every=self.every).start()
        end = End()
        try:
            end = body()
        except Cancelled:
            end = End("cancelled")
            log(f"{table.noun} {job_id} cancelled")
        except UserError as exc:
            end = End(error=str(exc), error_code=exc.code, error_params=_plain(exc.params) if exc.code else {})
            log(f"error: {end.error}")
        except Exception as exc:  # noqa: BLE001 - a bug: keep the traceback in the log, a line in the store
            traceback.print_exc()
            end = End(error=f"{type(exc).__name__}: {exc}" + (f" (see {self.log_path})" if self.log_path else ""))
        finally:
            self.shielded = True
            heart.stop()
            self.finish(end)
        return end

    def finish(self, end: End) -> bool:
        """Write ``end`` unless another verdict was written meanwhile (it stands); clean up after
        an end other than done. Whether ``end`` was written."""
        table, job_id = self.table, self.job_id
        written = table.claim(job_id, expect=ACTIVE, status=end.status, error=end.error, error_code=end.error_code,
                              error_params=end.error_params or None, finished=now(), heartbeat=now(), **end.values)
        final = table.get(job_id)
        if not written:
            log(f"{table.noun} {job_id} is already {final.status}; that verdict stands")
        if final.status != "done":
            table.ended(final)
        return written


def _plain(params: dict) -> dict:
    """``params`` as the store can keep them (JSON): a value JSON cannot hold becomes its text."""
    return {key: value if _jsonable(value) else str(value) for key, value in params.items()}


def _jsonable(value: Any) -> bool:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def open_job(prog: str, argv: list[str] | None, table: Callable[[Any, Any], JobTable],
             log_path: Callable[[Any, int], Path]) -> tuple[Any, Any, Worker]:
    """A job worker's entry: ``--home H --job ID`` parsed, the workspace and its store opened, the ``Worker``
    of the job over ``table(ws, store)`` logging to ``log_path(ws, job_id)``."""
    import argparse

    from core.workspace import Workspace

    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--home", required=True)
    parser.add_argument("--job", type=int, required=True)
    args = parser.parse_args(argv)
    ws = Workspace.open(args.home)
    store = ws.store()
    return ws, store, Worker(table(ws, store), args.job, open_store=ws.store, log_path=log_path(ws, args.job))


def exit_code(end: End | None) -> int:
    """0 for a job that ended done or cancelled, 1 otherwise (also when it was not ours to run)."""
    return 0 if end is not None and end.status in ("done", "cancelled") else 1
