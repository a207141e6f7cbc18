"""What the Import and the Export dialogs of the Pairs room share: the formats ``core.formats``
reads or writes, as the dialogs offer them, and the labelled row both forms are made of."""

from __future__ import annotations

from textual.containers import Horizontal
from textual.widgets import Label


def format_names(kind: str) -> list[str]:
    """Formats ``core.formats`` can read (kind="read") or write."""
    from core import formats

    names = formats.READ_FORMATS if kind == "read" else formats.WRITE_FORMATS
    return [n for n in names if n not in ("json", "jsonl")] if kind == "read" else list(names)


def field_row(label: str, widget, id: str | None = None) -> Horizontal:
    return Horizontal(Label(label, classes="dlg-label"), widget, classes="dlg-row", id=id)
