"""Presets: tested starting points for common bases, and a VRAM estimate for each.

The estimate is deliberately simple and errs high: 4-bit base weights, LoRA weights with
their Adam state in fp32, activations with gradient checkpointing, and a fixed overhead
for the CUDA context and kernels. It is checked against the GPU's free memory before a run
starts, with advice when it does not fit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.errors import UserError

GiB = 1024**3
LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Preset:
    name: str
    base: str  # hub id or local path
    template: str  # key of core.train.templates.TEMPLATES
    params_b: float  # billions of parameters of the base
    hidden: int
    layers: int
    vocab: int
    lora_r: int = 16
    lora_alpha: int = 16
    targets: tuple[str, ...] = LINEAR
    max_seq_len: int = 2048
    lr: float = 2e-4
    batch_size: int = 2
    grad_accum: int = 4
    load_in_4bit: bool = True
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        return d


PRESETS: dict[str, Preset] = {
    "gemma3-12b": Preset(
        "gemma3-12b", "unsloth/gemma-3-12b-it-bnb-4bit", "gemma", 12.2, 3840, 48, 262_144,
        max_seq_len=2048, batch_size=2, grad_accum=4, note="Gemma 3 12B instruct, 4-bit; a 24 GB GPU",
    ),
    "gemma3-4b": Preset(
        "gemma3-4b", "unsloth/gemma-3-4b-it-bnb-4bit", "gemma", 4.3, 2560, 34, 262_144,
        max_seq_len=2048, batch_size=2, grad_accum=4, note="Gemma 3 4B instruct, 4-bit; a 12 GB GPU",
    ),
    "qwen3-8b": Preset(
        "qwen3-8b", "unsloth/Qwen3-8B-bnb-4bit", "qwen3", 8.2, 4096, 36, 151_936,
        max_seq_len=2048, batch_size=2, grad_accum=4, note="Qwen3 8B, 4-bit; a 16 GB GPU",
    ),
    "llama3.1-8b": Preset(
        "llama3.1-8b", "unsloth/Meta-Llama-3.1-8B-Instruct-bnb-4bit", "llama3", 8.0, 4096, 32, 128_256,
        max_seq_len=2048, batch_size=2, grad_accum=4, note="Llama 3.1 8B instruct, 4-bit; a 16 GB GPU",
    ),
    "demo": Preset(
        "demo", "demo", "gemma", 0.003, 256, 2, 3000,
        lora_r=8, lora_alpha=16, max_seq_len=256, lr=2e-3, batch_size=4, grad_accum=1, load_in_4bit=False,
        note="the tiny demo model; trains on a CPU in seconds",
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}", hint="choose one of: " + ", ".join(PRESETS)) from None


@dataclass(frozen=True)
class VramEstimate:
    weights: float
    lora: float
    activations: float
    overhead: float

    @property
    def total(self) -> float:
        return self.weights + self.lora + self.activations + self.overhead

    def to_dict(self) -> dict:
        return {k: round(v / GiB, 2) for k, v in {**asdict(self), "total": self.total}.items()}


def estimate_vram(
    preset: Preset,
    *,
    max_seq_len: int | None = None,
    batch_size: int | None = None,
    lora_r: int | None = None,
    load_in_4bit: bool | None = None,
) -> VramEstimate:
    """Bytes of GPU memory a run needs (an upper-side estimate)."""
    seq = max_seq_len or preset.max_seq_len
    batch = batch_size or preset.batch_size
    r = lora_r or preset.lora_r
    four_bit = preset.load_in_4bit if load_in_4bit is None else load_in_4bit
    params = preset.params_b * 1e9
    weights = params * (0.55 if four_bit else 2.0)  # nf4 + quant constants, else bf16
    # LoRA: A (h×r) and B (r×h') per target per layer, ~ r·(in+out); fp32 weight+grad+2 Adam moments
    lora_params = preset.layers * len(preset.targets) * r * (preset.hidden * 2 + preset.hidden * 2)
    lora = lora_params * 16
    # activations with gradient checkpointing: one hidden state per layer kept, one layer
    # recomputed at a time, plus the logits (vocab-sized, fp32) for the loss
    tokens = seq * batch
    activations = tokens * preset.hidden * 2 * preset.layers + tokens * preset.hidden * 2 * 34 + tokens * preset.vocab * 4 * 2
    overhead = 1.0 * GiB if preset.params_b > 0.1 else 0.3 * GiB
    return VramEstimate(weights, lora, activations, overhead)


def fit_advice(preset: Preset, estimate: VramEstimate, free_bytes: int, *, max_seq_len: int, batch_size: int) -> str | None:
    """None when it fits; else what to change, most helpful first."""
    if estimate.total <= free_bytes:
        return None
    tips = []
    smaller = [p for p in PRESETS.values() if p.params_b < preset.params_b and p.name != "demo"]
    if smaller:
        best = max(smaller, key=lambda p: p.params_b)
        tips.append(f"a smaller model (--preset {best.name})")
    if max_seq_len > 512:
        tips.append(f"a shorter length (--max-seq-len {max(512, max_seq_len // 2)})")
    if batch_size > 1:
        tips.append(f"a smaller batch (--batch-size {max(1, batch_size // 2)} with more --grad-accum)")
    need, have = estimate.total / GiB, free_bytes / GiB
    return f"needs about {need:.1f} GiB of GPU memory, {have:.1f} GiB is free; try " + (", or ".join(tips) or "a larger GPU")


def gpu_free_bytes() -> int | None:
    """Free memory on the first CUDA GPU, or None without one (imports torch)."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info()
    return int(free)
