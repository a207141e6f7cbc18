"""Export benchmarks: time and peak memory of each step per billion parameters, measured on
random-initialised Llama replicas of two sizes — the figures a user of a 12B model needs.

    .venv/bin/python bench/export.py            # replicas of ~0.1B and ~0.37B parameters (2–3 minutes on 2 cores)
    .venv/bin/python bench/export.py --quick    # ~0.03B and ~0.07B, the same code
    .venv/bin/python bench/export.py --smoke    # two toys: only that it runs and prints its lines

Each step runs the project's own code (``core.export.merge`` with a LoRA adapter on every
linear layer, ``core.infer.llamacpp.convert_hf_to_gguf`` to F16, ``core.infer.llamacpp.quantize``) in a
fresh child process, which reports the step's seconds and its peak resident memory (its
own or, for the converter, that of the process it starts). Two sizes give a line: seconds and
bytes per parameter (the slope) plus what every run pays (the intercept: Python, torch,
llama.cpp). One line per step:

  export-<step>  ratio = the peak-memory slope ÷ 4 bytes per parameter (the fp32 weights: what
                 the merge must hold, since it merges into the full-precision base), goal=none —
                 these are reported figures; the memory bound itself belongs to the model
                 families issue. The note gives GB and seconds per billion parameters and the
                 extrapolation to 12B.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib
from benchlib import REPO, claim, pick, say

STEPS = ("merge", "convert", "quantize-q8_0", "quantize-q4_k_m")


def sizes(mode: str) -> list[dict]:
    return pick(
        mode,
        [benchlib.replica_shape("full"), dict(hidden=1024, layers=24, intermediate=4096, heads=16, kv_heads=4, positions=2048)],
        [dict(hidden=512, layers=8, intermediate=1536, heads=8, kv_heads=4, positions=2048), benchlib.replica_shape("quick")],
        [dict(hidden=256, layers=1, intermediate=512, heads=4, kv_heads=4, positions=512), benchlib.replica_shape("smoke")],
    )


def adapter_for(replica: Path, out: Path) -> Path:
    """A LoRA adapter (rank 16, every linear layer, non-zero B) saved as a run saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if (out / "adapter_config.json").exists():
        return out
    model = AutoModelForCausalLM.from_pretrained(str(replica), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, target_modules=list(benchlib.LORA_TARGETS), task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.01)  # a trained adapter changes the weights; B = 0 would merge to nothing
    model.save_pretrained(str(out))
    return out


CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
step, args = sys.argv[2], json.loads(sys.argv[3])
from pathlib import Path
if step == "merge":
    from core.export import Source, merge
    t0 = time.perf_counter()
    merge(Source("bench", model_dir=Path(args["base"]), adapter_dir=Path(args["adapter"])), Path(args["out"]))
elif step == "convert":
    from core.infer.llamacpp import convert_hf_to_gguf
    t0 = time.perf_counter()
    convert_hf_to_gguf(Path(args["merged"]), Path(args["out"]), outtype="f16", cache_dir=Path(args["cache"]), log_file=Path(args["log"]))
else:
    from core.infer.llamacpp import quantize
    t0 = time.perf_counter()
    quantize(Path(args["f16"]), Path(args["out"]), args["quant"], log_file=Path(args["log"]))
seconds = time.perf_counter() - t0
# this process's own peak: VmHWM starts afresh at exec (ru_maxrss would carry the parent's over)
own = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
# the converter runs as a child of this one; it was forked from this small process, so its
# ru_maxrss is its own peak
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "peak": max(own, kids) * 1024}))
"""


def run_step(step: str, args: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), step, json.dumps(args)], capture_output=True, text=True,
                         env=dict(os.environ, TQDM_DISABLE="1", TRANSFORMERS_VERBOSITY="error"))
    if out.returncode != 0:
        raise SystemExit(f"export step {step} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(shape: dict, work: Path, cache: Path) -> dict:
    replica = benchlib.build_replica(shape)
    params = json.loads((replica / "replica.json").read_text())["parameters"]
    adapter = adapter_for(replica, benchlib.OUT / "adapters" / replica.name)
    here = work / replica.name
    shutil.rmtree(here, ignore_errors=True)
    here.mkdir(parents=True)
    log = here / "export.log"
    res = {"params": params, "name": replica.name}
    res["merge"] = run_step("merge", {"base": str(replica), "adapter": str(adapter), "out": str(here / "merged")})
    res["convert"] = run_step("convert", {"merged": str(here / "merged"), "out": str(here / "f16.gguf"), "cache": str(cache), "log": str(log)})
    for quant in ("q8_0", "q4_k_m"):
        res[f"quantize-{quant}"] = run_step("quantize", {"f16": str(here / "f16.gguf"), "out": str(here / f"{quant}.gguf"),
                                                          "quant": quant, "log": str(log)})
    shutil.rmtree(here, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_mode_args(ap)
    args = ap.parse_args()
    mode = benchlib.mode_of(args)
    os.environ.setdefault("NASTAVNIK_LLAMACPP_CACHE", str(REPO / ".cache"))
    from core.infer.llamacpp import converter_dir

    cache = benchlib.OUT / "export-cache"
    converter_dir(cache)  # fetched or found once, outside the timings
    with tempfile.TemporaryDirectory(prefix="nastavnik-export-bench-") as tmp:
        small, big = (measure(shape, Path(tmp), cache) for shape in sizes(mode))
    say(f"export bench ({mode}): replicas of {small['params'] / 1e9:.3f}B and {big['params'] / 1e9:.3f}B parameters")
    lines = []
    for step in STEPS:
        a, b = small[step], big[step]
        dp = (big["params"] - small["params"]) / 1e9
        gb_per_b = (b["peak"] - a["peak"]) / 1e9 / dp
        base_gb = a["peak"] / 1e9 - gb_per_b * small["params"] / 1e9
        s_per_b = (b["seconds"] - a["seconds"]) / dp
        base_s = a["seconds"] - s_per_b * small["params"] / 1e9
        say(f"export {step}: {a['seconds']:.2f} s / {a['peak'] / 2**20:.0f} MiB peak at {small['params'] / 1e9:.3f}B, "
            f"{b['seconds']:.2f} s / {b['peak'] / 2**20:.0f} MiB at {big['params'] / 1e9:.3f}B → {s_per_b:.1f} s and "
            f"{gb_per_b:.2f} GB per billion parameters, plus {base_s:.1f} s and {base_gb:.2f} GB per run")
        twelve_gb, twelve_s = base_gb + 12 * gb_per_b, base_s + 12 * s_per_b
        lines.append(claim(f"export-{step}", gb_per_b / 4.0, "=none",
                           f"{gb_per_b:.2f} GB and {s_per_b:.0f} s per billion parameters; a 12B model: ~{twelve_gb:.0f} GB, "
                           f"~{twelve_s / 60:.0f} min on this machine"))
    for line in lines:
        print(line, flush=True)


if __name__ == "__main__":
    main()
