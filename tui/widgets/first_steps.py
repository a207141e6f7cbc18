"""The first-run guide («Первые шаги»): what the demo is, and the loop in three keys, each step
ticked when the store shows it done.

The app hands it a ``core.loop.first_steps.FirstSteps`` (it reads the store; this widget only
draws). Two sizes: ``full`` — the few lines the Pairs room has room for, saying what the demo is
and every step with its keys — and ``compact``, one line for the other rooms, with the next
step's keys, so the guide stays in view at 80×24 while the user trains, chats and corrects.

The keys it names are the live ones: the app hands ``show`` the key bound to each of
``GUIDE_KEYS`` (its ``keymap`` setting applied), so a remapped key reads as the user set it.
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

#: the keys the guide's texts name (their ``{placeholders}``): the room whose bindings hold each
#: (None: the app's own) and the binding's id
GUIDE_KEYS: dict[str, tuple[str | None, str]] = {
    "train_tab": (None, "app.tab.train"),
    "evaluate_tab": (None, "app.tab.evaluate"),
    "guide": (None, "app.guide"),
    "help": (None, "app.help"),
    "palette": (None, "app.palette"),
    "start": ("train", "train.k.start"),
    "chat": ("train", "train.export_chat"),
    "correct": ("chat", "chat.edit"),
}


class FirstStepsGuide(Static):
    """The guide; ``show(state, keys)`` redraws it, ``compact`` picks the one-line form."""

    DEFAULT_CSS = sibling_css(__file__)
    compact: reactive[bool] = reactive(False)

    def __init__(self, **kw) -> None:
        super().__init__("", **kw)
        self.state = FirstSteps()
        self.keys: dict[str, str] = {}

    def show(self, state: FirstSteps, keys: dict[str, str] | None = None) -> None:
        """Draw ``state``; ``keys`` maps each name of ``GUIDE_KEYS`` to the key bound to it now."""
        self.state = state
        if keys is not None:
            self.keys = keys
        self.refresh_text()

    def _t(self, key: str) -> str:
        """A guide text with the keys it names filled in."""
        return t(key, **{name: self.keys.get(name, "") for name in GUIDE_KEYS})

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
        line.append(self._t(f"guide.keys.{step}"), style="bold")
        return line

    def _full(self) -> tuple[Text, list[Text], Text]:
        intro = Text(t("guide.title") + ". ", style="bold")
        if self.state.next_step is None:
            intro.append(self._t("guide.all_done"), style="")
        else:
            intro.append(t("guide.demo") if self.state.demo else t("guide.own"), style="")
            intro.append(" " + t("guide.loop"), style="")
        steps = [self._step(i, step) for i, step in enumerate(STEPS, 1)]
        return intro, steps, Text(self._t("guide.hint"), style="dim")

    def _compact(self) -> Text:
        line = Text(t("guide.title") + " ", style="bold")
        for step in STEPS:
            line.append(f"{self._mark(step)} ", style="bold green" if self.state.done(step) else "")
            line.append(t(f"guide.short.{step}") + " ")
        line.append(" ")
        nxt = self.state.next_step
        line.append((t("guide.next", keys=self._t(f"guide.keys.{nxt}")) if nxt else self._t("guide.all_done_short")),
                    style="bold")
        return line

    def _lines(self) -> list[Text]:
        if self.compact:
            return [self._compact()]
        intro, steps, hint = self._full()
        return [intro, *steps, hint]
