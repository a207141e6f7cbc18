"""The detached training worker: ``python -m core.train.worker --home H --run ID [--resume]``.

Started by ``core.train.runs`` in its own session (``start_new_session=True``) with stdio
going to ``runs/<id>/train.log``, so it survives the terminal or SSH session that started
it. It claims its run in the store, beats a heartbeat every few seconds (with its pid, so a
``kill -9`` is seen as ``interrupted``), writes one metrics row per logged step to the store
and one JSON line to ``runs/<id>/metrics.jsonl``, stops cleanly on SIGTERM (cancel), and
records how the run ended.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

HEARTBEAT_S = 2.0


def _log(msg: str) -> None:
    print(msg, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="core.train.worker")
    parser.add_argument("--home", required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    from core.errors import UserError
    from core.store.base import now
    from core.train.backends import resolve
    from core.train.config import TrainConfig
    from core.workspace import Workspace

    ws = Workspace.open(args.home)
    store = ws.store()
    run = store.get_run(args.run)
    config = TrainConfig.from_dict(run.config)
    paths_root = Path(run.run_dir or ws.runs_dir / str(run.id))

    if resolve(config.backend) == "unsloth" and _cuda():
        import unsloth  # noqa: F401  (before trl/transformers/peft, so its patches apply)

    from core.train import pipeline

    paths = pipeline.RunPaths(paths_root)
    stop = threading.Event()

    def on_signal(signum, frame):
        _log(f"signal {signum}: stopping after this step")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal is no reason to stop

    if not store.claim_run(run.id, expect=("queued",), status="running", pid=os.getpid(), started=now(), heartbeat=now(), error=None):
        _log(f"run {run.id} is not queued (status {store.get_run(run.id).status}); nothing to do")
        return 1

    beat_done = threading.Event()

    def heartbeat():
        hb = ws.store()
        try:
            while not beat_done.wait(HEARTBEAT_S):
                hb.heartbeat_run(run.id)
                if hb.get_run(run.id).cancel_requested:
                    stop.set()
        finally:
            hb.close()

    beat = threading.Thread(target=heartbeat, name="heartbeat", daemon=True)
    beat.start()

    start_step = 0
    if args.resume:
        ckpt = paths.last_checkpoint()
        if ckpt is not None:
            start_step = int(ckpt.name.split("-")[-1])
        store.clear_metrics_after(run.id, start_step)
        _trim_metrics_file(paths.metrics, start_step)
        _log(f"resuming run {run.id} from step {start_step}")

    metrics_file = paths.metrics.open("a", encoding="utf-8")

    def sink(row: dict) -> None:
        if row.get("event") == "begin":
            store.update_run(run.id, max_steps=row["max_steps"])
            return
        store.add_metric(run.id, row["step"], **{k: v for k, v in row.items() if k != "step"})
        metrics_file.write(json.dumps(row) + "\n")
        metrics_file.flush()
        _log(f"step {row['step']} " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if k != "step"))

    def on_snapshot(snap) -> None:
        store.update_run(run.id, dataset_sha256=snap.sha256, train_pairs=len(snap.train), eval_pairs=len(snap.eval))

    base_path = config.base
    status, error = "failed", None
    try:
        _log(f"run {run.id}: base {base_path}, backend {resolve(config.backend)}")
        result = pipeline.run(
            config, base_path, paths, store=store, sink=sink, should_stop=stop.is_set, resume=args.resume, on_snapshot=on_snapshot
        )
        status = "cancelled" if stop.is_set() else "done"
        finished = store.get_run(run.id)
        store.update_run(run.id, adapter_path=str(result.adapter), step=result.steps, eval_loss=result.eval_loss or finished.eval_loss)
        if status == "done":
            _register_adapter(store, run.id, result, config, run.base)
        losses = ", ".join(f"{name} {value:.4f}" for name, value in (("loss", result.train_loss), ("eval loss", result.eval_loss)) if value is not None)
        _log(f"run {run.id} {status} at step {result.steps}" + (f" ({losses})" if losses else ""))
    except UserError as exc:
        error = str(exc)
        _log(f"error: {error}")
    except Exception as exc:  # a bug: keep the traceback in the log, a line in the store
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc} (see {paths.log})"
    finally:
        beat_done.set()
        metrics_file.close()
        store.update_run(run.id, status=status, error=error, finished=now(), heartbeat=now())
        store.close()
    return 0 if status in ("done", "cancelled") else 1


def _register_adapter(store, run_id: int, result, config, base: str) -> None:
    store.add_model(
        "adapter",
        f"{base}-run{run_id}",
        str(result.adapter),
        run_id=run_id,
        base=base,
        dataset_sha256=result.extra.get("sha256"),
        size_bytes=sum(p.stat().st_size for p in Path(result.adapter).rglob("*") if p.is_file()),
        meta={"steps": result.steps, "train_loss": result.train_loss, "eval_loss": result.eval_loss, "base_path": config.base},
        replace=True,
    )


def _trim_metrics_file(path: Path, step: int) -> None:
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except ValueError:
            continue
    path.write_text("".join(line + "\n" for line in keep), encoding="utf-8")


def _cuda() -> bool:
    from core.train.backends import cuda_available

    return cuda_available()


if __name__ == "__main__":
    sys.exit(main())
