"""A fake ``nvidia-smi`` on PATH: the GPU checks run here as on a machine with the cards it lists."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.train.vram import QUERY


def fake_nvidia_smi(tmp_path: Path, monkeypatch, rows: list[str], *, rc: int = 0) -> Path:
    """Put an ``nvidia-smi`` on PATH that answers our query with ``rows`` (MiB, as the real one)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "nvidia-smi"
    calls = tmp_path / "nvidia-smi.calls"
    body = "\n".join(rows)
    exe.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{calls}"\n'
        f'[ "$1" = "{QUERY[0]}" ] && [ "$2" = "{QUERY[1]}" ] || {{ echo "Invalid combination of input arguments" >&2; exit 2; }}\n'
        f"[ {rc} -eq 0 ] || {{ echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' ; exit {rc}; }}\n"
        f"cat <<'EOF'\n{body}\nEOF\n",
        encoding="utf-8",
    )
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return calls
