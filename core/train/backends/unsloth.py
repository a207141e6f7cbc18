"""Unsloth on CUDA: FastLanguageModel, 4-bit base, Unsloth gradient checkpointing.

Unsloth patches transformers, PEFT and TRL when it is imported, so it must be imported
before them: ``load`` is the first step of the pipeline and imports it before anything
imports trl. Without an NVIDIA GPU Unsloth raises at import time, so check CUDA first.
"""

from __future__ import annotations

from core.errors import UserError

NAME = "unsloth"


def cuda_available() -> bool:
    from core.train.backends import cuda_available as check

    return check()


def available() -> str | None:
    import importlib.util

    if not cuda_available():
        return "the unsloth backend needs an NVIDIA GPU with CUDA and none is visible here — use --backend hf (CPU) or auto"
    if importlib.util.find_spec("unsloth") is None:
        return "the unsloth backend needs the unsloth package — pip install unsloth (or use --backend hf)"
    return None


def load(config, base_path: str):
    why = available()
    if why:
        raise UserError(why)
    import unsloth  # noqa: F401  (first: it patches transformers/peft/trl)
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=base_path,
        max_seq_length=config.max_seq_len,
        load_in_4bit=config.load_in_4bit,
        dtype=None,  # Unsloth picks bf16 where the GPU has it
    )
    return model, tokenizer


def add_adapters(model, config):
    from unsloth import FastLanguageModel

    return FastLanguageModel.get_peft_model(
        model,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.targets),
        bias="none",
        use_gradient_checkpointing="unsloth",
        random_state=config.seed,
        max_seq_length=config.max_seq_len,
    )


def trainer_args(config) -> dict:
    import torch

    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16, "optim": "adamw_8bit"}
