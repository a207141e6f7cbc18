"""The first-run guide («Первые шаги»): what the demo is, and the loop in three keys, each step
ticked when the store shows it done.

The app hands it a ``core.loop.first_steps.FirstSteps`` (it reads the store; this widget only
draws). Two sizes: ``full`` — the few lines the Pairs room has room for, saying what the demo is
and every step with its keys — and ``compact``, one line for the other rooms, with the next
step's keys, so the guide stays in view at 80×24 while the user trains, chats and corrects.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from core.loop.first_steps import STEPS, FirstSteps
from tui.i18n import t
from tui.styles import sibling_css

DONE, TODO = "✓", "☐"


class FirstStepsGuide(Static):
    """The guide; ``show(state)`` redraws it, ``compact`` picks the one-line form."""

    DEFAULT_CSS = sibling_css(__file__)
    compact: reactive[bool] = reactive(False)

    def __init__(self, **kw) -> None:
        super().__init__("", **kw)
        self.state = FirstSteps()

    def show(self, state: FirstSteps) -> None:
        self.state = state
        self.refresh_text()

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self.refresh_text()

    def text(self) -> str:
        """The guide as plain text (what a test or a screen reader reads)."""
        return "\n".join(line.plain for line in self._lines())

    def refresh_text(self) -> None:
        if self.compact:
            self.update(self._compact())
            return
        intro, steps, hint = self._full()
        grid = Table.grid(expand=True, padding=(0, 2))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        for i in range(0, len(steps), 2):
            grid.add_row(*steps[i:i + 2])
        self.update(Group(intro, grid, hint))

    def _mark(self, step: str) -> str:
        return DONE if self.state.done(step) else TODO

    def _step(self, i: int, step: str) -> Text:
        line = Text(f"{self._mark(step)} {i} ", style="bold green" if self.state.done(step) else "bold")
        line.append(t(f"guide.step.{step}"))
        line.append(": ")
        line.append(t(f"guide.keys.{step}"), style="bold")
        return line

    def _full(self) -> tuple[Text, list[Text], Text]:
        intro = Text(t("guide.title") + ". ", style="bold")
        if self.state.next_step is None:
            intro.append(t("guide.all_done"), style="")
        else:
            intro.append(t("guide.demo") if self.state.demo else t("guide.own"), style="")
            intro.append(" " + t("guide.loop"), style="")
        steps = [self._step(i, step) for i, step in enumerate(STEPS, 1)]
        return intro, steps, Text(t("guide.hint"), style="dim")

    def _compact(self) -> Text:
        line = Text(t("guide.title") + " ", style="bold")
        for step in STEPS:
            line.append(f"{self._mark(step)} ", style="bold green" if self.state.done(step) else "")
            line.append(t(f"guide.short.{step}") + " ")
        line.append(" ")
        nxt = self.state.next_step
        line.append((t("guide.next", keys=t(f"guide.keys.{nxt}")) if nxt else t("guide.all_done_short")), style="bold")
        return line

    def _lines(self) -> list[Text]:
        if self.compact:
            return [self._compact()]
        intro, steps, hint = self._full()
        return [intro, *steps, hint]
