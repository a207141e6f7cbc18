"""The Compare dialog of the Evaluate room: one eval question with the reference and every model's
answer side by side; 1–5 grade the chosen answer, e/у corrects it into a new pair.

It asks the room that opened it (``Grader``) to save grades and corrections, so the dialog
needs no room import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Markdown, Static

from tui.dialogs.correct import CorrectAnswerScreen, Correction
from tui.dialogs.grade import GradeScreen
from tui.eval_format import fmt, ru_check
from tui.i18n import t
from tui.keys import both, localize

if TYPE_CHECKING:  # annotations only: the workspace loads where it is used
    from core.workspace import Workspace


class Grader(Protocol):
    """What Compare needs from the room that opens it: the report, the workspace, two savers."""

    report: Any
    ws: Workspace

    def save_grade(self, row, model: str, score: int, comment: str) -> None: ...

    def save_correction(self, pair_id: int, model: str, fix: Correction) -> None: ...


class CompareScreen(ModalScreen[None]):
    """One eval question: the reference and each model's answer side by side."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        both("escape", "close", "evaluate.close"),
        both("left", "select(-1)", "evaluate.prev", show=False),
        both("right", "select(1)", "evaluate.next", show=False),
        both("e", "correct", "evaluate.fix"),
        *[both(str(i), f"grade({i})", f"evaluate.grade{i}", description="evaluate.grade", show=i == 1) for i in range(1, 6)],
    ]

    def __init__(self, room: Grader, row) -> None:
        super().__init__()
        self.room = room
        self.row = row
        self.models = [m for m in room.report.models if m in row.cells]
        self.selected = 0

    def on_mount(self) -> None:
        localize(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="cmp-box"):
            yield Static(self.row.question, id="cmp-question")
            with Horizontal(id="cmp-cols"):
                with VerticalScroll(classes="cmp-col", id="cmp-ref"):
                    yield Label(t("evaluate.reference"), classes="cmp-title")
                    yield Markdown(self.row.reference)
                for n, m in enumerate(self.models):
                    c = self.row.cells[m]
                    title = f"{m} · chrF {c.chrf:.1f} · {fmt(c.judge_score)} · {fmt(c.grade)}"
                    if ru_check(c):
                        title += f" · {t('evaluate.ru')} {ru_check(c)}"
                    with VerticalScroll(classes="cmp-col cmp-model" + (" selected" if n == 0 else ""), id=f"cmp-{n}"):
                        yield Label(title, classes="cmp-title")
                        yield Markdown(c.answer or "—")

    def action_select(self, step: int) -> None:
        if not self.models:
            return
        self.selected = max(0, min(len(self.models) - 1, self.selected + step))
        for n, col in enumerate(self.query(".cmp-model")):
            col.set_class(n == self.selected, "selected")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_grade(self, score: int) -> None:
        if not self.models:
            return
        model = self.models[self.selected]

        def done(comment: str | None) -> None:
            if comment is not None:
                self.room.save_grade(self.row, model, score, comment)

        self.app.push_screen(GradeScreen(score), done)

    def action_correct(self) -> None:
        if not self.models:
            return
        model = self.models[self.selected]
        cell = self.row.cells[model]

        def done(fix: Correction | None) -> None:
            if fix is not None:
                self.room.save_correction(self.row.pair_id, model, fix)

        self.app.push_screen(CorrectAnswerScreen(self.row.question, cell.answer, model=model, ws=self.room.ws), done)
