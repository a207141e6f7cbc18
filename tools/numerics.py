"""The learning tests and the demo loop under other CPU kernel paths: one command to check numerics.

CPU training is not bit-identical from one processor to the next: torch's vectorised kernels
(AVX-512, AVX2 or plain C++), MKL's and oneDNN's code paths and the thread count sum in
different orders, and a run that sits at the edge of memorising goes one way on one machine
and the other way on the next (docs/numerics.md). This machine can imitate the others: torch
reads ``ATEN_CPU_CAPABILITY``, MKL ``MKL_ENABLE_INSTRUCTIONS`` and oneDNN ``ONEDNN_MAX_CPU_ISA``.

    .venv/bin/python tools/numerics.py                      # `make numerics`: the learning tests, every path this CPU has
    .venv/bin/python tools/numerics.py --paths avx2         # one path (default, avx2, avx512)
    .venv/bin/python tools/numerics.py --demo               # the demo loop (docs/demo.md): paths × threads × seeds

The learning tests are those marked ``learning`` (they assert what a model learnt or how it
answers). Each path gets its own test cache, so the demo model and the replicas the tests train
are built under that path too, as a user's machine builds them. ``--demo`` runs the loop
docs/demo.md walks a new user through, through the CLI in a fresh workspace: ``nastavnik demo``, the
«Что такое эпоха?» pair's answer replaced by a correction and approved, ``nastavnik train
--preset demo`` with its defaults, ``export --quant q8_0``, ``eval --split train``; it prints the
train-split chrF, the share answered word for word, the corrected question's chrF, the final
loss and the run's seconds, one row per (path, threads, seed), then each column's spread.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLI = [PYTHON, "-c", "import sys; from tui.cli import main; sys.exit(main(sys.argv[1:]))"]
# each path as a CPU without the wider instructions would run it
PATHS = {
    "default": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "MKL_ENABLE_INSTRUCTIONS": "AVX512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
}
CORRECTED_QUESTION = "Что такое эпоха?"
CORRECTION = ("Эпоха — это один полный проход модели по всему обучающему набору. "
              "Для LoRA на паре сотен примеров обычно хватает трёх эпох.")


def offered() -> list[str]:
    """The kernel paths this CPU can run: torch's own capability and every narrower one."""
    out = subprocess.run([PYTHON, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                         capture_output=True, text=True, check=True).stdout.strip().lower()
    order = list(PATHS)
    top = next((i for i, name in enumerate(order) if out.startswith(name)), 0)
    return order[: top + 1]


def path_env(path: str, threads: int, cache: Path) -> dict[str, str]:
    env = dict(os.environ, **PATHS[path])
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), NASTAVNIK_THREADS=str(threads),
               NASTAVNIK_TEST_CACHE=str(cache / "test-demo-model"), PYTHONPATH=str(REPO))
    return env


def learning_tests(paths: list[str], workdir: Path, extra: list[str]) -> int:
    """``pytest -m learning`` once per path, each with a fresh test cache; a summary at the end."""
    results = []
    for path in paths:
        cache = workdir / path
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        print(f"== learning tests, kernel path {path} ({' '.join(f'{k}={v}' for k, v in PATHS[path].items())})", flush=True)
        started = time.monotonic()
        code = subprocess.run([PYTHON, "-m", "pytest", "-m", "learning", "-n", "2", "--dist", "loadgroup", "-q", *extra],
                              cwd=REPO, env=path_env(path, 1, cache)).returncode
        results.append((path, code, time.monotonic() - started))
    print("\npath      result   minutes")
    for path, code, seconds in results:
        print(f"{path:<9} {'passed' if code == 0 else 'FAILED':<8} {seconds / 60:.1f}")
    return max((code for _, code, _ in results), default=0)


def cli(home: Path, env: dict, *args: str) -> str:
    proc = subprocess.run([*CLI, "--home", str(home), *args], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"nastavnik {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def demo_base(path: str, workdir: Path) -> Path:
    """The demo base as `nastavnik demo` builds it, under ``path`` (once per path, at one thread)."""
    base = workdir / path / "demo-base"
    if not (base / "model.safetensors").exists():
        cli(workdir / path / "base-home", path_env(path, 1, workdir / path), "demo")
        shutil.copytree(workdir / path / "base-home" / "models" / "demo", base)
    return base


def demo_loop(path: str, threads: int, seed: int, workdir: Path) -> dict:
    """The demo loop (docs/demo.md) in a fresh workspace under one kernel path; what it learnt."""
    env = path_env(path, threads, workdir / path)
    base = demo_base(path, workdir)
    home = workdir / path / f"t{threads}-s{seed}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "models").mkdir(parents=True)
    shutil.copytree(base, home / "models" / "demo")
    cli(home, env, "demo")
    pairs = json.loads(cli(home, env, "pairs", "search", CORRECTED_QUESTION, "--json"))
    pair = next(p for p in pairs if p["question"] == CORRECTED_QUESTION)
    cli(home, env, "pairs", "edit", str(pair["id"]), "--answer", CORRECTION)
    started = time.monotonic()
    cli(home, env, "train", "--preset", "demo", "--seed", str(seed))
    seconds = time.monotonic() - started
    run = json.loads(cli(home, env, "runs", "show", "1", "--json"))
    cli(home, env, "export", "1", "--quant", "q8_0", "--no-parity", "--name", "run")
    report = json.loads(cli(home, env, "eval", "run-q8_0", "--split", "train", "--json"))
    summary = report["summaries"][0]
    row = next(r for r in report["rows"] if r["question"] == CORRECTED_QUESTION)
    cell = row["cells"]["run-q8_0"]
    return {"path": path, "threads": threads, "seed": seed, "train_chrf": summary["chrf"], "exact": summary["exact"],
            "corrected_chrf": cell["chrf"], "corrected_answer": cell["answer"], "loss": run["loss"],
            "epochs": run["epoch"], "steps": run["steps"], "seconds": round(seconds, 1)}


def spread(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows]
    return f"{min(values):.1f}–{max(values):.1f} (median {statistics.median(values):.1f})"


def demo_matrix(paths: list[str], threads: list[int], seeds: list[int], workdir: Path, out: Path | None, jobs: int) -> int:
    """Every (path, threads, seed) loop: one-thread loops ``jobs`` at a time, the others alone (two
    two-thread runs on two cores wait for each other's threads: ten times slower, measured)."""
    from concurrent.futures import ThreadPoolExecutor
    from itertools import chain

    cells = [(path, t, seed) for path in paths for t in threads for seed in seeds]
    with ThreadPoolExecutor(max_workers=jobs) as pool, ThreadPoolExecutor(max_workers=1) as alone:
        list(pool.map(lambda path: demo_base(path, workdir), paths))
        print("path     thr  seed  train chrF  exact  corrected chrF  loss    epochs  seconds", flush=True)
        rows = []
        ones = pool.map(lambda cell: demo_loop(*cell, workdir), [c for c in cells if c[1] == 1])
        rest = (alone.submit(demo_loop, *c, workdir).result() for c in cells if c[1] != 1)
        for r in chain(ones, rest):
            rows.append(r)
            print(f"{r['path']:<8} {r['threads']:>3}  {r['seed']:>4}  {r['train_chrf']:>10.1f}  {r['exact']:>5.0%}  "
                  f"{r['corrected_chrf']:>14.1f}  {r['loss']:<6.3f}  {r['epochs']:>6.1f}  {r['seconds']:>7.0f}", flush=True)
            if out:
                with out.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"\ntrain-split chrF {spread(rows, 'train_chrf')}; corrected chrF {spread(rows, 'corrected_chrf')}; "
          f"seconds {spread(rows, 'seconds')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", help="comma-separated kernel paths (default: every one this CPU offers)")
    parser.add_argument("--demo", action="store_true", help="run the demo loop (docs/demo.md) instead of the learning tests")
    parser.add_argument("--threads", default="1,2", help="--demo: torch threads per run (default 1,2)")
    parser.add_argument("--seeds", default="3407,1,2", help="--demo: run seeds (default 3407,1,2; 3407 is the default)")
    parser.add_argument("--workdir", type=Path, help="where caches and workspaces go (default: a temp folder)")
    parser.add_argument("--out", type=Path, help="--demo: append each row as JSON to this file")
    parser.add_argument("--jobs", type=int, default=1, help="--demo: loops at a time (their seconds then include each other's load)")
    args, extra = parser.parse_known_args(argv)
    paths = args.paths.split(",") if args.paths else offered()
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown kernel path(s) {', '.join(unknown)}: choose from {', '.join(PATHS)}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nastavnik-numerics-"))
    print(f"kernel paths: {', '.join(paths)}; work in {workdir}", flush=True)
    if args.demo:
        return demo_matrix(paths, [int(t) for t in args.threads.split(",")], [int(s) for s in args.seeds.split(",")],
                           workdir, args.out, args.jobs)
    return learning_tests(paths, workdir, extra)


if __name__ == "__main__":
    sys.exit(main())
