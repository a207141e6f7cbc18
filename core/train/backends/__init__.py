"""Training backends behind one small interface.

A backend module has ``NAME``, ``available() -> str | None`` (None when usable, else why
not), ``load(config, base_path) -> (model, tokenizer)``, ``add_adapters(model, config) ->
model`` and ``trainer_args(config) -> dict`` (extra SFTConfig settings).
"""

from __future__ import annotations

import importlib
import importlib.util

from core.errors import UserError

NAMES = ("hf", "unsloth")


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def resolve(name: str) -> str:
    """``auto`` → ``unsloth`` where CUDA and Unsloth exist, else ``hf``."""
    if name == "auto":
        return "unsloth" if cuda_available() and unsloth_installed() else "hf"
    if name not in NAMES:
        raise UserError(f"unknown backend {name!r}", hint="one of: auto, " + ", ".join(NAMES))
    return name


def get_backend(name: str):
    module = importlib.import_module(f"core.train.backends.{resolve(name)}")
    why = module.available()
    if why:
        raise UserError(why)
    return module
