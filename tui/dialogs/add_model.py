"""Adding a base model from the Train room's Models view: one path (a checkpoint folder, completed
with Tab) or a hub id; dismisses what was typed (None: cancelled). The view registers it as
``nastavnik models add`` does."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui.i18n import t
from tui.keys import both
from tui.widgets.completing_input import CompletingInput, PathSuggester


class AddModelScreen(ModalScreen[str | None]):
    """A folder (or hub id) to add as a base; Enter or Add adds, Escape cancels."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [both("escape", "cancel", "models.add_cancel", show=False)]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(t("models.add_title"), id="add-model-title")
            yield CompletingInput(placeholder=t("models.add_placeholder"), suggester=PathSuggester(), id="add-model-path",
                                  compact=True)
            yield Static(t("models.add_hint"), id="add-model-hint")
            with Horizontal():
                yield Button(t("models.add_button"), id="add-model-ok", variant="primary", compact=True)
                yield Button(t("models.add_cancel"), id="add-model-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#add-model-path", Input).focus()

    @on(Input.Submitted, "#add-model-path")
    @on(Button.Pressed, "#add-model-ok")
    def _add(self) -> None:
        value = self.query_one("#add-model-path", Input).value.strip()
        if value:
            self.dismiss(value)

    @on(Button.Pressed, "#add-model-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
