"""Start, follow, cancel and resume training runs; tell live workers from dead ones.

A run is a row in the store plus a folder ``runs/<id>/`` (config.json, dataset.jsonl,
train.log, metrics.jsonl, checkpoints/, adapter/). The worker runs detached; everything
here works from the store and the folder, so any process — the CLI after an SSH reconnect,
a restarted TUI — sees the same state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from core.errors import UserError
from core.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]
STALE_S = 60.0  # a heartbeat older than this means the worker is gone
TERMINAL = ("done", "failed", "cancelled", "interrupted")


# ---------------------------------------------------------------------------- models


def check_checkpoint(path: Path) -> None:
    """A local HF checkpoint we can train on: config.json + safetensors, no remote code."""
    if not path.is_dir():
        raise UserError(f"{path} is not a folder", hint="give the folder of a Hugging Face checkpoint")
    cfg = path / "config.json"
    if not cfg.exists():
        raise UserError(f"{path} has no config.json", hint="give the folder that save_pretrained wrote")
    if not list(path.glob("*.safetensors")):
        if list(path.glob("*.bin")) or list(path.glob("*.pt")):
            raise UserError(
                f"{path} has only .bin/.pt weights, which can run code when loaded",
                hint="convert it to safetensors (model.save_pretrained(dir, safe_serialization=True)) and add that folder",
            )
        raise UserError(f"{path} has no .safetensors weights", hint="give a folder with model.safetensors")
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserError(f"{cfg} is not valid JSON: {exc}") from exc
    if data.get("auto_map"):
        raise UserError(f"{path} needs trust_remote_code (custom model code)", hint="Nastavnik trains only models transformers knows")


def resolve_hub(repo_id: str) -> Path:
    """A hub id → its local snapshot (from the HF cache when offline)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - transformers brings it
        raise UserError("huggingface_hub is not installed") from exc
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    try:
        return Path(
            snapshot_download(repo_id, local_files_only=offline, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
        )
    except Exception as exc:
        why = "HF_HUB_OFFLINE is set and it is not in the Hugging Face cache" if offline else f"{type(exc).__name__}"
        raise UserError(
            f"cannot get {repo_id} from the Hugging Face hub: {why}",
            hint="download it where there is internet (huggingface-cli download) and pass its folder, or fill the HF cache",
        ) from None


def add_base_model(store, source: str, *, name: str | None = None, replace: bool = False):
    """Register a local checkpoint folder or a hub id as a base model."""
    path = Path(source).expanduser()
    meta: dict = {}
    if path.exists():
        path = path.resolve()
    elif "/" in source and not source.startswith((".", "/", "~")):
        meta["hub_id"] = source
        path = resolve_hub(source)
    else:
        raise UserError(f"{source} does not exist", hint="give a checkpoint folder or a hub id like unsloth/gemma-3-4b-it-bnb-4bit")
    check_checkpoint(path)
    size = sum(p.stat().st_size for p in path.glob("*.safetensors"))
    if (path / "nastavnik_demo.json").exists():
        meta["demo"] = True  # trains with the demo preset unless told otherwise
    label = name or (source.rsplit("/", 1)[-1] if meta else path.name)
    return store.add_model("base", label, str(path), size_bytes=size, meta=meta, replace=replace)


def resolve_base(store, base: str) -> tuple[str, str]:
    """(label, path) of a base: a model in the store, a folder, or a hub id."""
    model = store.find_model(base)
    if model is not None:
        if model.kind not in ("base", "merged"):
            raise UserError(f"{base} is a {model.kind}, not a base model", hint="train on a base or merged model")
        return model.name, model.path
    if base == "demo":
        raise UserError("the demo model is not built yet", hint="run `nastavnik demo-model` first")
    path = Path(base).expanduser()
    if path.exists():
        check_checkpoint(path.resolve())
        return path.name, str(path.resolve())
    if "/" in base:
        return base.rsplit("/", 1)[-1], str(resolve_hub(base))
    raise UserError(f"there is no base model {base!r}", hint="`nastavnik models list` shows them; `nastavnik models add PATH` adds one")


# ---------------------------------------------------------------------------- liveness


def pid_alive(pid: int | None, *, starting: bool = False) -> bool:
    """True when ``pid`` is a live (not zombie) training worker.

    ``starting``: the process was just spawned and may not have exec'd the worker yet (its
    command line is still the parent's for a moment), so any live process counts.
    """
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
        if starting:
            return True
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        return b"core.train.worker" in cmdline
    except OSError:
        return True  # no /proc: trust kill(0)


def worker_alive(run) -> bool:
    """Whether the run's worker process lives (a run still queued may be mid-spawn)."""
    return pid_alive(run.pid, starting=run.status == "queued" and _age_s(run.created) < STALE_S)


def _age_s(stamp: str | None) -> float:
    if not stamp:
        return float("inf")
    return (datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds()


def refresh(store) -> list[int]:
    """Mark runs whose worker died (kill -9, reboot) as ``interrupted``; their ids."""
    changed = []
    for run in store.list_runs(status=("queued", "running")):
        if run.status == "running":
            dead = not pid_alive(run.pid) or _age_s(run.heartbeat) > STALE_S
        elif run.pid is not None:  # queued, its worker started but has not claimed it yet
            dead = not worker_alive(run)
        else:  # queued and no worker was ever started (the starting process died)
            dead = _age_s(run.heartbeat or run.created) > STALE_S * 5
        if dead and store.claim_run(run.id, expect=(run.status,), status="interrupted", error="the worker stopped without finishing (killed or crashed)"):
            changed.append(run.id)
    return changed


# ---------------------------------------------------------------------------- start


def check_vram(config: TrainConfig, backend: str | None = None) -> dict | None:
    """On a GPU machine: the estimate for this run, refused with advice unless each of the run's GPUs has it free.

    Free memory comes from ``nvidia-smi`` in a subprocess (core/train/vram.py), never from
    ``torch.cuda`` here: this runs in the app's process, which must not hold a CUDA context.
    ``backend`` is the resolved one when the caller knows it; for ``auto`` on a machine with
    GPUs it is Unsloth when installed (as ``backends.resolve`` picks it), else hf.
    """
    from core.train.presets import get_preset
    from core.train.vram import check_gpus, estimate_vram, gpus

    if not config.preset:
        return None
    found = gpus()
    if not found:
        return None  # no NVIDIA GPU: a CPU run, nothing to check
    if backend is None or backend == "auto":
        backend = config.backend
    if backend == "auto":
        import importlib.util

        backend = "unsloth" if importlib.util.find_spec("unsloth") is not None else "hf"
    preset = get_preset(config.preset)
    est = estimate_vram(
        preset, backend=backend, max_seq_len=config.max_seq_len, batch_size=config.batch_size, lora_r=config.lora_r,
        load_in_4bit=config.load_in_4bit, targets=config.targets, num_gpus=config.num_gpus,
    )
    used = check_gpus(preset, est, config.num_gpus, max_seq_len=config.max_seq_len, batch_size=config.batch_size, found=found)
    return {**est.to_dict(), "gpus": [g.index for g in used or []]}


def check_backend(config: TrainConfig) -> str:
    from core.train.backends import get_backend, resolve

    name = resolve(config.backend)
    get_backend(name)  # raises the one-line reason when unusable
    if name == "hf" and config.load_in_4bit:
        from core.train.backends import cuda_available

        if not cuda_available():
            config.load_in_4bit = False  # plain LoRA on CPU
    return name


def worker_command(home: Path, run_id: int, *, resume: bool = False, num_gpus: int = 1, backend: str = "hf") -> list[str]:
    args = ["--home", str(home), "--run", str(run_id)] + (["--resume"] if resume else [])
    if backend == "hf" and num_gpus > 1:
        from core.train.backends.hf import accelerate_command

        return accelerate_command(args, num_gpus)
    return [sys.executable, "-m", "core.train.worker", *args]


def _spawn(ws, store, run, *, resume: bool) -> None:
    config = TrainConfig.from_dict(run.config)
    cmd = worker_command(ws.home, run.id, resume=resume, num_gpus=config.num_gpus, backend=run.backend or "hf")
    run_dir = Path(run.run_dir)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_DISABLE="1", NASTAVNIK_HOME=str(ws.home))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    with open(run_dir / "train.log", "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: survives the terminal, SSH, tmux
            cwd=str(ws.home),
            env=env,
            close_fds=True,
        )
    store.update_run(run.id, pid=proc.pid)


def start_run(ws, config: TrainConfig, *, store=None):
    """Validate, snapshot the data, create the run and start its detached worker."""
    from core.dataset import snapshot

    own = store is None
    store = store or ws.store()
    try:
        refresh(store)
        active = store.active_run()
        if active:
            raise UserError(
                f"run {active.id} is still {active.status}; one run at a time",
                hint=f"wait for it (`nastavnik runs logs {active.id} --follow`) or stop it (`nastavnik runs cancel {active.id}`)",
            )
        label, path = resolve_base(store, config.base)
        config = config.with_(base=path)
        config.validate()
        backend = check_backend(config)
        vram = check_vram(config)
        snap = snapshot(store)  # errors (no approved pairs) show now, not in the log
        run = store.create_run(base=label, preset=config.preset, backend=backend, config=config.to_dict())
        run_dir = ws.runs_dir / str(run.id)
        run_dir.mkdir(parents=True, exist_ok=True)
        snap.write(run_dir / "dataset.jsonl")
        (run_dir / "config.json").write_text(json.dumps({**config.to_dict(), "vram_estimate_gib": vram}, indent=2), encoding="utf-8")
        run = store.update_run(
            run.id, run_dir=str(run_dir), dataset_sha256=snap.sha256, train_pairs=len(snap.train), eval_pairs=len(snap.eval)
        )
        _spawn(ws, store, run, resume=False)
        return store.get_run(run.id)
    finally:
        if own:
            store.close()


# ---------------------------------------------------------------------------- cancel / resume / wait


def cancel_run(ws, run_id: int, *, store=None, wait_s: float = 30.0):
    own = store is None
    store = store or ws.store()
    try:
        refresh(store)
        run = store.get_run(run_id)
        if run.status in TERMINAL:
            raise UserError(f"run {run_id} is already {run.status}")
        if run.status == "queued" and not worker_alive(run):
            return store.update_run(run_id, status="cancelled", finished=_now())
        store.update_run(run_id, cancel_requested=1)
        if worker_alive(run):
            try:
                os.killpg(run.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            run = store.get_run(run_id)
            if run.status in TERMINAL:
                return run
            if not worker_alive(run) and run.status == "running":
                break
            time.sleep(0.3)
        if worker_alive(run):
            try:
                os.killpg(run.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        run = store.get_run(run_id)
        if run.status not in TERMINAL:
            run = store.update_run(run_id, status="cancelled", finished=_now())
        return run
    finally:
        if own:
            store.close()


def resume_run(ws, run_id: int, *, store=None):
    """Continue an interrupted, failed or cancelled run from its last checkpoint."""
    from core.train.pipeline import RunPaths

    own = store is None
    store = store or ws.store()
    try:
        refresh(store)
        run = store.get_run(run_id)
        if run.status in ("queued", "running"):
            raise UserError(f"run {run_id} is {run.status}; nothing to resume")
        if run.status == "done":
            raise UserError(f"run {run_id} is done", hint="start a new run with `nastavnik train`")
        active = store.active_run()
        if active:
            raise UserError(f"run {active.id} is {active.status}; one run at a time", hint=f"`nastavnik runs cancel {active.id}`")
        paths = RunPaths(Path(run.run_dir))
        ckpt = paths.last_checkpoint()
        if not paths.dataset.exists():
            raise UserError(f"run {run_id} has no dataset snapshot to resume from", hint="start a new run")
        if not store.claim_run(run_id, expect=(run.status,), status="queued", cancel_requested=0, error=None, pid=None, finished=None, heartbeat=_now()):
            raise UserError(f"run {run_id} changed while resuming; try again")
        with open(paths.log, "a", encoding="utf-8") as log:
            log.write(f"--- resume from {ckpt.name if ckpt else 'the start'} ---\n")
        _spawn(ws, store, store.get_run(run_id), resume=True)
        return store.get_run(run_id)
    finally:
        if own:
            store.close()


def wait(ws, run_id: int, *, timeout: float = 600.0, poll: float = 0.5, on_update=None, store=None):
    """Block until the run ends (or ``timeout``); ``on_update(run, metrics)`` on each poll."""
    own = store is None
    store = store or ws.store()
    try:
        deadline = time.monotonic() + timeout
        while True:
            refresh(store)
            run = store.get_run(run_id)
            if on_update:
                on_update(run)
            if run.status in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise UserError(f"run {run_id} is still {run.status} after {timeout:.0f} s")
            time.sleep(poll)
    finally:
        if own:
            store.close()


def eta_s(run, started_step: int = 0, elapsed_s: float | None = None) -> float | None:
    """Seconds left, from the pace so far."""
    if not run.max_steps or not run.step or not run.started:
        return None
    elapsed = elapsed_s if elapsed_s is not None else _age_s(run.started)
    done = max(run.step - started_step, 1)
    return max(0.0, elapsed / done * (run.max_steps - run.step))


def _now() -> str:
    from core.store.base import now

    return now()
