"""Training backends behind one small interface.

A backend module has ``NAME``; ``available(config) -> UserError | None`` (None when usable, else
why not, with its code, checked cheaply in the process that starts the run); ``load(config, base_path,
device) -> Loaded``; ``add_adapters(model, config, device) -> model``; ``continue_adapter(model, adapter_dir, config,
device) -> model`` (a finished run's adapter, trainable: where ``--from-run`` starts); and
``trainer_args(config, device) -> dict`` (SFTConfig/DPOConfig/ORPOConfig settings for that device).

``auto`` is Unsloth on a CUDA GPU where Unsloth is installed, else ``hf``; a run of several
processes (``--gpus N``, ``--processes N``) is ``hf`` (accelerate), which Unsloth does not
run here. When Unsloth then fails to import in the worker, an ``auto`` run goes on with
``hf`` after one warning line in its log, while an explicit ``--backend unsloth`` stops with
that line.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

from core.errors import UserError

NAMES = ("hf", "unsloth")  # the one list of backends; the config adds "auto", the estimates order them
# the order estimates and checks show them in: Unsloth, the lighter on memory, first
BY_MEMORY = tuple(sorted(NAMES, key=lambda name: name != "unsloth"))


@dataclass
class Loaded:
    model: Any
    tokenizer: Any  # renders and masks the text
    processing_class: Any  # what the trainer is given (a processor for multimodal checkpoints under Unsloth on CUDA)


def cuda_available() -> bool:
    """An NVIDIA GPU here, without creating a CUDA context (``nvidia-smi -L`` lists one)."""
    from core.train.device import nvidia_smi

    return "GPU" in (nvidia_smi("-L") or "")


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def processes(config) -> int:
    """How many training processes a run starts (``--gpus N`` / ``--processes N``; 1 without a config)."""
    if config is None:
        return 1
    return max(getattr(config, "num_gpus", 1), getattr(config, "num_processes", 1))


def resolve(name: str, config=None) -> str:
    """``auto`` → ``unsloth`` where CUDA and Unsloth exist and the run is one process, else ``hf``."""
    if name == "auto":
        if processes(config) > 1:
            return "hf"  # Unsloth trains on one device; N processes are accelerate's (hf)
        return "unsloth" if unsloth_installed() and cuda_available() else "hf"
    if name not in NAMES:
        raise UserError(f"unknown backend {name!r}", hint="one of: auto, " + ", ".join(NAMES), code="train.unknown_backend",
                        params={"field": "backend", "value": name, "allowed": ", ".join(("auto", *NAMES))})
    return name


def get_backend(name: str, config=None):
    module = importlib.import_module(f"core.train.backends.{name if name in NAMES else resolve(name, config)}")
    why = module.available(config)
    if why is not None:
        raise why
    return module
