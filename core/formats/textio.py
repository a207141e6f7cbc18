"""Text files as people actually save them: UTF-8 with or without a BOM, UTF-16 from Excel's
"Unicode text", or a Windows code page such as cp1251 — detected, or named with --encoding."""

from __future__ import annotations

import codecs
from pathlib import Path

from core.errors import UserError

SAMPLE = 1 << 16
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def check_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise UserError(
            f"unknown encoding {encoding!r}", hint="give a name Python knows, e.g. utf-8, cp1251, koi8-r, utf-16"
        ) from None


def _is_utf8(data: bytes, truncated: bool) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # a sample may end in the middle of a character
        return truncated and exc.reason == "unexpected end of data" and exc.start >= len(data) - 3


def sniff_encoding(path: Path, encoding: str | None = None, *, sample: bytes | None = None) -> str:
    """The codec to read ``path`` with: the one given, a BOM's, UTF-8, or a detected one."""
    if encoding:
        return check_encoding(encoding)
    if sample is None:
        with open(path, "rb") as f:
            sample = f.read(SAMPLE)
        truncated = len(sample) == SAMPLE
    else:
        truncated = False
    for bom, name in BOMS:
        if sample.startswith(bom):
            return name
    if _is_utf8(sample, truncated):
        return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise UserError(
            f"{path.name}: cannot tell its text encoding",
            hint="give it with --encoding, e.g. --encoding cp1251, or save the file as UTF-8",
        )
    return codecs.lookup(best.encoding).name


def read_text(path: Path, encoding: str | None = None) -> tuple[str, str]:
    """The whole file as text and the encoding used; a wrong encoding is a UserError."""
    data = read_bytes(path)
    enc = sniff_encoding(path, encoding, sample=data)
    return decode(data, enc, path), enc


def decode(data: bytes, enc: str, path: Path) -> str:
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"{path.name}:{line}: cannot read the text as {enc} ({exc.reason} at byte {exc.start})",
            hint="give the right --encoding (e.g. cp1251 or utf-8), or save the file as UTF-8",
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a file", hint="give a file, or a `datasets` folder") from None
    except PermissionError:
        raise UserError(f"{path}: cannot read it (permission denied)", hint="check the file's permissions") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
