"""The Merge dialog of Dedup: edit the answer the kept pair will have once a group is merged."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from tui.i18n import t
from tui.keys import both


class MergeScreen(ModalScreen[str | None]):
    """Edit the answer that survives a merge; dismisses with the text or None."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [both("ctrl+s", "save", "dedup.edit_save"), both("escape", "cancel", "dedup.edit_cancel")]

    def __init__(self, pair_id: int, answer: str) -> None:
        super().__init__()
        self.pair_id = pair_id
        self.answer = answer

    def compose(self) -> ComposeResult:
        with Vertical(id="merge-box"):
            yield Static(t("dedup.merge_title", id=self.pair_id), id="merge-title")
            yield TextArea(self.answer, id="merge-answer", soft_wrap=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        text = self.query_one(TextArea).text
        if not text.strip():
            self.notify(t("dedup.empty_answer"), severity="error")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
