"""Start, follow, cancel and resume training runs; tell live workers from dead ones.

A run is a row in the store plus a folder ``runs/<id>/`` (config.json, dataset.jsonl,
train.log, metrics.jsonl, checkpoints/, adapter/). The worker runs detached; everything
here works from the store and the folder, so any process — the CLI after an SSH reconnect,
a restarted TUI — sees the same state.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from core import jobs
from core.errors import UserError
from core.jobs import table
from core.jobs.host import HOST, Host
from core.jobs.table import TERMINAL  # noqa: F401 - callers read a run's possible ends from here
from core.train.config import TrainConfig

# ---------------------------------------------------------------------------- models


def check_checkpoint(path: Path) -> None:
    """A local HF checkpoint we can train on: config.json + safetensors, no remote code."""
    if not path.is_dir():
        raise UserError(f"{path} is not a folder", hint="give the folder of a Hugging Face checkpoint",
                        code="model.not_folder", params={"path": str(path)})
    cfg = path / "config.json"
    if not cfg.exists():
        raise UserError(f"{path} has no config.json", hint="give the folder that save_pretrained wrote",
                        code="model.no_config", params={"path": str(path)})
    if not list(path.glob("*.safetensors")):
        if list(path.glob("*.bin")) or list(path.glob("*.pt")):
            raise UserError(
                f"{path} has only .bin/.pt weights, which can run code when loaded",
                hint="convert it to safetensors (model.save_pretrained(dir, safe_serialization=True)) and add that folder",
                code="model.unsafe_weights", params={"path": str(path)},
            )
        raise UserError(f"{path} has no .safetensors weights", hint="give a folder with model.safetensors",
                        code="model.no_weights", params={"path": str(path)})
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except ValueError as exc:
        from core.formats.jsonfmt import json_problem

        raise UserError(f"{cfg} is not valid JSON: {exc}", code="model.bad_config",
                        params={"path": str(cfg), "problem": json_problem(exc.msg) if isinstance(exc, json.JSONDecodeError)
                                else "other", "column": getattr(exc, "colno", None),
                                "line": getattr(exc, "lineno", None)}) from exc
    if data.get("auto_map"):
        raise UserError(f"{path} needs trust_remote_code (custom model code)", hint="Nastavnik trains only models transformers knows",
                        code="model.remote_code", params={"path": str(path)})


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
            code="hub.unreachable", params={"repo": repo_id, "why": why},
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
        raise UserError(f"{source} does not exist", hint="give a checkpoint folder or a hub id like unsloth/gemma-3-4b-it-bnb-4bit",
                        code="model.no_source", params={"source": str(source)})
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
            raise UserError(f"{base} is a {model.kind}, not a base model", hint="train on a base or merged model",
                            code="model.not_base", params={"base": str(base), "kind": model.kind})
        return model.name, model.path
    if base == "demo":
        raise UserError("the demo model is not built yet", hint="run `nastavnik demo-model` first", code="model.no_demo")
    path = Path(base).expanduser()
    if path.exists():
        check_checkpoint(path.resolve())
        return path.name, str(path.resolve())
    if "/" in base:
        return base.rsplit("/", 1)[-1], str(resolve_hub(base))
    raise UserError(f"there is no base model {base!r}", hint="`nastavnik models list` shows them; `nastavnik models add PATH` adds one",
                    code="model.no_base", params={"base": str(base)})


def local_base(store, base: str) -> Path | None:
    """The folder of a base that is on disk already (a registered model, a folder, a hub id in the
    Hugging Face cache), or None: never a download, so the Train form and the estimate can ask.
    Without a store, registered names are not looked up."""
    model = store.find_model(base) if base and store is not None else None
    if model is not None:
        path = Path(model.path)
        return path if (path / "config.json").is_file() else None
    if not base:
        return None
    path = Path(base).expanduser()
    if path.is_dir():
        return path.resolve() if (path / "config.json").is_file() else None
    if "/" in base and not base.startswith((".", "/", "~")):
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - transformers brings it
            return None
        try:
            found = try_to_load_from_cache(base, "config.json")
        except Exception:  # a name the hub would refuse: not in the cache either
            return None
        return Path(found).parent if isinstance(found, str) else None
    return None


# ---------------------------------------------------------------------------- checkpoints


def run_paths(run):
    """The folders of ``run`` (``core.train.pipeline.RunPaths``)."""
    from core.train.pipeline import RunPaths

    return RunPaths(Path(run.run_dir or ""))


def run_checkpoints(run) -> list[int]:
    """The steps of the run's checkpoints on disk that hold an adapter (what export can take), in order."""
    if not run.run_dir:
        return []
    folder = run_paths(run).checkpoints
    if not folder.is_dir():
        return []
    steps = []
    for p in folder.glob("checkpoint-*"):
        tail = p.name.rsplit("-", 1)[-1]
        if tail.isdigit() and (p / "adapter_config.json").is_file():
            steps.append(int(tail))
    return sorted(steps)


# ---------------------------------------------------------------------------- liveness

WORKER = "core.train.worker"
MARKER = WORKER.encode()


class RunTable:
    """Training runs as a job table (``core.jobs.table``): the store's run functions, nothing to clean up."""

    noun = "run"
    code = "run"  # its errors' codes: run.already_ended
    marker = MARKER
    lost = "the worker stopped without finishing (killed or crashed)"

    def __init__(self, store) -> None:
        self.store = store

    def on(self, store) -> RunTable:
        return RunTable(store)

    def get(self, job_id: int):
        return self.store.get_run(job_id)

    def active(self) -> list:
        return self.store.list_runs(status=("queued", "running"))

    def update(self, job_id: int, **values):
        return self.store.update_run(job_id, **values)

    def claim(self, job_id: int, *, expect, **values) -> bool:
        return self.store.claim_run(job_id, expect=expect, **values)

    def heartbeat(self, job_id: int) -> None:
        self.store.heartbeat_run(job_id)

    def ended(self, job) -> None:
        """A run that did not finish keeps its folder: its checkpoints are what ``resume`` continues from."""


def pid_alive(pid: int | None, *, starting: bool = False, host: Host = HOST) -> bool:
    """True when ``pid`` is a live (not zombie) training worker (see ``core.jobs.pid_alive``)."""
    return host.processes.alive(pid, marker=MARKER, starting=starting)


def worker_alive(run, host: Host = HOST) -> bool:
    """Whether the run's worker process lives (a run still queued may be mid-spawn)."""
    return table.worker_alive(RunTable(None), run, host)


def liveness(run, host: Host = HOST) -> str:
    """``alive``, ``paused`` (its worker is stopped), ``hung``, ``dead`` or ``ended`` (``core.jobs.table.liveness``)."""
    return table.liveness(RunTable(None), run, host)


def refresh(store, host: Host = HOST) -> list[int]:
    """Mark runs whose worker died (kill -9, reboot) or hung as ``interrupted`` (a hung worker is
    killed); their ids. A paused worker (SIGSTOP) is left alone."""
    return table.refresh(RunTable(store), host)


# ---------------------------------------------------------------------------- start


def check_vram(config: TrainConfig, backend: str | None = None, store=None) -> dict | None:
    """On a GPU machine: the estimate for this run, refused with advice unless each of the run's GPUs has it free.

    The architecture is the base's own (its config.json, ``core.train.vram.base_arch``), whatever
    preset filled the settings; ``{"unknown": why}`` for a family the estimate does not know.

    Free memory comes from ``nvidia-smi`` in a subprocess (core/train/vram.py), never from
    ``torch.cuda`` here: this runs in the app's process, which must not hold a CUDA context.
    ``backend`` is the resolved one when the caller knows it; for ``auto`` on a machine with
    GPUs it is Unsloth when installed (as ``backends.resolve`` picks it), else hf.
    """
    from core.train.vram import base_arch, check_gpus, estimate_run, gpus

    if config.num_processes > 1:  # --processes N trains on the CPU (see worker_env)
        return None
    found = gpus()
    if not found:
        return None  # no NVIDIA GPU: a CPU run, nothing to check
    if backend is None or backend == "auto":
        backend = config.backend
    if backend == "auto":
        import importlib.util

        from core.train.backends import processes

        backend = "unsloth" if importlib.util.find_spec("unsloth") is not None and processes(config) == 1 else "hf"
    try:
        arch = base_arch(config, store)
    except UserError as exc:
        if exc.code != "arch.unknown":
            raise
        return {"unknown": str(exc)}  # said, not guessed: the run is not held back by what the estimate lacks
    if arch is None:
        return None
    est = estimate_run(config, arch, backend=backend)
    used = check_gpus(arch, est, config.num_gpus, max_seq_len=config.max_seq_len, batch_size=config.batch_size, found=found)
    return {**est.to_dict(), "gpus": [g.index for g in used or []]}


def check_backend(config: TrainConfig) -> str:
    """The backend the run will use, refused now (one line) when it cannot run here."""
    from core.train.backends import get_backend, resolve
    from core.train.device import prequantized

    name = resolve(config.backend, config)
    get_backend(name, config)  # raises the one-line reason when unusable
    if prequantized(config.base) and not config.load_in_4bit:
        raise UserError(
            f"{config.base} is stored in 4-bit (bitsandbytes) and cannot be trained in 16 bits",
            hint="train it with --load-in-4bit, or register its 16-bit sibling and train that with --no-load-in-4bit",
            code="run.needs_4bit", params={"base": str(config.base)},
        )
    return name


def check_precision(config: TrainConfig) -> None:
    """Refuse float16 for a family that overflows in it (Gemma 3/4), before the run starts.

    Whether the GPU has bfloat16 comes from nvidia-smi's compute capability, so the app and
    the CLI never open a CUDA context of their own.
    """
    from core.train.backends import cuda_available
    from core.train.device import check_precision as check
    from core.train.device import model_type

    cuda = config.num_processes == 1 and cuda_available()  # --processes N: CPU processes (worker_env)
    check(model_type(config.base), config.dtype, cuda=cuda, bf16=gpu_bf16(config.num_gpus) if cuda else None)


CAPS_QUERY = ("--query-gpu=index,uuid,compute_cap", "--format=csv,noheader")


def gpu_bf16(num_gpus: int = 1) -> bool | None:
    """Whether the GPUs a run trains on have bfloat16 (compute capability >= 8.0); None when unknown.

    Those are the first ``num_gpus`` visible ones, as ``worker_env`` pins them and the VRAM check
    reads them: on a box with a T4 beside an A100 the answer is the training card's.
    """
    from core.train.device import nvidia_smi
    from core.train.vram import visible_rows

    out = nvidia_smi(*CAPS_QUERY)
    if out is None:
        return None
    try:
        rows = [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]
        caps = [float(row[2]) for row in visible_rows([(int(r[0]), r[1], r[2]) for r in rows if len(r) == 3])[:num_gpus]]
    except ValueError:
        return None
    return all(c >= 8.0 for c in caps) if caps else None


def worker_command(home: Path, run_id: int, *, resume: bool = False) -> list[str]:
    """The detached worker; for --gpus/--processes N it starts accelerate's processes itself."""
    args = ["--home", str(home), "--run", str(run_id)] + (["--resume"] if resume else [])
    return [sys.executable, "-m", WORKER, *args]


def worker_env(home: Path, config: TrainConfig) -> dict[str, str]:
    """The detached worker's environment: ``jobs.worker_env`` and the GPUs the run may see.

    * ``CUDA_DEVICE_ORDER=PCI_BUS_ID``: CUDA numbers GPUs fastest first unless told otherwise,
      nvidia-smi by PCI bus; the VRAM check (nvidia-smi) must read the card that trains.
    * ``CUDA_VISIBLE_DEVICES``: the run sees exactly the GPUs it trains on — the first
      ``--gpus N`` the VRAM check read (of the ones already visible, if it is set). With more
      visible, a one-process run would be refused by TRL (transformers counts every visible GPU
      and wraps the model in ``nn.DataParallel``), and accelerate's N processes take the first N.
    * ``--processes N`` trains N CPU processes, as documented, also where there are GPUs: none is
      visible to them (else every rank would take cuda:0).

    Without an NVIDIA driver (no nvidia-smi) the environment is left as it is.
    """
    from core.train.vram import gpus

    env = jobs.worker_env(home)
    found = gpus()
    if found is None:
        return env
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    if config.num_processes > 1:
        env["CUDA_VISIBLE_DEVICES"] = ""
        return env
    if not found:  # CUDA_VISIBLE_DEVICES already hides every GPU: a CPU run
        return env
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:  # keep the user's names for them (indices or UUIDs), the first N
        names = [v.strip() for v in visible.split(",") if v.strip()][:len(found)]
    else:
        names = [str(g.index if g.smi_index is None else g.smi_index) for g in found]
    env["CUDA_VISIBLE_DEVICES"] = ",".join(names[:config.num_gpus])
    return env


def _spawn(ws, store, run, *, resume: bool, host: Host) -> None:
    cmd = worker_command(ws.home, run.id, resume=resume)
    env = worker_env(ws.home, TrainConfig.from_dict(run.config))
    pid = host.processes.spawn(cmd, Path(run.run_dir) / "train.log", cwd=ws.home, env=env)
    store.update_run(run.id, pid=pid)


# what a run started ``--from-run N`` does not take from N: what it is and how long it trains
_OWN_FIELDS = ("method", "from_run", "epochs", "max_steps", "beta", "sft_weight", "num_gpus", "num_processes")


def parent_run(store, run_id: int):
    """The finished run a DPO/ORPO run starts from; a UserError when it cannot be one."""
    parent = store.find_run(run_id)
    if parent is None:
        raise UserError(f"there is no run {run_id} to start from", hint="`nastavnik runs list` shows the runs",
                        code="run.no_parent", params={"id": run_id})
    if parent.status != "done" or not parent.adapter_path or not (Path(parent.adapter_path) / "adapter_config.json").is_file():
        raise UserError(f"run {run_id} is {parent.status} and has no finished adapter to start from",
                        hint=f"start from a run that is done (`nastavnik runs show {run_id}`)",
                        code="run.parent_unfinished", params={"id": run_id, "status": parent.status})
    return parent


def config_from_run(store, run_id: int, **changes) -> TrainConfig:
    """The settings of a run started ``--from-run run_id``: that run's (base, template, 4-bit,
    LoRA shape, lengths, batch, lr…), with this run's method and length, and ``changes``."""
    parent = parent_run(store, run_id)
    inherited = {k: v for k, v in parent.config.items() if k not in _OWN_FIELDS}
    return TrainConfig.from_dict(inherited).with_(from_run=int(run_id), **{k: v for k, v in changes.items() if v is not None})


def start_run(ws, config: TrainConfig, *, store=None, host: Host = HOST):
    """Validate, snapshot the data, create the run and start its detached worker."""
    from core.train.pipeline import take_snapshot

    own = store is None
    store = store or ws.store()
    try:
        refresh(store, host)
        active = store.active_run()
        if active:
            raise UserError(
                f"run {active.id} is still {active.status}; one run at a time",
                hint=f"wait for it (`nastavnik runs logs {active.id} --follow`) or stop it (`nastavnik runs cancel {active.id}`)",
                code="run.busy", params={"id": active.id, "status": active.status},
            )
        config.validate()  # the method and its settings first: --from-run needs a preference method
        if config.from_run is not None:
            parent = parent_run(store, config.from_run)
            if config.base not in (parent.config.get("base"), parent.base) and \
                    resolve_base(store, config.base)[1] != parent.config.get("base"):
                raise UserError(f"run {parent.id} was trained on {parent.base}; a run started from it trains on the same base",
                                hint="leave out --base/--preset with --from-run", code="run.parent_base",
                                params={"id": parent.id, "base": str(parent.base)})
            label, path = parent.base, parent.config["base"]
        else:
            label, path = resolve_base(store, config.base)
        config = config.with_(base=path)
        config.validate()
        if config.judge:  # a judge that is not there, or a rubric it cannot read, says so now, not in the log
            from core.eval.rubric import load as load_rubric
            from core.infer.runner import resolve_model

            resolve_model(ws, config.judge)
            load_rubric(ws)
        backend = check_backend(config)
        check_precision(config)
        vram = check_vram(config, backend, store)
        snap = take_snapshot(store, config.method)  # errors (no approved pairs, no preferences) show now, not in the log
        run = open_run(ws, store, config, snap, label=label, backend=backend, vram=vram)
        _spawn(ws, store, run, resume=False, host=host)
        return store.get_run(run.id)
    finally:
        if own:
            store.close()


def open_run(ws, store, config: TrainConfig, snap, *, label: str, backend: str | None, vram: dict | None = None):
    """The run's row and its folder, before any worker starts: ``config.json`` (its settings) and
    ``dataset.jsonl`` (``snap``, what it trains on, and why each other pair is left out) — what
    ``core.train.run_diff`` compares two runs by. A queued run, refused while another is active."""
    run = store.create_run(base=label, preset=config.preset, backend=backend, config=config.to_dict())
    run_dir = ws.runs_dir / str(run.id)
    run_dir.mkdir(parents=True, exist_ok=True)
    snap.write(run_dir / "dataset.jsonl")
    (run_dir / "config.json").write_text(json.dumps({**config.to_dict(), "vram_estimate_gib": vram}, indent=2), encoding="utf-8")
    return store.update_run(
        run.id, run_dir=str(run_dir), dataset_sha256=snap.sha256, train_pairs=len(snap.train), eval_pairs=len(snap.eval)
    )


# ---------------------------------------------------------------------------- cancel / resume / wait


def cancel_run(ws, run_id: int, *, store=None, wait_s: float = 30.0, host: Host = HOST):
    """Stop a run (``core.jobs.table.cancel``): its worker saves what it trained and ends ``cancelled``."""
    own = store is None
    store = store or ws.store()
    try:
        return table.cancel(RunTable(store), run_id, host, wait_s=wait_s)
    finally:
        if own:
            store.close()


def resume_run(ws, run_id: int, *, store=None, host: Host = HOST):
    """Continue an interrupted, failed or cancelled run from its last checkpoint."""
    from core.train.pipeline import RunPaths

    own = store is None
    store = store or ws.store()
    try:
        refresh(store, host)
        run = store.get_run(run_id)
        if run.status in ("queued", "running"):
            raise UserError(f"run {run_id} is {run.status}; nothing to resume", code="run.not_resumable",
                            params={"id": run_id, "status": run.status})
        if run.status == "done":
            raise UserError(f"run {run_id} is done", hint="start a new run with `nastavnik train`", code="run.done",
                            params={"id": run_id})
        active = store.active_run()
        if active:
            raise UserError(f"run {active.id} is {active.status}; one run at a time", hint=f"`nastavnik runs cancel {active.id}`",
                            code="run.busy", params={"id": active.id, "status": active.status})
        paths = RunPaths(Path(run.run_dir))
        ckpt = paths.last_checkpoint()
        if not paths.dataset.exists():
            raise UserError(f"run {run_id} has no dataset snapshot to resume from", hint="start a new run",
                            code="run.no_snapshot", params={"id": run_id})
        if not store.claim_run(run_id, expect=(run.status,), status="queued", cancel_requested=0, error=None, pid=None, finished=None, heartbeat=_now()):
            raise UserError(f"run {run_id} changed while resuming; try again", code="run.changed", params={"id": run_id})
        with open(paths.log, "a", encoding="utf-8") as log:
            log.write(f"--- resume from {ckpt.name if ckpt else 'the start'} ---\n")
        _spawn(ws, store, store.get_run(run_id), resume=True, host=host)
        return store.get_run(run_id)
    finally:
        if own:
            store.close()


def wait(ws, run_id: int, *, timeout: float = 600.0, poll: float = 0.5, on_update=None, store=None, host: Host = HOST):
    """Block until the run ends (or ``timeout``); ``on_update(run)`` on each poll."""
    own = store is None
    store = store or ws.store()
    try:
        return table.wait(RunTable(store), run_id, host, timeout=timeout, poll=poll, on_update=on_update)
    finally:
        if own:
            store.close()


def follow(store, run_id: int, *, poll: float = 0.5, host: Host = HOST):
    """The run's row on each poll until it has ended (``core.jobs.table.follow``, no time limit)."""
    return table.follow(RunTable(store), run_id, host, timeout=float("inf"), poll=poll)


def eta_s(run, started_step: int = 0, elapsed_s: float | None = None) -> float | None:
    """Seconds left, from the pace so far."""
    if not run.max_steps or not run.step or not run.started:
        return None
    elapsed = elapsed_s if elapsed_s is not None else HOST.age_s(run.started)
    done = max(run.step - started_step, 1)
    return max(0.0, elapsed / done * (run.max_steps - run.step))


def _now() -> str:
    from core.store.base import now

    return now()
