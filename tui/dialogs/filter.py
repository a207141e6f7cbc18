"""The Filter dialog of the Pairs room: narrow the table by status, split and tag."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static

from core.store import SPLITS, STATUSES, PairFilter
from tui.i18n import t
from tui.keys import both


class FilterScreen(ModalScreen[PairFilter | None]):
    """Narrow the table by status, split and tag."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")

    BINDINGS = [both("escape", "cancel", "pairs.filter.cancel", show=False)]

    def __init__(self, flt: PairFilter, tags: list[str]) -> None:
        super().__init__()
        self.flt = flt
        self.tags = tags

    def compose(self) -> ComposeResult:
        anyv = (t("pairs.filter.any"), "")
        with Vertical():
            yield Static(t("pairs.filter.title"), classes="title")
            yield Label(t("pairs.filter.status"))
            yield Select(
                [anyv] + [(t("pairs.status." + s), s) for s in STATUSES], value=self.flt.status or "", allow_blank=False, id="f-status"
            )
            yield Label(t("pairs.filter.split"))
            yield Select(
                [anyv] + [(t("pairs.split." + s), s) for s in SPLITS], value=self.flt.split or "", allow_blank=False, id="f-split"
            )
            yield Label(t("pairs.filter.tag"))
            tag_opts = [anyv] + [(tag, tag) for tag in self.tags]
            value = self.flt.tag if self.flt.tag in self.tags else ""
            yield Select(tag_opts, value=value, allow_blank=False, id="f-tag")
            with Horizontal():
                yield Button(t("pairs.filter.apply"), variant="primary", id="apply")
                yield Button(t("pairs.filter.reset"), id="reset")

    def on_mount(self) -> None:
        self.query_one("#f-status").focus()

    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        def val(sel_id: str):
            v = self.query_one(sel_id, Select).value
            return v if isinstance(v, str) and v else None

        self.dismiss(replace(self.flt, status=val("#f-status"), split=val("#f-split"), tag=val("#f-tag")))

    @on(Button.Pressed, "#reset")
    def _reset(self) -> None:
        self.dismiss(replace(self.flt, status=None, split=None, tag=None))

    def action_cancel(self) -> None:
        self.dismiss(None)
