"""Small pieces the dialogs share: a yes/no confirmation."""

from __future__ import annotations

from pathlib import Path
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.i18n import t
from tui.keys import both


class ConfirmScreen(ModalScreen[bool]):
    """Asks one question; dismisses True for yes (y/д or the focused Yes button), False for no (n/т/escape)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        # y / д(а) confirm; n / т (the n key on ЙЦУКЕН) refuse. The Russian twin of y is
        # н, the first letter of "нет", so it is deliberately left out.
        both("y,д", "answer(True)", "common.yes", twin=False, show=False),
        both("n,escape", "answer(False)", "common.no", show=False),
    ]

    def __init__(self, question: str, *, focus_yes: bool = True) -> None:
        super().__init__()
        self.question = question
        self.focus_yes = focus_yes  # False where "yes" loses work, so enter is the safe answer

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="confirm-question")
            with Horizontal():
                # the keys bound above, as each layout types them: «Да (y/д)», «Нет (n/т)»
                yield Button(t("confirm.yes_button"), id="yes", variant="warning")
                yield Button(t("confirm.no_button"), id="no")

    def on_mount(self) -> None:
        self.query_one("#yes" if self.focus_yes else "#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
