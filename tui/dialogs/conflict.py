"""Asked when a save would overwrite a change made elsewhere while the pair was being edited.

``PairConflictScreen`` shows, field by field, a short word diff from the version saved
elsewhere to the edit on screen and lets the user choose; nothing is thrown away unless
they pick the choice that says so:

- changed elsewhere: ``"mine"`` (overwrite with my edit), ``"theirs"`` (load the saved
  version, dropping my edit), ``"keep"`` (back to editing, nothing written), and, when no
  field was changed on both sides, ``"merge"`` (their fields plus mine, loaded into the
  editor for a look before ctrl+s saves them);
- trashed or deleted for good elsewhere: ``"new"`` (save my edit as a new pair),
  ``"discard"`` (drop my edit), ``"keep"``.

Escape always means ``"keep"``, and "keep editing" has the focus, so enter is safe too.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from core.store import Pair
from tui.i18n import t
from tui.keys import hidden
from tui.widgets.pair_editor import editable

FIELDS = ("question", "answer", "system", "tags")
KEEP_RUN = 6  # words of unchanged text kept on each side of a change; longer runs become "…"


def merged(mine: dict, base: Pair, current: Pair | None) -> dict | None:
    """Their changes plus mine when no field was changed on both sides; else None."""
    if current is None or current.deleted is not None:
        return None
    theirs, start = editable(current), editable(base)
    here = {f for f in FIELDS if mine[f] != start[f]}
    there = {f for f in FIELDS if theirs[f] != start[f]}
    if not here or not there or here & there:
        return None
    return {f: mine[f] if f in here else theirs[f] for f in FIELDS}


def _as_text(field: str, value) -> str:
    return ", ".join(value) if field == "tags" else str(value or "")


def word_diff(theirs: str, mine: str) -> Text:
    """A one-paragraph diff: removed words red and struck, added words green, long equal runs elided."""
    a = theirs.split(" ")
    b = mine.split(" ")
    out = Text()
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            words = a[i1:i2]
            first, last = n == 0, n == len(ops) - 1
            if len(words) > 2 * KEEP_RUN or (first or last) and len(words) > KEEP_RUN:
                head = [] if first else words[:KEEP_RUN]
                tail = [] if last else words[-KEEP_RUN:]
                words = head + ["…"] + tail
            out.append(" ".join(words) + " ")
            continue
        if i2 > i1:
            out.append(" ".join(a[i1:i2]), style="red strike")
            out.append(" ")
        if j2 > j1:
            out.append(" ".join(b[j1:j2]), style="green")
            out.append(" ")
    out.rstrip()
    return out


class PairConflictScreen(ModalScreen[str]):
    """Dismisses with "mine", "theirs", "new", "discard" or "keep" (see the module doc)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")

    # each key answers only in the dialog that offers its choice (see ``action_choose``)
    BINDINGS = hidden("conflict", *((key, f"choose('{choice}')", choice) for key, choice in (
        ("o", "mine"), ("t", "theirs"), ("n", "new"), ("d", "discard"), ("m", "merge"), ("escape", "keep"))))

    def __init__(self, mine: dict, base: Pair, current: Pair | None) -> None:
        super().__init__()
        self.mine = mine
        self.base = base
        self.current = current
        self.gone = current is None or (current.deleted is not None and base.deleted is None)
        self.merged = None if self.gone else merged(mine, base, current)
        self.choices = ("new", "discard", "keep") if self.gone else ("mine", "theirs", "keep")
        if self.merged is not None:
            self.choices += ("merge",)

    def changed_fields(self) -> list[str]:
        """The fields where the saved version and the edit on screen differ."""
        if self.current is None:
            return []
        theirs = editable(self.current)
        return [f for f in FIELDS if theirs[f] != self.mine[f]]

    def compose(self) -> ComposeResult:
        pid = self.base.id
        with Vertical():
            if self.current is None:
                yield Static(t("conflict.title.purged", id=pid), id="cf-title")
            elif self.gone:
                yield Static(t("conflict.title.trashed", id=pid), id="cf-title")
            else:
                yield Static(t("conflict.title.changed", id=pid), id="cf-title")
            with VerticalScroll(id="cf-body"):
                if self.gone:
                    yield Static(t("conflict.gone"), classes="cf-note")
                else:
                    yield Static(t("conflict.legend"), classes="cf-note")
                    theirs, base = editable(self.current), editable(self.base)
                    for field in self.changed_fields():
                        there = theirs[field] != base[field]
                        here = self.mine[field] != base[field]
                        who = t("conflict.both") if there and here else t("conflict.changed_there") if there else t("conflict.changed_here")
                        yield Static(f"{t('conflict.field.' + field)} · {who}", classes="cf-field", id=f"cf-{field}")
                        old, new = _as_text(field, theirs[field]), _as_text(field, self.mine[field])
                        if not old.strip() or not new.strip():
                            diff = Text()
                            diff.append(old or t("conflict.empty"), style="red strike")
                            diff.append(" ")
                            diff.append(new or t("conflict.empty"), style="green")
                        else:
                            diff = word_diff(old, new)
                        yield Static(diff, classes="cf-diff", id=f"cf-{field}-diff")
                    kept = [
                        t("conflict.field." + f)
                        for f in ("status", "split", "context")
                        if getattr(self.current, f) != getattr(self.base, f)
                    ]
                    if kept:
                        yield Static(t("conflict.kept", fields=", ".join(kept)), classes="cf-note", id="cf-kept")
            with Horizontal():
                if self.gone:
                    yield Button(t("conflict.new"), id="new", variant="primary")
                    yield Button(t("conflict.discard"), id="discard", variant="error")
                else:
                    yield Button(t("conflict.mine"), id="mine", variant="warning")
                    yield Button(t("conflict.theirs"), id="theirs")
                if self.merged is None:
                    yield Button(t("conflict.keep"), id="keep")
            if self.merged is not None:  # a second row: four buttons do not fit 80 columns
                with Horizontal(classes="cf-more"):
                    yield Button(t("conflict.merge"), id="merge", variant="primary")
                    yield Button(t("conflict.keep"), id="keep")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        if choice in self.choices:
            self.dismiss(choice)
