"""Step 1 of an export: the LoRA adapter merged into its base, in the base's own precision.

``merge`` streams it tensor by tensor (``core.export.stream_merge``: the model is never held in
RAM) and falls back to ``merge_in_memory`` — what this module describes below — only for what
cannot be streamed, saying why. Both write the same folder, tensor for tensor.

PEFT's ``merge_and_unload`` merges into 16-bit weights, never into a 4-bit copy. A base stored
in 4-bit (an ``unsloth/…-bnb-4bit`` checkpoint, or ``demo-ARCH --prequantize``) is merged into
its 16-bit sibling when that is on disk (``core.export.siblings``), else its nf4 weights are
dequantized (bitsandbytes, on the CPU) and the adapter merged into those; which one happened
is written to ``nastavnik_merge.json`` and reported. The merge runs in the base's dtype (bf16
for today's checkpoints, not fp32: a 12B merge then needs about its bf16 size of RAM, not
twice it), so the converter and the parity check see the weights as they are.

The merged folder keeps the tokenizer files byte for byte — the adapter's win over the
base's, so a run trained with another template than the checkpoint's own prompts with it.
A source without an adapter is loaded and saved as it is.

The base is loaded as the class the adapter was trained on (``Source.model_class``, from the
run's ``nastavnik_run.json``): Unsloth on CUDA trains Qwen 3.5 as
``Qwen3_5ForConditionalGeneration`` (LoRA keys ``model.language_model.layers…``), where
``AutoModelForCausalLM`` would give ``Qwen3_5ForCausalLM`` (``model.layers…``). Whatever the
class, a merge whose adapter tensors do not all find their modules is refused
(``core.train.adapter_fit``): PEFT would only warn, and the export would be the untrained base
under the run's name — with a parity check that passes, both sides being the base.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from core.export.common import quiet_transformers
from core.export.source import Source

TOKENIZER_FILES = (
    "tokenizer.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
)


def copy_tokenizer_files(src_dirs: list[Path], dst: Path) -> list[str]:
    """Copy the tokenizer files byte for byte; later folders win (the adapter's over the base's)."""
    copied: dict[str, Path] = {}
    for d in src_dirs:
        for name in TOKENIZER_FILES:
            if (d / name).is_file():
                copied[name] = d / name
    for name, path in copied.items():
        shutil.copyfile(path, dst / name)
    return sorted(copied)


def checkpoint_dtype_name(folder: Path) -> str:
    """The name of the dtype a checkpoint's weights are stored in (its config; "float32" when it
    says none; a 4-bit checkpoint: its 16-bit compute dtype) — read without importing torch."""
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "float32"
    name = config.get("dtype") or config.get("torch_dtype") or (config.get("text_config") or {}).get("dtype") or "float32"
    quant = config.get("quantization_config") or {}
    if quant.get("quant_method") == "bitsandbytes":  # stored as nf4: its 16-bit precision is the compute dtype
        name = quant.get("bnb_4bit_compute_dtype") or "bfloat16"
    return str(name).replace("torch.", "")


def checkpoint_dtype(folder: Path):
    """The torch dtype a checkpoint's weights are stored in (``checkpoint_dtype_name``), float32 when unknown."""
    import torch

    return getattr(torch, checkpoint_dtype_name(folder), torch.float32)


def _reversible(conversion) -> bool:
    try:
        conversion.reverse_transform()
    except NotImplementedError:
        return False
    return True


def model_loader(source: Source):
    """The transformers class to load the base as: the one the adapter was trained on, else
    ``AutoModelForCausalLM`` (no adapter, or an adapter from before the class was recorded)."""
    import transformers

    name = source.model_class
    if not name:
        return transformers.AutoModelForCausalLM
    cls = getattr(transformers, name, None) if name.isidentifier() else None
    if cls is None or not hasattr(cls, "from_pretrained"):
        from core.errors import UserError

        raise UserError(f"{source.name} was trained on the model class {name}, which transformers {transformers.__version__} does not have",
                        hint="export it with the transformers it was trained with (`make install` installs the pinned one)")
    return cls


def load_base(source: Source, device_map: dict | None = None):
    """(the base as a 16-bit model, what was done to get it) — see the module docstring. ``device_map``
    (the parity check's ``{"": 0}``): where a 16-bit base loads; a 4-bit one dequantizes on the CPU."""
    from core.export.siblings import is_4bit

    loader = model_loader(source)
    placed = {"device_map": device_map} if device_map is not None else {}
    if source.sibling_dir is not None:
        dtype = checkpoint_dtype(source.sibling_dir)
        model = loader.from_pretrained(str(source.sibling_dir), dtype=dtype, **placed)
        return model, {"how": "sibling", "base": str(source.sibling_dir), "dtype": str(dtype).replace("torch.", ""),
                       "model_class": type(model).__name__,
                       "message": f"merged into the 16-bit sibling {source.sibling_dir.name} of the 4-bit base"}
    if is_4bit(source.model_dir):
        model = loader.from_pretrained(str(source.model_dir), device_map={"": "cpu"})
        model = model.dequantize()
        # what the 4-bit load did to the weights cannot be undone on save: the model is plain 16-bit now
        model._weight_conversions = [c for c in getattr(model, "_weight_conversions", None) or [] if _reversible(c)]
        dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
        return model, {"how": "dequantized", "base": str(source.model_dir), "dtype": str(dtype).replace("torch.", ""),
                       "model_class": type(model).__name__,
                       "message": "no 16-bit sibling of the 4-bit base on this disk: dequantized its nf4 weights and merged into them"}
    dtype = checkpoint_dtype(source.model_dir)
    model = loader.from_pretrained(str(source.model_dir), dtype=dtype, **placed)
    return model, {"how": "base", "base": str(source.model_dir), "dtype": str(dtype).replace("torch.", ""),
                   "model_class": type(model).__name__, "message": ""}


def _misfit_hint(source: Source, loaded: str) -> str:
    """What to do when the adapter does not fit the base as loaded."""
    import json

    try:
        config = json.loads(((source.sibling_dir or source.model_dir) / "config.json").read_text(encoding="utf-8"))
        stored = (config.get("architectures") or [None])[0]
    except (OSError, ValueError):
        stored = None
    if not source.model_class and stored and stored != loaded:
        return (f"the adapter does not say which class it was trained on (a run from before that was recorded); if it was "
                f"{stored} (Unsloth on a GPU trains this family so), add \"model_class\": \"{stored}\" to "
                f"{source.adapter_dir}/nastavnik_run.json and export again")
    return (f"it was not trained on this base ({source.sibling_dir or source.model_dir}): export it with the base its run "
            "trained on, or train the run again")


def merge(source: Source, out_dir: Path) -> Path:
    """The adapter merged into the base, tensor by tensor (``core.export.stream_merge``: the model
    is never held in RAM); in memory (``merge_in_memory``) only when the streaming merge cannot
    do it, and then ``nastavnik_merge.json``'s message says why (the export log shows it).

    Refused (a UserError naming the run and the tensors) when any adapter tensor finds no module
    of the base, or any LoRA module no tensor."""
    import json

    from core.export.stream_merge import Fallback, plan, stream_merge

    try:
        planned = plan(source)
    except Fallback as why:
        reason = str(why)
    else:
        return stream_merge(source, out_dir, planned=planned)
    merge_in_memory(source, out_dir)
    record = out_dir / "nastavnik_merge.json"
    info = json.loads(record.read_text(encoding="utf-8"))
    said = f"merged in memory (the whole model in RAM), not tensor by tensor: {reason}"
    info.update({"streamed": False, "fallback": reason, "message": "; ".join(m for m in (info.get("message"), said) if m)})
    record.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return out_dir


def merge_in_memory(source: Source, out_dir: Path) -> Path:
    """The adapter merged into the base loaded whole (see the module docstring), saved with its tokenizer files.

    Refused (a UserError naming the run and the tensors) when any adapter tensor finds no module
    of the base, or any LoRA module no tensor: never an untrained model under a run's name."""
    import json

    quiet_transformers()
    out_dir.mkdir(parents=True, exist_ok=True)
    base, info = load_base(source)
    if source.adapter_dir is not None:
        from core.train.adapter_fit import load_adapter

        what = f"run {source.run_id}'s adapter" if source.run_id is not None else f"the adapter in {source.adapter_dir}"
        model = load_adapter(base, source.adapter_dir, what=what, hint=_misfit_hint(source, type(base).__name__))
        model = model.merge_and_unload()
    else:
        model = base
    model.save_pretrained(str(out_dir), safe_serialization=True)
    origin = source.sibling_dir or source.model_dir
    gen = origin / "generation_config.json"
    if gen.is_file():
        shutil.copyfile(gen, out_dir / "generation_config.json")
    dirs = [source.model_dir] + ([source.adapter_dir] if source.adapter_dir else [])
    copy_tokenizer_files(dirs, out_dir)
    (out_dir / "nastavnik_merge.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return out_dir
