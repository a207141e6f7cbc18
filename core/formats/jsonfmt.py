"""JSON Lines and JSON arrays: streaming readers that keep line numbers, and writers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from core.errors import UserError
from core.formats.base import BadRecord, Location
from core.formats.textio import decode, read_bytes, sniff_encoding

_FAST = {"utf-8", "utf-8-sig"}
_WS = re.compile(r"\s*")


def _skip_ws(text: str, pos: int) -> int:
    """Where the white space from ``pos`` on ends (``\\s*`` always matches)."""
    match = _WS.match(text, pos)
    assert match is not None
    return match.end()


def _invalid(exc: ValueError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start}) — save the file as UTF-8 or give --encoding"
    msg = getattr(exc, "msg", None) or str(exc)
    col = getattr(exc, "colno", None)
    return f"invalid JSON ({_where(msg, col)})"


# the JSON decoder's messages (CPython's and this module's own) by a stable name: the app says
# them in its own language (``json.<name>``), keeping the line and the column
_PROBLEMS = (
    ("expecting value", "expecting_value"),
    ("expecting ',' delimiter", "expecting_comma"),
    ("expecting ':' delimiter", "expecting_colon"),
    ("expecting property name", "expecting_name"),
    ("expected ',' or ']'", "expecting_comma_or_bracket"),
    ("extra data after the closing", "extra_after_array"),
    ("extra data", "extra_data"),
    ("unterminated string", "unterminated_string"),
    ("invalid control character", "control_character"),
    ("invalid \\uxxxx escape", "bad_unicode_escape"),
    ("invalid \\escape", "bad_escape"),
    ("illegal trailing comma", "trailing_comma"),
)


def json_problem(msg: str) -> str:
    """The stable name of a JSON decoder message ("Expecting ',' delimiter" → expecting_comma);
    "other" for one this list does not know."""
    low = msg.lower()
    return next((name for start, name in _PROBLEMS if low.startswith(start)), "other")


def _where(msg: str, col: int | None) -> str:
    """The decoder's message and column: some of its messages end in "at" themselves
    ("Invalid control character at"), so "at" is added only when the message lacks it."""
    if not col:
        return msg
    return f"{msg} column {col}" if msg.endswith(" at") else f"{msg} at column {col}"


def iter_jsonl(path: Path, name: str, encoding: str | None = None) -> Iterator[tuple[Location, Any]]:
    """(location, parsed object) per non-blank line; a line that does not parse gives a BadRecord."""
    enc = sniff_encoding(path, encoding)
    decode = json.JSONDecoder().decode
    fast = enc in _FAST
    if fast:  # bytes per line: a line that is not UTF-8 is one bad record, not a failed file
        f: IO = open(path, "rb")
    else:
        f = open(path, "r", encoding=enc, newline="\n")
    lineno = 0
    with f:
        try:
            for lineno, raw in enumerate(f, 1):
                if raw.isspace():
                    continue
                try:
                    if fast:
                        text = raw.decode("utf-8")
                        if lineno == 1 and text.startswith("\ufeff"):
                            text = text[1:]
                        obj = decode(text)
                    else:
                        obj = decode(raw)
                except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
                    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                    loc = Location(name, lineno)
                    params: dict[str, Any]
                    if isinstance(exc, UnicodeDecodeError):
                        detail, code, params = None, "not_utf8", {"byte": exc.start}
                    else:
                        msg, col = getattr(exc, "msg", None) or str(exc), getattr(exc, "colno", None)
                        detail, code, params = _where(msg, col), "invalid_json", {"problem": json_problem(msg), "column": col}
                    yield loc, BadRecord(loc, _invalid(exc), None, text.rstrip("\r\n"), json_error=detail, code=code,
                                         params=params)
                    continue
                yield Location(name, lineno), obj
        except UnicodeDecodeError as exc:
            raise UserError(
                f"{name}:{lineno + 1}: cannot read the text as {enc} ({exc.reason})",
                hint="give the right --encoding (e.g. cp1251 or utf-8), or save the file as UTF-8",
                code="import.wrong_encoding", params={"where": f"{name}:{lineno + 1}", "encoding": enc},
            ) from None


def iter_json(path: Path, name: str, encoding: str | None = None) -> Iterator[tuple[Location, Any]]:
    """A JSON array of records (or one record); each element's location is the line it starts on."""
    data = read_bytes(path)
    text = decode(data, sniff_encoding(path, encoding, sample=data), path)
    dec = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos == len(text):
        return
    try:
        if text[pos] != "[":
            obj, end = dec.raw_decode(text, pos)
            if _skip_ws(text, end) != len(text):
                raise json.JSONDecodeError("extra data after the JSON value", text, _skip_ws(text, end))
            if isinstance(obj, dict) and len(obj) == 1 and isinstance(next(iter(obj.values())), list):
                # {"data": [...]} / {"train": [...]}: the list is the records
                key, items = next(iter(obj.items()))
                for i, item in enumerate(items, 1):
                    yield Location(name, row=i), item
                return
            yield Location(name, text.count("\n", 0, pos) + 1), obj
            return
        pos += 1
        line, counted = 1 + text.count("\n", 0, pos), pos
        while True:
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == "]":
                break
            line += text.count("\n", counted, pos)
            counted = pos
            obj, pos = dec.raw_decode(text, pos)
            yield Location(name, line), obj
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            if pos < len(text) and text[pos] == "]":
                break
            raise json.JSONDecodeError("expected ',' or ']' after a record", text, pos)
        end = _skip_ws(text, pos + 1)
        if end != len(text):
            raise json.JSONDecodeError("extra data after the closing ']'", text, end)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{name}:{exc.lineno}: invalid JSON ({_where(exc.msg, exc.colno)})",
            hint="fix the file there; nothing was imported (a JSON array cannot be read past a broken record)",
            code="import.invalid_json", params={"where": f"{name}:{exc.lineno}", "reason": _where(exc.msg, exc.colno),
                                                "problem": json_problem(exc.msg), "column": exc.colno},
        ) from None


def first_line_parses(path: Path, *, need_more: bool = False) -> bool:
    """Does the first non-blank line hold a whole JSON value (as in JSONL)?

    With ``need_more``, another non-blank line must follow it, too.
    """
    with open(path, "rb") as f:
        first = f.readline()
        while first and first.isspace():
            first = f.readline()
        try:
            json.loads(first)
        except ValueError:
            return False
        if not need_more:
            return True
        for line in f:
            if not line.isspace():
                return True
        return False


def write_jsonl(records: Iterable[dict], f: IO[str]) -> int:
    n = 0
    dumps = json.dumps
    write = f.write
    for rec in records:
        write(dumps(rec, ensure_ascii=False))
        write("\n")
        n += 1
    return n


def write_json_array(records: Iterable[dict], f: IO[str]) -> int:
    n = 0
    f.write("[")
    for rec in records:
        f.write(",\n  " if n else "\n  ")
        f.write(json.dumps(rec, ensure_ascii=False))
        n += 1
    f.write("\n]\n" if n else "]\n")
    return n
