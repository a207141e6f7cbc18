"""The one progress event every long step reports: exports, the parity check, the converter
fetch, drafting, evaluation, import and the demo model's build.

A step calls ``progress(ProgressEvent(stage, done, total, message, info))``: ``stage`` names
what it is doing now (``merge``, ``draft``, ``answer``…), ``done`` of ``total`` how far it is
(``total`` None when nobody knows yet, as in an import read from a stream), ``message`` one
line a person reads, ``info`` the numbers a screen may plot (a loss) or a label it shows (the
model being evaluated). The CLI draws it with one printer (``tui.cli.progress_printer``), the
dialogs with one bar helper (``tui.widgets.progress``), the export worker writes it to its row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class ProgressEvent:
    stage: str
    done: int = 0
    total: int | None = None
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """The stage's last event: everything it was to do is done."""
        return self.total is not None and self.done >= self.total

    @property
    def fraction(self) -> float | None:
        """How far the stage is, 0…1; None when its total is not known."""
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))


OnProgress = Callable[[ProgressEvent], None]


def ignore(event: ProgressEvent) -> None:
    """The progress callback of a caller that asked for none."""
