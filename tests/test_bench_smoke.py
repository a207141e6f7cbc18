"""Every benchmark still runs: its ``--smoke`` mode exits 0 and prints its claim lines.

The benchmarks themselves stay out of ``make test`` (their full runs take minutes to an hour
and their numbers go in docs/performance.md); a smoke run is the same code on toy sizes, so a change
that breaks a bench — a renamed store function, a new TRL argument — fails here, not on the
day someone re-measures. The numbers of a smoke run mean nothing and are not checked; that
each claim prints ``name: ratio=<number> goal…``, and the last line is one, is.

``make test`` smokes the benches that take seconds (store, tui, vram). The chat, export and
train benches start the worker, the merge and the converter in fresh processes (their point):
their smokes take about a minute each, three minutes of the suite's twenty, so they run with
``make bench-smoke`` (``NASTAVNIK_BENCH_SMOKE=all``), as every bench does, before a bench is
changed or re-measured.

``bench/gpu_check.py`` is no benchmark but the GPU check (docs/gpu.md): ``make test`` runs its
``--smoke`` (one family, both backends, a DPO run), with ``--allow-cpu`` where there is no CUDA
device: every check but the CUDA ones, here. ``make bench-smoke`` runs its whole matrix.
"""

from __future__ import annotations

import json
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
    "export.py": ["export-merge", "export-merge-time", "export-convert", "export-quantize-q8_0", "export-quantize-q4_k_m",
                  "export-lora", "chat-lora"],
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


# ---------------------------------------------------------------------------- the GPU check

GPU_CHECK = REPO / "bench" / "gpu_check.py"
SFT_CHECKS = {"run_done", "device_cuda", "peak_gpu_recorded", "not_cpu_fallback", "bf16_matches_card", "backend_trainer",
              "four_bit", "lora_on_text_only", "loss_falls", "merged_differs"}
DPO_CHECKS = {"run_done", "device_cuda", "peak_gpu_recorded", "not_cpu_fallback", "bf16_matches_card", "backend_trainer",
              "dpo_from_run", "finite_margins", "no_ref_adapter"}


def _gpu_check_module():
    import importlib.util

    sys.path.insert(0, str(GPU_CHECK.parent))
    spec = importlib.util.spec_from_file_location("gpu_check", GPU_CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_gpu_check_passes_every_check_this_machine_can_run(replica, tmp_path):
    """``--smoke`` (``make test``) or the whole matrix (``make bench-smoke``); ``--allow-cpu`` without
    CUDA, where the CUDA checks must be reported skipped and every other one must have passed.
    Then the merge check is shown to fail an adapter that changes nothing."""
    gc = _gpu_check_module()
    full = os.environ.get("NASTAVNIK_BENCH_SMOKE") == "all"
    cuda = _cuda()
    families = gc.FAMILIES if full else gc.SMOKE_FAMILIES
    # the tests' cached replicas (tests/support/models.py), where the check looks for them: DIR/demo-ARCH
    reps = tmp_path / "replicas"
    for fam, folder in gc.replica_folders(reps, list(families)).items():
        folder.parent.mkdir(parents=True, exist_ok=True)
        arch = fam.removesuffix(gc.PREQUANTIZED)
        folder.symlink_to(replica(arch, prequantized=fam.endswith(gc.PREQUANTIZED)), target_is_directory=True)
    work = tmp_path / "work"
    cmd = [sys.executable, str(GPU_CHECK), "--replicas", str(reps), "--out", str(work), *([] if full else ["--smoke"]),
           *([] if cuda else ["--allow-cpu"])]
    proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), capture_output=True, text=True,
                          timeout=3500)
    lines = proc.stdout.strip().splitlines()
    assert lines and LINE.match(lines[-1]) and lines[-1].startswith("gpu_check: "), f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    report = json.loads("\n".join(lines[:-1]))  # stdout: the one JSON report, then the claim line
    assert proc.returncode == 0, f"gpu_check failed: {report['failed']}\n{proc.stderr[-3000:]}"
    assert report["passed"] == report["total"] and float(LINE.match(lines[-1])["ratio"]) == 1.0
    assert report["device"]["cuda_available"] is cuda

    dpo_backends = gc.BACKENDS if cuda else ("hf",)  # Unsloth trains DPO on CUDA only
    expected = {("sft", f, b) for f in families for b in gc.BACKENDS}
    expected |= {("dpo", f, b) for f in families if f in gc.DPO_FAMILIES for b in dpo_backends}
    assert {(r["what"], r["family"], r["backend"]) for r in report["results"]} == expected
    for r in report["results"]:
        checks = r["checks"]
        assert set(checks) == (SFT_CHECKS if r["what"] == "sft" else DPO_CHECKS), (r["what"], sorted(checks))
        for name, c in checks.items():
            if name in gc.CUDA_CHECKS and not cuda:
                assert c["ok"] is None and "skipped" in c["detail"], (name, c)
            else:
                assert c["ok"] is True, (r["what"], r["family"], r["backend"], name, c)
        if r["what"] == "sft":
            assert checks["loss_falls"]["detail"]["logged"] >= gc.MIN_LOGGED
            merged = checks["merged_differs"]["detail"]
            assert merged["adapted"] > 0 and merged["changed"] == merged["adapted"]
            assert r["vram_estimate_bytes"] > 0  # recorded beside the measured peak
            assert (r["peak_gpu_bytes"] or 0) > 0 if cuda else r["peak_gpu_bytes"] is None
        else:
            assert checks["finite_margins"]["detail"]["logged"] >= 3

    # the merge check fails an adapter that changes nothing (what a dropped adapter merges into)
    import torch
    from safetensors.torch import load_file, save_file

    home = work / f"{families[0]}-hf"
    adapter = home / "runs" / "1" / "adapter" / "adapter_model.safetensors"
    tensors = load_file(str(adapter))
    save_file({k: torch.zeros_like(v) if ".lora_B." in k else v for k, v in tensors.items()}, str(adapter))
    ok, figures = gc.merge_and_compare(home, 1, tmp_path / "merged-zero")
    assert not ok and figures["changed"] == 0 and figures["adapted"] > 0, figures


def test_gpu_check_fails_what_it_must(tmp_path):
    """The pieces of the check that decide, on inputs where they must say no (no training here)."""
    gc = _gpu_check_module()
    # three logged steps: the thirds are one step each, and the old smoke compared a list with itself
    assert gc.loss_falls([2.0, 1.5, 1.0])[0] is False
    assert gc.loss_falls([5.0, 5.1, 4.9] * 4)[0] is False  # noise, not a fall
    assert gc.loss_falls([5.0] * 9 + [float("nan")])[0] is False
    ok, info = gc.loss_falls([5.0, 4.9, 4.8, 4.5, 4.4, 4.3, 4.0, 3.9, 3.8, 3.7])
    assert ok and info["logged"] == 10 and info["first_third"] > info["last_third"]

    on_cpu, on_gpu = gc.Checks(cuda=False), gc.Checks(cuda=True)
    for checks in (on_cpu, on_gpu):
        checks.add("device_cuda", False, "cpu")
        checks.add("loss_falls", True)
    assert on_cpu.items["device_cuda"]["ok"] is None and on_cpu.ok  # skipped under --allow-cpu
    assert on_gpu.items["device_cuda"]["ok"] is False and not on_gpu.ok and on_gpu.failed == ["device_cuda"]
    assert not gc.Checks(cuda=True).ok  # nothing checked is no pass

    facts = {"bf16_card": True, "capability": [9, 0]}
    fallback = {"status": "done", "setup": {"device": "cpu", "trainer": "trl.trainer.sft_trainer._make_cpu_sft_trainer.<locals>.SFTTrainer",
                                            "bf16": False}}
    checks = gc.Checks(cuda=True)
    gc.run_checks(checks, fallback, facts, backend="unsloth", method="sft")
    assert set(checks.failed) == {"device_cuda", "peak_gpu_recorded", "not_cpu_fallback", "bf16_matches_card"}
    checks = gc.Checks(cuda=True)
    gc.run_checks(checks, {"status": "done", "setup": {"device": "cuda:0", "peak_gpu_bytes": 1, "bf16": True,
                                                        "trainer": "unsloth_compiled_cache.UnslothSFTTrainer._UnslothSFTTrainer"}},
                  facts, backend="hf", method="sft")
    assert checks.failed == ["backend_trainer"]  # an hf run on Unsloth's patched trainer
    checks = gc.Checks(cuda=True)
    gc.run_checks(checks, {"status": "done", "setup": {"device": "cuda:0", "peak_gpu_bytes": 1, "bf16": True, "backend": "hf",
                                                        "trainer": "core.train.preference.NastavnikDPOTrainer"}},
                  facts, backend="unsloth", method="dpo")
    assert checks.failed == ["backend_trainer"]  # a DPO run from an unsloth run that trained with hf

    import torch
    from safetensors.torch import save_file

    adapter = tmp_path / "adapter"
    (adapter / "ref").mkdir(parents=True)
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(2, 4)},
              str(adapter / "adapter_model.safetensors"))
    assert gc.no_ref_adapter(adapter)[0] is False  # PEFT's folder for the second adapter
    (adapter / "ref").rmdir()
    assert gc.no_ref_adapter(adapter)[0] is True
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.ref.weight": torch.zeros(2, 4)},
              str(adapter / "adapter_model.safetensors"))
    assert gc.no_ref_adapter(adapter)[0] is False
    assert gc.adapter_targets(adapter) == ["layers.0.self_attn.q_proj"]
    assert gc._norm("base_model.model.model.language_model.layers.3.mlp.up_proj") == gc._norm("model.layers.3.mlp.up_proj")

    assert gc.parse_only("llama3.1,qwen3:unsloth", gc.FAMILIES) == [("llama3.1", "unsloth"), ("llama3.1", "hf"), ("qwen3", "unsloth")]
    with pytest.raises(SystemExit):
        gc.parse_only("llama2", gc.FAMILIES)
