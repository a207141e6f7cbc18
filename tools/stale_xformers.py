"""Say whether the installed xformers was compiled for another torch than the installed one.

Why this exists: Unsloth requires xformers on Linux x86-64, and the last xformers on PyPI
(0.0.35) is compiled for torch 2.10.0+cu128; the later builds there are pure-Python and need
`mslk`, which PyPI holds only as an empty placeholder. Beside our torch (2.13.0, +cpu here and
+cu130 from PyPI) its compiled extension cannot load, so Unsloth prints a warning on every run and
uses PyTorch's own attention (SDPA) anyway (unsloth/models/_utils.py, where it imports xformers).
The install step (Makefile, `fix-xformers`) removes such an xformers: Unsloth then takes SDPA
without the warning. An xformers compiled for the installed torch stays.

The check reads xformers' build record (cpp_lib.json, whose "torch" is the torch.__version__ it
was compiled against) without importing xformers, which would print its own warning.

Exit status 0 and one line saying why when xformers should go; 1 when it is absent or matches.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
from pathlib import Path


def stale_reason(package: Path, torch_version: str) -> str | None:
    """Why the xformers in ``package`` cannot load beside ``torch_version``; None when it can."""
    extensions = [p for suffix in importlib.machinery.EXTENSION_SUFFIXES for p in package.glob(f"_C{suffix}")]
    record = package / "cpp_lib.json"
    if not extensions or not record.is_file():
        return f"xformers in {package} has no compiled extension for this torch ({torch_version})"
    built_for = json.loads(record.read_text(encoding="utf-8")).get("version", {}).get("torch")
    if built_for != torch_version:
        return f"xformers was compiled for torch {built_for}, this is torch {torch_version}"
    return None


def installed_xformers() -> Path | None:
    """The folder of the installed xformers package, found without importing it."""
    spec = importlib.util.find_spec("xformers")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def main() -> int:
    """Print why the installed xformers should be removed (exit 0), or exit 1."""
    package = installed_xformers()
    if package is None:
        return 1
    import torch  # only when xformers is there: importing torch takes seconds

    reason = stale_reason(package, torch.__version__)
    if reason is None:
        return 1
    print(reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
