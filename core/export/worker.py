"""The detached export worker: ``python -m core.export.worker --home H --job ID``.

Started by ``core.export.jobs.start_job`` in its own session with stdio going to
``logs/export-job-<id>.log``. It claims its job, beats a heartbeat (with its pid, so a
``kill -9`` is seen as ``interrupted``), waits its turn (one export at a time: a lock in
the workspace cache), runs ``core.export.export`` building in ``exports/.job-<id>.part`` and writes
each progress event into the job's row. SIGTERM (cancel) stops it at once — except while
the files are being registered, which then completes — and the staging folder goes with it.
"""

from __future__ import annotations

import fcntl
import sys
import time
from pathlib import Path

from core.jobs.worker import End, exit_code, open_job
from core.jobs.worker import log as _log


def main(argv: list[str] | None = None) -> int:
    from core.export.jobs import LOCK_NAME, ExportTable, log_path, staging_dir
    from core.store.base import now

    ws, store, worker = open_job("core.export.worker", argv, ExportTable, log_path)
    job_id = worker.job_id
    staging = staging_dir(ws, job_id)
    steps: dict[str, dict] = {}
    clocks: dict[str, float] = {}
    lock = None

    def body() -> End:
        nonlocal lock
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
            return End()
        _log(f"export job {job_id}: {job.source} → {', '.join(job.quants)}")

        def progress(event) -> None:
            if event.stage == "register":
                worker.shielded = True  # from here the export completes: all of it registered, or nothing
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

        def folder(path: Path) -> None:  # where the export is written, for a cleanup after a kill
            store.update_export_job(job_id, folder=str(path))

        from core.export import export

        exported = export(
            ws, job.source, quants=job.quants, name=job.name, system=job.system, parity=job.parity,
            progress=progress, staging=staging,
            on_folder=folder, lora=job.how == "lora",
        )
        if exported.fallback is not None:
            _log(f"export job {job_id}: a full merge, not a LoRA export: {exported.fallback.english}")
        _log(f"export job {job_id} done ({'a GGUF LoRA' if exported.how == 'lora' else 'the whole model'}): {exported.folder}")
        return End("done", values={"result": exported.to_dict()})

    try:
        return exit_code(worker.run(body))
    finally:
        store.close()
        if lock is not None:
            lock.close()


if __name__ == "__main__":
    sys.exit(main())
