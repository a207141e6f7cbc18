"""A pair's history: every revision, a coloured diff against the current text, restore."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from core.errors import UserError
from tui.i18n import error_text, has, t
from tui.keys import both
from tui.dialogs.confirm import ConfirmScreen

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


# a word with the spaces after it, or one other character with the spaces after it: spaces
# never match on their own, so a changed phrase reads as one struck-out run and one new run
_TOKENS = re.compile(r"\s+|[\w-]+\s*|[^\w\s]\s*", re.UNICODE)

OLD_STYLE = "bold red strike"
NEW_STYLE = "bold green underline"


def word_diff(old: str, new: str) -> Text:
    """Old → new, word by word: removed words red and struck out, added words green."""
    a = _TOKENS.findall(old or "")
    b = _TOKENS.findall(new or "")
    out = Text()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append("".join(a[i1:i2]))
            continue
        if op in ("delete", "replace"):
            old_part = "".join(a[i1:i2])
            out.append(old_part.rstrip(), style=OLD_STYLE)
            out.append(old_part[len(old_part.rstrip()) :] or (" " if op == "replace" else ""))
        if op in ("insert", "replace"):
            new_part = "".join(b[j1:j2])
            out.append(new_part.rstrip(), style=NEW_STYLE)
            out.append(new_part[len(new_part.rstrip()) :])
    return out


def line_diff(old: str, new: str) -> Text:
    """Long texts: changed lines as -/+ lines, and within a changed line a word diff."""
    a, b = (old or "").splitlines(), (new or "").splitlines()
    out = Text()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for line in a[i1:i2]:
                out.append("  " + line + "\n", style="dim")
        elif op == "replace" and i2 - i1 == j2 - j1:
            for x, y in zip(a[i1:i2], b[j1:j2]):
                out.append("~ ", style="yellow")
                out.append_text(word_diff(x, y))
                out.append("\n")
        else:
            for line in a[i1:i2]:
                out.append("- " + line + "\n", style="red")
            for line in b[j1:j2]:
                out.append("+ " + line + "\n", style="green")
    out.rstrip()
    return out


def text_diff(old: str | None, new: str | None) -> Text | None:
    """None when equal; a word diff for one-line texts, a line diff for longer ones."""
    old, new = old or "", new or ""
    if old == new:
        return None
    if "\n" in old or "\n" in new:
        return line_diff(old, new)
    return word_diff(old, new)


def _value(name: str, value) -> str:
    """A status or split in the UI's language (the Stats panel's words)."""
    return t(f"stats.{name}.{value}") if has(f"stats.{name}.{value}") else str(value)


def meta_diff(rev, pair) -> Text | None:
    """One line for status, split and tag changes (revision → current)."""
    parts: list[Text] = []
    for name, old, new in (("status", rev.status, pair.status), ("split", rev.split, pair.split)):
        if old != new:
            parts.append(Text.assemble(t(f"history.meta.{name}") + ": ", (_value(name, old), OLD_STYLE), " → ",
                                       (_value(name, new), NEW_STYLE)))
    if list(rev.tags) != list(pair.tags):
        removed = [x for x in rev.tags if x not in pair.tags]
        added = [x for x in pair.tags if x not in rev.tags]
        tags = Text(t("history.meta.tags") + ": ")
        for x in removed:
            tags.append("-" + x, style=OLD_STYLE)
            tags.append(" ")
        for x in added:
            tags.append("+" + x, style=NEW_STYLE)
            tags.append(" ")
        if not removed and not added:
            tags.append(", ".join(rev.tags) + " → " + ", ".join(pair.tags))
        parts.append(tags)
    if bool(rev.deleted) != bool(pair.deleted):
        parts.append(Text.assemble(t("history.meta.trash") + ": ", (t(f"history.meta.{bool(rev.deleted)}".lower()), OLD_STYLE), " → ",
                                   (t(f"history.meta.{bool(pair.deleted)}".lower()), NEW_STYLE)))
    if not parts:
        return None
    return Text("   ").join(parts)


def describe(rev) -> str:
    when = (rev.created or "")[5:16].replace("T", " ")
    what = t(f"history.action.{rev.action}") if rev.action else "?"
    if not rev.existed:
        what = t("history.created")
    return f"{when}  {what}"


class HistoryScreen(ModalScreen[bool]):
    """Revisions of one pair, newest first; the diff shows revision → current text."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        both("r", "restore", "history.restore"),
        both("escape", "close", "history.close"),
    ]

    def __init__(self, ws: Workspace, pair_id: int) -> None:
        super().__init__()
        self.ws = ws
        self.pair_id = pair_id
        self.revisions: list = []
        self.pair = None
        self.restored = False

    def compose(self) -> ComposeResult:
        with Vertical(id="history-box"):
            yield Static(t("history.title", id=self.pair_id), id="history-title")
            with Horizontal(id="history-body"):
                yield OptionList(id="history-list")
                with VerticalScroll(id="history-diff"):
                    yield Static(t("history.loading"), id="history-diff-text")
            yield Static(
                f"[b]r[/b] {t('history.restore')}   [b]esc[/b] {t('history.close')}   [dim]{t('history.legend')}[/dim]",
                id="history-keys",
            )

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exit_on_error=False, exclusive=True, group="history")
    def load(self) -> None:
        try:
            with self.ws.store() as store:
                revisions = store.history(self.pair_id)
                pair = store.get_pair(self.pair_id)
        except UserError as exc:
            self.app.call_from_thread(self.app.notify, error_text(exc, " — "), severity="error")
            self.app.call_from_thread(self.dismiss, False)
            return
        self.app.call_from_thread(self._show, revisions, pair)

    def _show(self, revisions: list, pair) -> None:
        self.revisions = list(reversed(revisions))  # newest first
        self.pair = pair
        options = self.query_one("#history-list", OptionList)
        options.clear_options()
        options.add_options([Option(describe(r), id=str(r.id)) for r in self.revisions])
        if self.revisions:
            options.highlighted = 0
            self._render_diff(self.revisions[0])
        else:
            self.query_one("#history-diff-text", Static).update(t("history.none"))
        options.focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        rev = self._selected()
        if rev is not None:
            self._render_diff(rev)

    def _selected(self):
        options = self.query_one("#history-list", OptionList)
        if options.highlighted is None or not self.revisions:
            return None
        return self.revisions[options.highlighted]

    def diff_text(self, rev) -> Text:
        """The whole diff panel for one revision, as plain-renderable Rich text."""
        pair = self.pair
        out = Text()
        if not rev.existed:
            out.append(t("history.not_restorable"), style="italic")
            return out
        for key, old, new in (
            ("history.question", rev.question, pair.question),
            ("history.answer", rev.answer, pair.answer),
            ("history.system", rev.system, pair.system),
        ):
            diff = text_diff(old, new)
            out.append(t(key) + ": ", style="bold")
            if diff is None:
                out.append(t("history.same") + "\n", style="dim")
            else:
                out.append("\n")
                out.append_text(diff)
                out.append("\n")
        meta = meta_diff(rev, pair)
        out.append(t("history.meta") + ": ", style="bold")
        if meta is None:
            out.append(t("history.same"), style="dim")
        else:
            out.append_text(meta)
        return out

    def _render_diff(self, rev) -> None:
        self.query_one("#history-diff-text", Static).update(self.diff_text(rev))

    def action_restore(self) -> None:
        rev = self._selected()
        if rev is None:
            return
        if not rev.existed:
            self.notify(t("history.not_restorable"), severity="warning")
            return
        when = (rev.created or "")[:16].replace("T", " ")

        def answered(yes: bool | None) -> None:
            if yes:
                self.restore(rev.id)

        self.app.push_screen(ConfirmScreen(t("history.confirm", id=self.pair_id, rev=rev.id, when=when)), answered)

    @work(thread=True, exit_on_error=False, exclusive=True, group="history")
    def restore(self, revision_id: int) -> None:
        with self.ws.store() as store:
            store.revert(self.pair_id, revision_id)
        self.app.call_from_thread(self._restored, revision_id)

    def _restored(self, revision_id: int) -> None:
        self.restored = True
        self.app.notify(t("history.restored", id=self.pair_id, rev=revision_id))
        self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(self.restored)
