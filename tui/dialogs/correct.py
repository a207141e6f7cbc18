"""The Correct dialog: a model's answer, editable, saved as a draft or an approved pair (a
``Correction``) — from the Chat room and from Evaluate's Compare dialog alike — and the note
that says where the saved correction went."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Static, TextArea

from tui.i18n import t
from tui.keys import both, localize

if TYPE_CHECKING:  # annotations only: the workspace loads where it is used
    from core.workspace import Workspace


@dataclass
class Correction:
    question: str
    answer: str
    status: str
    replace: int | None = None  # the train pair whose answer the correction replaces; None: a new pair


class CorrectAnswerScreen(ModalScreen[Correction | None]):
    """The question and a model's answer, editable; saves as a draft or an approved pair.

    Given the workspace, it looks (in a worker) for a train pair that already asks the
    question and offers to replace that pair's answer — ticked: two pairs with one question
    and two answers would teach both — or, unticked, to keep both (a conflict the Pairs room's
    dedup lists)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")

    BINDINGS = [
        both("escape", "cancel", "correct.cancel", show=False),
        both("ctrl+s", "save('draft')", "correct.draft", priority=True),
        both("ctrl+a", "save('approved')", "correct.approved", priority=True),
    ]

    def __init__(self, question: str, answer: str, *, model: str | None = None, ws: Workspace | None = None) -> None:
        super().__init__()
        self.question = question
        self.answer = answer
        self.model = model
        self.ws = ws
        self.existing = None  # the train pair asking the question, once looked up

    def compose(self) -> ComposeResult:
        with Vertical(id="fix-box"):
            yield Label(t("correct.title_model", model=self.model) if self.model else t("correct.title"), id="fix-title")
            yield Label(t("correct.question"))
            yield TextArea(self.question, id="fix-question")
            yield Label(t("correct.answer"))
            yield TextArea(self.answer, id="fix-answer")
            yield Static("", id="fix-existing")
            yield Checkbox(t("correct.replace"), value=True, compact=True, id="fix-replace")
            with Horizontal(id="fix-buttons"):
                yield Button(t("correct.draft_btn") + " (ctrl+s)", id="draft", compact=True)
                yield Button(t("correct.approved_btn") + " (ctrl+a)", id="approved", variant="success", compact=True)
                yield Button(t("correct.cancel") + " (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        localize(self)
        # the answer's key hint (a notice at the bottom right) would sit on the buttons
        self.app.clear_notifications()
        self.query_one("#fix-existing").display = False
        self.query_one("#fix-replace").display = False
        answer = self.query_one("#fix-answer", TextArea)
        answer.focus()
        # the model's answer is selected: typing replaces it, an arrow key edits it in place
        answer.select_all()
        if self.ws is not None:
            self._look_up(self.question)

    @work(thread=True, exit_on_error=False, exclusive=True, group="fix-lookup")
    def _look_up(self, question: str) -> None:
        from core.loop.corrections import pair_to_replace
        from core.store import Store

        with Store(self.ws.db_path) as store:
            pair = pair_to_replace(store, question)
        if pair is not None:
            self.app.call_from_thread(self._found, pair)

    def _found(self, pair) -> None:
        if not self.is_attached:
            return
        self.existing = pair
        excerpt = " ".join(pair.answer.split())
        excerpt = excerpt if len(excerpt) <= 60 else excerpt[:59] + "…"
        existing = self.query_one("#fix-existing", Static)
        existing.update(t("correct.existing", id=pair.id, answer=excerpt))
        existing.display = True
        box = self.query_one("#fix-replace", Checkbox)
        box.label = t("correct.replace_id", id=pair.id)
        box.display = True

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self.action_save(event.button.id)

    def action_save(self, status: str) -> None:
        q = self.query_one("#fix-question", TextArea).text.strip()
        a = self.query_one("#fix-answer", TextArea).text.strip()
        if not q or not a:
            self.notify(t("chat.nothing"), severity="warning")
            return
        replace = self.existing.id if self.existing is not None and self.query_one("#fix-replace", Checkbox).value else None
        self.dismiss(Correction(q, a, status, replace))

    def action_cancel(self) -> None:
        self.dismiss(None)


def saved_note(pair, replaced: bool) -> str:
    """What a saved correction says: which pair, and whether it will be trained on."""
    status = t(f"correct.status.{pair.status}")
    return t("chat.replaced" if replaced else "chat.saved", id=pair.id, status=status)
