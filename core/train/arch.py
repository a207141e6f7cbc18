"""A checkpoint's architecture, read from its own ``config.json``, for the memory estimate of any base.

The presets once typed these numbers in (core/train/presets.py); a base without a preset had no
estimate, and a preset's numbers stayed when the user picked another base. Here they come from
the checkpoint the run trains: ``checkpoint_arch(folder)`` reads ``config.json`` (a few KB, the
first file a download fetches) and, when the weights are there, counts the parameters from the
safetensors headers.

What a family's config says, and how it becomes weights (each checked against transformers' own
model built from the config on the meta device, tests/core/train/test_arch.py):

- the text model at the top or under ``text_config``; a vision tower under ``vision_config``
  (SigLIP for Gemma 3, Gemma 4's own, Qwen 3.5's), kept 16-bit by both backends;
- tied embeddings (``tie_word_embeddings``, at either level: one matrix for input and output);
- the layers' shapes: grouped-query attention (``num_key_value_heads``, ``head_dim``), q/k norms
  (Qwen 3, Gemma 3/4), Gemma's four norms a layer, the sliding window (masks, hf backend);
- Gemma 4: a larger head and fewer kv heads on its full-attention layers (``per_layer_config``,
  or ``global_head_dim`` / ``num_global_key_value_heads``), keys that are values there
  (``attention_k_eq_v``), the last ``num_kv_shared_layers`` reusing earlier layers' keys and
  values (no k/v projections, and double-wide MLPs with ``use_double_wide_mlp``), and per-layer
  embeddings (``hidden_size_per_layer_input``: one more embedding table and two small
  projections a layer);
- Qwen 3.5: gated-delta-net linear-attention layers beside gated full attention (``layer_types``);
- Gemma 4 E2B/E4B's conformer audio tower under ``audio_config``, frozen and 16-bit like a vision
  tower (its weights are counted with the vision tower's).

A family or a feature not listed (experts, an audio tower of another kind, fused projections) is
refused with ``arch.unknown``: the estimate says it does not know rather than guessing.

Parameter counts are element counts, not bytes: a bf16 checkpoint has two bytes a parameter,
a bitsandbytes 4-bit one packs two weights a byte (``uint8 [n/2, 1]``) beside its quantization
state, whose JSON names the weight's true shape.
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path

from core.errors import UserError

# the decoder families the estimate knows: model_type → (norms a layer, q/k norms, tied by default, q/k/v bias)
DENSE = {
    "llama": (2, False, False, False),
    "mistral": (2, False, False, False),
    "qwen2": (2, False, False, True),
    "qwen3": (2, True, False, False),
    "gemma": (2, False, True, False),
    "gemma2": (4, False, True, False),
    "gemma3_text": (4, True, True, False),
}
KNOWN = (*DENSE, "gemma4_text", "qwen3_5_text")
# bitsandbytes' tensors beside a quantized weight: its state, not parameters
QUANT_STATE = (".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map", ".SCB", ".weight_format")


def unknown(what: str, reason: str, why: str, **detail) -> UserError:
    """The estimate's refusal: ``what`` (a family or a checkpoint's name), a ``reason`` key the UI
    words in its language (experts, audio, family, missing, layer, vision, standardize, mismatch)
    with its ``detail``, and the English ``why`` the CLI prints."""
    return UserError(
        f"the memory estimate does not know the shape of {what}: {why}",
        hint="the run can still start; its memory is not checked beforehand",
        code="arch.unknown", params={"what": what, "reason": reason, **detail},
    )


def read_config(folder) -> dict:
    path = Path(folder) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{folder} has no config.json", hint="give the folder of a Hugging Face checkpoint",
                        code="arch.no_config", params={"folder": str(folder)}) from None
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from exc


def _int(cfg: dict, key: str, default: int | None = None) -> int:
    value = cfg.get(key)
    if value is None:
        if default is None:
            raise unknown(str(cfg.get("model_type") or "this model"), "missing", f"its config.json has no {key}", key=key)
        return default
    return int(value)


# ---------------------------------------------------------------------------- the text model


def _text(config: dict) -> dict:
    """The text model's facts: every decoder linear (name, in, out), the counts by kind, and the
    numbers the activation terms read (the largest layer's)."""
    text = config.get("text_config") or config
    kind = str(text.get("model_type") or config.get("model_type") or "")
    if kind not in KNOWN:
        raise unknown(kind or "this model", "family", "its model_type is not one of " + ", ".join(KNOWN))
    if text.get("num_experts") or text.get("num_local_experts") or text.get("enable_moe_block"):
        raise unknown(kind, "experts", "it has experts (mixture of experts)")
    hidden, layers, vocab = _int(text, "hidden_size"), _int(text, "num_hidden_layers"), _int(text, "vocab_size")
    heads = _int(text, "num_attention_heads")
    kv = _int(text, "num_key_value_heads", heads)
    head_dim = _int(text, "head_dim", hidden // heads)
    inter = _int(text, "intermediate_size")
    tied_default = DENSE[kind][2] if kind in DENSE else kind.startswith("gemma")
    tied = config.get("tie_word_embeddings", text.get("tie_word_embeddings", tied_default))
    mlp = [("gate_proj", hidden, inter), ("up_proj", hidden, inter), ("down_proj", inter, hidden)]
    linears: list[tuple[str, int, int]] = []
    norms = hidden  # the final norm
    other = 0  # 16-bit parameters that are neither embeddings nor norms: biases, convolutions, gates
    widest = {"intermediate": inter, "q": heads * head_dim, "kv": kv * head_dim}
    norms_per_layer = 2

    if kind in DENSE:
        norms_per_layer, qk_norm, _tied, qkv_bias = DENSE[kind]
        bias = qkv_bias or bool(text.get("attention_bias"))
        for _ in range(layers):
            linears += [("q_proj", hidden, heads * head_dim), ("k_proj", hidden, kv * head_dim),
                        ("v_proj", hidden, kv * head_dim), ("o_proj", heads * head_dim, hidden), *mlp]
            norms += norms_per_layer * hidden + (2 * head_dim if qk_norm else 0)
            if bias:
                other += (heads + 2 * kv) * head_dim + (hidden if text.get("attention_bias") else 0)
            if text.get("mlp_bias"):
                other += 2 * inter + hidden
    elif kind == "gemma4_text":
        norms_per_layer = 4
        types = text.get("layer_types") or ["sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(layers)]
        per_layer = {int(k): v for k, v in (text.get("per_layer_config") or {}).items()}
        if not per_layer:  # the released configs' form: the full-attention layers' head and kv heads
            full = {"head_dim": _int(text, "global_head_dim", 512)}
            if text.get("num_global_key_value_heads") is not None and text.get("attention_k_eq_v", True):
                full["num_key_value_heads"] = int(text["num_global_key_value_heads"])
            per_layer = {i: full for i, t in enumerate(types) if t == "full_attention"}
        shared = int(text.get("num_kv_shared_layers") or 0)
        first_shared = layers - shared
        ple = int(text.get("hidden_size_per_layer_input") or 0)
        bias = bool(text.get("attention_bias"))
        for i in range(layers):
            hd = int(per_layer.get(i, {}).get("head_dim", head_dim))
            kvh = int(per_layer.get(i, {}).get("num_key_value_heads", kv))
            full = types[i] == "full_attention"
            is_shared = i >= first_shared >= 0 and shared > 0
            wide = inter * (2 if text.get("use_double_wide_mlp") and is_shared else 1)
            linears += [("q_proj", hidden, heads * hd)]
            if not is_shared:
                linears += [("k_proj", hidden, kvh * hd)]
                if not (text.get("attention_k_eq_v") and full):
                    linears += [("v_proj", hidden, kvh * hd)]
                norms += hd  # k_norm (v_norm has no scale)
            linears += [("o_proj", heads * hd, hidden), ("gate_proj", hidden, wide), ("up_proj", hidden, wide),
                        ("down_proj", wide, hidden)]
            norms += 4 * hidden + hd  # four norms a layer, q_norm
            if bias:
                other += heads * hd + (0 if is_shared else kvh * hd * (1 if text.get("attention_k_eq_v") and full else 2)) + hidden
            if ple:
                linears += [("per_layer_input_gate", hidden, ple), ("per_layer_projection", ple, hidden)]
                norms += hidden
            widest = {"intermediate": max(widest["intermediate"], wide), "q": max(widest["q"], heads * hd),
                      "kv": max(widest["kv"], kvh * hd)}
        if ple:
            other += _int(text, "vocab_size_per_layer_input", vocab) * layers * ple  # an embedding table: 16-bit
            linears += [("per_layer_model_projection", hidden, layers * ple)]
            norms += ple
    else:  # qwen3_5_text
        types = text.get("layer_types") or []
        if len(types) != layers:
            raise unknown(kind, "layer", "its layer_types do not name every layer", layer="?")
        kh, kd = _int(text, "linear_num_key_heads"), _int(text, "linear_key_head_dim")
        vh, vd = _int(text, "linear_num_value_heads"), _int(text, "linear_value_head_dim")
        conv = 2 * kh * kd + vh * vd
        for t in types:
            if t == "linear_attention":
                linears += [("in_proj_qkv", hidden, conv), ("in_proj_z", hidden, vh * vd), ("in_proj_b", hidden, vh),
                            ("in_proj_a", hidden, vh), ("out_proj", vh * vd, hidden)]
                other += conv * _int(text, "linear_conv_kernel_dim", 4) + 2 * vh  # conv1d, dt_bias, A_log
                norms += vd  # the gated norm
            elif t == "full_attention":  # the query projection also writes the output gate
                linears += [("q_proj", hidden, 2 * heads * head_dim), ("k_proj", hidden, kv * head_dim),
                            ("v_proj", hidden, kv * head_dim), ("o_proj", heads * head_dim, hidden)]
                norms += 2 * head_dim
            else:
                raise unknown(kind, "layer", f"a layer of type {t!r}", layer=str(t))
            linears += mlp
            norms += 2 * hidden
        widest["q"] = max(widest["q"], conv, 2 * heads * head_dim)
    return {
        "model_type": kind, "hidden": hidden, "layers": layers, "vocab": vocab, "heads": heads, "kv_heads": kv,
        "head_dim": head_dim, "intermediate": widest["intermediate"], "q_dim": widest["q"], "kv_dim": widest["kv"],
        "tied": bool(tied), "linears": linears, "norms": norms, "other": other, "norms_per_layer": norms_per_layer,
        "qk_norm": kind in ("qwen3", "gemma3_text", "gemma4_text"),
        "sliding_window": 0 if text.get("use_sliding_window") is False else int(text.get("sliding_window") or 0),
    }


# ---------------------------------------------------------------------------- vision towers


def _siglip(v: dict, text_hidden: int) -> tuple[int, int]:
    """Gemma 3's SigLIP tower and its projector: (linear weights, everything else)."""
    if v.get("vision_use_head"):
        raise unknown("siglip_vision_model", "vision", "its vision tower has a pooling head")
    h, inter, layers = _int(v, "hidden_size"), _int(v, "intermediate_size"), _int(v, "num_hidden_layers")
    patch, size = _int(v, "patch_size", 14), _int(v, "image_size", 896)
    linear = layers * (4 * h * h + 2 * h * inter)
    other = layers * (4 * h + inter + h + 4 * h) + 3 * patch * patch * h + h + (size // patch) ** 2 * h + 2 * h
    return linear, other + h * text_hidden + h  # the projector and its norm


def _gemma4_vision(v: dict, text_hidden: int) -> tuple[int, int]:
    if v.get("standardize"):
        raise unknown("gemma4_vision", "standardize", "its vision tower standardizes its output")
    h, inter, layers = _int(v, "hidden_size"), _int(v, "intermediate_size"), _int(v, "num_hidden_layers")
    heads = _int(v, "num_attention_heads")
    kv, hd = _int(v, "num_key_value_heads", heads), _int(v, "head_dim", h // heads)
    linear = layers * (h * heads * hd * 2 + 2 * h * kv * hd + 3 * h * inter) + 3 * _int(v, "patch_size") ** 2 * h
    other = layers * (4 * h + 2 * hd) + 2 * _int(v, "position_embedding_size") * h
    return linear + h * text_hidden, other  # the projection into the text model (no bias)


def _qwen35_vision(v: dict, text_hidden: int) -> tuple[int, int]:
    h, inter, depth = _int(v, "hidden_size"), _int(v, "intermediate_size"), _int(v, "depth")
    patch, merge = _int(v, "patch_size"), _int(v, "spatial_merge_size", 2)
    merged = h * merge * merge
    linear = depth * (4 * h * h + 2 * h * inter) + merged * merged + _int(v, "out_hidden_size", text_hidden) * merged
    other = (depth * (4 * h + 3 * h + h + inter + h)  # two LayerNorms, the qkv, proj and MLP biases
             + h * _int(v, "in_channels", 3) * _int(v, "temporal_patch_size", 2) * patch * patch + h  # the patch convolution
             + _int(v, "num_position_embeddings") * h
             + 2 * h + merged + _int(v, "out_hidden_size", text_hidden))  # the merger's norm and biases
    return linear, other


VISION = {"siglip_vision_model": _siglip, "gemma4_vision": _gemma4_vision, "qwen3_5_vision": _qwen35_vision}


# ---------------------------------------------------------------------------- audio towers


def _gemma4_audio(a: dict, text_hidden: int) -> tuple[int, int]:
    """Gemma 4 E2B/E4B's conformer audio tower and its projection into the text model: (linear
    weights, everything else). Defaults are transformers' Gemma4AudioConfig's, as it fills a key
    the config.json leaves out. A conformer layer: two feed-forwards (h → 4h → h, two norms
    each), chunked attention (q, k, v, its output and the relative-position keys; a per-dimension
    scale), a light convolution (h → 2h, gated, a depthwise kernel, h → h, two norms) and three
    norms; before the layers two 3×3 convolutions (each with a LayerNorm) and a projection of
    their channels into h; after them a projection (with its bias) to ``output_proj_dims``, which
    the embedder projects into the text model (its norm has no scale)."""
    h, layers = _int(a, "hidden_size", 1024), _int(a, "num_hidden_layers", 12)
    heads = _int(a, "num_attention_heads", 8)
    attn = heads * (h // heads)
    kernel, out = _int(a, "conv_kernel_size", 5), _int(a, "output_proj_dims", 1536)
    channels = a.get("subsampling_conv_channels", [128, 32])
    if not isinstance(channels, (list, tuple)) or len(channels) != 2:
        raise unknown("gemma4_audio", "audio", "its audio tower's subsampling is not two convolutions")
    c0, c1 = (int(c) for c in channels)
    per_layer = 2 * (8 * h * h) + 4 * h * attn + h * h + 3 * h * h
    linear = layers * per_layer + (c0 // 4) * c1 * h + h * out + out * text_hidden
    other = (layers * (2 * 2 * h + (h // heads) + h * kernel + 2 * h + 3 * h)
             + 9 * c0 + c0 + 9 * c0 * c1 + c1 + out)  # the convolutions, their norms, the output bias
    return linear, other


AUDIO = {"gemma4_audio": _gemma4_audio}


def _vision(config: dict, text_hidden: int) -> tuple[int, int]:
    """The vision and audio towers (frozen, 16-bit): (linear weights, everything else)."""
    linear, other = 0, 0
    a = config.get("audio_config")
    if a:
        kind = str(a.get("model_type") or "")
        if kind not in AUDIO:
            raise unknown(kind or "this audio tower", "audio", "its audio tower is not one of " + ", ".join(AUDIO))
        linear, other = AUDIO[kind](a, text_hidden)
    v = config.get("vision_config")
    if not v:
        return linear, other
    kind = str(v.get("model_type") or "")
    if kind not in VISION:
        raise unknown(kind or "this vision tower", "vision", "its vision tower is not one of " + ", ".join(VISION))
    v_linear, v_other = VISION[kind](v, text_hidden)
    return linear + v_linear, other + v_other


# ---------------------------------------------------------------------------- the checkpoint


def arch_from_config(config: dict, *, name: str, base: str):
    """A Preset (core/train/presets.py) with the architecture a config.json describes and
    Preset's training defaults; ``params_b`` is the architecture's own count."""
    from core.train.presets import Preset

    t = _text(config)
    v_linear, v_other = _vision(config, t["hidden"])
    embeddings = t["vocab"] * t["hidden"] * (1 if t["tied"] else 2)
    total = sum(i * o for _n, i, o in t["linears"]) + embeddings + t["norms"] + t["other"] + v_linear + v_other
    vision_layers = 0
    if config.get("vision_config"):
        vc = config["vision_config"]
        vision_layers = int(vc.get("num_hidden_layers") or vc.get("depth") or 0)
    quant = config.get("quantization_config") or {}
    return Preset(
        name, base, "", total / 1e9, t["hidden"], t["layers"], t["vocab"],
        intermediate=t["intermediate"], heads=t["heads"], kv_heads=t["kv_heads"], head_dim=t["head_dim"],
        tied_embeddings=t["tied"], norms_per_layer=t["norms_per_layer"], qk_norm=t["qk_norm"],
        sliding_window=t["sliding_window"], vision_layers=vision_layers,
        vision_linear_m=v_linear / 1e6, vision_other_m=v_other / 1e6,
        load_in_4bit=bool(quant.get("load_in_4bit", True)) if quant.get("quant_method") == "bitsandbytes" else True,
        decoder_linears=tuple(t["linears"]), norm_params=t["norms"], other_params=t["other"],
        q_dim=t["q_dim"], kv_dim=t["kv_dim"], model_type=t["model_type"],
        note=f"{t['model_type']} from {Path(base).name}/config.json",
    )


def _header(path: Path) -> tuple[dict, int]:
    with path.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        return json.loads(fh.read(size)), 8 + size


def not_loaded(config: dict) -> re.Pattern:
    """The tensors a checkpoint may carry that transformers does not load, so they take no memory:
    multi-token-prediction heads (Qwen 3.5, ``mtp.*``) and the keys and values of Gemma 4's
    KV-shared layers (as its model lists them in ``_keys_to_ignore_on_load_unexpected``)."""
    patterns = [r"^mtp\."]
    text = config.get("text_config") or config
    shared = int(text.get("num_kv_shared_layers") or 0) if text.get("model_type") == "gemma4_text" else 0
    if shared:
        layers = int(text["num_hidden_layers"])
        patterns += [rf"layers\.{i}\.self_attn\.(k_proj|v_proj|k_norm|v_norm)\." for i in range(layers - shared, layers)]
    return re.compile("|".join(patterns))


def safetensors_params(folder, *, skip: re.Pattern | None = None) -> int | None:
    """Parameters in a checkpoint's safetensors files, from their headers (shapes, not bytes); a
    bitsandbytes 4-bit weight counts as the shape its quantization state names; tensors ``skip``
    matches are left out. None without weights."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        header, start = _header(path)
        header.pop("__metadata__", None)
        states = {k.split(".quant_state.", 1)[0]: v for k, v in header.items() if ".quant_state." in k}
        for key, info in header.items():
            if ".quant_state." in key or key.endswith(QUANT_STATE) or (skip is not None and skip.search(key)):
                continue
            n = math.prod(info["shape"])
            state = states.get(key)
            if state is not None:
                n = _quantized_count(path, start, state, packed=n)
            total += n
    return total


def _quantized_count(path: Path, start: int, state: dict, *, packed: int) -> int:
    """The weights of one bitsandbytes 4-bit tensor: the shape in its packed state (JSON bytes),
    else two a byte."""
    begin, end = state["data_offsets"]
    try:
        with path.open("rb") as fh:
            fh.seek(start + begin)
            shape = json.loads(fh.read(end - begin).decode("utf-8"))["shape"]
        return math.prod(int(d) for d in shape)
    except (ValueError, KeyError, TypeError):
        return 2 * packed


# how far the weights may be from what the config describes before the estimate distrusts it
# (tokenizer rows padded, a buffer saved as a tensor)
MISMATCH = 0.03


def checkpoint_arch(folder, *, name: str | None = None):
    """The Preset of a checkpoint folder: its config.json's architecture, and its parameter count
    from the weights when they are there (refused with ``arch.unknown`` when the two disagree:
    the weights hold something the config's shape does not say)."""
    folder = Path(folder)
    config = read_config(folder)
    preset = arch_from_config(config, name=name or folder.name, base=str(folder))
    counted = safetensors_params(folder, skip=not_loaded(config))
    if counted is None:
        return preset
    described = preset.params_b * 1e9
    if abs(counted - described) > MISMATCH * counted:
        raise unknown(folder.name, "mismatch",
                      f"its weights hold {counted / 1e9:.3g}B parameters, its config.json describes {described / 1e9:.3g}B",
                      counted=f"{counted / 1e9:.3g}", described=f"{described / 1e9:.3g}")
    from dataclasses import replace

    return replace(preset, params_b=counted / 1e9)
