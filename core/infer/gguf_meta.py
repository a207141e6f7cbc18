"""The key/value metadata at the head of a GGUF file, read without llama.cpp or gguf-py.

GGUF (v2/v3) starts with a magic, a version, the tensor and key counts, then the keys: a
string name, a type and a value (scalars, strings, arrays of either). Reading just that is
fast — ``gguf.GGUFReader`` builds an object per array element and takes tens of seconds for a
262k-token vocabulary — and needs nothing but the standard library.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from core.errors import UserError

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_metadata(path: str | Path, *, skip_arrays: bool = False) -> dict:
    """Every key of ``path``'s header → its value (arrays as lists; ``skip_arrays``: None for them)."""
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:
            raise UserError(f"{path} is empty, not a GGUF file") from None
        try:
            return _parse(path, data, skip_arrays)
        finally:
            data.close()


def _parse(path: Path, data, skip_arrays: bool) -> dict:
    if data[:4] != b"GGUF":
        raise UserError(f"{path} is not a GGUF file")
    version, _tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
    if version < 2:
        raise UserError(f"{path}: GGUF version {version} is too old")
    pos = 24

    def string() -> str:
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        text = data[pos:pos + n].decode("utf-8", errors="surrogateescape")
        pos += n
        return text

    def value(kind: int):
        nonlocal pos
        if kind == 8:
            return string()
        if kind == 9:
            elem, n = struct.unpack_from("<IQ", data, pos)
            pos += 12
            if elem == 8:
                if skip_arrays:
                    for _ in range(n):
                        (m,) = struct.unpack_from("<Q", data, pos)
                        pos += 8 + m
                    return None
                return [string() for _ in range(n)]
            fmt = _SCALAR[elem]
            size = struct.calcsize(fmt)
            out = None if skip_arrays else list(struct.unpack_from("<" + fmt[1] * n, data, pos))
            pos += size * n
            return out
        fmt = _SCALAR[kind]
        (v,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    fields: dict = {}
    for _ in range(n_kv):
        key = string()
        (kind,) = struct.unpack_from("<I", data, pos)
        pos += 4
        fields[key] = value(kind)
    return fields
