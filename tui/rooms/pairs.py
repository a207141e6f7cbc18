"""The Pairs room: browse, search, mark, edit and curate question–answer pairs.

Every read and write goes through a worker with its own ``Store``; the table pages rows in
from SQLite (see ``tui/widgets/pair_table.py``). Letter keys work on both layouts (``a``/``ф``)
and never fire while typing in the search box or the editor.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, cast

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label

from core.store import Pair, PairFilter, Store
from tui.i18n import t
from tui.undo_text import action_text
from tui.dialogs.filter import FilterScreen
from tui.keys import both, hidden, localize
from tui.styles import sibling_css
from tui.dialogs.edit_pair import EditPairScreen
from tui.widgets.pair_table import PairTable

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace
    from tui.app import NastavnikApp

# The first page of a search costs ~5 ms at a million pairs, so the debounce only coalesces
# bursts of typing (key repeat, paste); the expensive full count waits for a pause
# (pair_table.SLOW_COUNT_DELAY).
SEARCH_DEBOUNCE = 0.04


SORT_CYCLE = ("id", "status", "split", "question", "answer", "updated")


class PairsRoom(Vertical):
    """Shown as the first tab of the app."""

    DEFAULT_CLASSES = "room"
    DEFAULT_CSS = sibling_css(__file__)

    BINDINGS = [
        both("a", "approve", "pairs.approve"),
        both("x", "reject", "pairs.reject"),
        both("t", "tags", "pairs.tags"),
        both("s", "toggle_split", "pairs.split"),
        both("space", "mark", "pairs.mark", key_display="␣"),
        both("d", "delete", "pairs.delete"),
        both("ctrl+z", "undo", "pairs.undo", key_display="^z"),
        both("n", "new_pair", "pairs.new"),
        both("enter", "edit", "pairs.edit", key_display="⏎"),
        # "/" types "." on the Russian layout: both search (ctrl+f is the same on both)
        both("slash,full_stop,ctrl+f", "search", "pairs.search", key_display="/"),
        # from the search box (the table's own ↓ moves its cursor): the keys go back to the table
        both("down", "leave_search", "pairs.to_table", show=False),
        both("h", "history", "pairs.history"),
        both("i", "import", "pairs.import"),
        both("e", "export", "pairs.export"),
        *hidden(
            "pairs",
            ("f", "filter", "filter"), ("g,f2", "toggle_stats", "stats"), ("D", "dedup", "dedup"),
            ("o", "cycle_sort", "sort"), ("r", "reverse_sort", "reverse"), ("u", "draft", "draft"),
            ("U", "unmark", "unmark"), ("p", "preferences", "prefs"), ("w", "teacher_drafts", "teacher"),
            ("escape", "clear", "clear"),
        ),
    ]

    def __init__(self, ws: Workspace, **kw) -> None:
        super().__init__(**kw)
        self.ws = ws
        self.db_path = ws.db_path
        self.last_system: str | None = None
        self.last_tags: list[str] = []
        self._search_timer = None
        self._search_applied_at = 0.0
        self._status_timer = None
        self._status_started = False
        self._stats_panel = None

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="search-bar"):
            yield Label(t("pairs.search.prompt"), id="search-prompt")
            yield Input(placeholder=t("pairs.search.placeholder"), id="search")
            yield Label("", id="filter-label")
        yield PairTable(self.db_path, id="pairs-table")
        yield Vertical(id="stats-pane")

    def on_mount(self) -> None:
        localize(self)
        self._update_filter_label()
        self.table.reload(keep_rows=False)
        self.table.focus()

    @property
    def table(self) -> PairTable:
        return self.query_one(PairTable)

    def localize(self) -> None:
        localize(self)
        localize(self.table)
        self.query_one("#search", Input).placeholder = t("pairs.search.placeholder")
        self._update_filter_label()
        self.table.refresh()
        if self._stats_panel is not None and hasattr(self._stats_panel, "refresh_stats"):
            self._stats_panel.refresh_stats()

    def _update_filter_label(self) -> None:
        f = self.table.flt
        parts = []
        if f.status:
            parts.append(t("pairs.filter.label.status", v=t("pairs.status." + f.status)))
        if f.split:
            parts.append(t("pairs.filter.label.split", v=t("pairs.split." + f.split)))
        if f.tag:
            parts.append(t("pairs.filter.label.tag", v=f.tag))
        label = self.query_one("#filter-label", Label)
        label.update(" · ".join(parts))
        label.display = bool(parts)

    @property
    def shell(self) -> NastavnikApp:
        """The app this room lives in: the Pairs room is only ever mounted by NastavnikApp."""
        return cast("NastavnikApp", self.app)

    def _status_bar(self, **info) -> None:
        self.shell.update_status(**info)

    def _after_change(self, *, rows_may_move: bool = True) -> None:
        """Something in the store changed: read the table again, refresh counts and stats.

        ``rows_may_move=False`` (status, split, tags) skips the recount of the table unless
        a filter on those could now drop or add rows.
        """
        f = self.table.flt
        recount = rows_may_move or bool(f.status or f.split or f.tag)
        self.table.reload(recount=recount)
        if self._status_timer is not None:
            self._status_timer.stop()
        # a burst of key presses makes one recount of the status bar, not one each
        self._status_timer = self.set_timer(0.3, self._refresh_status)

    def _refresh_status(self) -> None:
        self._status_timer = None
        self.shell.refresh_status()
        if self._stats_panel is not None and self._stats_panel.display:
            self._stats_panel.refresh_stats()

    # -------------------------------------------------------------- messages

    @on(PairTable.Counted)
    def _counted(self, event: PairTable.Counted) -> None:
        self._status_bar(shown=event.total)
        if not self._status_started:
            self._status_started = True
            self._refresh_status()

    # ---------------------------------------------------------------- search

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        value = event.value
        # leading edge: a keystroke after a pause searches at once; a burst inside the
        # window is coalesced into one search at its end
        wait = self._search_applied_at + SEARCH_DEBOUNCE - time.monotonic()
        if wait <= 0:
            self._apply_search(value)
        else:
            self._search_timer = self.set_timer(wait, lambda: self._apply_search(value))

    def _apply_search(self, value: str) -> None:
        self._search_timer = None
        self._search_applied_at = time.monotonic()
        query = value.strip() or None
        if query == self.table.flt.query:
            return
        self.table.set_query(replace(self.table.flt, query=query))

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self._leave_search(event.value)

    def _leave_search(self, value: str) -> None:
        """Search for ``value`` now and give the keys back to the table (at once: the next
        letter is a table key, not one more letter of the query)."""
        if self._search_timer is not None:
            self._search_timer.stop()
        self._apply_search(value)
        self.screen.set_focus(self.table)

    def action_leave_search(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_focus:
            self._leave_search(search.value)

    def action_search(self) -> None:
        # focus now, not after a refresh: keys typed right after "/" must land in the box
        self.screen.set_focus(self.query_one("#search", Input))

    def action_clear(self) -> None:
        search = self.query_one("#search", Input)
        if search.value or self.table.flt.query:
            if self._search_timer is not None:
                self._search_timer.stop()
                self._search_timer = None
            search.value = ""
            self.table.set_query(replace(self.table.flt, query=None))
        elif self.table.flt.status or self.table.flt.split or self.table.flt.tag:
            self.table.set_query(replace(self.table.flt, status=None, split=None, tag=None))
            self._update_filter_label()
        elif self.table.marked:
            self.action_unmark()
        self.table.focus()

    # ----------------------------------------------------------------- sorting

    def set_order(self, column: str, desc: bool | None = None) -> None:
        table = self.table
        if desc is None:
            desc = (not table.desc) if column == table.order else False
        table.set_query(table.flt, order=column, desc=desc)
        self.notify(
            t("pairs.sorted", col=t("pairs.col." + column), dir=t("pairs.desc") if desc else t("pairs.asc")), timeout=2
        )

    @on(PairTable.SortRequested)
    def _sort_requested(self, event: PairTable.SortRequested) -> None:
        self.set_order(event.column)

    def action_cycle_sort(self) -> None:
        i = SORT_CYCLE.index(self.table.order) if self.table.order in SORT_CYCLE else 0
        self.set_order(SORT_CYCLE[(i + 1) % len(SORT_CYCLE)], desc=False)

    def action_reverse_sort(self) -> None:
        self.set_order(self.table.order, desc=not self.table.desc)

    # ----------------------------------------------------------------- filter

    def action_filter(self) -> None:
        self._open_filter()

    @work(thread=True, exit_on_error=False, group="pairs-filter", exclusive=True)
    def _open_filter(self) -> None:
        with Store(self.db_path, migrate=False) as store:
            tags = [tag for tag, _ in store.tags()]
        self.app.call_from_thread(self._push_filter, tags)

    def _push_filter(self, tags: list[str]) -> None:
        def done(flt: PairFilter | None) -> None:
            if flt is not None:
                self.set_filter(flt)

        self.app.push_screen(FilterScreen(self.table.flt, tags), done)

    def set_filter(self, flt: PairFilter) -> None:
        self.table.set_query(flt)
        self._update_filter_label()

    # ----------------------------------------------------------------- marking

    def action_mark(self) -> None:
        self.table.toggle_mark()
        self._status_bar(marked=len(self.table.marked))

    def action_unmark(self) -> None:
        self.table.clear_marks()
        self._status_bar(marked=0)

    def action_mark_all(self) -> None:
        for p in self.table.visible_pairs():
            self.table.marked.add(p.id)
        self.table.refresh()
        self._status_bar(marked=len(self.table.marked))

    # ------------------------------------------------------------ store writes

    def _targets(self) -> list[int]:
        ids = self.table.target_ids()
        if not ids:
            self.notify(t("pairs.nothing"), severity="warning")
        return ids

    @work(thread=True, exit_on_error=False, group="pairs-write")
    def _write(self, fn: Callable[[Store], object], done: Callable[[object], None]) -> None:
        with Store(self.db_path, migrate=False) as store:
            result = fn(store)
        self.app.call_from_thread(done, result)

    def _bulk(
        self, fn: Callable[[Store, list[int]], object], message: str, *, clear_marks: bool = False, moves: bool = False
    ) -> None:
        ids = self._targets()
        if not ids:
            return

        def done(result) -> None:
            if clear_marks:
                self.table.marked.difference_update(ids)
                self._status_bar(marked=len(self.table.marked))
            self.notify(t(message, n=len(ids)), timeout=3)
            self._after_change(rows_may_move=moves)

        self._write(lambda store: fn(store, ids), done)

    def action_approve(self) -> None:
        self._bulk(lambda s, ids: s.set_status(ids, "approved"), "pairs.approved")

    def action_reject(self) -> None:
        self._bulk(lambda s, ids: s.set_status(ids, "rejected"), "pairs.rejected")

    def action_draft(self) -> None:
        self._bulk(lambda s, ids: s.set_status(ids, "draft"), "pairs.drafted")

    def action_toggle_split(self) -> None:
        self._bulk(lambda s, ids: s.toggle_split(ids), "pairs.split_changed")

    def action_delete(self) -> None:
        self._bulk(lambda s, ids: s.delete_pairs(ids), "pairs.deleted", clear_marks=True, moves=True)

    def action_undo(self) -> None:
        def done(action) -> None:
            if action is None:
                self.notify(t("pairs.nothing_to_undo"), timeout=3)
                return
            self.notify(t("pairs.undone", what=action_text(action.summary)), timeout=4)
            self._after_change()

        self._write(lambda store: store.undo(), done)

    def action_tags(self) -> None:
        ids = self._targets()
        if not ids:
            return
        from tui.dialogs.tags import TagChange, TagsScreen

        def done(change: TagChange | None) -> None:
            if change is None:
                return
            if not change.add and not change.remove:
                self.notify(t("pairs.tags_unchanged"), timeout=3)
                return
            self._write(
                lambda store: store.change_tags(ids, add=change.add, remove=change.remove),
                lambda _: self._tagged(ids, change.tags),
            )

        self.app.push_screen(TagsScreen(self.ws, ids), done)

    def _tagged(self, ids: list[int], tags: list[str]) -> None:
        self.last_tags = list(tags)
        self.notify(t("pairs.tagged", n=len(ids)), timeout=3)
        self._after_change(rows_may_move=False)

    # ----------------------------------------------------------------- editing

    def action_edit(self) -> None:
        pair = self.table.cursor_pair
        if pair is None:
            self.notify(t("pairs.nothing"), severity="warning")
            return
        # the cached row is fresh (every change reloads the table); opening at once means
        # keys typed right after enter land in the editor, not on the table
        self._push_editor(pair)

    def action_new_pair(self) -> None:
        self.app.push_screen(
            EditPairScreen(self.db_path, None, system=self.last_system, tags=list(self.last_tags), ws=self.ws), self._edited
        )

    def _push_editor(self, pair: Pair) -> None:
        editor = EditPairScreen(self.db_path, pair, ws=self.ws)
        self.app.push_screen(editor, lambda saved: self._edited(saved, editor))

    def _edited(self, pair: Pair | None, editor: EditPairScreen | None = None) -> None:
        if pair is None:
            if editor is not None and editor.store_changed:
                self._after_change()  # the editor found the pair changed elsewhere: show it as it is
            self.table.focus()
            return
        self.last_system = pair.system
        self.last_tags = list(pair.tags)
        self._after_change()
        if editor is None:  # a new pair, at the end of the list: show it
            self.table.show_pair(pair.id)
        self.table.focus()

    # ----------------------------------------------------------------- dialogs

    def action_history(self) -> None:
        pair = self.table.cursor_pair
        if pair is None:
            self.notify(t("pairs.nothing"), severity="warning")
            return
        from tui.dialogs.history import HistoryScreen


        def done(restored) -> None:
            if restored:
                self.notify(t("pairs.restored"), timeout=3)
                self._after_change()

        self.app.push_screen(HistoryScreen(self.ws, pair.id), done)

    def action_import(self) -> None:
        from tui.dialogs.import_pairs import ImportScreen


        def done(counts) -> None:
            if counts is None:
                return
            if hasattr(counts, "imported"):
                self.notify(
                    t("pairs.imported", imported=counts.imported, duplicates=counts.duplicates, rejected=counts.rejected),
                    timeout=5,
                )
            self._after_change()

        self.app.push_screen(ImportScreen(self.ws), done)

    def action_export(self) -> None:
        from tui.dialogs.export_pairs import ExportScreen


        def done(n) -> None:
            if n is not None:
                self.notify(t("pairs.exported", n=n), timeout=4)

        self.app.push_screen(ExportScreen(self.ws, self.table.flt), done)

    def action_dedup(self) -> None:
        from tui.dialogs.dedup import DedupScreen

        self.app.push_screen(DedupScreen(self.ws), lambda _: self._after_change())

    def action_preferences(self) -> None:
        """p/з: the preference pairs every correction records (list, show, delete, undo)."""
        from tui.dialogs.preferences import PreferencesScreen

        self.app.push_screen(PreferencesScreen(self.ws), lambda changed: self._after_change() if changed else self.table.focus())

    def action_teacher_drafts(self) -> None:
        """w/ц: a teacher model drafts pairs from a document, for review."""
        from tui.dialogs.draft import DraftScreen

        self.app.push_screen(DraftScreen(self.ws), lambda saved: self._after_change() if saved else self.table.focus())

    def action_toggle_stats(self) -> None:
        pane = self.query_one("#stats-pane")
        if self._stats_panel is None:
            from tui.widgets.stats_panel import StatsPanel

            self._stats_panel = StatsPanel(self.ws)
            pane.mount(self._stats_panel)
            pane.display = True
            return
        pane.display = not pane.display
        if pane.display:
            self._stats_panel.refresh_stats()
