"""Choosing a teacher model (a registered GGUF) for drafting answers: the picker dialog the pair
editor opens, and which teachers there are and which one is offered first (the Draft dialog's
list uses the same two)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static

from core.errors import UserError
from tui.i18n import t
from tui.keys import both

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.store import Store
    from core.workspace import Workspace


def teachers(store: Store) -> list[str]:
    """Every registered GGUF, newest last."""
    return [m.name for m in store.list_models(kind="gguf")]


def default_teacher(ws: Workspace, names: list[str]) -> str | None:
    """The teacher last chosen (workspace settings) if it is still registered, else the newest GGUF."""
    try:
        chosen = ws.setting("teacher")
    except UserError:
        chosen = None
    if chosen in names:
        return chosen
    return names[-1] if names else None


class TeacherPickScreen(ModalScreen[str | None]):
    """Choose the teacher among the registered GGUFs; dismisses its name (None: cancelled)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [both("escape", "cancel", "draft.pick_cancel", show=False)]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(t("draft.pick_title"), id="pick-title")
            yield OptionList(*self.names, id="pick-list")

    def on_mount(self) -> None:
        self.query_one("#pick-list", OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.names[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
