"""The key list: the live bindings of the room in focus and the app, on both keyboard layouts, searchable.

``layouts`` (from ``tui.keys``) splits a binding's keys into the Latin and the Russian column.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from core.text import fold
from tui.i18n import t
from tui.keys import both, layouts


class HelpScreen(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [both("escape", "close", "help.close"), both("down", "to_table", "help.to_table", show=False)]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.entries = [(keys, desc, *layouts(keys)) for keys, desc in bindings]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(t("help.title"), id="help-title")
            yield Input(placeholder=t("help.search"), id="help-search")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static(t("help.footer"), id="help-footer")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(t("help.keys"), t("help.ru"), t("help.what"))
        self.show("")
        self.query_one(Input).focus()

    def matching(self, query: str) -> list[tuple[str, str, str]]:
        q = fold(query.strip())
        out = []
        for keys, desc, latin, russian in self.entries:
            if not q or q in fold(desc) or q in fold(keys) or q in fold(latin) or q in fold(russian):
                out.append((latin, russian, desc))
        return out

    def show(self, query: str) -> None:
        table = self.query_one(DataTable)
        table.clear()
        rows = self.matching(query)
        for latin, russian, desc in rows:
            table.add_row(latin, russian, desc)
        if not rows:
            table.add_row("", "", t("help.nothing"))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show(event.value)

    def action_to_table(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["HelpScreen", "layouts"]
