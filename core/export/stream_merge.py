"""Step 1 of an export without holding the model in RAM: the adapter merged tensor by tensor.

``core.export.merge`` loads the whole base, merges with PEFT's ``merge_and_unload`` and saves:
about the model's size in anonymous memory (4.18 GB per billion parameters measured; a 12B
Gemma 3 needs ~25 GB before the converter and the parity check take theirs). Here the base's
safetensors shards are read memory-mapped, one tensor at a time; each weight a LoRA targets
gets ``B·A·scale`` added exactly as PEFT's merge computes it, a ``modules_to_save`` tensor is
taken from the adapter, an nf4 weight of a ``-bnb-4bit`` base is dequantized on its own
(bitsandbytes, on the CPU), and every tensor goes straight into the output shard, whose
safetensors header is written first (every output tensor's shape and dtype are known before
any is computed). What stays in anonymous memory is one tensor and its delta, whatever the
size of the model.

The result is the folder ``merge_and_unload`` + ``save_pretrained`` writes, tensor for tensor
(tests/core/export/test_stream_merge.py): the same keys (the checkpoint's own names — transformers
reverses its load-time renames on save), the same dtypes, the same values. PEFT's arithmetic,
read from peft 0.21's ``lora.Linear``: the adapter's A and B are loaded as float32
(``autocast_adapter_dtype``), ``delta = (B @ A) * scaling`` in float32 with ``scaling =
alpha / r`` (``alpha / sqrt(r)`` with rsLoRA, per module ``rank_pattern``/``alpha_pattern``),
and ``weight += delta`` in place — for a bf16 weight that adds in float32 and rounds once.

What is not streamed falls back to the in-memory merge, and ``plan()`` says why in a sentence
(the export log shows it): DoRA, LoRA on embeddings or on bare parameters, a LoRA bias,
adapters that train token rows, a checkpoint whose tensors transformers fuses or splits on
load, or an adapter trained on another class than the checkpoint's (the in-memory path loads
it as that class, and refuses it there when it does not fit). An adapter tensor with no target
is refused here as there (``core.train.adapter_fit``): never the base under a run's name.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

from core.export.source import Source

# the largest output shard; a shard is written as it is computed, so this bounds file sizes, not memory
SHARD_BYTES = 4 * 2**30
# the 4-bit checkpoint's companions of an nf4 weight "X.weight": "X.weight.absmax", ….quant_state.…
_QUANT_PARTS = (".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map", ".quant_state.")
_ST_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "int64": "I64", "int32": "I32",
              "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2"}
PEFT_PREFIX = "base_model.model."


class Fallback(Exception):
    """This merge cannot be streamed; the message says why (one sentence, for the export log)."""


@dataclass
class _Out:
    """One tensor of the merged checkpoint: where it comes from and what is added to it."""

    key: str  # its name in the checkpoint and in the output
    file: Path  # the base shard it is read from
    shape: tuple[int, ...]
    dtype: object  # torch dtype written
    nf4: bool = False  # an nf4 weight of a 4-bit base: dequantized first
    lora: str | None = None  # the module whose LoRA delta is added (the adapter's name for it)
    replace: str | None = None  # the adapter key whose tensor replaces it (modules_to_save)


@dataclass
class Plan:
    """Everything the streaming merge will write, decided before a tensor is read."""

    origin: Path
    model_class: str
    how: str  # "base" | "sibling" | "dequantized"
    dtype: object
    tensors: list[_Out] = field(default_factory=list)
    scaling: dict[str, float] = field(default_factory=dict)
    loras: dict[str, tuple[str, str]] = field(default_factory=dict)  # module → (its lora_A key, its lora_B key)
    adapter_file: Path | None = None
    fan_in_fan_out: bool = False
    untie: bool = False  # a tied head and its embedding both trained in full: written apart, the config unties them
    dropped: list[str] = field(default_factory=list)  # checkpoint tensors transformers does not load, so not saved either

    def output_bytes(self) -> int:
        import torch

        return sum(math.prod(t.shape) * torch.empty((), dtype=t.dtype).element_size() for t in self.tensors)


def _st_header(path: Path) -> dict:
    """A safetensors file's header (names, dtypes, shapes), read without touching its data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def _base_files(origin: Path) -> dict[str, Path]:
    """Each checkpoint tensor's shard."""
    index = origin / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return {k: origin / v for k, v in weight_map.items()}
    files = sorted(origin.glob("*.safetensors"))
    if not files:
        raise Fallback(f"{origin} has no safetensors weights")
    return {k: f for f in files for k in _st_header(f) if k != "__metadata__"}


def _torch_dtype(name: str):
    import torch

    inverse = {v: k for k, v in _ST_DTYPES.items()}
    return getattr(torch, inverse[name])


def _meta_model(cls, config):
    """The model class built on the meta device: its parameter names and load-time renames, no memory."""
    import torch

    with torch.device("meta"):
        return cls(config)


def plan(source: Source) -> Plan:
    """What the streaming merge of ``source`` writes; ``Fallback`` when it cannot stream it,
    ``UserError`` when the adapter does not fit the base (as the in-memory merge refuses it)."""
    import torch
    import transformers
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key

    from core.export.merge import checkpoint_dtype, model_loader
    from core.export.siblings import is_4bit

    origin = source.sibling_dir or source.model_dir
    nf4 = source.sibling_dir is None and is_4bit(source.model_dir)
    how = "sibling" if source.sibling_dir is not None else "dequantized" if nf4 else "base"
    config = transformers.AutoConfig.from_pretrained(str(origin))
    loader = model_loader(source)
    if loader is transformers.AutoModelForCausalLM:
        cls = transformers.AutoModelForCausalLM._model_mapping.get(type(config), None)
        if cls is None:
            raise Fallback(f"transformers has no causal-LM class for {type(config).__name__}")
    else:
        cls = loader
    stored = (getattr(config, "architectures", None) or [None])[0]
    if stored and cls.__name__ != stored:
        raise Fallback(f"the adapter is merged into the class {cls.__name__}, the checkpoint is {stored}: "
                       "the in-memory merge loads it as that class")
    dtype = checkpoint_dtype(origin)
    files = _base_files(origin)
    headers = {f: _st_header(f) for f in set(files.values())}

    meta = _meta_model(cls, config)
    meta_keys = set(meta.state_dict().keys())
    strict, loose = getattr(meta, "_keep_in_fp32_modules_strict", None), getattr(meta, "_keep_in_fp32_modules", None)
    if (strict and dtype in (torch.float16, torch.bfloat16)) or (loose and dtype == torch.float16):
        raise Fallback(f"{cls.__name__} keeps some modules in float32 when loaded in 16 bits")
    conversions = get_model_conversion_mapping(meta)
    renamings = [c for c in conversions if isinstance(c, WeightRenaming)]
    converters = [c for c in conversions if isinstance(c, WeightConverter)]
    meta_sd = dict.fromkeys(meta_keys, True)
    prefix = getattr(meta, "base_model_prefix", None)

    to_model: dict[str, str] = {}  # checkpoint key → the model's parameter name
    result_dropped: list[str] = []
    out: list[_Out] = []
    for key, file in sorted(files.items()):
        if nf4 and any(part in key for part in _QUANT_PARTS):
            continue
        renamed, converted = rename_source_key(key, renamings, converters, prefix, meta_sd)
        if converted is not None:
            raise Fallback(f"transformers converts {key} on load ({converted}): fused or split tensors are merged in memory")
        if renamed not in meta_keys:  # transformers does not load it (Qwen 3.5's multi-token-prediction head): not saved
            result_dropped.append(key)
            continue
        to_model[key] = renamed
        head = headers[file][key]
        shape = tuple(head["shape"])
        quantized = nf4 and f"{key}.quant_state.bitsandbytes__nf4" in files
        if quantized:
            from bitsandbytes.utils import unpack_tensor_to_dict

            state = unpack_tensor_to_dict(_read(files[f"{key}.quant_state.bitsandbytes__nf4"], f"{key}.quant_state.bitsandbytes__nf4"))
            shape, stored_dtype = tuple(state["shape"]), getattr(torch, state["dtype"])
        else:
            stored_dtype = _torch_dtype(head["dtype"])
        # from_pretrained(dtype=…) casts every floating tensor to the checkpoint's dtype (a 4-bit base: bf16)
        write_dtype = stored_dtype if not stored_dtype.is_floating_point else (stored_dtype if quantized else dtype)
        out.append(_Out(key, file, shape, write_dtype, nf4=quantized))
    model_to_ckpt = {m: c for c, m in to_model.items()}
    tied = _tied(meta)
    absent = sorted(meta_keys - set(model_to_ckpt) - set(tied))
    if absent:
        raise Fallback(f"the checkpoint lacks {len(absent)} of {cls.__name__}'s tensors ({', '.join(absent[:3])}), "
                       "which transformers initialises on load")

    result = Plan(origin, cls.__name__, how, dtype, out, dropped=result_dropped)
    if source.adapter_dir is None:
        return result

    def saved_name(name: str) -> str:  # a parameter's name as save_pretrained writes it (the load renames reversed)
        # only the renames the checkpoint's keys used, as transformers keeps them for save_pretrained
        back = [c.reverse_transform() for c in conversions[::-1] if c.was_used()]
        return rename_source_key(name, [c for c in back if isinstance(c, WeightRenaming)],
                                 [c for c in back if isinstance(c, WeightConverter)], reverse=True)[0]

    _plan_adapter(source, result, meta_keys, model_to_ckpt, cls.__name__, tied=tied, saved_name=saved_name)
    return result


def _tied(meta) -> dict[str, str]:
    """Parameter names the model ties to another (lm_head.weight → …embed_tokens.weight)."""
    out: dict[str, str] = {}
    try:
        tied = meta.get_expanded_tied_weights_keys(all_submodels=True) if hasattr(meta, "get_expanded_tied_weights_keys") else {}
    except TypeError:
        tied = meta.get_expanded_tied_weights_keys()
    for target, src in (tied or {}).items():
        out[target] = src
    return out


def _read(file: Path, key: str):
    from safetensors import safe_open

    with safe_open(str(file), "pt") as f:
        return f.get_tensor(key)


def _plan_adapter(source: Source, result: Plan, meta_keys: set[str], model_to_ckpt: dict[str, str], cls_name: str,
                  tied: dict[str, str], saved_name) -> None:
    from peft.utils.other import get_pattern_key

    assert source.adapter_dir is not None
    cfg = json.loads((source.adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if cfg.get("peft_type", "LORA") != "LORA":
        raise Fallback(f"the adapter is {cfg.get('peft_type')}, not LoRA")
    for flag, what in (("use_dora", "a DoRA adapter (its magnitude vector rescales the merged weight)"),
                       ("lora_bias", "a LoRA with a bias"), ("target_parameters", "a LoRA on bare parameters"),
                       ("trainable_token_indices", "an adapter that trains token rows"),
                       ("layer_replication", "an adapter with replicated layers"), ("use_qalora", "a QA-LoRA adapter")):
        if cfg.get(flag):
            raise Fallback(f"{what} is merged in memory")
    adapter_file = source.adapter_dir / "adapter_model.safetensors"
    if not adapter_file.is_file():
        raise Fallback(f"{source.adapter_dir} has no adapter_model.safetensors")
    header = _st_header(adapter_file)
    keys = [k for k in header if k != "__metadata__"]
    loras: dict[str, dict[str, str]] = {}
    full: dict[str, str] = {}  # the model's parameter name → the adapter key that replaces it
    unused: list[str] = []
    for key in keys:
        name = key[len(PEFT_PREFIX):] if key.startswith(PEFT_PREFIX) else key
        m = re.fullmatch(r"(.+)\.lora_([AB])\.weight", name)
        if m:
            loras.setdefault(m.group(1), {})[m.group(2)] = key
        elif "lora_" in name:
            raise Fallback(f"the adapter tensor {key} is not a plain LoRA pair (embedding or variant LoRA)")
        elif name in meta_keys:
            full[name] = key
        else:
            unused.append(key)
    missing: list[str] = []
    for module, pair in sorted(loras.items()):
        weight = f"{module}.weight"
        if weight not in meta_keys or weight not in model_to_ckpt and weight not in tied:
            unused.extend(pair.values())
            continue
        for side in "AB":
            if side not in pair:
                missing.append(f"{PEFT_PREFIX}{module}.lora_{side}.weight")
    if unused or missing:
        from core.export.merge import _misfit_hint
        from core.train.adapter_fit import misfit_error

        what = f"run {source.run_id}'s adapter" if source.run_id is not None else f"the adapter in {source.adapter_dir}"
        raise misfit_error(what, _misfit_hint(source, cls_name), cls_name, source.adapter_dir, sorted(unused), missing, len(keys))
    by_key = {t.key: t for t in result.tensors}
    r_default, alpha_default = cfg.get("r", 8), cfg.get("lora_alpha", 8)
    ranks, alphas = cfg.get("rank_pattern") or {}, cfg.get("alpha_pattern") or {}
    for module, pair in loras.items():
        weight = f"{module}.weight"
        if weight not in model_to_ckpt:  # a LoRA on a tied head: the checkpoint stores it only as the embedding
            raise Fallback(f"the adapter puts a LoRA on {module}, which the checkpoint ties to {tied[weight]}")
        r = ranks.get(get_pattern_key(list(ranks), module), r_default)
        alpha = alphas.get(get_pattern_key(list(alphas), module), alpha_default)
        result.scaling[module] = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        target = by_key[model_to_ckpt[weight]]
        target.lora = module
        result.loras[module] = (pair["A"], pair["B"])
    for name, key in full.items():
        ckpt = model_to_ckpt.get(name)
        if ckpt is not None:
            by_key[ckpt].replace = key
            continue
        # a tied head (stored only as its embedding) trained in full: merge_and_unload leaves two modules, and
        # save_pretrained writes both and unties them in the config; with only one of the two trained, in memory
        src = tied.get(name)
        if src is None or src not in full or src not in model_to_ckpt:
            raise Fallback(f"the adapter trains {name} in full, which the checkpoint ties to {src or 'another tensor'}")
        embed = by_key[model_to_ckpt[src]]
        result.tensors.append(_Out(saved_name(name), adapter_file, tuple(header[key]["shape"]), embed.dtype, replace=key))
        result.untie = True
    result.adapter_file = adapter_file
    result.fan_in_fan_out = bool(cfg.get("fan_in_fan_out"))


# ---------------------------------------------------------------------------- writing


class _Reader:
    """The base's shards and the adapter, opened memory-mapped once each."""

    def __init__(self) -> None:
        self._open: dict[Path, object] = {}
        self._keep: list = []

    def get(self, file: Path, key: str):
        from safetensors import safe_open

        if file not in self._open:
            handle = safe_open(str(file), "pt")
            self._keep.append(handle)
            self._open[file] = handle.__enter__()
        return self._open[file].get_tensor(key)  # type: ignore[attr-defined]

    def close(self) -> None:
        for handle in self._keep:
            handle.__exit__(None, None, None)


def _nf4(reader: _Reader, files: dict[str, Path], key: str):
    """One nf4 weight of a 4-bit checkpoint, dequantized on the CPU (bitsandbytes), in the dtype it was quantized from."""
    import torch
    from bitsandbytes.functional import QuantState, dequantize_4bit

    parts = {k[len(key) + 1:]: reader.get(f, k) for k, f in files.items() if k.startswith(key + ".") and k != key}
    state = QuantState.from_dict(parts, device=torch.device("cpu"))
    return dequantize_4bit(reader.get(files[key], key), state)


def _compute(t: _Out, p: Plan, reader: _Reader, files: dict[str, Path]):
    """One output tensor: the base's (dequantized, cast as from_pretrained casts it), or the adapter's
    full copy, plus its LoRA delta as PEFT adds it."""
    if t.replace is not None:
        assert p.adapter_file is not None
        x = reader.get(p.adapter_file, t.replace).to(t.dtype)
    elif t.nf4:
        x = _nf4(reader, files, t.key).to(t.dtype)
    else:
        stored = reader.get(t.file, t.key)
        x = stored.to(t.dtype)
        if t.lora is not None and x.data_ptr() == stored.data_ptr():
            # no cast made a copy: x is the shard's memory-mapped pages, and an in-place add would turn them
            # into private anonymous copies that live as long as the mapping — the whole model by the end
            x = x.clone()
    if t.lora is not None:
        assert p.adapter_file is not None
        a_key, b_key = p.loras[t.lora]
        a, b = reader.get(p.adapter_file, a_key).float(), reader.get(p.adapter_file, b_key).float()
        delta = b @ a
        if p.fan_in_fan_out:
            delta = delta.T
        delta = delta * p.scaling[t.lora]
        x += delta  # in place: a bf16 weight adds in float32 and rounds once, as merge_and_unload's `weight.data += delta`
        del a, b, delta
    return x.contiguous()


def _shards(p: Plan) -> list[list[_Out]]:
    import torch

    out: list[list[_Out]] = [[]]
    size = 0
    for t in p.tensors:
        n = math.prod(t.shape) * torch.empty((), dtype=t.dtype).element_size()
        if out[-1] and size + n > SHARD_BYTES:
            out.append([])
            size = 0
        out[-1].append(t)
        size += n
    return out


def _write_shard(path: Path, tensors: list[_Out], p: Plan, reader: _Reader, files: dict[str, Path], on_tensor) -> int:
    """One safetensors file, header first (shapes and dtypes are planned), each tensor written as it is computed."""
    import torch

    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in tensors:
        n = math.prod(t.shape) * torch.empty((), dtype=t.dtype).element_size()
        header[t.key] = {"dtype": _ST_DTYPES[str(t.dtype).replace("torch.", "")], "shape": list(t.shape),
                         "data_offsets": [offset, offset + n]}
        offset += n
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for t in tensors:
            x = _compute(t, p, reader, files)
            if tuple(x.shape) != t.shape or x.dtype != t.dtype:
                raise RuntimeError(f"{t.key}: computed {tuple(x.shape)} {x.dtype}, planned {t.shape} {t.dtype}")
            if x.numel():
                f.write(memoryview(x.view(torch.uint8).reshape(-1).numpy()))
            del x
            on_tensor()
    return offset


def stream_merge(source: Source, out_dir: Path, *, planned: Plan | None = None, progress=None) -> Path:
    """The merged checkpoint of ``source`` in ``out_dir`` (see the module docstring), with its config,
    generation config and tokenizer files and ``nastavnik_merge.json``. ``progress(done, total)``
    after each tensor. ``Fallback`` when it cannot be streamed, before anything is written."""
    import transformers

    from core.export.merge import copy_tokenizer_files

    p = planned or plan(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = _base_files(p.origin)
    shards = _shards(p)
    total, done = len(p.tensors), 0
    names = (["model.safetensors"] if len(shards) == 1
             else [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)])

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    reader = _Reader()
    try:
        size = sum(_write_shard(out_dir / name, shard, p, reader, files, tick) for name, shard in zip(names, shards))
    finally:
        reader.close()
    if len(shards) > 1:
        index = {"metadata": {"total_size": size}, "weight_map": {t.key: name for name, shard in zip(names, shards) for t in shard}}
        (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    config = transformers.AutoConfig.from_pretrained(str(p.origin))
    if p.how == "dequantized":  # plain 16-bit weights now
        if hasattr(config, "quantization_config"):
            del config.quantization_config
    config.dtype = p.dtype
    for sub in getattr(config, "sub_configs", None) or {}:  # save_pretrained writes each sub-config's dtype too
        if getattr(config, sub, None) is not None:
            getattr(config, sub).dtype = p.dtype
    if p.untie:
        config.tie_word_embeddings = False
    config.save_pretrained(str(out_dir))
    gen = p.origin / "generation_config.json"
    if gen.is_file():
        shutil.copyfile(gen, out_dir / "generation_config.json")
    copy_tokenizer_files([source.model_dir] + ([source.adapter_dir] if source.adapter_dir else []), out_dir)
    dtype = str(p.dtype).replace("torch.", "")
    message = {"sibling": f"merged into the 16-bit sibling {p.origin.name} of the 4-bit base",
               "dequantized": "no 16-bit sibling of the 4-bit base on this disk: dequantized its nf4 weights and merged into them",
               "base": ""}[p.how]
    info = {"how": p.how, "base": str(p.origin), "dtype": dtype, "model_class": p.model_class, "message": message,
            "streamed": True, "left_out": p.dropped}
    (out_dir / "nastavnik_merge.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return out_dir
