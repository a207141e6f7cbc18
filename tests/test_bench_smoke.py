"""Every benchmark still runs: its ``--smoke`` mode exits 0 and prints its claim lines.

The benchmarks themselves stay out of ``make test`` (their full runs take minutes to an hour
and their numbers go in the README); a smoke run is the same code on toy sizes, so a change
that breaks a bench — a renamed store function, a new TRL argument — fails here, not on the
day someone re-measures. The numbers of a smoke run mean nothing and are not checked; that
each claim prints ``name: ratio=<number> goal…``, and the last line is one, is.

``make test`` smokes the benches that take seconds (store, tui, vram). The chat, export and
train benches start the worker, the merge and the converter in fresh processes (their point):
their smokes take about a minute each, three minutes of the suite's twenty, so they run with
``make bench-smoke`` (``NASTAVNIK_BENCH_SMOKE=all``), as every bench does, before a bench is
changed or re-measured.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^(?P<name>[^:\s][^:]*): ratio=(?P<ratio>\S+) goal(?P<op>>=|<=|=)(?P<goal>\S+)")
RANGE = re.compile(r"^[\d.]+–[\d.]+$")  # bench/vram.py's goals are ranges, e.g. 0.9–1.1

# bench → the claims its smoke run must print
CLAIMS = {
    "store.py": ["import", "search-common", "search-rare", "search-stem", "search-short", "search-first-page-p95", "dedup",
                 "stats", "export", "startup"],
    "tui.py": ["startup", "pagedown", "search"],
    "train.py": ["throughput", "packing-sample", "packing-longtail", "mfu"],
    "chat.py": ["chat-app", "chat-cli", "decode-q8_0", "decode-q4_k_m", "prompt-q8_0", "prompt-q4_k_m"],
    "export.py": ["export-merge", "export-convert", "export-quantize-q8_0", "export-quantize-q4_k_m"],
    "gpu_smoke.py": ["gpu_smoke"],
    "vram.py": [],  # its claim names are the replicas' and the estimate's terms: at least one line
}
# bench/vram.py ends with a count of the terms outside their goal, not with a claim line
LAST_LINE_EXEMPT = {"vram.py"}


NEEDS_DEMO_MODEL = {"train.py", "chat.py", "export.py"}  # its tokenizer, at least
# smoked by ``make bench-smoke`` only: a minute each of fresh processes (see above)
HEAVY = {"train.py", "chat.py", "export.py"}


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory) -> Path:
    """One folder for what the smoke runs build (toy replicas, their GGUFs), shared by them."""
    return tmp_path_factory.mktemp("bench-out")


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("script", sorted(CLAIMS))
def test_bench_smoke_runs_and_prints_its_claims(script, bench_out, request):
    if script in HEAVY and os.environ.get("NASTAVNIK_BENCH_SMOKE") != "all":
        pytest.skip(f"bench/{script} --smoke takes a minute of fresh processes: `make bench-smoke` runs it")
    if script == "gpu_smoke.py" and not _cuda():
        pytest.skip("gpu_smoke.py needs a CUDA GPU (it exits 2 and measures nothing without one)")
    env = dict(os.environ, NASTAVNIK_BENCH_OUT=str(bench_out), PYTHONDONTWRITEBYTECODE="1")
    if script in NEEDS_DEMO_MODEL:  # the tests' cached demo model (built once, under a lock), not a second one
        env["NASTAVNIK_BENCH_DEMO_MODEL"] = str(request.getfixturevalue("demo_model"))
    env.setdefault("NASTAVNIK_LLAMACPP_CACHE", str(REPO / ".cache"))
    proc = subprocess.run([sys.executable, str(REPO / "bench" / script), "--smoke"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, f"bench/{script} --smoke exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    lines = proc.stdout.strip().splitlines()
    found = {}
    for line in lines:
        m = LINE.match(line)
        if m:
            found[m["name"]] = m
    missing = [name for name in CLAIMS[script] if name not in found]
    assert not missing, f"bench/{script} --smoke printed no line for {missing}:\n{proc.stdout[-3000:]}"
    assert found, f"bench/{script} --smoke printed no claim line:\n{proc.stdout[-3000:]}"
    for name, m in found.items():
        assert math.isfinite(float(m["ratio"])), f"{name}: ratio {m['ratio']!r} is not a number"
        goal = m["goal"]
        assert goal == "none" or RANGE.match(goal) or math.isfinite(float(goal)), f"{name}: goal {goal!r}"
    if script not in LAST_LINE_EXEMPT:
        assert LINE.match(lines[-1]), f"the last line of bench/{script} is not a claim line: {lines[-1]!r}"
