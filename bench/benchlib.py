"""What the benchmarks share: run modes, the claim line, this machine's limits, replicas.

Not a benchmark itself. Each ``bench/*.py`` imports it as ``benchlib`` (its own folder is
first on ``sys.path`` when it runs as a script).

* Modes: every bench takes ``--quick`` (smaller sizes, the same code, under 2 minutes) and
  ``--smoke`` (seconds: only that the code still runs and prints its lines; its numbers mean
  nothing). Without either it runs the full sizes docs/performance.md reports.
* ``claim(name, ratio, ">=0.9")`` prints the one line per claim, ``name: ratio=… goal>=…``,
  that tests/test_bench_smoke.py and docs/performance.md rely on.
* Limits measured on this machine in the same run: the matmul FLOP/s of a dtype
  (``matmul_flops``) and the memory read bandwidth (``read_bandwidth``), with the threads
  the measured code uses.
* Replicas: random-initialised Llama-shaped models with the demo model's tokenizer, built
  locally (nothing from a hub), in the sizes a limit needs (``build_replica``), and the FLOPs
  per token of training and inference on them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# what the benches build once and reuse (replicas, workspaces, exports); gitignored
OUT = Path(os.environ.get("NASTAVNIK_BENCH_OUT") or REPO / "bench" / "out")
# the repository before bench/ (a script's own folder, first on the path): ``tui`` is the
# package, not bench/tui.py
sys.path.insert(0, str(REPO))

# no progress bars, no chatter, nothing from a hub, in the benches and every process they start
for _name, _value in {"TQDM_DISABLE": "1", "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                      "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false",
                      "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}.items():
    os.environ.setdefault(_name, _value)

MODES = ("full", "quick", "smoke")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ---------------------------------------------------------------------------- modes and lines


def add_mode_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="smaller sizes, the same code: under 2 minutes")
    group.add_argument("--smoke", action="store_true", help="seconds: checks that the bench runs and prints its lines")


def mode_of(args) -> str:
    return "smoke" if getattr(args, "smoke", False) else "quick" if getattr(args, "quick", False) else "full"


def pick(mode: str, full, quick, smoke):
    return {"full": full, "quick": quick, "smoke": smoke}[mode]


def claim(name: str, ratio: float, goal: str, note: str = "") -> str:
    """Print ``name: ratio=… goal>=…`` (or ``goal<=…``; ``goal=none`` for a figure reported
    without a goal), whether it is met, and a short note. Returns the line."""
    op = goal[:2] if goal[:2] in (">=", "<=") else "="
    value = goal[2:] if op != "=" else goal.lstrip("=")
    text = f"{name}: ratio={ratio:.3g} goal{op}{value}"
    if op in (">=", "<=") and ratio == ratio:  # not NaN
        met = ratio >= float(value) if op == ">=" else ratio <= float(value)
        text += " (met)" if met else " (NOT met)"
    if note:
        text += f" — {note}"
    print(text, flush=True)
    return text


def pct(values, p: float) -> float:
    """The ``p`` quantile (0–1) by nearest rank; NaN for no values."""
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def median(values) -> float:
    return pct(values, 0.5)


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------- models on disk


def demo_model_dir() -> Path:
    """The demo model: ``$NASTAVNIK_BENCH_DEMO_MODEL``, else the tests' cached copy if there
    is one, else built once into bench/out."""
    given = os.environ.get("NASTAVNIK_BENCH_DEMO_MODEL")
    if given:
        if not (Path(given) / "model.safetensors").is_file():
            raise SystemExit(f"NASTAVNIK_BENCH_DEMO_MODEL={given} holds no model.safetensors")
        return Path(given)
    roots = [os.environ.get("NASTAVNIK_TEST_CACHE"), REPO / ".cache" / "test-demo-model"]
    for root in roots:
        if root and Path(root).is_dir():
            found = sorted(Path(root).glob("*/model.safetensors"), key=lambda p: p.stat().st_mtime)
            if found:
                return found[-1].parent
    out = OUT / "demo"
    if not (out / "model.safetensors").exists():
        from core.train.demo_model import build_demo_model

        say("building the demo model for the benchmarks (once; a minute or two)…")
        build_demo_model(out, steps=250)
    return out


def replica_shape(mode: str, kind: str = "limits") -> dict:
    """Llama shapes for the limits: ~100M non-embedding parameters at full size (larger than
    the last-level cache at q8_0 and q4_k_m), ~70M for --quick, a toy for --smoke."""
    if kind == "long":  # the long-tail packing set: small, but 2048 positions
        return pick(mode, dict(hidden=256, layers=4, intermediate=768, heads=4, kv_heads=4, positions=2048),
                    dict(hidden=256, layers=2, intermediate=512, heads=4, kv_heads=4, positions=2048),
                    dict(hidden=256, layers=1, intermediate=256, heads=4, kv_heads=4, positions=2048))
    return pick(mode, dict(hidden=768, layers=12, intermediate=3072, heads=12, kv_heads=4, positions=2048),
                dict(hidden=768, layers=8, intermediate=3072, heads=12, kv_heads=4, positions=2048),
                dict(hidden=256, layers=2, intermediate=512, heads=4, kv_heads=4, positions=512))


def build_replica(shape: dict, *, seed: int = 0, out: Path | None = None) -> Path:
    """A random-initialised ``LlamaForCausalLM`` of ``shape`` with the demo tokenizer, saved as
    a Hugging Face folder (safetensors) that training, export and llama.cpp's converter read.
    Built once per shape under bench/out/replicas/."""
    key = "-".join(f"{k}{shape[k]}" for k in sorted(shape)) + f"-s{seed}"
    out = out or OUT / "replicas" / key
    if (out / "model.safetensors").exists() and (out / "replica.json").exists():
        return out
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    demo = demo_model_dir()
    base = json.loads((demo / "config.json").read_text(encoding="utf-8"))
    config = LlamaConfig(
        vocab_size=base["vocab_size"], hidden_size=shape["hidden"], intermediate_size=shape["intermediate"],
        num_hidden_layers=shape["layers"], num_attention_heads=shape["heads"], num_key_value_heads=shape["kv_heads"],
        head_dim=shape["hidden"] // shape["heads"], max_position_embeddings=shape["positions"], rms_norm_eps=1e-5,
        bos_token_id=base["bos_token_id"], eos_token_id=base["eos_token_id"], pad_token_id=base["pad_token_id"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    for name in ("tokenizer.model", "tokenizer.json", "special_tokens_map.json", "generation_config.json"):
        if (demo / name).exists():
            shutil.copyfile(demo / name, tmp / name)
    tok_cfg = json.loads((demo / "tokenizer_config.json").read_text(encoding="utf-8"))
    tok_cfg["model_max_length"] = shape["positions"]
    (tmp / "tokenizer_config.json").write_text(json.dumps(tok_cfg, ensure_ascii=False, indent=2), encoding="utf-8")
    (tmp / "replica.json").write_text(json.dumps({"shape": shape, "seed": seed, "parameters": model.num_parameters(),
                                                  "non_embedding": non_embedding_params(config)}), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


# ---------------------------------------------------------------------------- FLOPs per token


def _dims(config) -> dict:
    get = (lambda k: config[k]) if isinstance(config, dict) else (lambda k: getattr(config, k))
    h, layers, inter, heads = get("hidden_size"), get("num_hidden_layers"), get("intermediate_size"), get("num_attention_heads")
    kv = get("num_key_value_heads") or heads
    try:
        hd = get("head_dim") or h // heads
    except (KeyError, AttributeError):
        hd = h // heads
    return {"h": h, "layers": layers, "inter": inter, "heads": heads, "kv": kv, "hd": hd, "vocab": get("vocab_size")}


def linear_shapes(config) -> dict[str, tuple[int, int]]:
    """(in, out) of each linear layer of one Llama block."""
    d = _dims(config)
    q, kv = d["heads"] * d["hd"], d["kv"] * d["hd"]
    return {"q_proj": (d["h"], q), "k_proj": (d["h"], kv), "v_proj": (d["h"], kv), "o_proj": (q, d["h"]),
            "gate_proj": (d["h"], d["inter"]), "up_proj": (d["h"], d["inter"]), "down_proj": (d["inter"], d["h"])}


def non_embedding_params(config) -> int:
    """Weights of the transformer blocks (linear layers and norms), no embeddings, no LM head."""
    d = _dims(config)
    per_layer = sum(i * o for i, o in linear_shapes(config).values()) + 2 * d["h"]
    return per_layer * d["layers"] + d["h"]


def lora_params(config, r: int, targets=LORA_TARGETS) -> int:
    d = _dims(config)
    return d["layers"] * sum(r * (i + o) for name, (i, o) in linear_shapes(config).items() if name in targets)


def attention_flops_per_token(config, keys: float) -> float:
    """Forward FLOPs of the score and value products for one token attending to ``keys``
    positions (2·2·heads·head_dim per key per layer)."""
    d = _dims(config)
    return 4.0 * d["layers"] * d["heads"] * d["hd"] * keys


def lora_train_flops_per_token(config, r: int, length: float, targets=LORA_TARGETS) -> float:
    """FLOPs one token costs a LoRA training step in a causal row of ``length`` tokens:
    forward and activation gradients through the frozen weights (2·N + 2·N; frozen weights get
    no weight gradients), the adapters in full (6 per weight), attention forward and backward
    (3× the forward) over the (length + 1) / 2 keys a causal token sees on average.
    Not counted: embedding lookups (no FLOPs) and the LM head, which TRL's fused head runs on
    the trained positions only (``lm_head_train_flops`` per trained token)."""
    frozen = non_embedding_params(config)
    return 4.0 * frozen + 6.0 * lora_params(config, r, targets) + 3.0 * attention_flops_per_token(config, (length + 1) / 2)


def lm_head_train_flops(config) -> float:
    """FLOPs of the LM head per trained token: forward, its recomputation in the backward pass
    (TRL's chunked head is checkpointed) and the gradient for the hidden state: 3 × 2·h·V."""
    d = _dims(config)
    return 6.0 * d["h"] * d["vocab"]


def forward_flops_per_token(config, context: float, *, head: bool = True) -> float:
    """Inference FLOPs per token: 2 per weight of the blocks (and of the LM head when the
    token's logits are computed), plus attention over ``context`` keys."""
    d = _dims(config)
    return 2.0 * (non_embedding_params(config) + (d["h"] * d["vocab"] if head else 0)) + attention_flops_per_token(config, context)


# ---------------------------------------------------------------------------- this machine's limits


def matmul_flops(dtype: str = "float32", *, threads: int | None = None, n: int = 1536, seconds: float = 1.5) -> float:
    """FLOP/s of PyTorch's matmul (n×n by n×n) in ``dtype`` with ``threads`` threads, the
    best of repeated timings over about ``seconds``: the rate training's matmuls could reach."""
    import torch

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        dt = getattr(torch, dtype)
        a = torch.randn(n, n).to(dt)
        b = torch.randn(n, n).to(dt)
        a @ b  # warm up
        best = float("inf")
        deadline = time.perf_counter() + seconds
        while True:
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
            if time.perf_counter() > deadline:
                break
        return 2.0 * n**3 / best
    finally:
        torch.set_num_threads(old)


def read_bandwidth(*, threads: int | None = None, megabytes: int = 512, seconds: float = 1.5) -> float:
    """Bytes/s of reading a buffer far larger than the caches (a float32 sum over ``megabytes``)
    with ``threads`` threads: the rate decode can stream weights at."""
    import torch

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        x = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32)
        x.sum()
        best = float("inf")
        deadline = time.perf_counter() + seconds
        while True:
            t0 = time.perf_counter()
            x.sum()
            best = min(best, time.perf_counter() - t0)
            if time.perf_counter() > deadline:
                break
        return x.numel() * 4 / best
    finally:
        torch.set_num_threads(old)


def llc_bytes() -> int | None:
    """The size of the largest CPU cache (sysfs), or None where it cannot be read."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip().upper()
        mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
        try:
            sizes.append(int(text.rstrip("KMG")) * mult)
        except ValueError:
            continue
    return max(sizes) if sizes else None


def cpu_threads() -> int:
    """The threads the app gives llama.cpp (every core unless ``$NASTAVNIK_THREADS`` says)."""
    from core.infer.llamacpp import threads

    return threads()
