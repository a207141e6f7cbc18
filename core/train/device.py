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
# float16 training goes NaN: Gemma 3/4 activations overflow; Qwen 3.5's gated delta-net layers give NaN
# gradient norms (the pinned Unsloth lists the same families in unsloth/models/loader.py)
FP16_OVERFLOWS = ("gemma3", "gemma3_text", "gemma4", "gemma4_text", "gemma3n", "gemma3n_text", "qwen3_5", "qwen3_5_text")


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
    """This process's device (imports torch).

    bfloat16 is native from compute capability 8.0 (Ampere) on: the capability, not
    ``torch.cuda.is_bf16_supported()``, which by default also counts the emulation a Turing or
    Volta card (T4, V100) can run — slowly. ``runs.gpu_bf16`` reads the same capability from
    nvidia-smi before the run, so the check before the run and the run agree.
    """
    import torch

    local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        if local_rank >= count:  # every extra process would land on a GPU another one trains on
            raise UserError(
                f"process {local_rank} of this run has no GPU of its own: {count} visible for {world} processes",
                hint=f"pass --gpus {count} or fewer (CUDA_VISIBLE_DEVICES limits the GPUs a run sees)",
                code="device.no_gpu_for_process", params={"process": local_rank, "count": count, "world": world},
            )
        torch.cuda.set_device(local_rank)
        return Device("cuda", local_rank, cuda_bf16(local_rank), world, rank)
    return Device("cpu", 0, cpu_bf16_native(), world, rank)


def cuda_bf16(index: int) -> bool:
    """Whether CUDA device ``index`` computes bfloat16 natively (compute capability >= 8.0; ROCm: always)."""
    import torch

    if torch.version.hip:
        return True
    return torch.cuda.get_device_capability(index)[0] >= 8


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
    """Refuse a precision the GPU or the model family cannot train in, with what to do instead.

    ``bf16``: whether the GPU supports bfloat16 (None: unknown). Only CUDA runs are checked;
    on the CPU auto is float32. ``--dtype bfloat16`` on a card without it is refused for every
    family (Unsloth would load Llama/Qwen 3 in float16 and its trainer then stop); float16 is
    refused for the families that overflow in it.
    """
    if not cuda:
        return
    if dtype == "bfloat16" and bf16 is False:
        overflows = (model_type or "") in FP16_OVERFLOWS
        raise UserError(f"this GPU has no bfloat16 ({BF16_CARDS})",
                        hint="train in float32 (`--dtype float32`, slow, twice the memory)" if overflows else
                        "leave out --dtype to train in float16 here, or train in float32 (`--dtype float32`, slow, twice the memory)",
                        code="device.no_bf16_overflows" if overflows else "device.no_bf16")
    if (model_type or "") not in FP16_OVERFLOWS:
        return
    family = "Qwen 3.5" if "qwen3_5" in (model_type or "") else "Gemma 4" if "gemma4" in (model_type or "") else "Gemma 3"
    if dtype == "float16" or (dtype == "auto" and bf16 is False):
        raise UserError(
            f"{family} does not train in float16 (values past its range, then NaN losses)"
            + (", and this GPU has no bfloat16" if bf16 is False else ""),
            hint=f"train in bfloat16 (`--dtype bfloat16`; {BF16_CARDS}) or in float32 (`--dtype float32`, slow, twice the memory)",
            code="device.fp16_overflows_no_bf16" if bf16 is False else "device.fp16_overflows", params={"family": family},
        )


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


# ---------------------------------------------------------------------------- can this run use its GPU


# the oldest Linux driver each CUDA major version runs on (NVIDIA's CUDA toolkit release notes,
# "CUDA Toolkit and Corresponding Driver Versions"): PyPI's Linux torch 2.13 is built for CUDA 13.0
MIN_DRIVER = {13: 580, 12: 525, 11: 450}


def nvidia_smi(*args: str, timeout: float = 15.0) -> str | None:
    """``nvidia-smi ARGS`` in a subprocess (no CUDA context here), its output; None without it or when it fails."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


DRIVER_QUERY = ("--query-gpu=driver_version", "--format=csv,noheader")


def driver_version() -> str | None:
    """The NVIDIA driver's version (``nvidia-smi --query-gpu=driver_version``), or None."""
    out = nvidia_smi(*DRIVER_QUERY)
    lines = [line.strip() for line in (out or "").splitlines() if line.strip()]
    return lines[0] if lines else None


def check_gpu_usable() -> None:
    """In the worker, before training: refuse a run that nvidia-smi gives a GPU PyTorch cannot use.

    Otherwise ``auto`` picks Unsloth, which falls back to the CPU, while the VRAM and precision
    checks before the run believed in the GPU. The usual cause is a driver older than the CUDA
    the torch wheel was built for (PyPI's Linux torch 2.13: CUDA 13.0, driver 580 or newer), or
    a CPU build of torch. A run that sees no GPU (none here, or ``CUDA_VISIBLE_DEVICES`` hides
    them: ``--processes N``) is a CPU run and not checked. Then, on CUDA, ``check_triton_toolchain``.
    """
    from core.train.vram import gpus

    found = gpus()
    if not found:
        return
    import torch

    if torch.cuda.is_available():
        check_triton_toolchain()
        return
    card = found[0].name
    version = torch.__version__.split("+")[0]
    built = torch.version.cuda
    driver = driver_version() or "unknown"
    if not built:
        raise UserError(f"nvidia-smi shows {card} (driver {driver}), but this PyTorch {torch.__version__} is built without CUDA",
                        hint=f"install PyTorch's CUDA build (`pip install torch=={version}` from PyPI on Linux), or train on the CPU "
                             "with CUDA_VISIBLE_DEVICES= set",
                        code="device.torch_without_cuda",
                        params={"card": card, "driver": driver, "torch": torch.__version__, "version": version})
    major = int(str(built).split(".")[0])
    need = MIN_DRIVER.get(major)
    try:
        old = need is not None and int(driver.split(".")[0]) < need
    except ValueError:
        old = False
    if old:
        raise UserError(f"nvidia-smi shows {card}, but PyTorch {torch.__version__} (built for CUDA {built}) cannot use it: "
                        f"driver {driver} is older than CUDA {built} needs ({need} or newer)",
                        hint=f"update the NVIDIA driver to {need} or newer, or install a PyTorch built for an older CUDA that this "
                             f"driver runs (CUDA 12: driver 525 or newer; pytorch.org/get-started/locally gives the pip command for each)",
                        code="device.old_driver",
                        params={"card": card, "driver": driver, "torch": torch.__version__, "cuda": built, "need": need})
    raise UserError(f"nvidia-smi shows {card} (driver {driver}), but PyTorch {torch.__version__} (built for CUDA {built}) "
                    "cannot use it (torch.cuda.is_available() is False)",
                    hint="check that `nvidia-smi` lists no error, that the driver modules match it (a reboot after a driver "
                         "update), and CUDA_VISIBLE_DEVICES",
                    code="device.cuda_unavailable",
                    params={"card": card, "driver": driver, "torch": torch.__version__, "cuda": built})


def c_compiler() -> str | None:
    """The C compiler Triton would build its launcher with: $CC, else gcc, else clang (triton/runtime/build.py)."""
    import shutil

    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc.split()[0]) and cc
    return shutil.which("gcc") or shutil.which("clang")


def python_headers() -> str | None:
    """Where Python.h is for Triton's build (its include dir: sysconfig's default scheme), or None when missing."""
    import sysconfig
    from pathlib import Path

    scheme = sysconfig.get_default_scheme()
    if scheme == "posix_local":  # Debian's; Triton reads posix_prefix then
        scheme = "posix_prefix"
    header = Path(sysconfig.get_paths(scheme=scheme)["include"]) / "Python.h"
    return str(header) if header.is_file() else None


def check_triton_toolchain() -> None:
    """Triton (Unsloth's and TRL's CUDA kernels) compiles a small C launcher on first use: it needs a
    C compiler and Python's headers, or the run fails at its first step. Refuse before that."""
    import sys

    missing = []
    if c_compiler() is None:
        missing.append("a C compiler (gcc, clang or $CC)")
    if python_headers() is None:
        missing.append(f"the Python {sys.version_info.major}.{sys.version_info.minor} headers (Python.h)")
    if missing:
        raise UserError(f"training on the GPU needs {' and '.join(missing)}, which Triton builds its kernels with",
                        hint=f"install them (Debian/Ubuntu: `sudo apt install build-essential python{sys.version_info.major}."
                             f"{sys.version_info.minor}-dev`), or set CC to a C compiler",
                        code="device.no_compiler_and_headers" if len(missing) == 2 else
                        "device.no_compiler" if c_compiler() is None else "device.no_headers",
                        params={"python": f"{sys.version_info.major}.{sys.version_info.minor}"})
