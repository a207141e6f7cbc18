"""Unsloth: ``FastLanguageModel``, 4-bit bases, its gradient checkpointing and fused kernels.

On an NVIDIA GPU Unsloth patches transformers, PEFT and TRL with its kernels; without one
(Unsloth 2026.10+) it falls back to training on the CPU with stock transformers + PEFT + TRL
— 4-bit through bitsandbytes included — which is how this backend is tested here. Either way
``import unsloth`` patches TRL for the whole process, so it happens first, in the worker
process only (never in the CLI or the app), before anything imports trl.

What the pipeline gets back differs by model: for ``*ForConditionalGeneration`` checkpoints
(Gemma 3 4B/12B, Gemma 4, Qwen 3.5) Unsloth on CUDA hands over to ``FastModel`` and returns
an ``AutoProcessor``; its ``.tokenizer`` renders and masks the text, the processor itself is
what Unsloth's trainer expects as ``processing_class``. On the CPU the same checkpoint comes
back with a plain tokenizer. ``split_processor`` handles both.
"""

from __future__ import annotations

import importlib.util

from core.errors import UserError
from core.train.backends import Loaded

NAME = "unsloth"


def available(config=None) -> UserError | None:
    """Why this backend cannot run here (a UserError with its code), checked without importing
    Unsloth (the app and CLI stay fast)."""
    if importlib.util.find_spec("unsloth") is None:
        return UserError("the unsloth backend needs the unsloth package — `make install`, or use --backend hf",
                         code="backend.no_unsloth")
    if config is not None and max(config.num_gpus, getattr(config, "num_processes", 1)) > 1:
        return UserError("the unsloth backend trains on one device here; for --gpus/--processes N use --backend hf "
                         "(transformers + PEFT under accelerate, the same data and masks)", code="backend.unsloth_one_device")
    if config is not None and getattr(config, "method", "sft") != "sft":
        from core.train.backends import cuda_available

        if not cuda_available():
            return UserError(f"the unsloth backend trains --method {config.method} on an NVIDIA GPU only (its CPU fallback "
                             "covers SFT); use --backend hf, which runs the same TRL trainer on the CPU",
                             code="backend.unsloth_gpu_only", params={"method": config.method})
    return None


def import_unsloth() -> str | None:
    """``import unsloth`` (first, so its patches apply); None when it worked, else why not in one line."""
    import os

    os.environ.setdefault("UNSLOTH_DISABLE_STATISTICS", "1")  # it would otherwise fetch a README from the hub
    try:
        import unsloth  # noqa: F401
    except Exception as exc:  # ImportError, RuntimeError (no usable device), torchvision mismatches…
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"Unsloth cannot be imported here: {type(exc).__name__}: {first[:200]}"
    return None


def split_processor(returned):
    """(the text tokenizer, what the trainer gets as ``processing_class``) from what Unsloth returned."""
    tokenizer = getattr(returned, "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "convert_tokens_to_ids"):
        return tokenizer, returned
    return returned, returned


def load(config, base_path: str, device) -> Loaded:
    why = import_unsloth()
    if why:
        raise UserError(why, hint="use --backend hf (or auto, which falls back to it)")
    from unsloth import FastLanguageModel

    model, returned = FastLanguageModel.from_pretrained(
        model_name=base_path,
        max_seq_length=config.max_seq_len,
        load_in_4bit=config.load_in_4bit,
        dtype=load_dtype(config, device),
        local_files_only=True,
        use_gradient_checkpointing=_checkpointing(device),
    )
    tokenizer, processing_class = split_processor(returned)
    if getattr(config, "method", "sft") != "sft":
        try:  # Unsloth's documented call before DPO/ORPO; its import already patched TRL's trainers (a no-op in 2026.10)
            from unsloth import PatchDPOTrainer

            PatchDPOTrainer()
        except ImportError:
            pass
    return Loaded(model, tokenizer, processing_class)


def load_dtype(config, device):
    """The dtype Unsloth loads the weights in: ``--dtype`` when given; on a GPU, Unsloth's own choice
    (bf16 where the card has it, else fp16); on the CPU float32, as the hf backend computes there.
    Left to itself on the CPU Unsloth takes bf16 where the processor has AVX512-BF16 or AMX and
    float32 elsewhere: the same run would learn one thing on one machine and another on the next."""
    from core.train.device import compute_dtype, torch_dtype

    if config.dtype == "auto" and device.kind == "cuda":
        return None
    return torch_dtype(compute_dtype(config.dtype, device))


def _checkpointing(device):
    # Unsloth's offloaded checkpointing saves VRAM; on the CPU it only costs time
    return "unsloth" if device.kind == "cuda" else False


def add_adapters(model, config, device):
    from unsloth import FastLanguageModel

    from core.train.modules import lora_targets, split_targets

    names, full = split_targets(config.targets)
    targets, found = lora_targets(model, names)
    if not found:
        raise UserError(f"none of the LoRA targets {', '.join(config.targets)} exist in this model's language model")
    kwargs = dict(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        bias="none",
        use_gradient_checkpointing=_checkpointing(device),
        random_state=config.seed,
        max_seq_length=config.max_seq_len,
        modules_to_save=full or None,
    )
    if device.kind == "cuda":
        kwargs["target_modules"] = found
        if fast_model_path():
            # FastModel builds its own regex from these switches and the leaf names: language only
            kwargs.update(FASTMODEL_SWITCHES)
    else:
        kwargs["target_modules"] = targets  # the CPU fallback passes it to PEFT as it is
    return FastLanguageModel.get_peft_model(model, **kwargs)


# what FastModel's get_peft_model is told: LoRA on the language model's attention and MLP, not on the towers
FASTMODEL_SWITCHES = {"finetune_vision_layers": False, "finetune_language_layers": True,
                      "finetune_attention_modules": True, "finetune_mlp_modules": True}


def fast_model_path() -> bool:
    """Whether Unsloth's ``get_peft_model`` will take its FastModel path, which understands the
    ``finetune_*`` switches. Its FastLlamaModel path (Llama 3.1, Qwen 3: ``FastLlamaModel`` /
    ``FastQwen3Model``) passes every keyword it does not name into ``peft.LoraConfig``, which
    has no such fields: a ``TypeError`` before the first step.

    Unsloth's loader decides and leaves the answer in ``UNSLOTH_USE_NEW_MODEL`` ("1" from
    FastModel's loader: Gemma 3/4, Qwen 3.5; "0" from FastLlamaModel's), which its
    ``get_peft_model`` reads back (unsloth/models/llama.py, ``get_peft_model``): the same test
    here. Where it says "1" and the switches were left out, Unsloth would fill in these same
    values itself.
    """
    import os

    return os.environ.get("UNSLOTH_USE_NEW_MODEL", "0") == "1"


def continue_adapter(model, adapter_dir: str, config, device):
    """A finished run's adapter on the Unsloth-loaded base, trainable, with Unsloth's LoRA
    patches — what ``FastLanguageModel.from_pretrained`` does for an adapter folder. (CUDA
    only: preference runs are refused on the CPU.) Refused when the adapter does not fit the
    class Unsloth loaded (``core.train.adapter_fit``): a Qwen 3.5 run trained on the CPU has
    ``Qwen3_5ForCausalLM`` keys, Unsloth on CUDA loads ``Qwen3_5ForConditionalGeneration``."""
    from unsloth import FastLanguageModel

    from core.train.adapter_fit import load_adapter
    from core.train.backends.hf import misfit_hint

    model = load_adapter(model, adapter_dir, what=f"run {config.from_run}'s adapter", hint=misfit_hint(config), is_trainable=True,
                         local_files_only=True)
    return FastLanguageModel.patch_peft_model(model, use_gradient_checkpointing=_checkpointing(device))


def trainer_args(config, device) -> dict:
    from core.train.device import compute_dtype

    dtype = compute_dtype(config.dtype, device)
    if device.kind == "cpu":
        # Unsloth's CPU fallback would swap adamw_8bit for fused AdamW itself; ask for what runs
        return {"use_cpu": True, "bf16": dtype == "bfloat16", "fp16": False, "optim": "adamw_torch_fused",
                "gradient_checkpointing": False}
    return {"bf16": dtype == "bfloat16", "fp16": dtype == "float16", "optim": "adamw_8bit"}
