"""The detached download worker: ``python -m core.hub.worker --home H --job ID``.

Started by ``core.hub.download.start_download`` in its own session with stdio going to
``logs/download-job-<id>.log``. It claims its job, beats a heartbeat, asks the hub for the
files a base needs, refuses a disk too small before the first byte, fetches them into the
Hugging Face cache writing bytes done, speed and the current file into its row, and
registers the snapshot as a base model. SIGTERM (cancel) stops it at once — except while the
model is being registered — and leaves what arrived in the cache for the next pull.
"""

from __future__ import annotations

import sys
import time

from core.jobs.worker import End, exit_code, open_job
from core.jobs.worker import log as _log

WRITE_EVERY_S = 0.25  # how often the row hears of new bytes


def main(argv: list[str] | None = None) -> int:
    from core.errors import UserError
    from core.hub import fetch
    from core.hub.download import DownloadTable, log_path
    from core.store.base import now

    _, store, worker = open_job("core.hub.worker", argv, DownloadTable, log_path)
    job_id = worker.job_id

    def body() -> End:
        job = store.get_download_job(job_id)
        hub = fetch.hub_from_env()
        try:
            store.update_download_job(job_id, stage="plan", message=f"asking {hub.endpoint} for {job.hub_id}")
            plan = fetch.plan(job.hub_id, job.revision, hub=hub)
            _log(f"{job.hub_id}@{plan.commit}: {len(plan.files)} files, {fetch.human(plan.total)}"
                 f" ({fetch.human(plan.have)} already cached)")
            store.update_download_job(job_id, commit_sha=plan.commit, total=plan.total, files_total=len(plan.files))
            fetch.check_space(plan, hub)
            snap = _download(plan, hub)
            worker.shielded = True  # from here it completes: registered, or not at all
            store.update_download_job(job_id, stage="register", message="registering the base model")
            model = _register(job, plan, snap)
        except UserError as exc:
            _log(f"error: {exc}")
            return End(error=str(exc), error_code=exc.code, error_params=dict(exc.params or {}))
        _log(f"registered base model {model.name}: {snap}")
        return End("done", values={"model_id": model.id, "folder": str(snap), "stage": "done", "done": plan.total,
                                   "files_done": len(plan.files), "message": f"registered as {model.name}"})

    def _download(plan, hub):
        state = {"done": 0, "fresh": 0, "file": None, "index": 0, "written": 0.0, "written_done": 0}
        began = time.monotonic()

        def write(force: bool = False) -> None:
            clock = time.monotonic()
            grown = state["done"] - state["written_done"]
            if not force and clock - state["written"] < WRITE_EVERY_S and grown * 100 < plan.total:
                return  # a bar moves by time or by a hundredth, whichever comes first
            state["written"], state["written_done"] = clock, state["done"]
            elapsed = clock - began
            speed = state["fresh"] / elapsed if elapsed > 0.5 and state["fresh"] else None
            store.update_download_job(job_id, stage="download", done=min(state["done"], plan.total), speed=speed,
                                      file=state["file"], files_done=state["index"],
                                      message=f"{state['file']} ({state['index'] + 1}/{len(plan.files)})")

        def on_file(name: str, index: int, size: int) -> None:
            state["file"], state["index"] = name, index
            _log(f"fetching {name} ({fetch.human(size)})")
            write(force=True)

        def on_bytes(n: int, fresh: bool) -> None:
            state["done"] += n
            if fresh:
                state["fresh"] += n
            write()

        snap = fetch.fetch(plan, hub=hub, on_file=on_file, on_bytes=on_bytes)
        state["index"] = len(plan.files) - 1
        write(force=True)
        return snap

    def _register(job, plan, snap):
        from core.train.runs import check_checkpoint

        check_checkpoint(snap)
        size = sum(p.stat().st_size for p in snap.glob("*.safetensors"))
        meta = {"hub_id": job.hub_id, "revision": job.revision or "main", "commit": plan.commit}
        existing = store.find_model(job.name)
        replace = existing is not None and (existing.meta or {}).get("hub_id") == job.hub_id
        return store.add_model("base", job.name, str(snap), size_bytes=size, meta=meta, replace=replace)

    try:
        end = worker.run(body, status="running", started=now())
    finally:
        store.close()
    return exit_code(end)


if __name__ == "__main__":
    sys.exit(main())
