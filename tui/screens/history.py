"""A pair's history: every revision, a coloured diff against the current text, restore."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from core.errors import UserError
from tui.i18n import register, t
from tui.screens._dialogs import ConfirmScreen, both_layouts

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace

register(
    ru={
        "hist.title": "История пары #{id}",
        "hist.loading": "Загрузка…",
        "hist.none": "У этой пары нет ранних версий.",
        "hist.created": "(создание)",
        "hist.restore": "Вернуть",
        "hist.close": "Закрыть",
        "hist.question": "Вопрос",
        "hist.answer": "Ответ",
        "hist.system": "Системный промпт",
        "hist.same": "без изменений",
        "hist.meta": "Статус/выборка/теги",
        "hist.legend": "красным — текст версии, зелёным — текущий",
        "hist.not_restorable": "Это состояние до создания пары: вернуть нечего.",
        "hist.confirm": "Вернуть пару #{id} к версии {rev} ({when})? Текущий текст останется в истории.",
        "hist.restored": "Пара #{id} возвращена к версии {rev}.",
        "hist.action.add": "создание",
        "hist.action.edit": "правка",
        "hist.action.status": "статус",
        "hist.action.split": "выборка",
        "hist.action.delete": "удаление",
        "hist.action.restore": "восстановление",
        "hist.action.tag": "теги",
        "hist.action.untag": "теги",
        "hist.action.tags": "теги",
        "hist.action.revert": "возврат",
        "hist.action.merge": "слияние дублей",
        "hist.action.undo": "отмена",
    },
    en={
        "hist.title": "History of pair #{id}",
        "hist.loading": "Loading…",
        "hist.none": "This pair has no earlier versions.",
        "hist.created": "(new pair)",
        "hist.restore": "Restore",
        "hist.close": "Close",
        "hist.question": "Question",
        "hist.answer": "Answer",
        "hist.system": "System prompt",
        "hist.same": "unchanged",
        "hist.meta": "Status/split/tags",
        "hist.legend": "red: the revision's text, green: the current text",
        "hist.not_restorable": "This is the state before the pair existed: nothing to restore.",
        "hist.confirm": "Restore pair #{id} to revision {rev} ({when})? The current text stays in the history.",
        "hist.restored": "Pair #{id} restored to revision {rev}.",
        "hist.action.add": "created",
        "hist.action.edit": "edit",
        "hist.action.status": "status",
        "hist.action.split": "split",
        "hist.action.delete": "delete",
        "hist.action.restore": "restore",
        "hist.action.tag": "tags",
        "hist.action.untag": "tags",
        "hist.action.tags": "tags",
        "hist.action.revert": "restore",
        "hist.action.merge": "duplicates merged",
        "hist.action.undo": "undo",
    },
)

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


def meta_diff(rev, pair) -> Text | None:
    """One line for status, split and tag changes (revision → current)."""
    parts: list[Text] = []
    for name, old, new in (("status", rev.status, pair.status), ("split", rev.split, pair.split)):
        if old != new:
            parts.append(Text.assemble(f"{name}: ", (str(old), OLD_STYLE), " → ", (str(new), NEW_STYLE)))
    if list(rev.tags) != list(pair.tags):
        removed = [x for x in rev.tags if x not in pair.tags]
        added = [x for x in pair.tags if x not in rev.tags]
        tags = Text("tags: ")
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
        parts.append(Text.assemble("trash: ", (str(bool(rev.deleted)).lower(), OLD_STYLE), " → ", (str(bool(pair.deleted)).lower(), NEW_STYLE)))
    if not parts:
        return None
    return Text("   ").join(parts)


def describe(rev) -> str:
    when = (rev.created or "")[5:16].replace("T", " ")
    what = t(f"hist.action.{rev.action}") if rev.action else "?"
    if not rev.existed:
        what = t("hist.created")
    return f"{when}  {what}"


class HistoryScreen(ModalScreen[bool]):
    """Revisions of one pair, newest first; the diff shows revision → current text."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        Binding(both_layouts("r"), "restore", "Restore"),
        Binding("escape", "close", "Close"),
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
            yield Static(t("hist.title", id=self.pair_id), id="history-title")
            with Horizontal(id="history-body"):
                yield OptionList(id="history-list")
                with VerticalScroll(id="history-diff"):
                    yield Static(t("hist.loading"), id="history-diff-text")
            yield Static(
                f"[b]r[/b] {t('hist.restore')}   [b]esc[/b] {t('hist.close')}   [dim]{t('hist.legend')}[/dim]",
                id="history-keys",
            )

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="history")
    def load(self) -> None:
        try:
            with self.ws.store() as store:
                revisions = store.history(self.pair_id)
                pair = store.get_pair(self.pair_id)
        except UserError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), severity="error")
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
            self.query_one("#history-diff-text", Static).update(t("hist.none"))
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
            out.append(t("hist.not_restorable"), style="italic")
            return out
        for key, old, new in (
            ("hist.question", rev.question, pair.question),
            ("hist.answer", rev.answer, pair.answer),
            ("hist.system", rev.system, pair.system),
        ):
            diff = text_diff(old, new)
            out.append(t(key) + ": ", style="bold")
            if diff is None:
                out.append(t("hist.same") + "\n", style="dim")
            else:
                out.append("\n")
                out.append_text(diff)
                out.append("\n")
        meta = meta_diff(rev, pair)
        out.append(t("hist.meta") + ": ", style="bold")
        if meta is None:
            out.append(t("hist.same"), style="dim")
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
            self.notify(t("hist.not_restorable"), severity="warning")
            return
        when = (rev.created or "")[:16].replace("T", " ")

        def answered(yes: bool | None) -> None:
            if yes:
                self.restore(rev.id)

        self.app.push_screen(ConfirmScreen(t("hist.confirm", id=self.pair_id, rev=rev.id, when=when)), answered)

    @work(thread=True, exclusive=True, group="history")
    def restore(self, revision_id: int) -> None:
        try:
            with self.ws.store() as store:
                store.revert(self.pair_id, revision_id)
        except UserError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._restored, revision_id)

    def _restored(self, revision_id: int) -> None:
        self.restored = True
        self.app.notify(t("hist.restored", id=self.pair_id, rev=revision_id))
        self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(self.restored)
