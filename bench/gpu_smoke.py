"""GPU smoke test of the real Unsloth path (needs an NVIDIA GPU with unsloth installed).

    .venv/bin/python bench/gpu_smoke.py [--model PATH] [--steps 30]
    .venv/bin/python bench/gpu_smoke.py --quick     # 10 steps
    .venv/bin/python bench/gpu_smoke.py --smoke     # 3 steps: only that both backends run

Builds (or reuses) the tiny local demo model — nothing is downloaded — and runs the same
pipeline steps as a real run with ``backend=unsloth``: FastLanguageModel load (4-bit
where bitsandbytes supports the shapes, else 16-bit), LoRA with Unsloth gradient
checkpointing, our answer-only masks, TRL's SFTTrainer, adapter save. Prints what it
measured: load time, peak GPU memory, tokens/s, first/last loss, and whether the adapter
reloads. Compares against the ``hf`` backend on the same GPU in the same run.
Last line: ``gpu_smoke: ratio=<unsloth tok/s ÷ hf tok/s> goal>=1.0``. Without a CUDA GPU it
measures nothing, says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import benchlib  # noqa: E402  (bench/ is on the path: this script's folder)

REPO = benchlib.REPO


def one(backend: str, model: Path, steps: int, tmp: Path, convs) -> dict:
    import torch

    from core.dataset import Example, Snapshot, content_sha256
    from core.train import pipeline
    from core.train.config import TrainConfig

    if backend == "unsloth":
        import unsloth  # noqa: F401  (before trl)
    cfg = TrainConfig.from_preset("demo", backend=backend, max_steps=steps, batch_size=8, max_seq_len=256, load_in_4bit=False, save_steps=10_000)
    paths = pipeline.RunPaths(tmp / backend)
    paths.root.mkdir(parents=True)
    train = [Example(i, c) for i, c in enumerate(convs)]
    Snapshot(train, [], content_sha256(train, [])).write(paths.dataset)
    rows = []
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = pipeline.run(cfg, str(model), paths, sink=rows.append)
    seconds = time.perf_counter() - t0
    losses = [r["loss"] for r in rows if "loss" in r]
    tps = [r["tokens_per_s"] for r in rows if r.get("tokens_per_s")]
    from peft import PeftConfig

    PeftConfig.from_pretrained(str(result.adapter))  # reloadable
    return {
        "backend": backend,
        "seconds_total": round(seconds, 1),
        "steps": result.steps,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "tokens_per_s": round(tps[-1], 1) if tps else None,
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path)
    parser.add_argument("--steps", type=int)
    benchlib.add_mode_args(parser)
    args = parser.parse_args()
    args.steps = args.steps or benchlib.pick(benchlib.mode_of(args), 30, 10, 3)
    import torch

    if not torch.cuda.is_available():
        print("gpu_smoke: no CUDA GPU visible — nothing measured (run this on a machine with an NVIDIA GPU)")
        sys.exit(2)
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    model = args.model
    if model is None:
        model = benchlib.demo_model_dir()
    convs = [json.loads(line)["messages"] for line in (REPO / "datasets" / "sample_ru.jsonl").read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for backend in ("unsloth", "hf"):
            try:
                results[backend] = one(backend, model, args.steps, Path(tmp), convs)
            except Exception as exc:  # say what failed, keep measuring the other
                results[backend] = {"backend": backend, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(results[backend], ensure_ascii=False), flush=True)
    u, h = results["unsloth"].get("tokens_per_s"), results["hf"].get("tokens_per_s")
    ratio = (u / h) if u and h else float("nan")
    benchlib.claim("gpu_smoke", ratio, ">=1.0", f"Unsloth {u} vs hf {h} tok/s")


if __name__ == "__main__":
    main()
