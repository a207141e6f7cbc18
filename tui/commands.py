"""The command palette (ctrl+p): every action of the app, in the current language.

Each entry that has a key shows it, read from the live bindings (the workspace's keymap
applied), so a rebound key reads right here too: ``Pairs: approve (v)``.
"""

from __future__ import annotations

from functools import partial

from rich.align import Align
from rich.text import Text
from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.widgets.option_list import Option

from tui.i18n import t
from tui.keys import hint

#: (i18n key, room action) for the actions of the Pairs room
PAIRS_COMMANDS = (
    ("palette.approve", "approve"),
    ("palette.reject", "reject"),
    ("palette.draft", "draft"),
    ("palette.tags", "tags"),
    ("palette.split", "toggle_split"),
    ("palette.mark", "mark"),
    ("palette.mark_all", "mark_all"),
    ("palette.unmark", "unmark"),
    ("palette.delete", "delete"),
    ("palette.undo", "undo"),
    ("palette.new", "new_pair"),
    ("palette.edit", "edit"),
    ("palette.history", "history"),
    ("palette.import", "import"),
    ("palette.export", "export"),
    ("palette.search", "search"),
    ("palette.clear", "clear"),
    ("palette.filter", "filter"),
    ("palette.sort", "cycle_sort"),
    ("palette.reverse", "reverse_sort"),
    ("palette.stats", "toggle_stats"),
    ("palette.dedup", "dedup"),
    ("palette.prefs", "preferences"),
    ("palette.teacher", "teacher_drafts"),
)

#: (room, i18n key, room action) for the actions of the other rooms
ROOM_COMMANDS = (
    ("train", "palette.train.start", "start"),
    ("train", "palette.train.cancel", "cancel_run"),
    ("train", "palette.train.preview", "preview"),
    ("chat", "palette.chat.new", "new_chat"),
    ("chat", "palette.chat.stop", "stop"),
    ("chat", "palette.chat.correct", "correct"),
    ("chat", "palette.chat.prefer", "prefer"),
    ("chat", "palette.chat.blind", "blind"),
    ("chat", "palette.chat.votes", "votes"),
    ("evaluate", "palette.eval.run", "run"),
    ("evaluate", "palette.eval.worse", "toggle_worse"),
    ("evaluate", "palette.eval.refresh", "refresh_grid"),
)


def commands(app) -> list[tuple[str, object]]:
    """Every palette entry as (title, callback)."""
    from core.store import PairFilter

    def keyed(key: str, bindings, action: str) -> str:
        keys = hint(bindings, action)
        return f"{t(key)} ({keys})" if keys else t(key)

    pairs, own = app.room_bindings("pairs"), app.room_bindings(None)
    out: list[tuple[str, object]] = [(keyed(key, pairs, action), partial(app.pairs_action, action)) for key, action in PAIRS_COMMANDS]

    def only(**kw):
        def run():
            app.action_tab("pairs")
            room = app.pairs_room
            room.set_filter(PairFilter(query=room.table.flt.query, **kw))

        return run

    out += [
        (t("palette.only_draft"), only(status="draft")),
        (t("palette.only_approved"), only(status="approved")),
        (t("palette.only_rejected"), only(status="rejected")),
        (t("palette.only_eval"), only(split="eval")),
    ]
    out += [(keyed(key, app.room_bindings(tab), action), partial(app.room_action, tab, action)) for tab, key, action in ROOM_COMMANDS]
    out += [
        (t("palette.export.gguf"), app.open_export),
        (t("palette.export.chat"), partial(app.export_and_chat, None)),
    ]
    for tab in ("pairs", "train", "chat", "evaluate"):
        out.append((keyed(f"palette.tab.{tab}", own, f"tab('{tab}')"), partial(app.action_tab, tab)))
    out += [
        (t("palette.lang.ru"), partial(app.set_language, "ru")),
        (t("palette.lang.en"), partial(app.set_language, "en")),
        (keyed("palette.help", own, "help"), app.action_help),
        (keyed("palette.guide", own, "guide"), app.action_guide),
    ]  # quitting is Textual's own Quit command, once (NastavnikApp.get_system_commands)
    return out


class NastavnikCommands(Provider):
    """Every action of the app; fuzzy-matched as you type."""

    def _commands(self):
        app = self.app
        if not hasattr(app, "pairs_room"):
            return []
        return commands(app)

    async def discover(self) -> Hits:
        for title, callback in self._commands():
            yield DiscoveryHit(title, callback)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title)


class Palette(CommandPalette):
    """Textual's palette with its own words in the UI's language: the search box's placeholder
    and the line that says nothing matched (Textual adds that line to its list itself, in
    English; it is swapped for ours as it is added)."""

    def __init__(self) -> None:
        super().__init__(id="--command-palette", placeholder=t("palette.placeholder"))

    def on_mount(self) -> None:
        commands = self.query_one(CommandList)
        add = commands.add_option

        def add_option(option=None):
            if isinstance(option, Option) and option.id == self._NO_MATCHES:
                option = Option(Align.center(Text(t("palette.no_matches"), style="not bold")), disabled=True, id=option.id)
            return add(option)

        commands.add_option = add_option  # type: ignore[method-assign]
