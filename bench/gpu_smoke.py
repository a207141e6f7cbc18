"""GPU smoke test of the real QLoRA path: each backend × each replica, 4-bit, trained, exported.

    .venv/bin/python bench/gpu_smoke.py [--arch gemma3,qwen3,llama3.1] [--backends unsloth,hf]
                                        [--steps 20] [--replicas DIR] [--out DIR] [--allow-cpu]

For each pair it makes a fresh workspace, registers the replica (built here if ``--replicas``
has none: nothing is downloaded), imports the sample pairs approved and runs, as a user would:

    nastavnik train --backend B --base demo-ARCH --load-in-4bit --steps N
    nastavnik export 1 --quant q8_0 --json

Each run is its own worker process (``import unsloth`` patches TRL for the process, so an hf
run never trains with Unsloth's patched TRL). It checks what the run says it trained with
(``runs show --json``: 4-bit layers, the trainer class, no LoRA in the vision tower), that the
loss is finite and falls, that the export's parity check passes, and compares the run's peak
GPU memory with the VRAM estimate for that shape (``core.train.vram``). Any failure is printed
and the script exits 1; without an NVIDIA GPU it refuses to run unless ``--allow-cpu``
(which checks the script itself, on the CPU). ``--quick``: 10 steps; ``--smoke``: the
llama3.1 replica only, 3 steps (tests/test_bench_smoke.py runs it where there is a GPU).
Last line:

    gpu_smoke: ratio=<passed/total> goal>=1.0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib  # noqa: E402  (bench/ is this script's folder: --quick/--smoke as every bench has them)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# what a chat answer must never show: a template's turn markers
import re  # noqa: E402

TURN_MARKERS = re.compile(r"<\|?(start_of_turn|end_of_turn|turn|im_start|im_end|eot_id|start_header_id|end_header_id)\|?>|<turn\|>")
CLI = [sys.executable, "-c", "import sys; from tui.cli import main; sys.exit(main(sys.argv[1:]))"]


def nastavnik(home: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", UNSLOTH_DISABLE_STATISTICS="1",
               PYTHONPATH=str(REPO))
    return subprocess.run([*CLI, "--home", str(home), *args], capture_output=True, text=True, timeout=timeout, env=env)


def replica_folder(root: Path, arch: str) -> Path:
    from core.train.replicas import build_replica

    folder = root / f"demo-{arch}"
    if not (folder / "config.json").is_file():
        print(f"building the {arch} replica in {folder} (once)", flush=True)
        build_replica(arch, folder)
    return folder


def one(backend: str, arch: str, folder: Path, steps: int, work: Path) -> tuple[list[str], dict]:
    """Train, check, export one pair; (problems, figures)."""
    from core.train.vram import estimate_vram, preset_from_checkpoint

    home = work / f"{backend}-{arch}"
    problems: list[str] = []
    figures: dict = {"backend": backend, "arch": arch}
    for args in (("pairs", "import", str(REPO / "datasets" / "sample_ru.jsonl"), "--status", "approved"),
                 ("models", "add", str(folder), "--name", f"demo-{arch}")):
        r = nastavnik(home, *args)
        if r.returncode:
            return [f"{' '.join(args[:2])}: {r.stderr.strip()[-300:]}"], figures
    t0 = time.monotonic()
    r = nastavnik(home, "train", "--backend", backend, "--base", f"demo-{arch}", "--load-in-4bit", "--steps", str(steps),
                  "--max-seq-len", "256", "--batch-size", "4", "--grad-accum", "1", "--lr", "2e-3", "--save-steps", "1000")
    figures["train_s"] = round(time.monotonic() - t0, 1)
    if r.returncode:
        problems.append(f"train: {r.stderr.strip()[-400:]}")
    show = json.loads(nastavnik(home, "runs", "show", "1", "--json").stdout or "{}")
    setup = show.get("setup") or {}
    figures.update({k: setup.get(k) for k in ("trainer", "device", "quantized_layers", "lora_tensors", "lora_in_towers",
                                              "peak_gpu_bytes", "peak_rss_bytes")})
    losses = [m["loss"] for m in show.get("metrics", []) if m.get("loss") is not None]
    figures["loss_first_last"] = (losses[0], losses[-1]) if losses else None
    if show.get("status") != "done":
        problems.append(f"run ended {show.get('status')}: {show.get('error')}")
    if not setup.get("load_in_4bit"):
        problems.append("the run did not train on 4-bit layers")
    if setup.get("lora_in_towers"):
        problems.append(f"{setup['lora_in_towers']} LoRA tensors in the vision tower")
    if backend == "unsloth" and "unsloth" not in (setup.get("trainer") or "") and "_make_cpu_sft_trainer" not in (setup.get("trainer") or ""):
        problems.append(f"the unsloth run trained with {setup.get('trainer')}")
    if backend == "hf" and setup.get("trainer") != "trl.trainer.sft_trainer.SFTTrainer":
        problems.append(f"the hf run trained with {setup.get('trainer')} (Unsloth's patches leaked?)")
    if not losses or not all(math.isfinite(x) for x in losses) or not (sum(losses[-3:]) < sum(losses[:3])):
        problems.append(f"the loss did not fall: {losses}")
    if setup.get("peak_gpu_bytes"):
        preset = preset_from_checkpoint(folder)
        est = estimate_vram(preset, backend=backend, max_seq_len=256, batch_size=4, lora_r=16, load_in_4bit=True)
        figures["vram_estimate_bytes"] = int(est.total)
        figures["vram_measured_over_estimate"] = round(setup["peak_gpu_bytes"] / est.total, 3)
    t0 = time.monotonic()
    r = nastavnik(home, "export", "1", "--quant", "q8_0", "--json")
    figures["export_s"] = round(time.monotonic() - t0, 1)
    if r.returncode:
        problems.append(f"export: {r.stderr.strip()[-400:]}")
    else:
        exported = json.loads(r.stdout)
        parity = exported.get("parity") or {}
        figures["parity"] = parity.get("summary")
        if not parity.get("ok"):
            problems.append(f"parity: {parity.get('warnings')}")
        gguf = next((f for f in exported.get("files", []) if f["quant"] == "q8_0"), None)
        if gguf:
            c = nastavnik(home, "chat", str(gguf["path"]), "-p", "Что такое эпоха?", "--max-tokens", "32", "--json")
            answer = json.loads(c.stdout)["answers"][0]["text"] if c.returncode == 0 else None
            figures["chat"] = answer
            if c.returncode:
                problems.append(f"chat: {c.stderr.strip()[-300:]}")
            elif answer is None or TURN_MARKERS.search(answer):
                problems.append(f"the chat answer shows turn markers: {answer!r}")
    return problems, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="gemma3,qwen3,llama3.1")
    parser.add_argument("--backends", default="unsloth,hf")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--replicas", type=Path, default=REPO / ".cache" / "gpu-smoke-replicas")
    parser.add_argument("--out", type=Path, help="where the workspaces and a results.json go (default: a temp folder)")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (checks the script, not the GPU path)")
    benchlib.add_mode_args(parser)
    args = parser.parse_args(argv)
    mode = benchlib.mode_of(args)
    if mode == "smoke":
        args.arch, args.steps = "llama3.1", min(args.steps, 3)
    elif mode == "quick":
        args.steps = min(args.steps, 10)

    from core.train.backends import cuda_available

    if not cuda_available() and not args.allow_cpu:
        print("gpu_smoke: no NVIDIA GPU here (nvidia-smi sees none); --allow-cpu runs it on the CPU", file=sys.stderr)
        print("gpu_smoke: ratio=0 goal>=1.0")
        return 1
    work = args.out or Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    results, failed = [], 0
    pairs = [(b, a) for a in args.arch.split(",") for b in args.backends.split(",")]
    for backend, arch in pairs:
        try:
            problems, figures = one(backend, arch, replica_folder(args.replicas, arch), args.steps, work)
        except Exception as exc:  # a crash of the script itself is a failure too, not a skip
            problems, figures = [f"{type(exc).__name__}: {exc}"], {"backend": backend, "arch": arch}
        figures["problems"] = problems
        results.append(figures)
        failed += bool(problems)
        print(json.dumps(figures, ensure_ascii=False), flush=True)
        for p in problems:
            print(f"FAIL {backend}/{arch}: {p}", flush=True)
    (work / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"results: {work / 'results.json'}")
    print(f"gpu_smoke: ratio={(len(pairs) - failed) / len(pairs):.3f} goal>=1.0")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
