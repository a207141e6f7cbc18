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
            f"unknown encoding {encoding!r}", hint="give a name Python knows, e.g. utf-8, cp1251, koi8-r, utf-16",
            code="import.bad_encoding_name", params={"encoding": encoding},
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
    russian = _russian_code_page(sample[:SAMPLE])
    if russian:
        return russian
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise UserError(
            f"{path.name}: cannot tell its text encoding",
            hint="give it with --encoding, e.g. --encoding cp1251, or save the file as UTF-8",
            code="import.unknown_encoding", params={"file": path.name},
        )
    return codecs.lookup(best.encoding).name


_CYRILLIC_PAGES = ("cp1251", "koi8_r", "cp866", "mac_cyrillic")


def _russian_code_page(sample: bytes) -> str | None:
    """The Cyrillic code page that makes ``sample`` read as Russian text, if one clearly does.

    charset-normalizer guesses poorly on short files (a two-line cp1251 CSV comes out as
    cp932); for our users a Cyrillic code page is by far the likeliest, so try those first.
    Text is mostly lower case: the page whose letters come out lower case, with few
    non-letters among the non-ASCII characters, wins.
    """
    best, best_score = None, 0.0
    for enc in _CYRILLIC_PAGES:
        try:
            text = sample.decode(enc)
        except UnicodeDecodeError:
            continue
        lower = upper = other = mixed = 0
        last = len(text) - 1
        for i, ch in enumerate(text):
            if ch < "\x80":
                continue
            if "а" <= ch <= "я" or ch == "ё":
                lower += 1
            elif "А" <= ch <= "Я" or ch == "Ё":
                upper += 1
            else:
                other += 1
            # Russian words are all Cyrillic; "héllo" read as cp1251 gives "hйllo"
            if (i and text[i - 1].isascii() and text[i - 1].isalpha()) or (
                i < last and text[i + 1].isascii() and text[i + 1].isalpha()
            ):
                mixed += 1
        high = lower + upper + other
        if not high or other > high * 0.05 or mixed > high * 0.1:
            continue
        score = (2 * lower + upper) / high
        if score > best_score:
            best, best_score = enc, score
    return codecs.lookup(best).name if best and best_score > 1.2 else None


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
            code="import.wrong_encoding", params={"where": f"{path.name}:{line}", "encoding": enc},
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file", hint="check the path", code="import.no_such_file",
                        params={"path": str(path)}) from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a file", hint="give a file, or a `datasets` folder",
                        code="import.is_folder", params={"path": str(path)}) from None
    except PermissionError:
        raise UserError(f"{path}: cannot read it (permission denied)", hint="check the file's permissions",
                        code="import.permission", params={"path": str(path)}) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})", code="import.cannot_read",
                        params={"path": str(path), "why": str(exc.strerror or exc)}) from None
