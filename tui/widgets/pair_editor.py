"""The pair form: question, answer, system prompt and tags, with live length counts.

``PairEditor`` is the form (``tui.dialogs.edit_pair.EditPairScreen`` hosts it full-screen and
saves it); ``editable`` gives a pair's fields in the shape ``PairEditor.values()`` returns, for
the editor and for the conflict dialog that compares two versions.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, TextArea

from core.store import Pair
from core.text import estimate_tokens, split_tags
from tui.i18n import t
from tui.styles import sibling_css


def count_label(text: str) -> str:
    return t("editor.count", chars=len(text), tokens=estimate_tokens(text))


def editable(pair: Pair) -> dict:
    """The fields the editor shows, in the shape ``PairEditor.values()`` returns."""
    return {"question": pair.question, "answer": pair.answer, "system": pair.system or "", "tags": list(pair.tags)}


class PairEditor(Vertical):
    """The form. ``values()`` is what the user typed; ``dirty`` says if it differs from the start."""

    DEFAULT_CSS = sibling_css(__file__)

    def __init__(self, pair: Pair | None, *, system: str | None = None, tags: list[str] | None = None, **kw) -> None:
        super().__init__(**kw)
        self.pair = pair
        if pair is not None:
            self.initial = editable(pair)
        else:
            self.initial = {"question": "", "answer": "", "system": system or "", "tags": list(tags or [])}

    def compose(self) -> ComposeResult:
        for key, label, height in (("question", "editor.question", None), ("answer", "editor.answer", None), ("system", "editor.system", None)):
            with Horizontal(classes="ed-head"):
                yield Label(t(label), classes="ed-label", id=f"{key}-label")
                yield Label(count_label(self.initial[key]), classes="ed-count", id=f"{key}-count")
            yield TextArea(self.initial[key], id=key, soft_wrap=True, tab_behavior="focus", show_line_numbers=False)
        with Horizontal(classes="ed-head"):
            yield Label(t("editor.tags"), classes="ed-label", id="tags-label")
        yield Input(", ".join(self.initial["tags"]), id="tags")

    def on_mount(self) -> None:
        self.query_one("#question", TextArea).focus()

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        area = event.text_area
        if area.id:
            self.query_one(f"#{area.id}-count", Label).update(count_label(area.text))

    def values(self) -> dict:
        return {
            "question": self.query_one("#question", TextArea).text,
            "answer": self.query_one("#answer", TextArea).text,
            "system": self.query_one("#system", TextArea).text,
            "tags": split_tags(self.query_one("#tags", Input).value),
        }

    @property
    def dirty(self) -> bool:
        return self.values() != self.initial

    def load(self, pair: Pair, values: dict | None = None) -> None:
        """Start again from ``pair``, showing ``values`` (default: the pair itself) as the edit."""
        self.pair = pair
        self.initial = editable(pair)
        shown = values or self.initial
        for key in ("question", "answer", "system"):
            self.query_one(f"#{key}", TextArea).load_text(shown[key])
            self.query_one(f"#{key}-count", Label).update(count_label(shown[key]))
        self.query_one("#tags", Input).value = ", ".join(shown["tags"])
