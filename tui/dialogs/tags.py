"""Edit the tags of one or more pairs: comma-separated, completed from the tags in use.

On several pairs the field holds the tags all of them share and a line lists those only some
have; Enter adds the tags put into the field to every pair and removes the shared ones erased
from it (``-tag`` removes a tag from every pair, shared or not), and leaves every other tag of
each pair as it was, as ``nastavnik pairs tag`` and ``--remove`` do. On one pair the field is
simply its tags.

The screen does not write: it dismisses with a ``TagChange`` and the caller applies it
(so the change goes through the store and can be undone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static

from core.text import split_tags
from tui.i18n import t
from tui.keys import both
from tui.widgets.completing_input import CompletingInput

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


class TagSuggester(Suggester):
    """Completes the last comma-separated part from known tags (most used first)."""

    def __init__(self, known: list[str] | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.known = list(known or [])

    async def get_suggestion(self, value: str) -> str | None:
        return complete_tag(value, self.known)


def complete_tag(value: str, known: list[str]) -> str | None:
    """The field with its last part completed to a known tag (``-осн`` to ``-основы`` too)."""
    cut = max(value.rfind(","), value.rfind(";"))
    head, sep, last = value[: max(cut, 0)], value[cut] if cut >= 0 else "", value[cut + 1 :]
    typed = last.lstrip()
    minus = REMOVE_MARK if typed.startswith(REMOVE_MARK) else ""
    typed = typed[len(minus) :]
    if not typed:
        return None
    already = set(split_tags(head))
    low = typed.casefold()
    for tag in known:
        if tag.casefold().startswith(low) and tag != typed and minus + tag not in already:
            lead = last[: len(last) - len(typed) - len(minus)]
            return head + sep + lead + minus + tag
    return None


REMOVE_MARK = "-"  # "-tag" in the field removes the tag from every pair


@dataclass(frozen=True)
class TagChange:
    """What Enter in the Tags dialog asks for: ``add`` goes on every pair, ``remove`` comes off
    every pair, any other tag stays as it is on each; ``tags`` is the field as typed (less the
    ``-tag`` entries), what a new pair is offered next."""

    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def read_tag_field(value: str, shared: list[str]) -> TagChange:
    """The change a tags field asks for, given the tags every pair had (``shared``) when it was
    filled with them: a tag in the field and not shared is added, a shared tag no longer in the
    field is removed, ``-tag`` is removed (it wins over the same tag left in the field), and a
    tag only some pairs have is not touched unless the field names it."""
    kept: list[str] = []
    dropped: list[str] = []
    for entry in split_tags(value):
        if entry.startswith(REMOVE_MARK):
            tag = entry[len(REMOVE_MARK) :].strip()
            if tag and tag not in dropped:
                dropped.append(tag)
        elif entry not in kept:
            kept.append(entry)
    kept = [tag for tag in kept if tag not in dropped]
    add = [tag for tag in kept if tag not in shared]
    remove = [tag for tag in shared if tag not in kept] + [tag for tag in dropped if tag not in shared]
    return TagChange(add=add, remove=remove, tags=kept)


class TagsScreen(ModalScreen[TagChange | None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [both("escape", "cancel", "tags.cancel")]

    def __init__(self, ws: Workspace, pair_ids) -> None:
        super().__init__()
        self.ws = ws
        self.pair_ids = [int(i) for i in pair_ids]
        self.suggester = TagSuggester()
        self.shared: list[str] = []  # the tags every pair had when the field was filled

    def compose(self) -> ComposeResult:
        n = len(self.pair_ids)
        with Vertical(id="tags-box"):
            yield Static(t("tags.title") if n == 1 else t("tags.title_many", n=n), id="tags-title")
            yield Static("", id="tags-current")
            yield CompletingInput(placeholder=t("tags.placeholder"), suggester=self.suggester, id="tags-input")
            if n > 1:
                yield Static(t("tags.hint_many"), id="tags-hint")
            yield Static("", id="tags-known")
            yield Static(t("tags.keys"), id="tags-keys")

    def on_mount(self) -> None:
        self.query_one("#tags-input", Input).focus()
        self.load()

    @work(thread=True, exit_on_error=False, exclusive=True, group="tags")
    def load(self) -> None:
        with self.ws.store() as store:
            known = store.tags()
            pairs = store.get_pairs(self.pair_ids) if self.pair_ids else []
        self.app.call_from_thread(self._show, known, pairs)

    def _show(self, known: list[tuple[str, int]], pairs: list) -> None:
        self.suggester.known = [tag for tag, _ in known]
        union: list[str] = []
        for p in pairs:
            for tag in p.tags:
                if tag not in union:
                    union.append(tag)
        on_all = [tag for tag in union if all(tag in p.tags for p in pairs)]
        on_some = [f"{tag} ({sum(tag in p.tags for p in pairs)}/{len(pairs)})" for tag in union if tag not in on_all]
        if len(self.pair_ids) == 1:
            current = t("tags.current", tags=", ".join(on_all) or t("tags.none"))
        else:
            current = t("tags.on_all", n=len(self.pair_ids), tags=", ".join(on_all) or t("tags.none"))
        if on_some:
            current += "\n" + t("tags.on_some", tags=", ".join(on_some))
        self.query_one("#tags-current", Static).update(current)
        known_text = ", ".join(f"{tag} ({n})" for tag, n in known[:30])
        self.query_one("#tags-known", Static).update(t("tags.known", tags=known_text or "—"))
        field = self.query_one("#tags-input", Input)
        if not field.value:  # text typed before the pairs were read is only added: it erased nothing
            self.shared = on_all
            field.value = ", ".join(on_all)
            field.cursor_position = len(field.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(read_tag_field(event.value, self.shared))

    def action_cancel(self) -> None:
        self.dismiss(None)
