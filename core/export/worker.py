"""The detached export worker: ``python -m core.export.worker --home H --job ID``.

Started by ``core.export.jobs.start_job`` in its own session with stdio going to
``logs/export-job-<id>.log``. It claims its job, beats a heartbeat (with its pid, so a
``kill -9`` is seen as ``interrupted``), waits its turn (one export at a time: a lock in
the workspace cache), runs ``core.export.export`` building in ``exports/.job-<id>.part`` and writes
each progress event into the job's row. SIGTERM (cancel) stops it at once — except while
the files are being registered, which then completes — and the staging folder goes with it.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
import time
import traceback


class Cancelled(BaseException):
    """Raised in the main thread by SIGTERM: no ``except Exception`` on the way swallows it."""


def _log(msg: str) -> None:
    print(msg, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="core.export.worker")
    parser.add_argument("--home", required=True)
    parser.add_argument("--job", type=int, required=True)
    args = parser.parse_args(argv)

    from core import jobs
    from core.errors import UserError
    from core.export.jobs import LOCK_NAME, clean_up, log_path, staging_dir
    from core.store.base import now
    from core.workspace import Workspace

    ws = Workspace.open(args.home)
    store = ws.store()
    job_id = args.job
    state = {"cancel": False, "shielded": False}

    def on_term(signum, frame):
        if state["cancel"]:
            return
        state["cancel"] = True
        _log(f"signal {signum}: cancelling")
        if not state["shielded"]:
            raise Cancelled()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal is no reason to stop

    if not store.claim_export_job(job_id, expect=("queued",), pid=os.getpid(), heartbeat=now()):
        _log(f"export job {job_id} is not queued (status {store.get_export_job(job_id).status}); nothing to do")
        return 1

    def beat(hb) -> bool:
        hb.heartbeat_export_job(job_id)
        return hb.get_export_job(job_id).cancel_requested

    heart = jobs.Heartbeat(ws.store, beat, on_stop=lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    staging = staging_dir(ws, job_id)
    steps: dict[str, dict] = {}
    clocks: dict[str, float] = {}
    status, error, result = "failed", None, None
    lock = None
    try:
        job = store.get_export_job(job_id)
        lock = open(ws.cache_dir / LOCK_NAME, "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            ahead = [j.id for j in store.list_export_jobs(status="running") if j.id != job_id]
            waiting = f"waiting for export job {ahead[0]}" if ahead else "waiting for another export"
            store.update_export_job(job_id, message=waiting)
            _log(waiting)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not store.claim_export_job(job_id, expect=("queued",), status="running", started=now(), heartbeat=now(),
                                      staging=str(staging)):
            _log(f"export job {job_id} changed while it waited; nothing to do")
            return 1
        _log(f"export job {job_id}: {job.source} → {', '.join(job.quants)}")

        def progress(event) -> None:
            if event.stage == "register":
                state["shielded"] = True  # from here the export completes: all of it registered, or nothing
            if event.stage not in steps:
                for stage, info in steps.items():  # a step that reported no end ends where the next begins
                    if info.get("seconds") is None:
                        info["seconds"] = round(time.monotonic() - clocks[stage], 3)
                steps[event.stage] = {"started": now(), "seconds": None}
                clocks[event.stage] = time.monotonic()
            if event.total and event.done >= event.total:
                steps[event.stage]["seconds"] = round(time.monotonic() - clocks[event.stage], 3)
            store.update_export_job(job_id, stage=event.stage, done=event.done, total=event.total,
                                    message=event.message, steps=steps)
            _log(f"[{event.stage}] {event.message}")

        from core.export import export

        exported = export(
            ws, job.source, quants=job.quants, name=job.name, system=job.system, parity=job.parity,
            progress=progress, staging=staging,
            on_folder=lambda path: store.update_export_job(job_id, folder=str(path)),
        )
        status, result = "done", exported.to_dict()
        _log(f"export job {job_id} done: {exported.folder}")
    except Cancelled:
        status = "cancelled"
        _log(f"export job {job_id} cancelled")
    except UserError as exc:
        error = str(exc)
        _log(f"error: {error}")
    except Exception as exc:  # a bug: keep the traceback in the log, a line in the store
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc} (see {log_path(ws, job_id)})"
    finally:
        state["shielded"] = True
        heart.stop()
        # an ``interrupted`` verdict (someone found this worker hung) stands
        store.claim_export_job(job_id, expect=("queued", "running"), status=status, error=error, result=result,
                               finished=now(), heartbeat=now())
        final = store.get_export_job(job_id)
        if final.status != "done":
            clean_up(ws, store, final)
        store.close()
        if lock is not None:
            lock.close()
    return 0 if status in ("done", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
