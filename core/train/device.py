"""Where a training process runs and in what precision: one place for both backends.

The device comes from the process itself: ``LOCAL_RANK`` (set by ``accelerate launch`` for
each of its processes) picks the CUDA GPU; without CUDA it is the CPU. Precision follows the
device unless ``--dtype`` says otherwise:

* CUDA: bfloat16 where the card has it (compute capability 8.0 and newer: Ampere, Ada,
  Hopper, Blackwell), else float16.
* CPU: float32. bf16 autocast without native bf16 (AMX / AVX512-BF16) is emulated and much
  slower, and memory is not what a CPU run is short of (bench/train.py measured fp32 ~8×
  faster than TRL's bf16 defaults on this machine's CPU).

Gemma 3 and Gemma 4 overflow in float16 (activations past 65504, then NaN losses: Unsloth's
own Gemma 3 report). ``check_precision`` refuses such a run before it starts, instead of a
hint after the loss is NaN.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.errors import UserError

DTYPES = ("auto", "bfloat16", "float16", "float32")
BF16_CARDS = "bf16 needs an Ampere or newer card (RTX 30xx/40xx/50xx, A10, A100, L4, L40, H100)"
FP16_OVERFLOWS = ("gemma3", "gemma3_text", "gemma4", "gemma4_text", "gemma3n", "gemma3n_text")


@dataclass(frozen=True)
class Device:
    kind: str  # "cuda" or "cpu"
    index: int  # the CUDA device of this process (LOCAL_RANK), 0 on the CPU
    bf16: bool  # bfloat16 is native here
    world_size: int = 1
    rank: int = 0

    @property
    def torch_device(self) -> str:
        return f"cuda:{self.index}" if self.kind == "cuda" else "cpu"

    @property
    def main(self) -> bool:
        """The process that heartbeats, writes metrics and saves (rank 0)."""
        return self.rank == 0


def current() -> Device:
    """This process's device (imports torch)."""
    import torch

    local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    if torch.cuda.is_available():
        index = local_rank if local_rank < torch.cuda.device_count() else 0
        torch.cuda.set_device(index)
        return Device("cuda", index, bool(torch.cuda.is_bf16_supported()), world, rank)
    return Device("cpu", 0, cpu_bf16_native(), world, rank)


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX, AVX512-BF16 or Arm BF16)."""
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return False
    return any(f in flags.split() for f in ("amx_bf16", "avx512_bf16")) or " bf16" in flags


def compute_dtype(dtype: str, device: Device) -> str:
    """The dtype a run computes in: ``--dtype`` if given, else what the device does best."""
    if dtype != "auto":
        return dtype
    if device.kind == "cuda":
        return "bfloat16" if device.bf16 else "float16"
    return "float32"


def check_precision(model_type: str | None, dtype: str, *, cuda: bool, bf16: bool | None) -> None:
    """Refuse a float16 run of a model family that overflows in it, with what to do instead.

    ``bf16``: whether the GPU supports bfloat16 (None: unknown). Only CUDA runs are checked;
    on the CPU auto is float32.
    """
    if not cuda or (model_type or "") not in FP16_OVERFLOWS:
        return
    family = "Gemma 4" if "gemma4" in model_type else "Gemma 3"
    if dtype == "float16" or (dtype == "auto" and bf16 is False):
        raise UserError(
            f"{family} overflows in float16 (activations past its range, then NaN losses)"
            + (", and this GPU has no bfloat16" if bf16 is False else ""),
            hint=f"train in bfloat16 (`--dtype bfloat16`; {BF16_CARDS}) or in float32 (`--dtype float32`, slow, twice the memory)",
        )
    if dtype == "bfloat16" and bf16 is False:
        raise UserError(f"this GPU has no bfloat16 ({BF16_CARDS})", hint="train in float32 (`--dtype float32`, slow)")


def torch_dtype(name: str):
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def model_type(base_path: str) -> str | None:
    """The checkpoint's ``model_type`` from its config.json (no torch, no transformers)."""
    import json
    from pathlib import Path

    try:
        return json.loads((Path(base_path) / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return None


def prequantized(base_path: str) -> bool:
    """A checkpoint stored in bitsandbytes 4-bit (its config.json carries the quantization_config)."""
    import json
    from pathlib import Path

    try:
        q = json.loads((Path(base_path) / "config.json").read_text(encoding="utf-8")).get("quantization_config") or {}
    except (OSError, ValueError):
        return False
    return q.get("quant_method") == "bitsandbytes" and bool(q.get("load_in_4bit") or q.get("_load_in_4bit"))
