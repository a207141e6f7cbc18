"""Step 1 of an export: the LoRA adapter merged into its base, in the base's own precision.

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


def checkpoint_dtype(folder: Path):
    """The dtype a checkpoint's weights are stored in (its config), float32 when it says none."""
    import json

    import torch

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return torch.float32
    name = config.get("dtype") or config.get("torch_dtype") or (config.get("text_config") or {}).get("dtype") or "float32"
    quant = config.get("quantization_config") or {}
    if quant.get("quant_method") == "bitsandbytes":  # stored as nf4: its 16-bit precision is the compute dtype
        name = quant.get("bnb_4bit_compute_dtype") or "bfloat16"
    return getattr(torch, str(name).replace("torch.", ""), torch.float32)


def _reversible(conversion) -> bool:
    try:
        conversion.reverse_transform()
    except NotImplementedError:
        return False
    return True


def load_base(source: Source):
    """(the base as a 16-bit model, what was done to get it) — see the module docstring."""
    from transformers import AutoModelForCausalLM

    from core.export.siblings import is_4bit

    if source.sibling_dir is not None:
        dtype = checkpoint_dtype(source.sibling_dir)
        model = AutoModelForCausalLM.from_pretrained(str(source.sibling_dir), dtype=dtype)
        return model, {"how": "sibling", "base": str(source.sibling_dir), "dtype": str(dtype).replace("torch.", ""),
                       "message": f"merged into the 16-bit sibling {source.sibling_dir.name} of the 4-bit base"}
    if is_4bit(source.model_dir):
        model = AutoModelForCausalLM.from_pretrained(str(source.model_dir), device_map={"": "cpu"})
        model = model.dequantize()
        # what the 4-bit load did to the weights cannot be undone on save: the model is plain 16-bit now
        model._weight_conversions = [c for c in getattr(model, "_weight_conversions", None) or [] if _reversible(c)]
        dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
        return model, {"how": "dequantized", "base": str(source.model_dir), "dtype": str(dtype).replace("torch.", ""),
                       "message": "no 16-bit sibling of the 4-bit base on this disk: dequantized its nf4 weights and merged into them"}
    dtype = checkpoint_dtype(source.model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(source.model_dir), dtype=dtype)
    return model, {"how": "base", "base": str(source.model_dir), "dtype": str(dtype).replace("torch.", ""), "message": ""}


def merge(source: Source, out_dir: Path) -> Path:
    """The adapter merged into the base (see the module docstring), saved with its tokenizer files."""
    import json

    quiet_transformers()
    out_dir.mkdir(parents=True, exist_ok=True)
    base, info = load_base(source)
    if source.adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(base, str(source.adapter_dir))
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
