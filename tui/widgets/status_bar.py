"""The one-line status bar: workspace, pair counts, running jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import Static

from tui.i18n import t
from tui.styles import sibling_css


@dataclass
class StatusInfo:
    home: str = ""
    total: int | None = None
    by_status: dict = field(default_factory=dict)
    by_split: dict = field(default_factory=dict)
    shown: int | None = None
    marked: int = 0
    jobs: list[str] = field(default_factory=list)


def _home_label(home: str, room: int) -> str:
    if len(home) <= room:
        return home
    return "…" + home[-(room - 1) :] if room > 1 else ""


class StatusBar(Static):
    """Shows a ``StatusInfo``; ``update_info(**changes)`` redraws it."""

    DEFAULT_CSS = sibling_css(__file__)

    def __init__(self, home: str = "", **kw) -> None:
        super().__init__("", **kw)
        self.info = StatusInfo(home=home)

    def update_info(self, **changes) -> None:
        for k, v in changes.items():
            setattr(self.info, k, v)
        self.refresh_text()

    def on_resize(self) -> None:
        self.refresh_text()

    def text(self) -> str:
        i = self.info
        parts = []
        breakdown = None
        if i.total is None:
            parts.append(t("status_bar.counting"))
        else:
            parts.append(t("status_bar.pairs", total=f"{i.total:,}".replace(",", " ")))
            if i.by_status:
                breakdown = t(
                    "status_bar.breakdown",
                    approved=i.by_status.get("approved", 0),
                    rejected=i.by_status.get("rejected", 0),
                    draft=i.by_status.get("draft", 0),
                    train=i.by_split.get("train", 0),
                    eval=i.by_split.get("eval", 0),
                )
                parts.append(breakdown)
        if i.shown is not None and i.total is not None and i.shown != i.total:
            parts.append(t("status_bar.shown", shown=f"{i.shown:,}".replace(",", " ")))
        if i.marked:
            parts.append(t("status_bar.marked", n=i.marked))
        parts.append(t("status_bar.jobs", n=len(i.jobs)) + (": " + ", ".join(i.jobs) if i.jobs else "") if i.jobs else t("status_bar.nojobs"))
        width = max(10, self.size.width - 2) if self.size.width else 100
        right = " · ".join(parts)
        if breakdown is not None and i.jobs and len(right) > width:
            # the running jobs matter more than the breakdown (the Pairs room shows it too):
            # at 80 columns the line would cut the jobs off at the right
            right = " · ".join(p for p in parts if p is not breakdown)
        room = width - len(right) - 3
        home = _home_label(i.home, room) if room >= 8 else ""
        return (home + " │ " + right) if home else right

    def refresh_text(self) -> None:
        self.update(Text(self.text(), no_wrap=True, overflow="ellipsis"))
