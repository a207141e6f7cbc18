"""The Training room (placeholder until its issue lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class TrainRoom(Vertical):
    """Shown as a tab of the app."""

    def compose(self) -> ComposeResult:
        yield Static("Training: coming with its own issue.", id="train-placeholder")
