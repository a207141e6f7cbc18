"""The detached training worker: ``python -m core.train.worker --home H --run ID [--resume]``.

Started by ``core.train.runs`` in its own session (``start_new_session=True``) with stdio
going to ``runs/<id>/train.log``, so it survives the terminal or SSH session that started
it. It claims its run in the store, beats a heartbeat every few seconds (with its pid, so a
``kill -9`` is seen as ``interrupted``), writes one metrics row per logged step to the store
and one JSON line to ``runs/<id>/metrics.jsonl``, stops cleanly on SIGTERM (cancel), and
records how the run ended.

Data-parallel runs (``--gpus N`` on CUDA, ``--processes N`` on the CPU): this process still
claims the run and beats the heartbeat, then starts ``accelerate launch`` with N copies of
itself (``--rank-process``) in its process group and waits for them. Every copy trains; rank
0 alone writes metrics and saves the adapter, and leaves ``result.json`` for this process to
record. A cancel reaches the whole group; the copies agree on the step to stop at.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from core.jobs import OFFLINE_ENV
from core.jobs.worker import End, Worker, exit_code
from core.jobs.worker import log as _log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="core.train.worker")
    parser.add_argument("--home", required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--rank-process", action="store_true", help="one of the processes of a data-parallel run")
    args = parser.parse_args(argv)
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    from core.quiet import quiet_libraries

    quiet_libraries()  # before Unsloth's import, which pulls in torchao

    from core.train.backends import resolve
    from core.train.config import TrainConfig
    from core.workspace import Workspace

    ws = Workspace.open(args.home)
    store = ws.store()
    run = store.get_run(args.run)
    config = TrainConfig.from_dict(run.config)
    if resolve(config.backend, config) == "unsloth":
        from core.train.backends.unsloth import import_unsloth

        import_unsloth()  # before trl/transformers/peft, so its patches apply; a failure is reported by the load step
    if args.rank_process:
        return _rank_process(ws, store, run, config, resume=args.resume)
    return _supervise(ws, store, run, config, resume=args.resume)


def _supervise(ws, store, run, config, *, resume: bool) -> int:
    """Claim the run, heartbeat, train (here, or in accelerate's processes), record the end
    (``core.jobs.worker``: an ``interrupted`` verdict written meanwhile stands)."""
    from core.store.base import now
    from core.train import pipeline
    from core.train.backends import resolve
    from core.train.runs import RunTable

    paths = pipeline.RunPaths(Path(run.run_dir or ws.runs_dir / str(run.id)))
    children: list[subprocess.Popen] = []

    def stop_children() -> None:
        _log("stopping after this step")
        for child in children:  # accelerate's processes are in our group and got it too; be sure
            if child.poll() is None:
                try:
                    child.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass

    worker = Worker(RunTable(store), run.id, open_store=ws.store, log_path=paths.log, interruptible=False, on_term=stop_children)
    stop = worker.stopping
    world = max(config.num_gpus, config.num_processes)

    def body() -> End:
        start_step = 0
        if resume:
            ckpt = paths.last_checkpoint()
            if ckpt is not None:
                start_step = int(ckpt.name.split("-")[-1])
            store.clear_metrics_after(run.id, start_step)
            _trim_metrics_file(paths.metrics, start_step)
            _log(f"resuming run {run.id} from step {start_step}")
        kind = "CPU processes" if config.num_processes > 1 else "GPU processes" if config.num_gpus > 1 else ""
        _log(f"run {run.id}: base {config.base}, backend {resolve(config.backend, config)}" + (f", {world} {kind}" if world > 1 else "")
             + (f", {config.method}" + (f" from run {config.from_run}" if config.from_run is not None else "") if config.preference else ""))
        from core.train.device import check_gpu_usable

        check_gpu_usable()  # a GPU torch cannot use (old driver), or Triton without a compiler: one line, not a CPU run
        if world > 1:
            result = _launch(ws, run, config, paths, children, resume=resume, stop=stop)
        else:
            result = _train_here(ws, store, run, config, paths, resume=resume, should_stop=stop.is_set)
        status = "cancelled" if stop.is_set() else "done"
        finished = store.get_run(run.id)
        store.update_run(run.id, adapter_path=str(result["adapter"]), step=result["steps"],
                         eval_loss=result["eval_loss"] if result["eval_loss"] is not None else finished.eval_loss)
        if status == "done":
            _register_adapter(store, run.id, result, config, run.base)
        losses = ", ".join(f"{name} {value:.4f}" for name, value in (("loss", result["train_loss"]), ("eval loss", result["eval_loss"]))
                           if value is not None)
        _log(f"run {run.id} {status} at step {result['steps']}" + (f" ({losses})" if losses else ""))
        return End(status)

    try:
        return exit_code(worker.run(body, status="running", started=now(), error=None, error_code=None,
                                     error_params=None, world_size=world))
    finally:
        store.close()


def _reporter(store, run, paths):
    """The sinks rank 0 (or the single process) reports through: store rows, metrics.jsonl, the log."""
    metrics_file = paths.metrics.open("a", encoding="utf-8")

    def sink(row: dict) -> None:
        if row.get("event") == "begin":
            store.update_run(run.id, max_steps=row["max_steps"])
            return
        if row.get("event") == "best":  # an evaluation better than every one before (core/train/answer_eval.py)
            store.update_run(run.id, best_step=row["step"], best_value=row["value"])
            _log(f"step {row['step']}: best so far ({row['metric']} {row['value']:.4g})")
            return
        if row.get("event") == "early_stop":
            _log(f"step {row['step']}: no better evaluation since step {row['best_step']}: stopping early")
            return
        store.add_metric(run.id, row["step"], **{k: v for k, v in row.items() if k != "step"})
        metrics_file.write(json.dumps(row) + "\n")
        metrics_file.flush()
        _log(f"step {row['step']} " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if k != "step"))

    def on_snapshot(snap) -> None:
        store.update_run(run.id, dataset_sha256=snap.sha256, train_pairs=len(snap.train), eval_pairs=len(snap.eval))

    def on_setup(setup: dict) -> None:
        store.update_run(run.id, setup=setup)
        if "peak_rss_bytes" in setup:  # the second call, after training
            gpu = f", GPU {setup['peak_gpu_bytes'] / 2**30:.2f} GiB" if "peak_gpu_bytes" in setup else ""
            _log(f"peak memory: RAM {setup['peak_rss_bytes'] / 2**30:.2f} GiB{gpu}")
            return
        quant = sum(setup.get("quantized_layers", {}).values())
        _log(f"training with {setup['trainer']} on {setup['device']} (world size {setup['world_size']}): "
             f"{quant} 4-bit layers, {setup['lora_tensors']} LoRA tensors ({setup['lora_in_towers']} in vision/audio towers); "
             f"{setup.get('precision')}, padding-free {'on' if setup.get('padding_free') else 'off'}, "
             f"attention {setup.get('attn_implementation')}")

    return sink, on_snapshot, on_setup, metrics_file


def _train_here(ws, store, run, config, paths, *, resume: bool, should_stop) -> dict:
    from core.train import pipeline
    from core.train.runs import check_checkpoint

    check_checkpoint(Path(config.base))  # checked when queued; since moved, or its weights deleted: say so, coded

    sink, on_snapshot, on_setup, metrics_file = _reporter(store, run, paths)
    judge, rubric = _open_judge(ws, config)
    try:
        result = pipeline.run(config, config.base, paths, store=store, sink=sink, should_stop=should_stop, resume=resume,
                              on_snapshot=on_snapshot, on_setup=on_setup, log=_log, start_from=_start_adapter(store, config),
                              judge=judge, rubric=rubric)
    finally:
        metrics_file.close()
        if judge is not None:
            judge.close()
    return {"adapter": str(result.adapter), "steps": result.steps, "train_loss": result.train_loss, "eval_loss": result.eval_loss,
            "sha256": result.extra.get("sha256"), "setup": result.extra.get("setup")}


def _open_judge(ws, config):
    """The run's judge (``config.judge``), opened once for the whole run through the one model
    runner (it loads at its first answer), and the workspace's rubric it reads; (None, None)
    without one."""
    if not config.judge or config.preference:
        return None, None
    from core.eval import rubric as rubrics
    from core.infer.runner import open_model

    rubric = rubrics.load(ws)
    judge = open_model(ws, config.judge, in_process=True)
    _log(f"judge: {judge.ref.label} scores the answers at each evaluation (rubric {rubric.hash})")
    return judge, rubric


def _start_adapter(store, config) -> str | None:
    """The adapter folder a ``--from-run`` run starts from (the parent run's, as the store has it)."""
    if config.from_run is None:
        return None
    from core.errors import UserError

    parent = store.find_run(config.from_run)
    if parent is None or not parent.adapter_path:
        raise UserError(f"run {config.from_run}, which this run starts from, has no adapter any more",
                        hint="start a new run from another finished run")
    return parent.adapter_path


def _rank_process(ws, store, run, config, *, resume: bool) -> int:
    """One of accelerate's processes: train; rank 0 reports, saves and writes result.json."""
    from core.errors import UserError
    from core.train import device as devices
    from core.train import pipeline

    paths = pipeline.RunPaths(Path(run.run_dir or ws.runs_dir / str(run.id)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    device = devices.current()
    try:
        if device.main:
            result = _train_here(ws, store, run, config, paths, resume=resume, should_stop=stop.is_set)
            tmp = paths.root / "result.json.tmp"
            tmp.write_text(json.dumps(result), encoding="utf-8")
            os.replace(tmp, paths.root / "result.json")
        else:
            pipeline.run(config, config.base, paths, should_stop=stop.is_set, resume=resume, log=_log)
    except UserError as exc:
        _log(f"error (rank {device.rank}): {exc}")
        # the whole error, code and params too: the supervising process raises it again, so it reads in the UI's language
        (paths.root / f"error-rank{device.rank}.txt").write_text(
            json.dumps({"message": exc.message, "hint": exc.hint, "code": exc.code, "params": exc.params}, default=str),
            encoding="utf-8")
        return 2
    finally:
        store.close()
    return 0


def _launch(ws, run, config, paths, children: list, *, resume: bool, stop) -> dict:
    """``accelerate launch`` N processes of this worker; the result rank 0 left behind."""
    from core.errors import UserError
    from core.train.backends.hf import launch_command

    (paths.root / "result.json").unlink(missing_ok=True)
    worker_args = ["--home", str(ws.home), "--run", str(run.id), "--rank-process"] + (["--resume"] if resume else [])
    cmd = launch_command(worker_args, config)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("OMP_NUM_THREADS", "1")
    from core.jobs.process import start_child

    proc = start_child(cmd, env=env)  # stdout/stderr: our log; our process group, so a cancel reaches them
    children.append(proc)
    code = proc.wait()
    result_file = paths.root / "result.json"
    if code != 0 or not result_file.is_file():
        errors = sorted(paths.root.glob("error-rank*.txt"))
        if errors:
            raise _rank_error(errors[0].read_text(encoding="utf-8"))
        if stop.is_set():
            raise UserError("cancelled before the processes saved anything")
        raise UserError(f"accelerate launch exited with code {code}", hint=f"the processes' output is in {paths.log}")
    return json.loads(result_file.read_text(encoding="utf-8"))


def _rank_error(text: str):
    """The UserError a process of a data-parallel run left in its ``error-rank*.txt`` (JSON of
    its message, hint, code and params; plain text from an older worker)."""
    from core.errors import UserError

    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if not isinstance(found, dict) or "message" not in found:
        return UserError(text)
    return UserError(str(found["message"]), hint=found.get("hint"), code=found.get("code"), params=found.get("params"))


def _register_adapter(store, run_id: int, result: dict, config, base: str) -> None:
    adapter = Path(result["adapter"])
    store.add_model(
        "adapter",
        f"{base}-run{run_id}",
        str(adapter),
        run_id=run_id,
        base=base,
        dataset_sha256=result.get("sha256"),
        size_bytes=sum(p.stat().st_size for p in adapter.rglob("*") if p.is_file()),
        meta={"steps": result["steps"], "train_loss": result["train_loss"], "eval_loss": result["eval_loss"], "base_path": config.base,
              "method": config.method, "from_run": config.from_run},
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


if __name__ == "__main__":
    sys.exit(main())
