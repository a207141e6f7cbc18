"""The Grade dialog: an optional comment to the 1–5 grade given to a model's answer, in the Chat
room and in Evaluate's Compare dialog alike."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.i18n import t
from tui.keys import both


class GradeScreen(ModalScreen[str | None]):
    """Asks for an optional comment to a 1–5 grade; dismisses the comment ("" for none)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")

    BINDINGS = [both("escape", "cancel", "grade.cancel", show=False)]

    def __init__(self, score: int) -> None:
        super().__init__()
        self.score = score

    def compose(self) -> ComposeResult:
        with Vertical(id="grade-box"):
            yield Label(t("grade.title", score=self.score))
            yield Input(id="grade-comment")
            yield Static(t("grade.hint"), classes="hint")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
