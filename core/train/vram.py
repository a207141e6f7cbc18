"""How much GPU memory a LoRA / QLoRA run needs, per backend, and whether every GPU of the run has it.

The estimate is a sum of terms, each a count of bytes that follows from the architecture
(the run's base checkpoint's own config.json, read by core/train/arch.py; a preset's numbers
only for its own base before it is downloaded) and from what the backend keeps on the GPU:

weights      the base model. With 4-bit, the decoder's linear layers are bitsandbytes NF4
             (half a byte per weight, plus one 8-bit absmax per 64 weights and one fp32
             absmax per 256 of those: double quantization, ~0.516 byte/param, plus ~1 KB of
             code tables per matrix). Embeddings, the LM head (once when tied), the norms and,
             for Unsloth, the vision tower stay 16-bit: bitsandbytes never quantizes an
             ``nn.Embedding`` or the output head, and Unsloth's own skip list
             (``unsloth_zoo.peft_utils.SKIP_QUANTIZATION_MODULES``, with its patch of transformers
             5's module matching) keeps ``vision_tower`` and ``multi_modal_projector`` in bf16.
             The hf backend skips the towers too (``core.train.modules.NOT_QUANTIZED``, given as
             patterns because transformers anchors its match at the start of the path), but it
             calls PEFT's ``prepare_model_for_kbit_training``, which casts every parameter that is
             not 4-bit to float32: there embeddings, LM head, norms and the vision tower take
             4 bytes a parameter (1 GB of Gemma's 262k-token embedding becomes 4 GB).
lora         the adapters: float32 weights and gradients, and the optimizer's two moments —
             float32 for the hf backend's ``adamw_torch``, bitsandbytes 8-bit (one byte each, an
             fp32 absmax per 256) for the Unsloth backend's ``adamw_8bit``. With ``--gpus N``
             DDP adds a gradient bucket of the same size as the gradients.
activations  per micro-batch of ``batch × max_seq_len`` tokens (padding counts: the worst
             batch is as long as the longest example):
             - residuals: gradient checkpointing keeps one hidden state per decoder layer.
               The hf backend keeps them on the GPU (float32: the embedding output is float32
               after the upcast above, so the residual stream is too); Unsloth's
               ``use_gradient_checkpointing="unsloth"`` offloads them to host RAM.
             - one layer: the layer being recomputed holds its own activations and their
               gradients (``LAYER`` factors below, measured on replicas by bench/vram.py).
             - head: the loss never builds ``[tokens, vocab]`` logits. TRL 1.15's SFTTrainer
               projects through the LM head in ``[4096, 32768]`` tiles
               (``trl.kernels.chunked_logprob``), Unsloth uses its fused, chunked cross
               entropy; what is left is the final hidden states, their gradient and one tile.
               ``loss="logits"`` models the older stacks that did build the full logits (it is
               what the published Hugging Face figures below were measured with). The loss
               runs before the layers are recomputed, so the larger of the two counts.
             - masks (hf): sdpa gets a ``[batch, 1, seq, seq]`` mask for a padded batch, and
               one more for sliding-window layers.
overhead     what PyTorch's allocator does not count and what it wastes: the CUDA context
             (0.3–0.6 GiB on current drivers, outside ``torch.cuda.memory_allocated``), cuBLAS
             and Triton workspaces, and fragmentation of the caching allocator, modelled as a
             fixed 0.5 GiB plus 5 % of the rest.

Calibration, two ways (docs/gpu-memory.md has the table):
- each term against memory measured on tiny random-init replicas of the real architectures on
  the CPU (``bench/vram.py``: storage bytes of parameters, quantization state, gradients and
  optimizer state; the peak of live tensors during a training step);
- the totals against published figures: Unsloth's requirements table ("Fine-tuning VRAM
  requirements", https://unsloth.ai/docs/get-started/fine-tuning-for-beginners/unsloth-requirements:
  QLoRA 8B ≈ 6 GB, 14B ≈ 8.5 GB, "the absolute minimum") and its Llama 3.1 8B context-length
  benchmark (https://unsloth.ai/blog/llama3-3: QLoRA r=32 on all linear layers, batch 1, the
  longest context that fits a given GPU, for Unsloth and for Hugging Face + Flash Attention 2),
  in ``PUBLISHED`` below; tests/core/train/test_vram.py holds every total within ±25 %.

Free memory is read with ``nvidia-smi`` in a subprocess, never through ``torch.cuda`` in this
process: the app (TUI or CLI) must not hold a CUDA context — 300+ MB of the card — while the
training worker needs it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from core.errors import UserError
from core.train.backends import BY_MEMORY

GiB = 1024**3
LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# --- bitsandbytes NF4 with double quantization (bnb_4bit_use_double_quant=True, blocksize 64)
NF4_BLOCK = 64  # weights per 8-bit absmax
NF4_BLOCK2 = 256  # absmax values per fp32 second-level absmax
NF4_MATRIX_BYTES = 16 * 4 + 256 * 4 + 4  # the NF4 code, the absmax code, the offset
NF4_RATE = 0.5 + 1 / NF4_BLOCK + 4 / (NF4_BLOCK * NF4_BLOCK2)  # bytes per weight, ~0.516

# --- bitsandbytes 8-bit AdamW (adamw_8bit): tensors under 4096 values keep float32 moments
ADAM8_MIN_SIZE = 4096
ADAM8_BLOCK = 256
ADAM8_QMAPS = 2 * 256 * 4  # the two quantization maps, shared by all tensors

# --- activations of the one decoder layer being recomputed, in values per token, measured on the
# replicas by bench/vram.py (float32; the live tensors at the peak of a step): six
# intermediate-sized tensors (gate and up, their LoRA sums, the activation, the product), three
# plus half the norms hidden-sized ones (norm outputs, the mid-layer residual), about 1.8 ×
# (q + 2·kv) for attention (q and k after RoPE, v, the attention output). Unsloth's CUDA kernels
# do not run on the CPU; the same factors with its bf16 residual stream predict the per-token
# slope of its published context-length table (Llama 3.1 8B, 8 → 80 GB: 0.212 MiB a token)
# within 5 %, so both backends share them: what Unsloth saves is the residuals (offloaded).
LAYER = {"hidden": 3.0, "per_norm": 0.5, "intermediate": 6.0, "attention": 1.8}
# TRL's chunked log-prob kernel: a [4096 tokens, 32768 vocab] tile
HEAD_TILE_TOKENS, HEAD_TILE_VOCAB = 4096, 32768
CONTEXT_BYTES = 0.5 * GiB
ALLOCATOR_SLACK = 0.05
CARDS_GB = (8, 12, 16, 24, 32, 48, 80)  # common card sizes, for "which card fits"


# ---------------------------------------------------------------------------- architecture


def layer_linears(p) -> dict[str, tuple[int, int]]:
    """(in, out) features of each linear layer of one decoder layer."""
    q, kv = p.heads * p.head_dim, p.kv_heads * p.head_dim
    return {
        "q_proj": (p.hidden, q),
        "k_proj": (p.hidden, kv),
        "v_proj": (p.hidden, kv),
        "o_proj": (q, p.hidden),
        "gate_proj": (p.hidden, p.intermediate),
        "up_proj": (p.hidden, p.intermediate),
        "down_proj": (p.intermediate, p.hidden),
    }


def all_linears(p) -> list[tuple[str, int, int]]:
    """(name, in, out) of every decoder linear of every layer: a checkpoint's own list where its
    layers differ (core/train/arch.py), else the uniform layer ``layers`` times."""
    if p.decoder_linears:
        return list(p.decoder_linears)
    one = [(name, i, o) for name, (i, o) in layer_linears(p).items()]
    return one * p.layers


def param_counts(p) -> dict[str, int]:
    """Parameters by kind: decoder linears, embeddings (+ untied head), norms, other 16-bit
    parameters (biases, convolutions, per-layer embeddings), vision tower."""
    linear = sum(i * o for _name, i, o in all_linears(p))
    embed = p.vocab * p.hidden * (1 if p.tied_embeddings else 2)
    norms = p.norm_params or p.layers * (p.norms_per_layer * p.hidden + (2 * p.head_dim if p.qk_norm else 0)) + p.hidden
    return {
        "linear": linear,
        "embeddings": embed,
        "norms": norms,
        "other": p.other_params,
        "vision_linear": round(p.vision_linear_m * 1e6),
        "vision_other": round(p.vision_other_m * 1e6),
    }


def nf4_bytes(n: int) -> int:
    """Bytes of one n-weight matrix in bitsandbytes NF4 with double quantization."""
    blocks = math.ceil(n / NF4_BLOCK)
    return math.ceil(n / 2) + blocks + 4 * math.ceil(blocks / NF4_BLOCK2) + NF4_MATRIX_BYTES


def lora_shapes(p, r: int, targets) -> list[tuple[int, int]]:
    """(rows, cols) of every LoRA matrix: A (r × in) and B (out × r) per target per layer."""
    shapes = []
    for name, i, o in all_linears(p):
        if name in targets:
            shapes += [(r, i), (o, r)]
    return shapes


# ---------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class VramEstimate:
    """Bytes a run needs on each GPU, by term; ``parts`` breaks the terms down."""

    backend: str
    parts: dict = field(default_factory=dict, hash=False)  # bytes, summed by the terms below
    detail: dict = field(default_factory=dict, hash=False)  # bytes of sub-terms not summed (layer, head)

    def _sum(self, prefix: str) -> float:
        return float(sum(v for k, v in self.parts.items() if k.split(".", 1)[0] == prefix))

    @property
    def weights(self) -> float:
        return self._sum("weights")

    @property
    def lora(self) -> float:
        return self._sum("lora")

    @property
    def activations(self) -> float:
        return self._sum("activations")

    @property
    def overhead(self) -> float:
        return self._sum("overhead")

    @property
    def total(self) -> float:
        return self.weights + self.lora + self.activations + self.overhead

    def to_dict(self) -> dict:
        """GiB, rounded: weights, lora, activations, overhead, total (and the backend)."""
        terms = {"weights": self.weights, "lora": self.lora, "activations": self.activations, "overhead": self.overhead, "total": self.total}
        return {**{k: round(v / GiB, 2) for k, v in terms.items()}, "backend": self.backend}


def estimate_vram(
    preset,
    *,
    backend: str = "hf",
    max_seq_len: int | None = None,
    batch_size: int | None = None,
    lora_r: int | None = None,
    load_in_4bit: bool | None = None,
    targets=None,
    num_gpus: int = 1,
    loss: str = "fused",
    compute_bytes: int = 2,
) -> VramEstimate:
    """Bytes of GPU memory one GPU of the run needs (each of ``num_gpus`` holds a full replica).

    ``compute_bytes`` is 2 on a GPU (bf16/fp16); bench/vram.py passes 4 for its float32 runs on
    the CPU. ``loss="logits"`` counts full ``[tokens, vocab]`` logits (stacks before TRL 1.15).
    """
    if backend not in BY_MEMORY:
        raise UserError(f"unknown backend {backend!r}", hint="one of: " + ", ".join(BY_MEMORY), code="train.unknown_backend",
                        params={"field": "backend", "value": backend, "allowed": ", ".join(BY_MEMORY)})
    if loss not in ("fused", "logits"):
        raise ValueError(f"loss must be 'fused' or 'logits', not {loss!r}")
    if not getattr(preset, "known", True):  # a preset whose base's numbers are not here: never a guess
        raise not_here(preset.base)
    seq = max_seq_len or preset.max_seq_len
    batch = batch_size or preset.batch_size
    r = lora_r or preset.lora_r
    four_bit = preset.load_in_4bit if load_in_4bit is None else load_in_4bit
    targets = tuple(preset.targets if targets is None else targets)
    hf, cb = backend == "hf", compute_bytes
    counts = param_counts(preset)
    parts: dict[str, float] = {}

    # weights: see the module docstring for which parts stay 16-bit and where the hf backend upcasts
    upcast = 4 if (hf and four_bit) else 2
    if four_bit:
        parts["weights.linear"] = sum(nf4_bytes(i * o) for _name, i, o in all_linears(preset))
    else:
        parts["weights.linear"] = counts["linear"] * 2
    parts["weights.embeddings"] = counts["embeddings"] * upcast
    parts["weights.norms"] = counts["norms"] * upcast
    if counts["other"]:
        parts["weights.other"] = counts["other"] * upcast
    if counts["vision_linear"] or counts["vision_other"]:
        # neither backend quantizes the tower (core.train.modules.NOT_QUANTIZED); hf's kbit
        # preparation upcasts it with everything else that is not 4-bit
        parts["weights.vision"] = (counts["vision_linear"] + counts["vision_other"]) * (upcast if hf and four_bit else 2)

    # LoRA: float32 weights and gradients, the optimizer's moments
    shapes = lora_shapes(preset, r, targets)
    n_lora = sum(a * b for a, b in shapes)
    parts["lora.params"] = n_lora * 4
    parts["lora.grads"] = n_lora * 4
    if hf:
        parts["lora.optimizer"] = n_lora * 8  # adamw_torch: two float32 moments
    else:  # adamw_8bit: one byte per moment and an fp32 absmax per 256 values
        parts["lora.optimizer"] = ADAM8_QMAPS + sum(
            2 * a * b + 2 * 4 * math.ceil(a * b / ADAM8_BLOCK) if a * b >= ADAM8_MIN_SIZE else 8 * a * b for a, b in shapes
        )
    if num_gpus > 1:
        parts["lora.ddp_buckets"] = n_lora * 4
    # embeddings / output head named among the targets are trained in full (PEFT's
    # modules_to_save): a float32 trainable copy, its gradient and two Adam moments
    n_full = sum(preset.vocab * preset.hidden for name in ("embed_tokens", "lm_head") if name in targets)
    if n_full:
        parts["full.params"] = n_full * 4
        parts["full.grads"] = n_full * 4
        parts["full.optimizer"] = n_full * 8

    # activations of one micro-batch
    tokens = seq * batch
    q_dim, kv_dim = preset.q_dim or preset.heads * preset.head_dim, preset.kv_dim or preset.kv_heads * preset.head_dim
    stream = 4 if (hf and four_bit) else cb  # the residual stream's dtype
    if hf:  # one checkpointed input per decoder layer, and the final hidden state
        parts["activations.residuals"] = (preset.layers + 1) * tokens * preset.hidden * stream
    layer = tokens * (
        (LAYER["hidden"] + LAYER["per_norm"] * preset.norms_per_layer) * preset.hidden * stream
        + LAYER["intermediate"] * preset.intermediate * cb
        + LAYER["attention"] * (q_dim + 2 * kv_dim) * cb
    )
    if loss == "logits":
        # the float32 log-softmax, the loss gradient and the log-softmax gradient (measured on
        # the replicas in float32: 12 bytes a value); a bf16 stack also upcasts the logits: 14
        head = tokens * preset.vocab * (12 + (2 if cb < 4 else 0))
    else:  # the final hidden states, their float32 gradient, one projection tile
        tile = min(tokens, HEAD_TILE_TOKENS) * min(preset.vocab, HEAD_TILE_VOCAB) * cb
        head = tokens * preset.hidden * (stream + 4) + tile
    # the recomputed layer and the loss peak at different moments of the step (the loss first,
    # then the layers backwards): the larger of the two is live at a time
    detail = {"activations.layer": layer, "activations.head": head}
    parts["activations.step"] = max(layer, head)
    if hf:  # sdpa's [batch, 1, seq, seq] masks, in the compute dtype: one for a padded batch, one
        # more for sliding-window layers; Unsloth's attention and flash-attention take none
        sliding = bool(preset.sliding_window) and seq > preset.sliding_window
        masks = (1 if batch > 1 else 0) + (1 if sliding else 0)
        parts["activations.masks"] = masks * batch * seq * seq * cb

    rest = sum(parts.values())
    parts["overhead.context"] = CONTEXT_BYTES
    parts["overhead.allocator"] = ALLOCATOR_SLACK * rest
    return VramEstimate(backend, parts, detail)


def smallest_card(estimate: VramEstimate) -> int | None:
    """The smallest common card (GB as sold, i.e. GiB of memory) the estimate fits, or None."""
    for gb in CARDS_GB:
        if estimate.total <= gb * GiB * 0.97:  # what the driver leaves free on an idle card
            return gb
    return None


# ---------------------------------------------------------------------------- advice and the check


def fit_advice(preset, estimate: VramEstimate, free_bytes: int, *, max_seq_len: int, batch_size: int, gpu: int | None = None) -> str | None:
    """None when it fits; else what to change, most helpful first."""
    fit = fit_tips(preset, estimate, free_bytes, max_seq_len=max_seq_len, batch_size=batch_size)
    if fit is None:
        return None
    need, have = estimate.total / GiB, free_bytes / GiB
    where = f"GPU {gpu} has" if gpu is not None else "there is"
    tips = [english for english, _name, _value in fit]
    return (
        f"needs about {need:.1f} GiB of GPU memory ({estimate.backend} backend), {where} {have:.1f} GiB free; try "
        + (", or ".join(tips) or "a larger GPU")
    )


def fit_tips(preset, estimate: VramEstimate, free_bytes: int, *, max_seq_len: int,
             batch_size: int) -> list[tuple[str, str, object]] | None:
    """None when it fits; else what to change, most helpful first: (the CLI's words, the tip's
    name, its value) — the name and value let the app say it with its own form's fields."""
    if estimate.total <= free_bytes:
        return None
    from core.train.presets import PRESETS

    tips: list[tuple[str, str, object]] = []
    smaller = [p for p in PRESETS.values() if p.known and p.params_b < preset.params_b and p.name != "demo"]
    if smaller:
        best = max(smaller, key=lambda p: p.params_b)
        tips.append((f"a smaller model (--preset {best.name})", "preset", best.name))
    if max_seq_len > 512:
        shorter = max(512, max_seq_len // 2)
        tips.append((f"a shorter length (--max-seq-len {shorter})", "max_seq_len", shorter))
    if batch_size > 1:
        smaller_batch = max(1, batch_size // 2)
        tips.append((f"a smaller batch (--batch-size {smaller_batch} with more --grad-accum)", "batch_size", smaller_batch))
    if estimate.backend == "hf":
        tips.append(("the unsloth backend (--backend unsloth), which keeps less on the GPU", "backend", "unsloth"))
    return tips


@dataclass(frozen=True)
class Gpu:
    index: int  # as the run sees it (after CUDA_VISIBLE_DEVICES)
    name: str
    free: int  # bytes
    total: int
    smi_index: int | None = None  # nvidia-smi's own index (PCI bus order), what CUDA_VISIBLE_DEVICES names it by


QUERY = ["--query-gpu=index,uuid,name,memory.free,memory.total", "--format=csv,noheader,nounits"]


def gpus(*, timeout: float = 15.0) -> list[Gpu] | None:
    """The GPUs a run here would see, with free memory, from ``nvidia-smi`` in a subprocess.

    None when there is no NVIDIA driver (no ``nvidia-smi``, or it fails): a CPU machine. The order
    and selection follow ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs) when it is set.
    """
    from core.train.device import nvidia_smi

    out = nvidia_smi(*QUERY, timeout=timeout)
    if out is None:
        return None
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 5:
            continue
        try:
            index, uuid, name, free_mib, total_mib = int(cells[0]), cells[1], ", ".join(cells[2:-2]), float(cells[-2]), float(cells[-1])
        except ValueError:
            continue  # "[N/A]" on a card that does not report memory
        rows.append((index, uuid, name, int(free_mib * 2**20), int(total_mib * 2**20)))
    return [Gpu(i, name, free, total, smi) for i, (smi, _, name, free, total) in enumerate(visible_rows(rows))]


def visible_rows(rows: list[tuple]) -> list[tuple]:
    """nvidia-smi's rows ``(index, uuid, …)`` a process here sees, in its order: those
    ``CUDA_VISIBLE_DEVICES`` names (indices or UUIDs), or all of them when it is not set."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(rows)
    picked = []
    for want in (v.strip() for v in visible.split(",")):
        if not want:
            continue
        match = [r for r in rows if str(r[0]) == want or r[1] == want or (want.startswith("GPU-") and r[1].startswith(want))]
        if not match:
            break  # CUDA stops at the first entry it cannot resolve
        picked.append(match[0])
    return picked


def gpu_free_bytes() -> int | None:
    """Free memory on the run's first GPU, or None without one (``nvidia-smi``, not torch)."""
    found = gpus()
    return found[0].free if found else None


def check_gpus(preset, estimate: VramEstimate, num_gpus: int, *, max_seq_len: int, batch_size: int, found: list[Gpu] | None = None) -> list[Gpu] | None:
    """Raise a UserError unless each of GPUs 0..num_gpus-1 has the per-GPU estimate free.

    Returns the GPUs checked, or None on a machine without NVIDIA GPUs (nothing to check).
    """
    found = gpus() if found is None else found
    if not found:
        return None
    if num_gpus > len(found):
        raise UserError(
            f"the run asks for {num_gpus} GPUs and {len(found)} {'is' if len(found) == 1 else 'are'} visible",
            hint=f"pass --gpus {len(found)} or fewer" + (" (CUDA_VISIBLE_DEVICES limits them)" if "CUDA_VISIBLE_DEVICES" in os.environ else ""),
            code="vram.too_many_gpus", params={"asked": num_gpus, "visible": len(found)},
        )
    used = found[:num_gpus]
    for gpu in used:
        advice = fit_advice(preset, estimate, gpu.free, max_seq_len=max_seq_len, batch_size=batch_size, gpu=gpu.index if num_gpus > 1 else None)
        if advice:
            tips = fit_tips(preset, estimate, gpu.free, max_seq_len=max_seq_len, batch_size=batch_size) or []
            raise UserError(f"this run will not fit on the GPU: {advice}", code="vram.no_fit",
                            params={"need": round(estimate.total / GiB, 1), "free": round(gpu.free / GiB, 1),
                                    "backend": estimate.backend, "gpu": gpu.index,
                                    "tips": [{"name": name, "value": value} for _english, name, value in tips]})
    return used


# ---------------------------------------------------------------------------- published figures

# Totals to hold the estimate to (GB as the sources print them: their notebooks divide by 1024³,
# so these are GiB). Each: (preset, backend, settings, GiB, source).
UNSLOTH_REQUIREMENTS = "https://unsloth.ai/docs/get-started/fine-tuning-for-beginners/unsloth-requirements"
UNSLOTH_CONTEXT = "https://unsloth.ai/blog/llama3-3"
SEED = "the product promise (seed): Gemma 3 12B QLoRA needs 12 GB minimum, 16 GB better"


def _context_rows():
    # Llama 3.1 8B max context at each GPU size; QLoRA r=32 on all linear layers, batch 1
    unsloth = {8: 2_972, 12: 21_848, 16: 40_724, 24: 78_475, 40: 153_977, 48: 191_728, 80: 342_733}
    hf = {12: 932, 16: 2_551, 24: 5_789, 40: 12_264, 48: 15_502, 80: 28_454}  # 8 GB: out of memory
    rows = [("llama3.1-8b", "unsloth", {"max_seq_len": n, "batch_size": 1, "lora_r": 32}, gb, UNSLOTH_CONTEXT) for gb, n in unsloth.items()]
    rows += [
        ("llama3.1-8b", "hf", {"max_seq_len": n, "batch_size": 1, "lora_r": 32, "loss": "logits"}, gb, UNSLOTH_CONTEXT + " (Hugging Face + FA2, full logits)")
        for gb, n in hf.items()
    ]
    return rows


# the requirements table's "absolute minimum": batch 1, a short sequence, the notebooks' r=16;
# sizes between its rows (3B 3.5, 7B 5, 8B 6, 11B 7.5, 14B 8.5 GB) interpolated by parameters
MINIMUM = {"max_seq_len": 512, "batch_size": 1, "lora_r": 16}
PUBLISHED = [
    ("llama3.1-8b", "unsloth", MINIMUM, 6.0, UNSLOTH_REQUIREMENTS + " (8B)"),
    ("qwen3-8b", "unsloth", MINIMUM, 6.0 + 0.2 * (6.5 - 6.0), UNSLOTH_REQUIREMENTS + " (8B–9B, 8.2B)"),
    ("gemma3-4b", "unsloth", MINIMUM, 3.5 + 1.3 / 4 * (5.0 - 3.5), UNSLOTH_REQUIREMENTS + " (3B–7B, 4.3B)"),
    ("gemma3-12b", "unsloth", MINIMUM, 7.5 + 1.2 / 3 * (8.5 - 7.5), UNSLOTH_REQUIREMENTS + " (11B–14B, 12.2B)"),
    ("gemma3-12b", "unsloth", {}, 12.0, SEED + " (at the preset's defaults)"),
    *_context_rows(),
]


def published_checks() -> list[dict]:
    """Each published figure next to the estimate at its settings: docs/gpu-memory.md's table."""
    from core.train.presets import get_preset

    out = []
    for name, backend, settings, gib, source in PUBLISHED:
        est = estimate_vram(get_preset(name), backend=backend, **settings)
        out.append({
            "preset": name,
            "backend": backend,
            "settings": settings,
            "estimate_gib": round(est.total / GiB, 2),
            "published_gib": round(gib, 2),
            "ratio": round(est.total / GiB / gib, 3),
            "source": source,
        })
    return out


def preset_from_checkpoint(folder, *, name: str | None = None):
    """A Preset with the architecture of a local checkpoint's config.json and the parameter count of
    its weights (core/train/arch.py), for estimating a run on any base."""
    from core.train.arch import checkpoint_arch

    return checkpoint_arch(folder, name=name)


def base_arch(config, store=None):
    """The architecture the estimate of ``config``'s run counts: its base checkpoint's own
    config.json when the base is on disk (a folder, a registered model, the Hugging Face cache),
    else its preset's numbers when the base is that preset's own; None when neither is known
    (a hub id not fetched yet). A config.json whose family the estimate does not know raises
    ``arch.unknown``."""
    from pathlib import Path

    from core.train.presets import PRESETS
    from core.train.runs import local_base

    folder = Path(config.base) if config.base and Path(config.base).is_dir() else local_base(store, config.base)
    if folder is not None and (Path(folder) / "config.json").is_file():
        return preset_from_checkpoint(folder)
    preset = PRESETS.get(config.preset or "")
    if preset is not None and preset.base == config.base and preset.known:
        return preset
    return None  # a hub id not fetched yet, or a preset whose base's numbers wait for its config.json


def preset_arch(preset, store=None):
    """(architecture, source) a preset's estimate counts: its base's own config.json when that is
    on disk (a registered model, a folder, the Hugging Face cache: ``local_base``, never a
    download), source "config.json"; else the numbers it carries, "preset"; else (None, None): its
    fit waits for its config.json. A config.json whose shape the estimate does not know raises
    ``arch.unknown``."""
    from core.train.runs import local_base

    folder = local_base(store, preset.base)
    if folder is not None:
        return preset_from_checkpoint(folder, name=preset.name), "config.json"
    return (preset, "preset") if preset.known else (None, None)


@dataclass(frozen=True)
class PresetFit:
    """What a preset takes at its own settings on the backend that needs the least memory: the
    estimate (GiB) and the smallest common card it fits (None: none does); ``state`` "estimated",
    "not_here" (its base's config.json is not on disk yet) or "unknown" (``reason``: the
    ``arch.unknown`` error of a shape the estimate does not know, or a config.json it cannot read)."""

    name: str
    state: str
    backend: str = ""
    need_gib: float | None = None
    card_gb: int | None = None
    reason: UserError | None = None


def preset_fit(preset, store=None) -> PresetFit:
    """The fit of ``preset`` (``PresetFit``), from files on disk only: the Train form's preset
    picker lists it beside each preset."""
    try:
        arch, _source = preset_arch(preset, store)
    except UserError as exc:  # a shape it does not know, or a config.json it cannot read
        return PresetFit(preset.name, "unknown", reason=exc)
    if arch is None:
        return PresetFit(preset.name, "not_here")
    backend = BY_MEMORY[0]
    est = estimate_vram(arch, backend=backend, max_seq_len=preset.max_seq_len, batch_size=preset.batch_size,
                        lora_r=preset.lora_r, load_in_4bit=preset.load_in_4bit, targets=preset.targets)
    return PresetFit(preset.name, "estimated", backend, round(est.total / GiB, 1), smallest_card(est))


def not_here(base: str) -> UserError:
    """The estimate's answer for a base whose config.json is not on this machine (and whose preset
    carries no numbers): unknown until it is, not a guess."""
    return UserError(f"fit: unknown until the config.json of {base} is here",
                     hint="fetch it (`nastavnik models pull`), or give a checkpoint folder that has one",
                     code="arch.not_here", params={"base": str(base)})


def estimate_run(config, arch, *, backend: str) -> VramEstimate:
    """The estimate of ``config``'s run on ``arch`` (its settings, not the architecture's defaults)."""
    return estimate_vram(  # a preference step runs the chosen and the rejected answer of each pair
        arch, backend=backend, max_seq_len=config.max_seq_len, batch_size=config.batch_size * (2 if config.preference else 1),
        lora_r=config.lora_r, load_in_4bit=config.load_in_4bit, targets=config.targets, num_gpus=config.num_gpus,
    )
