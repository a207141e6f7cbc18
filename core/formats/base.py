"""What every format reader and writer shares: the record, where it came from, what was wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import field as _field
from typing import Any, NamedTuple

from core.text import normalize_context, normalize_newlines


@dataclass(slots=True)
class Record:
    """One question–answer pair as a file holds it, before it reaches the store."""

    question: str
    answer: str
    system: str | None = None
    context: list[dict] = field(default_factory=list)  # earlier turns: {"role": "user"|"assistant", "content": str}
    tags: list[str] = field(default_factory=list)
    status: str | None = None
    split: str | None = None

    def __post_init__(self) -> None:
        # every reader makes its records here: one place that gives every format \n line ends
        q, a, s = self.question, self.answer, self.system
        if "\r" in q or "\r" in a or (s is not None and "\r" in s) or self.context:
            self.question, self.answer = normalize_newlines(q), normalize_newlines(a)
            self.system = None if s is None else normalize_newlines(s)
            self.context = normalize_context(self.context)


class Location(NamedTuple):
    """Where a record sits: a file and a line (text formats) or a row (tables).

    A named tuple: readers make one per record, so it has to be cheap.
    """

    file: str
    line: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.file}:{self.line}"
        if self.row is not None:
            return f"{self.file} row {self.row}"
        return self.file


@dataclass
class BadRecord:
    """A record that cannot be imported, and why — in words a person can act on."""

    location: Location
    reason: str
    field: str | None = None
    raw: Any = None  # the line as text, or the row as a dict
    json_error: str | None = None  # the decoder's own words when the line is not JSON ("reason" wraps them)
    # a stable name of the reason ("empty_answer", "invalid_json") and its values: the app says the
    # reason in its own language (``import.reason.<code>``); ``reason`` stays the CLI's English
    code: str | None = None
    params: dict = _field(default_factory=dict)

    def message(self) -> str:
        where = f"{self.location}" + (f", field {self.field!r}" if self.field else "")
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict:
        return {"location": str(self.location), "field": self.field, "reason": self.reason, "raw": self.raw}


@dataclass(frozen=True)
class FormatInfo:
    """One format the app can read and/or write, with how it is recognised."""

    name: str
    title: str
    detect: str  # how auto-detection recognises it, in plain words
    read: bool = True
    write: bool = True
    extensions: tuple[str, ...] = ()
    export_note: str = ""
