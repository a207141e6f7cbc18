"""Presets: tested starting points for common bases, with the architecture facts their VRAM estimate needs.

The estimate itself (per backend, term by term, calibrated) lives in ``core/train/vram.py``;
it is re-exported here for the code that imports it from the presets.

Architecture numbers are the checkpoints' own ``config.json`` values (a 4-bit ``unsloth/…``
repo carries its 16-bit sibling's config). Nothing is downloaded to get them; each preset's
comment says where they come from, and tests/core/train/test_vram.py checks that they add up to
the published parameter count. They estimate a preset's own base before it is downloaded; once a
base is on disk its own config.json is read instead (core/train/arch.py), and
tests/core/train/test_arch.py holds the two equal through config.json fixtures written from these
numbers. A preset may carry no numbers (``known`` False: Gemma 4, Qwen 3.5, whose checkpoints'
config.json is not on this machine): its estimate waits for its base's config.json, and until then
it is said unknown, never guessed. A preset carries training defaults, never a chat format (``template`` is the format its
own base is in, for the listing; a run trains in its base's own unless it names one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.errors import UserError
from core.train.vram import (  # noqa: F401  (re-exported)
    GiB,
    LINEAR,
    VramEstimate,
    estimate_vram,
    fit_advice,
    gpu_free_bytes,
    smallest_card,
)


@dataclass(frozen=True)
class Preset:
    name: str
    base: str  # hub id or local path
    template: str  # key of core.train.templates.TEMPLATES, "" where none is its base's (listing only)
    # the architecture as typed in from the checkpoint's config.json; all 0 for a preset whose base's
    # numbers are not on this machine (``known`` is False): its fit waits for that config.json
    params_b: float = 0.0  # billions of parameters of the base, as published (vision tower included)
    hidden: int = 0
    layers: int = 0
    vocab: int = 0
    # architecture (config.json / text_config): what the VRAM estimate counts
    intermediate: int = 0
    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    tied_embeddings: bool = False  # one matrix for embeddings and LM head
    norms_per_layer: int = 2  # RMSNorms per decoder layer (Gemma 3 has four)
    qk_norm: bool = False  # per-head q/k norms (Gemma 3, Qwen3)
    sliding_window: int = 0  # local-attention window (Gemma 3), 0 when none
    vision_layers: int = 0  # vision tower (SigLIP for Gemma 3), 0 for text-only bases
    vision_linear_m: float = 0.0  # millions of weights in the vision (and audio) tower's linear layers
    vision_other_m: float = 0.0  # millions of other tower parameters (embeddings, norms, biases, convolutions, projectors)
    # a checkpoint's own shape (core/train/arch.py) where its layers differ: every decoder linear
    # (name, in, out) of every layer, its norms, its other 16-bit parameters, the widest layer's
    # query and key/value widths; empty or 0: the uniform layers the numbers above describe
    decoder_linears: tuple[tuple[str, int, int], ...] = ()
    norm_params: int = 0
    other_params: int = 0
    q_dim: int = 0
    kv_dim: int = 0
    model_type: str = ""
    # training defaults
    lora_r: int = 16
    lora_alpha: int = 16
    targets: tuple[str, ...] = LINEAR
    epochs: float = 1.0
    max_seq_len: int = 2048
    lr: float = 2e-4
    batch_size: int = 2
    grad_accum: int = 4
    load_in_4bit: bool = True
    group_by_length: bool = False  # batches of similar lengths: less padding, the same examples per epoch
    note: str = ""

    @property
    def known(self) -> bool:
        """Whether this preset carries its base's architecture numbers (else the estimate needs the
        base's own config.json, core/train/arch.py)."""
        return self.hidden > 0 and self.layers > 0 and self.vocab > 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        d["decoder_linears"] = [list(x) for x in self.decoder_linears]
        return d


# SigLIP so400m/14 at 896 px, as in Gemma 3 4B/12B's vision_config (hidden 1152, intermediate 4304,
# 27 layers, patch 14, no pooling head): linear weights 27 × (4·1152² + 2·1152·4304); other =
# biases and layer norms, the patch (3·14²·1152) and position (64²·1152) embeddings, the post
# layer norm, and the multimodal projector (1152 × text hidden, plus its norm).
_SIGLIP_LAYERS = 27
_SIGLIP_LINEAR_M = _SIGLIP_LAYERS * (4 * 1152 * 1152 + 2 * 1152 * 4304) / 1e6  # 411.07
_SIGLIP_OTHER_M = (_SIGLIP_LAYERS * (4 * 1152 + 4304 + 1152 + 4 * 1152) + 3 * 14 * 14 * 1152 + 1152 + 64 * 64 * 1152 + 2 * 1152) / 1e6


def _projector_m(text_hidden: int) -> float:
    return (1152 * text_hidden + 1152) / 1e6



def _gemma3(size: str, params_b: float, hidden: int, layers: int, *, intermediate: int, heads: int, kv_heads: int) -> Preset:
    """A Gemma 3 instruct checkpoint (text + vision, 4-bit): what the family shares (vocabulary, head
    size, four norms and q/k norms per layer, the sliding window, the SigLIP tower), its size as given."""
    return Preset(
        f"gemma3-{size}", f"unsloth/gemma-3-{size}-it-bnb-4bit", "gemma", params_b, hidden, layers, 262_208,
        intermediate=intermediate, heads=heads, kv_heads=kv_heads, head_dim=256, tied_embeddings=True,
        norms_per_layer=4, qk_norm=True, sliding_window=1024, vision_layers=_SIGLIP_LAYERS,
        vision_linear_m=_SIGLIP_LINEAR_M, vision_other_m=_SIGLIP_OTHER_M + _projector_m(hidden),
        note=f"Gemma 3 {size.upper()} instruct (text + vision), 4-bit",
    )


def _gemma4(size: str) -> Preset:
    """A Gemma 4 instruct checkpoint (``size`` as its repo spells it, "E4B"), Unsloth's dynamic 4-bit:
    no architecture numbers (``known`` False) and Preset's training defaults."""
    return Preset(
        f"gemma4-{size.lower()}", f"unsloth/gemma-4-{size}-it-unsloth-bnb-4bit", "",
        note=f"Gemma 4 {size} instruct (per-layer embeddings, text + vision + audio), Unsloth's dynamic 4-bit",
    )


def _qwen35(size: str) -> Preset:
    """A Qwen 3.5 checkpoint (``size`` as its repo spells it, "9B") under Qwen's own name, quantized
    as it loads: no architecture numbers (``known`` False) and Preset's training defaults."""
    return Preset(
        f"qwen3.5-{size.lower()}", f"Qwen/Qwen3.5-{size}", "",
        note=f"Qwen 3.5 {size} (gated delta-net + full attention, vision tower), quantized to 4-bit as it loads",
    )


# Training defaults not named here are Preset's (2048 tokens, batch 2 × 4 accumulated, LoRA r 16).
PRESETS: dict[str, Preset] = {
    # google/gemma-3-12b-it config.json, text_config: hidden_size 3840, intermediate_size 15360,
    # num_hidden_layers 48, num_attention_heads 16, num_key_value_heads 8, head_dim 256,
    # vocab_size 262208, sliding_window 1024, tied embeddings; 12.2B parameters (model card)
    "gemma3-12b": _gemma3("12b", 12.2, 3840, 48, intermediate=15_360, heads=16, kv_heads=8),
    # google/gemma-3-4b-it config.json, text_config: hidden_size 2560, intermediate_size 10240,
    # num_hidden_layers 34, num_attention_heads 8, num_key_value_heads 4, head_dim 256,
    # vocab_size 262208, sliding_window 1024, tied embeddings; 4.3B parameters (model card)
    "gemma3-4b": _gemma3("4b", 4.3, 2560, 34, intermediate=10_240, heads=8, kv_heads=4),
    # Qwen/Qwen3-8B config.json: hidden_size 4096, intermediate_size 12288, num_hidden_layers 36,
    # num_attention_heads 32, num_key_value_heads 8, head_dim 128, vocab_size 151936,
    # tie_word_embeddings false, q/k norms; 8.2B parameters (model card)
    "qwen3-8b": Preset(
        "qwen3-8b", "unsloth/Qwen3-8B-bnb-4bit", "qwen3", 8.2, 4096, 36, 151_936,
        intermediate=12_288, heads=32, kv_heads=8, head_dim=128, qk_norm=True, note="Qwen3 8B, 4-bit",
    ),
    # meta-llama/Llama-3.1-8B-Instruct config.json: hidden_size 4096, intermediate_size 14336,
    # num_hidden_layers 32, num_attention_heads 32, num_key_value_heads 8, head_dim 128,
    # vocab_size 128256, tie_word_embeddings false; 8.03B parameters (model card)
    "llama3.1-8b": Preset(
        "llama3.1-8b", "unsloth/Meta-Llama-3.1-8B-Instruct-bnb-4bit", "llama3", 8.0, 4096, 32, 128_256,
        intermediate=14_336, heads=32, kv_heads=8, head_dim=128, note="Llama 3.1 8B instruct, 4-bit",
    ),
    # Today's families, for a 12–16 GB card. Their checkpoints' config.json is not on this machine, so
    # no architecture numbers are typed in: their fit comes from the base's own config.json once it is
    # here (`nastavnik models pull`, core/train/arch.py), "unknown until its config.json is here"
    # before. Defaults are the other 4-bit presets' (LoRA r 16 on every linear of the text model, lr
    # 2e-4, 2048 tokens, 2 × 4); their settings train a few steps on their family's replica in
    # `make test` (tests/core/train/test_family_presets.py).
    # Gemma 4: the pinned Unsloth's model mapping (unsloth/models/mapper.py, __INT_TO_FLOAT_MAPPER)
    # names the instruct E4B's and E2B's 4-bit repos "unsloth/gemma-4-E{4,2}B-it-unsloth-bnb-4bit"
    # (16-bit: unsloth/ and google/gemma-4-E{4,2}B-it). The 31B (~16 GB in 4-bit alone) and the
    # 26B-A4B (experts, no 4-bit repo in the mapping) do not fit a 16 GB card.
    "gemma4-e4b": _gemma4("E4B"),
    "gemma4-e2b": _gemma4("E2B"),
    # Qwen 3.5: the pinned Unsloth's mapping has no Qwen 3.5 entry (it loads the hub's own repo and
    # quantizes it to 4-bit as it loads), so the name is Qwen's own: "Qwen/Qwen3.5-9B" as llama.cpp's
    # converter cites it (conversion/qwen.py), "Qwen/Qwen3.5-4B" as its template file does
    # (models/templates/Qwen3.5-4B.jinja). The 27B and 35B-A3B do not fit a 16 GB card.
    "qwen3.5-9b": _qwen35("9B"),
    "qwen3.5-4b": _qwen35("4B"),
    # core/train/demo_model.py: LlamaConfig(hidden 256, intermediate 512, 2 layers, 16 heads, 16 kv heads,
    # vocab 3000, untied). Its base has seen the questions, never the answers, so a run must teach
    # it the answers' words: the embeddings and the output head train in full beside a rank-16 LoRA
    # (a LoRA alone stays near loss 7: the head cannot name words it never predicted), for 36
    # epochs of 8 grouped by length at lr 4e-3 — a 3M-parameter model can only memorise, and
    # memorising takes passes. On the 16-head base it learns the train split word for word (chrF
    # 97–99) on every CPU kernel path measured (docs/numerics.md, docs/demo.md)
    "demo": Preset(
        "demo", "demo", "gemma", 0.003, 256, 2, 3000,
        intermediate=512, heads=16, kv_heads=16, head_dim=16,
        lora_r=16, lora_alpha=16, targets=(*LINEAR, "embed_tokens", "lm_head"), epochs=36,
        max_seq_len=256, lr=4e-3, batch_size=8, grad_accum=1, load_in_4bit=False, group_by_length=True,
        note="the tiny demo model; learns the sample pairs on a CPU in about three minutes",
    ),
}


#: the presets' names in the order a menu offers them (the demo first: it runs anywhere), said
#: once here: the Train form, `train --preset` and `presets` read this
PRESET_NAMES: tuple[str, ...] = ("demo", *(n for n in PRESETS if n != "demo"))


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}", hint="choose one of: " + ", ".join(PRESETS), code="train.unknown_preset",
                        params={"field": "preset", "value": name, "allowed": ", ".join(PRESETS)}) from None
