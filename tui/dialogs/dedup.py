"""Duplicates and conflicts: keep one pair of a group, merge conflicting answers, delete.

Every step is one ``Store.merge_pairs`` call: the kept pair's new answer and tags and the
trashed pairs are written in one transaction as ONE undoable action (one ctrl+z in the Pairs
room brings all of them back). The call carries the pairs as this dialog loaded them: if one
changed elsewhere since (another window, the CLI, an undo), nothing is written, the user is
told which pair changed and the groups are loaded again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from core.store import PairChanged
from tui.i18n import t
from tui.keys import both
from tui.dialogs.confirm import ConfirmScreen
from tui.dialogs.merge import MergeScreen

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


def _one_line(text: str, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


class DedupScreen(ModalScreen[bool]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        both("k", "keep", "dedup.keep"),
        both("m", "merge", "dedup.merge"),
        both("d", "delete", "dedup.delete"),
        both("escape", "close", "dedup.close"),
    ]

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws
        self.groups: list[tuple[str, list]] = []  # ("dup"|"conflict", pairs)
        self.changed = False
        self._group_index = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="dedup-box"):
            yield Static(t("dedup.loading"), id="dedup-title")
            yield OptionList(id="dedup-groups")
            yield OptionList(id="dedup-pairs")
            yield Static(t("dedup.keys"), id="dedup-keys")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exit_on_error=False, exclusive=True, group="dedup")
    def load(self) -> None:
        with self.ws.store() as store:
            report = store.dedup()
        self.app.call_from_thread(self._show, report)

    def _show(self, report) -> None:
        self.groups = [("dup", g) for g in report.duplicates] + [("conflict", g) for g in report.conflicts]
        title = t("dedup.title", d=len(report.duplicates), c=len(report.conflicts))
        if not self.groups:
            title += " — " + t("dedup.clean")
        self.query_one("#dedup-title", Static).update(title)
        groups = self.query_one("#dedup-groups", OptionList)
        groups.clear_options()
        for kind, pairs in self.groups:
            label = Text.assemble(
                (f"{t('dedup.' + kind):<10}", "bold yellow" if kind == "conflict" else "bold cyan"),
                f" {len(pairs)}× ",
                _one_line(pairs[0].question, 60),
            )
            groups.add_option(Option(label))
        if self.groups:
            self._group_index = min(self._group_index, len(self.groups) - 1)
            groups.highlighted = self._group_index
            self._show_group(self._group_index)
            groups.focus()
        else:
            self.query_one("#dedup-pairs", OptionList).clear_options()

    def _show_group(self, index: int) -> None:
        self._group_index = index
        kind, pairs = self.groups[index]
        box = self.query_one("#dedup-pairs", OptionList)
        box.clear_options()
        for p in pairs:
            state = t("dedup.state", status=t(f"dedup.{p.status}"), split=t(f"dedup.{p.split}"))
            head = Text.assemble((f"#{p.id}", "bold"), f"  {state}")
            if p.tags:
                head.append("  [" + ", ".join(p.tags) + "]", style="dim")
            body = Text.assemble(("Q: ", "bold"), _one_line(p.question, 200), "\n", ("A: ", "bold"), _one_line(p.answer, 200))
            box.add_option(Option(Text("\n").join([head, body]), id=str(p.id)))
        box.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "dedup-groups" and event.option_index < len(self.groups):
            self._show_group(event.option_index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "dedup-groups":
            self.query_one("#dedup-pairs", OptionList).focus()

    def selection(self):
        """(kind, pairs of the group, the pair under the cursor) or None."""
        if not self.groups:
            return None
        kind, pairs = self.groups[self._group_index]
        index = self.query_one("#dedup-pairs", OptionList).highlighted or 0
        return kind, pairs, pairs[min(index, len(pairs) - 1)]

    def action_keep(self) -> None:
        sel = self.selection()
        if sel:
            _, pairs, chosen = sel
            self.apply(chosen.id, [p.id for p in pairs if p.id != chosen.id], None, None, pairs)

    def action_delete(self) -> None:
        sel = self.selection()
        if not sel:
            return
        chosen = sel[2]

        def answered(yes: bool | None) -> None:
            if yes:
                self.apply(None, [chosen.id], None, None, [chosen])

        self.app.push_screen(ConfirmScreen(t("dedup.confirm_delete", id=chosen.id)), answered)

    def action_merge(self) -> None:
        sel = self.selection()
        if not sel:
            return
        _, pairs, chosen = sel
        others = [p.id for p in pairs if p.id != chosen.id]
        tags: list[str] = []
        for p in [chosen, *pairs]:
            tags += [x for x in p.tags if x not in tags]

        def edited(answer: str | None) -> None:
            if answer is not None:
                self.apply(chosen.id, others, answer, tags, pairs)

        self.app.push_screen(MergeScreen(chosen.id, chosen.answer), edited)

    @work(thread=True, exit_on_error=False, exclusive=True, group="dedup")
    def apply(self, keep: int | None, trash: list[int], answer: str | None, tags: list[str] | None, loaded: list) -> None:
        """Keep/merge/delete in one store action, refused if a pair of ``loaded`` changed since."""
        with self.ws.store() as store:
            try:
                store.merge_pairs(keep, trash, answer=answer, tags=tags, expected={p.id: p for p in loaded})
            except PairChanged as exc:
                key = "dedup.gone" if exc.gone else "dedup.changed"
                report = store.dedup()
                self.app.call_from_thread(self._refused, t(key, id=exc.pair_id), report)
                return
            report = store.dedup()
        if keep is None:
            message = t("dedup.deleted", id=trash[0])
        elif answer is not None:
            message = t("dedup.merged", id=keep, n=len(trash))
        else:
            message = t("dedup.kept", id=keep, n=len(trash))
        self.app.call_from_thread(self._after, message, report)

    def _after(self, message: str, report) -> None:
        self.changed = True
        self.notify(message)
        self._show(report)

    def _refused(self, message: str, report) -> None:
        self.notify(message, severity="warning", timeout=8)
        self._show(report)

    def action_close(self) -> None:
        self.dismiss(self.changed)
