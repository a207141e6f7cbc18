"""transformers + PEFT + TRL: 4-bit (bitsandbytes) QLoRA on CUDA, plain LoRA on CPU."""

from __future__ import annotations

from core.errors import UserError

NAME = "hf"


def available() -> str | None:
    return None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def packed_attention() -> str:
    """flash-attn's varlen kernels where they exist, else our per-example sdpa (core/train/varlen.py).

    Both keep packed examples apart without building an L×L mask; sdpa with a block-diagonal
    mask would be correct too, but on the CPU slower than not packing at all.
    """
    import importlib.util

    if _cuda() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    from core.train import varlen

    return varlen.register()


def load(config, base_path: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict = {"trust_remote_code": False}
    if config.packing:
        kwargs["attn_implementation"] = packed_attention()
    if _cuda():
        bf16 = torch.cuda.is_bf16_supported()
        kwargs["dtype"] = torch.bfloat16 if bf16 else torch.float16
        if config.load_in_4bit:
            try:
                from transformers import BitsAndBytesConfig
                import bitsandbytes  # noqa: F401
            except ImportError as exc:
                raise UserError("4-bit loading needs bitsandbytes", hint="pip install bitsandbytes, or load the model in 16 bits: `nastavnik train --no-load-in-4bit …`") from exc
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=kwargs["dtype"],
            )
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    else:
        kwargs["dtype"] = torch.float32
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForCausalLM.from_pretrained(base_path, **kwargs)
    return model, tokenizer


def add_adapters(model, config):
    from peft import LoraConfig, get_peft_model

    if getattr(model, "is_loaded_in_4bit", False):
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in config.targets if t in names]
    if not targets:
        raise UserError(
            f"none of the LoRA targets {', '.join(config.targets)} exist in this model",
            hint="set --targets to its linear layer names",
        )
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def trainer_args(config) -> dict:
    import torch

    if not torch.cuda.is_available():
        # fp32 and no gradient checkpointing: TRL's defaults (bf16 autocast, checkpointing)
        # made a CPU step of the demo model ~12× slower (bench/train.py); memory is not what
        # a CPU run is short of
        return {"use_cpu": True, "bf16": False, "fp16": False, "gradient_checkpointing": False}
    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16, "gradient_checkpointing": True, "optim": "adamw_torch"}


def accelerate_command(worker_args: list[str], num_gpus: int, *, python: str | None = None) -> list[str]:
    """The command that runs the worker on several GPUs with ``accelerate launch``."""
    import sys

    if num_gpus < 2:
        return [python or sys.executable, "-m", "core.train.worker", *worker_args]
    return [
        python or sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", str(num_gpus), "--num_machines", "1", "--mixed_precision", "bf16",
        "-m", "core.train.worker", *worker_args,
    ]
