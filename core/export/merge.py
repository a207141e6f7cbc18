"""Step 1 of an export: the LoRA adapter merged into its full-precision base.

PEFT's ``merge_and_unload`` merges into the full-precision base (not into a 4-bit copy);
the merged folder keeps the tokenizer files byte for byte — the adapter's win over the
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


def merge(source: Source, out_dir: Path) -> Path:
    """The adapter merged into the full-precision base, saved with its tokenizer files."""
    import torch
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    out_dir.mkdir(parents=True, exist_ok=True)
    base = AutoModelForCausalLM.from_pretrained(str(source.model_dir), dtype=torch.float32)
    if source.adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(base, str(source.adapter_dir))
        model = model.merge_and_unload()
    else:
        model = base
    model.save_pretrained(str(out_dir), safe_serialization=True)
    gen = source.model_dir / "generation_config.json"
    if gen.is_file():
        shutil.copyfile(gen, out_dir / "generation_config.json")
    dirs = [source.model_dir] + ([source.adapter_dir] if source.adapter_dir else [])
    copy_tokenizer_files(dirs, out_dir)
    return out_dir
