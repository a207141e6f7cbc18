"""transformers + PEFT + TRL: QLoRA with bitsandbytes 4-bit on CUDA and, since bitsandbytes 0.50,
on the CPU too; plain LoRA in 16/32 bits when 4-bit is switched off.

On the CPU the run computes in float32 (see ``core.train.device``); the 4-bit weights are
dequantized per layer to that dtype. The towers of multimodal checkpoints and the output
head stay unquantized, and LoRA goes on the language model only (``core.train.modules``).
"""

from __future__ import annotations

from typing import Any

from core.errors import UserError
from core.train.backends import Loaded

NAME = "hf"


def available(config=None) -> UserError | None:
    return None


def packed_attention(device) -> str:
    """flash-attn's varlen kernels where they exist, else our per-example sdpa (core/train/varlen.py).

    Both keep packed examples apart without building an L×L mask; sdpa with a block-diagonal
    mask would be correct too, but on the CPU slower than not packing at all.
    """
    import importlib.util

    if device.kind == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    from core.train import varlen

    return varlen.register()


def quantization(config, dtype, base_path: str):
    """The ``BitsAndBytesConfig`` to load with, or None (16/32 bits, or a checkpoint stored in 4-bit)."""
    from core.train.device import prequantized

    if prequantized(base_path):
        if not config.load_in_4bit:
            raise UserError(
                f"{base_path} is stored in 4-bit (bitsandbytes); it cannot be trained in 16 bits",
                hint="train it with --load-in-4bit, or register its 16-bit sibling and train that with --no-load-in-4bit",
            )
        return None  # its config.json carries the quantization_config
    if not config.load_in_4bit:
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise UserError("4-bit loading needs bitsandbytes", hint="pip install bitsandbytes, or load the model in 16 bits: `nastavnik train --no-load-in-4bit …`") from exc
    from core.train.modules import NOT_QUANTIZED

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        llm_int8_skip_modules=list(NOT_QUANTIZED),
    )


def keep_4bit_layout_trainable(model) -> int:
    """bitsandbytes 0.50 repacks a CPU ``Linear4bit`` weight for its AVX512-BF16 kernel on the first
    forward without gradients (an eval step, a generate) and never unpacks it; backward through
    the packed weight is wrong from then on. Keep every layer on the trainable layout."""
    count = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


def load(config, base_path: str, device) -> Loaded:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.train.device import compute_dtype, torch_dtype

    dtype = torch_dtype(compute_dtype(config.dtype, device))
    kwargs: dict = {"trust_remote_code": False, "dtype": dtype, "device_map": {"": device.torch_device}}
    if config.packing:
        kwargs["attn_implementation"] = packed_attention(device)
    quant = quantization(config, dtype, base_path)
    if quant is not None:
        kwargs["quantization_config"] = quant
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForCausalLM.from_pretrained(base_path, **kwargs)
    if device.kind == "cpu":
        keep_4bit_layout_trainable(model)
    return Loaded(model, tokenizer, tokenizer)


def add_adapters(model, config, device):
    from peft import LoraConfig, get_peft_model

    from core.train.modules import lora_targets, split_targets

    if getattr(model, "is_loaded_in_4bit", False):
        from peft import prepare_model_for_kbit_training

        # checkpointing saves GPU memory; on the CPU it only costs time (bench/train.py)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=device.kind == "cuda")
    names, full = split_targets(config.targets)
    targets, found = lora_targets(model, names)
    if not found:
        raise UserError(
            f"none of the LoRA targets {', '.join(config.targets)} exist in this model's language model",
            hint="give a preset whose targets match this model (`nastavnik presets`), or train a model of a known family",
        )
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=full or None,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def continue_adapter(model, adapter_dir: str, config, device):
    """A finished run's LoRA adapter on the loaded base, trainable: where a DPO/ORPO run
    started ``--from-run`` begins (its settings — rank, targets — are the adapter's own).
    Refused when the adapter does not fit the loaded class (``core.train.adapter_fit``)."""
    from core.train.adapter_fit import load_adapter

    if getattr(model, "is_loaded_in_4bit", False):
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=device.kind == "cuda")
    return load_adapter(model, adapter_dir, what=f"run {config.from_run}'s adapter", hint=misfit_hint(config), is_trainable=True)


def misfit_hint(config) -> str:
    """What to do when a ``--from-run`` adapter does not fit the class this run loads its base as."""
    return (f"start from a run trained with the same backend on the same kind of device as this one (`nastavnik runs show "
            f"{config.from_run}` shows its setup: backend, device, model_class), or pass --backend to match it")


def trainer_args(config, device) -> dict:
    from core.train.device import compute_dtype

    dtype = compute_dtype(config.dtype, device)
    if device.kind == "cpu":
        # fp32 and no gradient checkpointing: TRL's defaults (bf16 autocast, checkpointing)
        # made a CPU step of the demo model ~12× slower (bench/train.py); memory is not what
        # a CPU run is short of. Several CPU processes talk over gloo.
        args: dict[str, Any] = {"use_cpu": True, "bf16": dtype == "bfloat16", "fp16": False, "gradient_checkpointing": False}
        if device.world_size > 1:
            args.update(ddp_backend="gloo", ddp_find_unused_parameters=False)
        return args
    return {"bf16": dtype == "bfloat16", "fp16": dtype == "float16", "gradient_checkpointing": True, "optim": "adamw_torch",
            "ddp_find_unused_parameters": False}


def launch_command(worker_args: list[str], config, *, python: str | None = None) -> list[str]:
    """The command that runs the worker in several processes with ``accelerate launch``.

    ``--gpus N``: one process per CUDA GPU; ``--processes N``: N CPU processes (gloo), the
    identical code path, which is how it is tested without GPUs. Precision is not given to
    accelerate: each process takes it from its device (``core.train.device``).
    """
    import sys

    py = python or sys.executable
    n = max(config.num_gpus, config.num_processes)
    if n < 2:
        return [py, "-m", "core.train.worker", *worker_args]
    # --multi_gpu is accelerate's torchrun launcher for both: on a machine without CUDA each
    # process finds no GPU and joins a gloo group (its --cpu switch would start one process)
    return [
        py, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "core.train.worker", *worker_args,
    ]
