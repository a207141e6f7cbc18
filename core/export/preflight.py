"""Before an export starts: what it will need (RAM, disk) against what this machine has free.

An export of a 12B model writes the merged folder (~24 GB in bf16), the F16/BF16 GGUF (as much
again) and each quant, all in the staging folder at once, and a merge that cannot be streamed
holds the whole model in RAM. Finding that out an hour in — a full disk, a killed worker — costs
the user the hour. ``check`` adds the sizes up from the base's safetensors headers (no tensor is
read), says them in one line (the export log's first) and refuses with the numbers
(``UserError`` code ``export.no_disk`` / ``export.no_ram``) when they do not fit.

Sizes: the merged folder is every base tensor in the output dtype (an nf4 weight counts as its
16-bit self); the unquantized GGUF two bytes a parameter; each quant its bits per weight as
llama.cpp's quantize reports them for Llama-shaped models (a little over the nominal bits: the
block scales). RAM: the streaming merge holds its largest tensor with its float32 delta, plus
what Python, torch and transformers take; the in-memory merge the whole model. The parity
check's RAM is its own question (``core.export.parity.parity_memory``): it is skipped, not the
export refused, when it does not fit.

``free_resources`` is the one place that asks the system (a seam the tests replace).
"""

from __future__ import annotations

import json
import math
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

GB = 1e9
# bits per weight of each GGUF type (llama.cpp's quantize: Q8_0 8.5, Q4_K_M ~4.9, …); f32/f16/bf16 exact
BITS_PER_WEIGHT = {"f32": 32.0, "f16": 16.0, "bf16": 16.0, "q8_0": 8.5, "q4_0": 4.5, "q4_k_m": 4.9, "q5_k_m": 5.7, "q6_k": 6.6}
# what a merge or convert process takes whatever the model's size: Python, torch, transformers, the converter
FIXED_RAM = int(1.5 * GB)
# head room left to the system and the user's other programs
SPARE = 0.1
_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
          "F8_E4M3": 1, "F8_E5M2": 1}


@dataclass
class Needs:
    """What an export will take: bytes of disk and RAM, and the parts of each for the message."""

    params: int
    merged: int
    reference: int  # the F16/BF16 GGUF
    quants: dict[str, int]
    ram: int
    streamed: bool
    free_ram: int | None = None  # what ``check`` found free
    free_disk: int | None = None

    @property
    def disk(self) -> int:
        return self.merged + self.reference + sum(self.quants.values())

    def english(self) -> str:
        parts = [f"merged folder {_gb(self.merged)}", f"F16 GGUF {_gb(self.reference)}"]
        parts += [f"{q.upper()} {_gb(b)}" for q, b in self.quants.items()]
        how = "streamed merge" if self.streamed else "in-memory merge"
        free = (f"; free: {_gb(self.free_disk)} of disk, {_gb(self.free_ram)} of RAM"
                if self.free_disk is not None and self.free_ram is not None else "")
        return f"needs {_gb(self.disk)} of disk ({', '.join(parts)}) and {_gb(self.ram)} of RAM ({how}){free}"


def _gb(n: float) -> str:
    return f"{n / GB:.1f} GB"


def free_resources(folder: Path) -> tuple[int, int]:
    """(RAM available now — /proc/meminfo's MemAvailable, disk free where ``folder`` is) in bytes."""
    disk = shutil.disk_usage(folder).free
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                ram = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    if ram is None:  # not Linux: what the machine has, as the best guess
        import os

        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return ram, disk


def _headers(folder: Path) -> list[dict]:
    out = []
    for file in sorted(folder.glob("*.safetensors")):
        with open(file, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            out.append(json.loads(f.read(n)))
    return out


def estimate(source, quants: list[str], *, light: bool = False) -> Needs:
    """The disk and RAM exporting ``source`` to ``quants`` takes (see the module docstring).
    ``light``: without importing torch or transformers (where the UI starts a job), assuming the
    merge streams; the export itself checks again in full."""
    from core.export.merge import checkpoint_dtype_name

    origin = source.sibling_dir or source.model_dir
    out_size = 2 if checkpoint_dtype_name(origin) in ("bfloat16", "float16") else 4
    params = largest = 0
    for header in _headers(origin):
        keys = {k for k in header if k != "__metadata__"}
        for key in keys:
            if any(part in key for part in (".absmax", ".quant_map", ".nested_", ".quant_state.")):
                continue
            n = math.prod(header[key]["shape"])
            if f"{key}.quant_state.bitsandbytes__nf4" in keys:
                n *= 2  # two nf4 weights a byte
            params += n
            largest = max(largest, n)
    streamed = True
    if not light:
        from core.export.stream_merge import Fallback, plan

        try:
            plan(source)
        except Fallback:
            streamed = False
    merged = params * out_size
    # streaming: one tensor read, its float32 delta and the result; in memory: the whole model and a tensor's delta
    merge_ram = largest * (out_size + 4 + 4) if streamed else merged + largest * 4
    # the converter reads lazily and writes tensor by tensor: about a tensor in float32 and its output
    convert_ram = largest * (4 + 2)
    reference = params * 2
    return Needs(params, merged, reference, {q: int(params * BITS_PER_WEIGHT[q] / 8) for q in quants if q in BITS_PER_WEIGHT
                                             and q not in ("f16", "bf16")},
                 FIXED_RAM + max(merge_ram, convert_ram), streamed)


def check(source, quants: list[str], folder: Path, *, light: bool = False) -> Needs:
    """``estimate``, refused when it does not fit in what is free (a UserError with the numbers)."""
    needs = estimate(source, quants, light=light)
    ram, disk = free_resources(folder)
    needs.free_ram, needs.free_disk = ram, disk
    numbers = {"name": source.name, "merged": _n(needs.merged), "gguf": _n(needs.reference),
               "quants": ", ".join(f"{q.upper()} {_n(b)}" for q, b in needs.quants.items()) or "—"}
    if needs.disk > disk * (1 - SPARE):
        raise UserError(
            f"exporting {source.name} needs {_gb(needs.disk)} of disk, {folder} has {_gb(disk)} free — {needs.english()}",
            hint="free disk space there, or export fewer quants (--quant q8_0)",
            code="export.no_disk", params={**numbers, "need": _n(needs.disk), "free": _n(disk), "where": str(folder)})
    if needs.ram > ram * (1 - SPARE):
        raise UserError(
            f"exporting {source.name} needs {_gb(needs.ram)} of RAM, {_gb(ram)} is available — {needs.english()}",
            hint="close what else holds memory (a chat, a training run) and export again",
            code="export.no_ram", params={**numbers, "need": _n(needs.ram), "free": _n(ram)})
    return needs


def _n(n: float) -> str:
    """Bytes as GB with one decimal, the unit left to the sentence (its language)."""
    return f"{n / GB:.1f}"
