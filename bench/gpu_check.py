"""The GPU check: every replica family × both backends through the real pipeline, on CUDA.

    .venv/bin/python bench/gpu_check.py [--only llama3.1,qwen3:unsloth] [--allow-cpu] [--smoke|--quick]
                                        [--jobs N] [--replicas DIR] [--out DIR]

Families: the replicas of ``core/train/replicas.py`` (llama3.1, qwen3, gemma3, gemma4, qwen3.5)
and ``gemma3-bnb-4bit``, the Gemma 3 replica prequantized as the ``unsloth/…-bnb-4bit`` repos are
(alone in its folder, so the export dequantizes it: no 16-bit sibling on the disk). Backends:
unsloth and hf. Each pair gets a fresh workspace with 8 approved sample pairs and trains as a
user does, one worker process per run::

    nastavnik train --backend B --base demo-FAMILY --load-in-4bit --steps 20 --batch-size 4 …

and then asserts, from ``runs show --json`` and the files the run wrote:

* CUDA only (skipped, and said so, under ``--allow-cpu`` without a GPU): ``setup.device`` is
  ``cuda…``; ``setup.peak_gpu_bytes`` is recorded; the trainer is not Unsloth's CPU fallback
  (``_make_cpu_sft_trainer``); ``setup.bf16`` is what the card has (compute capability ≥ 8);
* everywhere: the run is done; it trained 4-bit layers with LoRA on the language model only (none
  in a vision tower); the trainer is the backend's (Unsloth's for unsloth, TRL's own
  ``SFTTrainer`` for hf: Unsloth's patches did not leak); the loss is finite and falls (mean of
  the last third of the logged steps below 0.99 × the mean of the first third, over ≥ 9 steps);
* the merge (``core.export.merge``, as ``nastavnik export`` runs it; GGUF and chat stay out: the GPU
  machine has no llama-cpp-python, and they run on the CPU anyway) changes every weight the
  adapter targets: each merged tensor is compared with the same tensor of the base the merge
  loaded (an adapter whose keys found no module merges nothing and fails here).

On llama3.1 and gemma3, after each backend's SFT run (on the CPU the hf one's only: Unsloth
trains DPO on CUDA only, its CPU fallback covers SFT): four corrections recorded as a user does
(a chat answer, then ``nastavnik correct MSG --answer … --approve``) and a DPO run
``--from-run 1``; it asserts the CUDA checks above, finite reward margins at every logged step,
and that the saved adapter holds the trained adapter only (no ``ref`` folder, no ``.ref.`` key).

Recorded, not asserted: the peak GPU memory beside ``core.train.vram``'s estimate for that shape
(on 2–6 layer replicas the estimate's fixed terms dominate), host RSS, seconds.

Prints ONE JSON report (also written to OUT/report.json), then the claim line, and exits 1 on
any failure. Without a CUDA device it refuses (exit 1) unless ``--allow-cpu``, which runs every
check but the CUDA ones on the CPU. ``--smoke``: gemma3 only, 10 steps (enough thirds for the
loss check), DPO 4 steps — ``make test`` runs it with ``--allow-cpu``; ``--quick``: every family,
10 steps. ``--only`` picks ``FAMILY`` or ``FAMILY:BACKEND`` items. ``--jobs N`` runs N pairs at
once (default: 1 on the CPU; on a GPU half the cores, at most 8). Last line:

    gpu_check: ratio=<passed/total> goal>=1.0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchlib  # noqa: E402  (bench/ is this script's folder: --quick/--smoke as every bench has them)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CLI = [sys.executable, "-c", "import sys; from tui.cli import main; sys.exit(main(sys.argv[1:]))"]
from core.train.backends import BY_MEMORY as BACKENDS  # noqa: E402  (after sys.path names the repository)
PREQUANTIZED = "-bnb-4bit"
FAMILIES = ("llama3.1", "qwen3", "gemma3", "gemma4", "qwen3.5", "gemma3" + PREQUANTIZED)
DPO_FAMILIES = ("llama3.1", "gemma3")
SMOKE_FAMILIES = ("gemma3",)
CUDA_CHECKS = ("device_cuda", "peak_gpu_recorded", "not_cpu_fallback", "bf16_matches_card")
REPLICA_STEPS = 150  # the tests' replicas (tests/support/models.py): a shared cache, and plenty for this check
N_PAIRS = 8  # few enough that 10 steps of batch 4 revisit each pair and the loss clearly falls
SHAPE = ("--max-seq-len", "128", "--batch-size", "4", "--grad-accum", "1")
SFT_LR, DPO_LR = "1e-2", "5e-3"
MIN_LOGGED = 9  # thirds of at least three steps each
LOSS_DROP = 0.99  # the last third's mean below this × the first third's
ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
       "UNSLOTH_DISABLE_STATISTICS": "1", "DO_NOT_TRACK": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}

_merge_lock = threading.Lock()  # merges run in this process, one at a time
_print_lock = threading.Lock()


def log(text: str) -> None:
    """Progress goes to stderr: stdout holds the report and the claim line only."""
    with _print_lock:
        print(text, file=sys.stderr, flush=True)


def child_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in ENV.items():
        env.setdefault(key, value)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    if threads:
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(key, str(threads))
    return env


def nastavnik(home: Path, *args: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    try:
        # in the workspace: what a library writes into its working folder (Unsloth's compiled cache) stays there
        home.mkdir(parents=True, exist_ok=True)
        return subprocess.run([*CLI, "--home", str(home), *args], capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=str(home))
    except subprocess.TimeoutExpired as exc:
        if args[:1] == ("train",):  # the detached worker would go on: stop it (the run started is the last one)
            subprocess.run([*CLI, "--home", str(home), "runs", "cancel", str(_last_run(home))], capture_output=True, env=env,
                           cwd=str(home), timeout=120)
        return subprocess.CompletedProcess(exc.cmd, 124, "", f"timed out after {timeout:.0f} s")


def _last_run(home: Path) -> int:
    runs = [int(p.name) for p in (home / "runs").glob("*") if p.name.isdigit()]
    return max(runs, default=1)


# ---------------------------------------------------------------------------- the device


FACTS = r"""
import json, torch
d = {"torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
if d["cuda_available"]:
    i = torch.cuda.current_device()
    p = torch.cuda.get_device_properties(i)
    d.update(name=p.name, capability=list(torch.cuda.get_device_capability(i)), total_bytes=int(p.total_memory),
             count=torch.cuda.device_count())
print(json.dumps(d))
"""
VERSIONS = ("torch", "transformers", "peft", "accelerate", "trl", "unsloth", "unsloth_zoo", "bitsandbytes", "datasets", "pyarrow",
            "triton", "torchao", "cut_cross_entropy", "xformers", "tokenizers", "safetensors")


def device_facts(env: dict) -> dict:
    """nvidia-smi's GPUs, the versions installed, and where nvidia-smi sees a GPU what torch sees, in a
    child process (this one never opens a CUDA context). No nvidia-smi, no GPU: as the worker decides."""
    import importlib.metadata as md

    facts: dict = {"python": sys.version.split()[0], "cuda_available": False, "versions": {}}
    for name in VERSIONS:
        try:
            facts["versions"][name] = md.version(name)
        except md.PackageNotFoundError:
            facts["versions"][name] = None
    smi = shutil.which("nvidia-smi")
    facts["nvidia_smi"] = None
    if smi:
        out = subprocess.run([smi, "--query-gpu=name,compute_cap,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        facts["nvidia_smi"] = out.stdout.strip().splitlines() if out.returncode == 0 else f"exit {out.returncode}"
    if facts["nvidia_smi"] and isinstance(facts["nvidia_smi"], list):
        proc = subprocess.run([sys.executable, "-c", FACTS], capture_output=True, text=True, env=env, timeout=300)
        if proc.returncode:
            facts["torch_error"] = proc.stderr.strip()[-500:]
        else:
            facts.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    cap = facts.get("capability")
    facts["bf16_card"] = (cap[0] >= 8) if cap else None
    return facts


# ---------------------------------------------------------------------------- replicas


def replica_folders(root: Path, families: list[str]) -> dict[str, Path]:
    """Where each family's base is (or will be) on disk: ROOT/demo-ARCH; the prequantized one alone
    in ROOT/prequantized/ (no 16-bit sibling beside it: its export dequantizes the nf4 weights)."""
    out = {}
    for fam in families:
        if fam.endswith(PREQUANTIZED):
            out[fam] = root / "prequantized" / f"demo-{fam}"
        else:
            out[fam] = root / f"demo-{fam}"
    return out


def _replica_ok(folder: Path, arch: str, steps: int) -> bool:
    from core.train.replicas import fingerprint, get_arch

    info = folder / "nastavnik_replica.json"
    if not (folder / "config.json").is_file() or not info.is_file():
        return False
    return json.loads(info.read_text(encoding="utf-8")).get("fingerprint") == fingerprint(get_arch(arch), seed=0, steps=steps)


BUILD = r"""
import sys
from core.train.replicas import build_replica, prequantize
kind, arch, out, steps = sys.argv[1:5]
if kind == "build":
    build_replica(arch, out, steps=int(steps))
else:
    prequantize(arch, out)
"""


def build_replicas(folders: dict[str, Path], steps: int, *, jobs: int, threads: int | None) -> dict[str, str]:
    """Build what is missing (in child processes, ``jobs`` at once); {family: problem} for those that failed."""
    env = child_env(threads)
    problems: dict[str, str] = {}

    def build(arch: str) -> None:
        folder = folders.get(arch) or folders[arch + PREQUANTIZED].parent.parent / f"demo-{arch}"
        if _replica_ok(folder, arch, steps):
            return
        log(f"building the {arch} replica in {folder}")
        t0 = time.monotonic()
        folder.parent.mkdir(parents=True, exist_ok=True)
        p = subprocess.run([sys.executable, "-c", BUILD, "build", arch, str(folder), str(steps)], capture_output=True, text=True,
                           env=env, cwd=str(REPO), timeout=1800)
        if p.returncode:
            problems[arch] = f"building the replica: {p.stderr.strip()[-800:]}"
        else:
            log(f"built the {arch} replica in {time.monotonic() - t0:.0f} s")

    plain = sorted({f.removesuffix(PREQUANTIZED) for f in folders})
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(build, plain))
    for fam, folder in folders.items():
        if not fam.endswith(PREQUANTIZED):
            continue
        arch = fam.removesuffix(PREQUANTIZED)
        src = folders.get(arch) or folder.parent.parent / f"demo-{arch}"
        if arch in problems:
            problems[fam] = problems[arch]
            continue
        info = folder / "nastavnik_replica.json"
        src_info = src / "nastavnik_replica.json"
        if info.is_file() and src_info.is_file() and (json.loads(info.read_text(encoding="utf-8")).get("fingerprint")
                                                      == json.loads(src_info.read_text(encoding="utf-8")).get("fingerprint")):
            continue
        folder.parent.mkdir(parents=True, exist_ok=True)
        p = subprocess.run([sys.executable, "-c", BUILD, "prequantize", str(src), str(folder), "0"], capture_output=True, text=True,
                           env=env, cwd=str(REPO), timeout=1800)
        if p.returncode:
            problems[fam] = f"prequantizing the replica: {p.stderr.strip()[-800:]}"
    return problems


# ---------------------------------------------------------------------------- data


def sample_rows() -> tuple[list[dict], list[dict]]:
    """(train, eval) single-turn records of the sample data."""
    train, evals = [], []
    for line in (REPO / "datasets" / "sample_ru.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if len(rec["messages"]) != 2:
            continue
        (evals if rec.get("split") == "eval" else train).append(rec)
    return train, evals


def corrections(n: int = 4) -> list[tuple[str, str, str]]:
    """(question, chosen, rejected): eval-split questions, their sample answers chosen over
    another question's answer (a wrong answer in the model's words, as a user corrects one)."""
    _, evals = sample_rows()
    rows = evals[:n]
    return [(r["messages"][0]["content"], r["messages"][1]["content"], rows[(i + 1) % n]["messages"][1]["content"])
            for i, r in enumerate(rows)]


# ---------------------------------------------------------------------------- checks


class Checks:
    """Named checks: True passed, False failed, None skipped (a CUDA check without CUDA)."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.items: dict[str, dict] = {}

    def add(self, name: str, ok: bool, detail=None) -> bool:
        if name in CUDA_CHECKS and not self.cuda:
            self.items[name] = {"ok": None, "detail": "skipped: no CUDA device (--allow-cpu)"}
            return True
        self.items[name] = {"ok": bool(ok), **({"detail": detail} if detail is not None else {})}
        return bool(ok)

    def fail(self, name: str, detail) -> None:
        self.items[name] = {"ok": False, "detail": detail}

    @property
    def ok(self) -> bool:
        return bool(self.items) and all(v["ok"] is not False for v in self.items.values())

    @property
    def failed(self) -> list[str]:
        return [k for k, v in self.items.items() if v["ok"] is False]


def loss_falls(losses: list[float]) -> tuple[bool, dict]:
    n = len(losses)
    third = n // 3
    if n < MIN_LOGGED:
        return False, {"logged": n, "why": f"fewer than {MIN_LOGGED} logged steps: thirds would overlap or be noise"}
    if not all(math.isfinite(x) for x in losses):
        return False, {"logged": n, "why": "a loss is not finite", "losses": losses}
    first, last = sum(losses[:third]) / third, sum(losses[-third:]) / third
    return last < LOSS_DROP * first, {"logged": n, "first_third": round(first, 4), "last_third": round(last, 4),
                                      "drop": round(1 - last / first, 4)}


def run_checks(checks: Checks, show: dict, facts: dict, *, backend: str, method: str) -> dict:
    """The checks every run gets; returns its setup."""
    setup = show.get("setup") or {}
    trainer = setup.get("trainer") or ""
    checks.add("run_done", show.get("status") == "done", {"status": show.get("status"), "error": show.get("error")}
               if show.get("status") != "done" else None)
    checks.add("device_cuda", str(setup.get("device", "")).startswith("cuda"), setup.get("device"))
    checks.add("peak_gpu_recorded", (setup.get("peak_gpu_bytes") or 0) > 0, setup.get("peak_gpu_bytes"))
    checks.add("not_cpu_fallback", bool(trainer) and "_make_cpu_sft_trainer" not in trainer, trainer)
    checks.add("bf16_matches_card", facts.get("bf16_card") is not None and setup.get("bf16") == facts.get("bf16_card"),
               {"setup_bf16": setup.get("bf16"), "card_bf16": facts.get("bf16_card"), "capability": facts.get("capability")})
    if method != "sft":  # our subclass of TRL's DPOTrainer (Unsloth's, where ``import unsloth`` rebound it): the name
        # does not tell which, the run's own record of its backend does
        checks.add("backend_trainer", trainer.endswith("NastavnikDPOTrainer") and setup.get("backend") == backend,
                   {"trainer": trainer, "backend": setup.get("backend")})
    elif backend == "unsloth":
        checks.add("backend_trainer", "unsloth" in trainer.lower() or "_make_cpu_sft_trainer" in trainer, trainer)
    else:  # TRL's own trainer: Unsloth's patches did not leak into an hf run
        checks.add("backend_trainer", trainer == "trl.trainer.sft_trainer.SFTTrainer", trainer)
    return setup


def _norm(name: str) -> str:
    """A module or tensor name without the wrappers the classes differ by (PEFT's, the VLM's
    ``model.language_model.``), so an adapter's keys, a CausalLM's and a VLM's compare."""
    for prefix in ("base_model.model.",):
        if name.startswith(prefix):
            name = name[len(prefix):]
    changed = True
    while changed:
        changed = False
        for prefix in ("model.", "language_model."):
            if name.startswith(prefix):
                name, changed = name[len(prefix):], True
    return name


def adapter_targets(adapter_dir: Path) -> list[str]:
    """The (normalised) modules the adapter has LoRA weights for."""
    from safetensors import safe_open

    names = set()
    with safe_open(str(adapter_dir / "adapter_model.safetensors"), "pt") as f:
        for key in f.keys():
            if ".lora_A." in key:
                names.add(_norm(key.split(".lora_A.")[0]))
    return sorted(names)


def merge_and_compare(home: Path, run_id: int, out_dir: Path) -> tuple[bool, dict]:
    """Merge the run as the export does; every weight the adapter targets must differ from the base's."""
    import torch
    from transformers import AutoModelForCausalLM

    from core.export.merge import checkpoint_dtype, load_base, merge
    from core.export.source import resolve_source
    from core.workspace import Workspace

    source = resolve_source(Workspace.open(home), str(run_id))
    t0 = time.monotonic()
    merge(source, out_dir)
    info = json.loads((out_dir / "nastavnik_merge.json").read_text(encoding="utf-8"))
    figures = {"merge_s": round(time.monotonic() - t0, 1), "merge_how": info.get("how"), "merge_dtype": info.get("dtype")}
    targets = adapter_targets(source.adapter_dir)
    base_model, _ = load_base(source)
    base = {_norm(k): v.detach().float() for k, v in base_model.state_dict().items()}
    del base_model
    merged_model = AutoModelForCausalLM.from_pretrained(str(out_dir), dtype=checkpoint_dtype(out_dir))
    merged = {_norm(k): v.detach().float() for k, v in merged_model.state_dict().items()}
    del merged_model
    missing, same, rel = [], [], []
    for t in targets:
        key = t + ".weight"
        if key not in merged or key not in base or merged[key].shape != base[key].shape:
            missing.append(t)
            continue
        diff = (merged[key] - base[key]).abs().max().item()
        if diff == 0:
            same.append(t)
        rel.append(diff / max(base[key].abs().max().item(), 1e-12))
    figures.update(adapted=len(targets), changed=len(targets) - len(missing) - len(same),
                   max_rel_change=round(max(rel), 5) if rel else None)
    if missing:
        figures["not_found_in_merged"] = missing[:5]
    if same:
        figures["unchanged"] = same[:5]
    shutil.rmtree(out_dir, ignore_errors=True)  # the merged copy is not needed again
    return bool(targets) and not missing and not same and bool(torch.tensor(rel).gt(0).all()), figures


def vram_figures(folder: Path, show: dict, backend: str) -> dict:
    from core.train.vram import estimate_vram, preset_from_checkpoint

    cfg = show.get("config") or {}
    setup = show.get("setup") or {}
    est = estimate_vram(preset_from_checkpoint(folder), backend=backend, max_seq_len=cfg.get("max_seq_len"),
                        batch_size=cfg.get("batch_size"), lora_r=cfg.get("lora_r"), load_in_4bit=True)
    out = {"vram_estimate_bytes": int(est.total), "peak_gpu_bytes": setup.get("peak_gpu_bytes"),
           "peak_rss_bytes": setup.get("peak_rss_bytes")}
    if setup.get("peak_gpu_bytes"):
        out["vram_measured_over_estimate"] = round(setup["peak_gpu_bytes"] / est.total, 3)
    return out


# ---------------------------------------------------------------------------- one family × backend


def _show(home: Path, run_id: int, env: dict) -> dict:
    r = nastavnik(home, "runs", "show", str(run_id), "--json", env=env, timeout=120)
    return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else {}


def train(home: Path, run_id: int, args: list[str], *, env: dict, figures: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """``nastavnik train ARGS`` timed into ``figures["train_s"]``; the command and ``runs show`` of the run."""
    t0 = time.monotonic()
    r = nastavnik(home, "train", *args, env=env)
    figures["train_s"] = round(time.monotonic() - t0, 1)
    return r, _show(home, run_id, env)


def record_corrections(home: Path, base_name: str, env: dict) -> str | None:
    """Four chat answers of the base, each corrected with ``nastavnik correct --approve``; a problem or None."""
    from core.workspace import Workspace

    with Workspace.open(home).store() as store:
        ids = []
        for question, _, rejected in corrections():
            conv = store.add_conversation([base_name])
            store.add_message(conv.id, "user", question)
            ids.append(store.add_message(conv.id, "assistant", rejected, model=base_name).id)
    for msg, (_, chosen, _) in zip(ids, corrections()):
        r = nastavnik(home, "correct", str(msg), "--answer", chosen, "--approve", env=env, timeout=120)
        if r.returncode:
            return f"correct {msg}: {(r.stderr or r.stdout).strip()[-400:]}"
    return None


def check_pair(family: str, backend: str, folder: Path, *, work: Path, steps: int, dpo_steps: int, facts: dict,
               pairs_file: Path, env: dict, cuda: bool) -> list[dict]:
    """Train, check, merge one pair (and its DPO run for a DPO family); one result dict per run."""
    home = work / f"{family}-{backend}"
    shutil.rmtree(home, ignore_errors=True)
    name = folder.name
    sft = {"what": "sft", "family": family, "backend": backend}
    checks = Checks(cuda)
    results = [sft]
    try:
        for args in (("pairs", "import", str(pairs_file), "--status", "approved"), ("models", "add", str(folder), "--name", name)):
            r = nastavnik(home, *args, env=env, timeout=300)
            if r.returncode:
                checks.fail("setup", f"{' '.join(args[:2])}: {(r.stderr or r.stdout).strip()[-400:]}")
                return results
        log(f"{family}/{backend}: training {steps} steps")
        r, show = train(home, 1, ["--backend", backend, "--base", name, "--load-in-4bit", "--steps", str(steps), "--seed", "0",
                                  "--lr", SFT_LR, "--save-steps", "1000", *SHAPE], env=env, figures=sft)
        if r.returncode and not show:
            checks.fail("run_done", f"train: {(r.stderr or r.stdout).strip()[-600:]}")
            return results
        setup = run_checks(checks, show, facts, backend=backend, method="sft")
        if r.returncode:
            sft["train_stderr"] = r.stderr.strip()[-600:]
        checks.add("four_bit", bool(setup.get("load_in_4bit")), setup.get("quantized_layers"))
        checks.add("lora_on_text_only", (setup.get("lora_tensors") or 0) > 0 and setup.get("lora_in_towers") == 0,
                   {"lora_tensors": setup.get("lora_tensors"), "in_towers": setup.get("lora_in_towers")})
        losses = [m["loss"] for m in show.get("metrics", []) if m.get("loss") is not None]
        ok, loss_info = loss_falls(losses)
        checks.add("loss_falls", ok, loss_info)
        sft.update({k: setup.get(k) for k in ("trainer", "device", "model_class", "bf16", "trainable_dtype", "precision",
                                              "padding_free", "attn_implementation") if k in setup})
        sft.update(vram_figures(folder, show, backend))
        if show.get("status") == "done":
            with _merge_lock:
                log(f"{family}/{backend}: merging")
                ok, merge_info = merge_and_compare(home, 1, work / f"merged-{family}-{backend}")
            checks.add("merged_differs", ok, merge_info)
            sft.update({k: merge_info[k] for k in ("merge_s", "merge_how")})
        # Unsloth trains DPO on CUDA only (its CPU fallback covers SFT): on the CPU the hf run's DPO alone
        if family in DPO_FAMILIES and show.get("status") == "done" and (cuda or backend == "hf"):
            results.append(check_dpo(family, backend, home, name, steps=dpo_steps, facts=facts, env=env, cuda=cuda))
    except Exception as exc:  # a crash of the check itself is a failure too, not a skip
        checks.fail("crashed", f"{type(exc).__name__}: {exc}: {traceback.format_exc()[-800:]}")
    finally:
        sft["ok"], sft["failed"], sft["checks"] = checks.ok, checks.failed, checks.items
        log(f"{family}/{backend}: sft {'ok' if checks.ok else 'FAILED ' + ', '.join(checks.failed)}")
    return results


def check_dpo(family: str, backend: str, home: Path, name: str, *, steps: int, facts: dict, env: dict, cuda: bool) -> dict:
    dpo = {"what": "dpo", "family": family, "backend": backend}
    checks = Checks(cuda)
    try:
        problem = record_corrections(home, name, env)
        if problem:
            checks.fail("corrections", problem)
            return dpo
        log(f"{family}/{backend}: DPO {steps} steps from run 1")
        r, show = train(home, 2, ["--method", "dpo", "--from-run", "1", "--steps", str(steps), "--lr", DPO_LR], env=env, figures=dpo)
        if r.returncode and not show:
            checks.fail("run_done", f"train --method dpo: {(r.stderr or r.stdout).strip()[-600:]}")
            return dpo
        setup = run_checks(checks, show, facts, backend=backend, method="dpo")
        checks.add("dpo_from_run", show.get("method") == "dpo" and show.get("from_run") == 1 and show.get("train_pairs") == 4,
                   {k: show.get(k) for k in ("method", "from_run", "train_pairs")})
        rows = [m for m in show.get("metrics", []) if m.get("loss") is not None]
        margins = [m.get("margin") for m in rows]
        finite = len(margins) >= 3 and all(isinstance(x, (int, float)) and math.isfinite(x) for x in margins)
        checks.add("finite_margins", finite, {"logged": len(margins), "first": margins[0] if margins else None,
                                              "last": margins[-1] if margins else None} if finite else {"margins": margins})
        adapter = Path(show.get("adapter_path") or home / "runs" / "2" / "adapter")
        checks.add("no_ref_adapter", *no_ref_adapter(adapter))
        dpo.update({k: setup.get(k) for k in ("trainer", "device", "bf16", "precision", "model_class") if k in setup})
        dpo.update({"peak_gpu_bytes": setup.get("peak_gpu_bytes"), "reference": setup.get("reference")})
    except Exception as exc:
        checks.fail("crashed", f"{type(exc).__name__}: {exc}: {traceback.format_exc()[-800:]}")
    finally:
        dpo["ok"], dpo["failed"], dpo["checks"] = checks.ok, checks.failed, checks.items
        log(f"{family}/{backend}: dpo {'ok' if checks.ok else 'FAILED ' + ', '.join(checks.failed)}")
    return dpo


def no_ref_adapter(adapter: Path) -> tuple[bool, dict]:
    """The saved DPO adapter is the trained one alone: no ``ref`` folder or file, no ``.ref.`` key."""
    from safetensors import safe_open

    if not (adapter / "adapter_model.safetensors").is_file():
        return False, {"adapter": str(adapter), "why": "no adapter_model.safetensors"}
    ref_paths = [str(p.relative_to(adapter)) for p in adapter.rglob("*") if "ref" in p.relative_to(adapter).parts]
    ref_keys = []
    for file in adapter.rglob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            ref_keys += [k for k in f.keys() if ".ref." in k]
    files = sorted(str(p.relative_to(adapter)) for p in adapter.rglob("*") if p.is_file())
    return not ref_paths and not ref_keys, {"files": files, **({"ref_paths": ref_paths} if ref_paths else {}),
                                             **({"ref_keys": ref_keys[:5]} if ref_keys else {})}


# ---------------------------------------------------------------------------- main


def parse_only(spec: str | None, families: tuple[str, ...]) -> list[tuple[str, str]]:
    """``llama3.1,qwen3:unsloth`` → [(llama3.1, unsloth), (llama3.1, hf), (qwen3, unsloth)]."""
    if not spec:
        return [(f, b) for f in families for b in BACKENDS]
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        fam, _, backend = item.partition(":")
        if fam not in FAMILIES:
            raise SystemExit(f"gpu_check: no family {fam!r} (one of: {', '.join(FAMILIES)})")
        if backend and backend not in BACKENDS:
            raise SystemExit(f"gpu_check: no backend {backend!r} (one of: {', '.join(BACKENDS)})")
        out += [(fam, b) for b in ((backend,) if backend else BACKENDS) if (fam, b) not in out]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="FAMILY or FAMILY:BACKEND, comma-separated (default: every family × both backends)")
    parser.add_argument("--allow-cpu", action="store_true", help="without CUDA: run every check but the CUDA ones on the CPU")
    parser.add_argument("--steps", type=int, help="SFT steps (default 20; 10 with --smoke/--quick)")
    parser.add_argument("--dpo-steps", type=int, help="DPO steps (default 10; 4 with --smoke/--quick)")
    parser.add_argument("--jobs", type=int, help="pairs at once (default: 1 on the CPU; half the cores, at most 8, on a GPU)")
    parser.add_argument("--replicas", type=Path, default=benchlib.OUT / "gpu-check-replicas",
                        help="where the replicas are built (once) and found: DIR/demo-FAMILY")
    parser.add_argument("--replica-steps", type=int, default=REPLICA_STEPS, help="pretraining steps of a replica built here")
    parser.add_argument("--out", type=Path, help="where the workspaces and report.json go (default: a temp folder)")
    benchlib.add_mode_args(parser)
    args = parser.parse_args(argv)
    # stdout is the report's: whatever a library prints meanwhile (this process merges) goes to stderr
    sys.stdout.flush()
    report_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        code, lines = _main(args)
    finally:
        sys.stdout.flush()
        os.dup2(report_fd, 1)
        os.close(report_fd)
    for line in lines:
        print(line, flush=True)
    return code


def _main(args) -> tuple[int, list[str]]:
    """The checks; (exit code, the lines for stdout: the JSON report and the claim line)."""
    mode = benchlib.mode_of(args)
    steps = args.steps or benchlib.pick(mode, 20, 10, 10)
    dpo_steps = args.dpo_steps or benchlib.pick(mode, 10, 4, 4)
    pairs = parse_only(args.only, SMOKE_FAMILIES if mode == "smoke" else FAMILIES)
    started = time.monotonic()

    base_env = child_env(None)
    facts = device_facts(base_env)
    cuda = bool(facts.get("cuda_available"))
    report: dict = {"check": "gpu_check", "mode": mode, "allow_cpu": args.allow_cpu, "device": facts,
                    "settings": {"steps": steps, "dpo_steps": dpo_steps, "pairs": N_PAIRS, "lr": SFT_LR, "dpo_lr": DPO_LR,
                                 "shape": " ".join(SHAPE), "replica_steps": args.replica_steps},
                    "results": []}

    def finish(code_problem: str | None = None) -> tuple[int, list[str]]:
        results = report["results"]
        passed = sum(1 for r in results if r.get("ok"))
        report.update(passed=passed, total=len(results), failed=[f"{r['what']} {r['family']}/{r['backend']}: {', '.join(r['failed'])}"
                                                                 for r in results if not r.get("ok")],
                      seconds=round(time.monotonic() - started, 1))
        if code_problem:
            report["problem"] = code_problem
        text = json.dumps(report, ensure_ascii=False, indent=1, default=str)
        if args.out:
            (args.out / "report.json").write_text(text, encoding="utf-8")
        ok = not code_problem and results and passed == len(results)
        return (0 if ok else 1), [text, f"gpu_check: ratio={passed / len(results) if results else 0:.3f} goal>=1.0"]

    if not cuda and not args.allow_cpu:
        why = (f"torch {facts['versions'].get('torch')} sees no CUDA device" + (f" while nvidia-smi lists {facts['nvidia_smi']}"
               if facts.get("nvidia_smi") else " (no nvidia-smi)") + "; --allow-cpu runs the checks but the CUDA ones on the CPU")
        log(f"gpu_check: {why}")
        return finish(why)

    cores = os.cpu_count() or 1
    jobs = args.jobs or (min(8, max(1, cores // 2)) if cuda else 1)
    threads = None if os.environ.get("OMP_NUM_THREADS") else max(1, cores // jobs)
    env = child_env(threads)
    work = args.out or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    args.out = work
    report["work"], report["jobs"] = str(work), jobs

    families = list(dict.fromkeys(f for f, _ in pairs))
    folders = replica_folders(args.replicas, families)
    t0 = time.monotonic()
    broken = build_replicas(folders, args.replica_steps, jobs=jobs, threads=threads)
    report["replicas_s"] = round(time.monotonic() - t0, 1)
    pairs_file = work / "pairs.jsonl"
    train, _ = sample_rows()
    pairs_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in train[:N_PAIRS]), encoding="utf-8")

    def one(pair: tuple[str, str]) -> list[dict]:
        family, backend = pair
        if family in broken:
            return [{"what": "sft", "family": family, "backend": backend, "ok": False, "failed": ["replica"],
                     "checks": {"replica": {"ok": False, "detail": broken[family]}}}]
        return check_pair(family, backend, folders[family], work=work, steps=steps, dpo_steps=dpo_steps, facts=facts,
                          pairs_file=pairs_file, env=env, cuda=cuda)

    # the pairs with a DPO run after their SFT run start first (the longest), the report keeps the order asked for
    order = sorted(range(len(pairs)), key=lambda i: pairs[i][0] not in DPO_FAMILIES)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {i: pool.submit(one, pairs[i]) for i in order}
        for i in range(len(pairs)):
            report["results"].extend(futures[i].result())
    return finish()


if __name__ == "__main__":
    sys.exit(main())
