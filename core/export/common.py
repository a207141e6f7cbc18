"""What every export step shares: the progress event, the file hash, quiet transformers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class ExportEvent:
    stage: str  # fetch, merge, convert, quantize, parity, register, done
    done: int
    total: int
    message: str = ""


Progress = Callable[[ExportEvent], None]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def quiet_transformers() -> None:
    import warnings

    from transformers.utils import logging as hf_logging

    # deprecation notes for library developers would land on the user's terminal mid-export
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)(\.|$)")

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
