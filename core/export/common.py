"""What every export step shares: the file hash and quiet transformers (the progress event is
``core.progress.ProgressEvent``, shared with every other long step)."""

from __future__ import annotations

import hashlib
from pathlib import Path


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
