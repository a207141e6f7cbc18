"""Which parts of a model are its language model: one list, used for LoRA and for 4-bit.

Gemma 3 4B/12B, Gemma 4 and Qwen 3.5 ship as ``*ForConditionalGeneration`` checkpoints with
a vision (and for some an audio) tower whose attention layers are also called ``q_proj``,
``k_proj``… A LoRA given those names lands in the tower too (measured on a Gemma 3 replica:
6 of 34 LoRA tensors), and a 4-bit load quantizes the tower. Training on text pairs wants
neither: LoRA goes on the language model unless asked, and the towers stay in 16 bits, as in
the ``unsloth/…-bnb-4bit`` checkpoints.
"""

from __future__ import annotations

import re

# module-path parts that belong to a non-text tower or its projector, in the families we train
NON_TEXT_PARTS = (
    "vision_tower", "vision_model", "visual", "multi_modal_projector", "embed_vision",
    "audio_tower", "embed_audio", "merger", "mm_projector",
)
# kept in 16 bits by a 4-bit load: the output head and the towers. transformers matches these
# against full module names with re.match (anchored at the start) or endswith, so a tower is
# given as a pattern that finds it anywhere in the path ("model.vision_tower.encoder…")
NOT_QUANTIZED = ("lm_head", *(rf"(?:.*\.)?{re.escape(part)}" for part in NON_TEXT_PARTS))


# targets trained in full rather than through a LoRA (PEFT's ``modules_to_save``), as Unsloth
# does when they are named among its target modules: the input embeddings and the output head,
# which a model must change to learn words it has seen little of (the demo preset)
FULLY_TRAINED = ("embed_tokens", "lm_head")


def split_targets(names: list[str] | tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(the targets that get a LoRA, the modules trained in full)."""
    return [n for n in names if n not in FULLY_TRAINED], [n for n in names if n in FULLY_TRAINED]


def is_non_text(module_name: str) -> bool:
    return any(part in NON_TEXT_PARTS for part in module_name.split("."))


def lora_targets(model, names: list[str] | tuple[str, ...]) -> tuple[str | list[str], list[str]]:
    """(what to give PEFT as ``target_modules``, the leaf names found in the language model).

    A plain list of leaf names where the model has no tower; otherwise a regex PEFT matches
    against full module names that takes those names outside the towers only.
    """
    found: list[str] = []
    towers = False
    for full, _module in model.named_modules():
        leaf = full.rsplit(".", 1)[-1]
        if leaf not in names:
            continue
        if is_non_text(full):
            towers = True
        elif leaf not in found:
            found.append(leaf)
    ordered = [n for n in names if n in found]
    if not towers:
        return ordered, ordered
    parts = "|".join(map(re.escape, NON_TEXT_PARTS))
    leaves = "|".join(map(re.escape, ordered))
    return rf"^(?!(?:.*\.)?(?:{parts})(?:\.|$)).*\.(?:{leaves})$", ordered


def lora_in_towers(model) -> tuple[int, int]:
    """(LoRA weight tensors in a tower, LoRA weight tensors in all) of a PEFT model."""
    total = tower = 0
    for name, _param in model.named_parameters():
        if ".lora_A." in name or ".lora_B." in name:
            total += 1
            tower += is_non_text(name)
    return tower, total
