"""LoRA adapters the export tests train in a few steps on a replica and save as a run saves them
(tests/core/export/test_lora_export.py, test_merge_targets.py): the steps that differ only in the
model's class, the text, the learning rate and the number of steps, once."""

from __future__ import annotations

from pathlib import Path

LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def train_adapter(model, base: Path, out: Path, text: str, *, lr: float, steps: int,
                  modules_to_save: list[str] | None = None) -> Path:
    """``model`` (``base`` loaded, the caller seeds torch first) wrapped in a rank-4 LoRA on its
    language model's linears as a run picks them (not a vision tower's), trained ``steps`` steps
    on ``text`` at ``lr``, saved by the pipeline's own ``save_adapter`` under ``out``: the adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    from core.train import pipeline
    from core.train.modules import lora_targets

    targets, _ = lora_targets(model, LINEARS)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, modules_to_save=modules_to_save))
    tok = AutoTokenizer.from_pretrained(str(base))
    ids = tok(text, return_tensors="pt")["input_ids"]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
    return pipeline.save_adapter(model, tok, pipeline.RunPaths(out), str(base), {"base": str(base)})
