"""The judge's rubric, edited in the app: the Evaluate room opens it (j/о) over the workspace
file ``judge_rubric.md``, with each judge's agreement with the user's grades on top — the two
things that say whether the judge's numbers mean anything. Ctrl+S checks the text (it must keep
``{answer}``) and hands it back to be saved; Ctrl+R puts the default rubric in the editor."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from core.errors import UserError
from tui.eval_format import agreement_line
from tui.i18n import error_text, t
from tui.keys import both, localize


class RubricScreen(Screen[str | None]):
    """Edits the rubric's text; dismisses the checked new text, or None when left unchanged."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")

    BINDINGS = [
        both("ctrl+s", "save", "rubric.save", priority=True),
        both("ctrl+r", "default", "rubric.default", priority=True),
        both("escape", "cancel", "rubric.cancel"),
    ]

    def __init__(self, text: str, path: Path, agreement: list) -> None:
        super().__init__()
        self.text = text
        self.path = path
        self.agreement = agreement

    def compose(self) -> ComposeResult:
        yield Static(t("rubric.title", path=self.path), id="rubric-title", markup=False)
        lines = [agreement_line(a) for a in self.agreement] or [t("rubric.no_judgements")]
        yield Static("\n".join(lines), id="rubric-agreement", markup=False)
        yield TextArea(self.text, id="rubric-text", soft_wrap=True)
        yield Static(t("rubric.hint"), id="rubric-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        localize(self)
        self.query_one("#rubric-text", TextArea).focus()

    def action_save(self) -> None:
        from core.eval.rubric import check

        text = self.query_one("#rubric-text", TextArea).text
        try:
            check(text, self.path.name)
        except UserError as exc:
            self.query_one("#rubric-hint", Static).update(error_text(exc, sep=" — "))
            self.query_one("#rubric-hint", Static).add_class("error")
            return
        self.dismiss(None if text.strip() == self.text.strip() else text)

    def action_default(self) -> None:
        from core.eval.rubric import DEFAULT_RUBRIC

        self.query_one("#rubric-text", TextArea).text = DEFAULT_RUBRIC

    def action_cancel(self) -> None:
        self.dismiss(None)
