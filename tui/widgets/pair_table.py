"""A virtual table of pairs: rows come from SQLite a page at a time, never all at once.

The widget is a ``ScrollView`` whose virtual height is the number of matching pairs.
``render_line`` draws the rows in view from an LRU cache of pages; a missing page is
fetched by a thread worker with its own ``Store`` (``list_pairs(offset=, limit=)``) and the
lines repaint when it arrives. While a reload runs (after a filter, sort or edit), the old
pages stay on screen until their fresh copies come in, so nothing flickers.

The count of matching pairs can take a while on a million rows; the first page is shown
first and the count fills in after.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from core.store import Pair, PairFilter, Store
from core.text import fold
from tui.i18n import t
from tui.styles import sibling_css
from tui.keys import hidden, localize

PAGE = 100  # rows per page
CACHE_PAGES = 64  # pages kept in memory (6,400 pairs at most)
SLOW_COUNT_DELAY = 0.6  # seconds of quiet typing before a full-scan count starts
PROGRESS_EVERY = 200_000  # SQLite VM steps between checks whether a query is still wanted (a few ms)


@dataclass(frozen=True)
class Anchor:
    """A cached row a page read starts from: the page lies ``skip`` rows past it, after it in
    the table's order, or before it when ``backwards``."""

    row: Pair
    backwards: bool
    skip: int


def _abort_when(store: Store, stale) -> None:
    """Make SQLite give up on a query as soon as ``stale()`` is true (latest search wins)."""
    store.conn.set_progress_handler(lambda: 1 if stale() else 0, PROGRESS_EVERY)


@dataclass(frozen=True)
class Column:
    key: str  # i18n key suffix and store order key
    width: int  # 0: flexible
    orderable: bool = True


COLUMNS = (
    Column("status", 8),
    Column("split", 5),
    Column("tags", 10, orderable=False),
    Column("question", 0),
    Column("answer", 0),
    Column("updated", 16),
)


def match_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Where the folded ``terms`` occur in ``text``, as (start, end) offsets into ``text``.

    Folding is done per character so offsets map back even where case-folding would
    change the length of the string; ё and е match each other, case never matters.
    """
    if not terms or not text:
        return []
    folded_chars: list[str] = []
    index: list[int] = []  # folded position -> original position
    for i, ch in enumerate(text):
        f = fold(ch)
        folded_chars.append(f)
        index.extend([i] * len(f))
    folded = "".join(folded_chars)
    spans = []
    for term in terms:
        if not term:
            continue
        start = folded.find(term)
        while start != -1:
            end = start + len(term)
            spans.append((index[start], index[end - 1] + 1))
            start = folded.find(term, end)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def one_line(text: str) -> str:
    return " ".join(text.split())


def short_time(stamp: str, wide: bool) -> str:
    """``2026-11-25T11:54:51.123+00:00`` → ``2026-11-25 11:54`` (or ``11-25 11:54``)."""
    if not stamp:
        return ""
    s = stamp.replace("T", " ")[:16]
    return s if wide else s[5:]


class PairTable(ScrollView, can_focus=True):
    """Every pair matching ``flt``, sorted, paged in from the store as it scrolls."""

    COMPONENT_CLASSES = {
        "pair-table--header",
        "pair-table--header-sorted",
        "pair-table--cursor",
        "pair-table--marked",
        "pair-table--mark",
        "pair-table--match",
        "pair-table--approved",
        "pair-table--rejected",
        "pair-table--draft",
        "pair-table--eval",
        "pair-table--dim",
    }

    DEFAULT_CSS = sibling_css(__file__)

    BINDINGS = hidden(
        "pairs.table",
        ("up", "cursor(-1)", "up"), ("down", "cursor(1)", "down"), ("pageup", "page(-1)", "pageup"),
        ("pagedown", "page(1)", "pagedown"), ("home", "jump(0)", "home"), ("end", "jump(-1)", "end"),
    )

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Counted(Message):
        """The count of matching pairs arrived."""

        def __init__(self, table: "PairTable", total: int) -> None:
            super().__init__()
            self.table = table
            self.total = total

    class SortRequested(Message):
        def __init__(self, table: "PairTable", column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

    def __init__(self, db_path, *, name=None, id=None, classes=None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.db_path = db_path
        self.flt = PairFilter()
        self.order = "id"
        self.desc = False
        self.terms: list[str] = []
        self.marked: set[int] = set()
        self.total: int | None = None  # None: not counted yet
        self.known_rows = 0  # rows we know exist before the count arrives
        self._pages: OrderedDict[int, list[Pair]] = OrderedDict()
        self._stale: dict[int, list[Pair]] = {}
        self._pending: set[int] = set()
        self._gen = 0  # bumps on every reload: pages of an older one are dropped
        # the pages the screen shows now plus the cursor's: a frozenset replaced (never changed in
        # place) on the UI thread, so the page loader thread can skip pages scrolled away from
        # without reading the widget (its size or scroll offset) off the UI thread
        self._wanted_pages: frozenset[int] = frozenset()
        self._count_gen = 0  # bumps on every recount: counts of an older one are dropped
        self._count_timer = None
        self._count_after_first_page = False
        self._loaded_once = False

    # ------------------------------------------------------------------ state

    @property
    def row_count(self) -> int:
        return self.total if self.total is not None else self.known_rows

    @property
    def loaded(self) -> bool:
        """True once the first page and the count of the current query are in."""
        return self._loaded_once and self.total is not None and not self._pending

    def reload(self, *, keep_rows: bool = True, recount: bool = True) -> None:
        """Read the rows again (after a change, filter or sort).

        ``recount=False`` keeps the count: for changes that cannot add or remove rows
        from the current view (approving with no status filter, say), which saves a
        count(*) over the whole table on every key press.
        """
        self._gen += 1
        self._stale = dict(self._pages) if keep_rows else {}
        self._pages.clear()
        self._pending.clear()
        if not keep_rows:
            self.total = None
            self.known_rows = 0
            self._loaded_once = False
            self._update_virtual_size()
        if recount or self.total is None:
            self._count_gen += 1
            if self._count_timer is not None:
                self._count_timer.stop()
                self._count_timer = None
            if keep_rows:
                self._start_count()
            else:
                # a new query: the first page comes first; if it is not full it *is* the
                # count, otherwise the count(*) starts once the page is on screen
                self._count_after_first_page = True
        self._request_visible()
        self.refresh()

    def _start_count(self) -> None:
        gen, flt = self._count_gen, self.flt
        if flt.query:
            # counting every match of a search takes a while on a million pairs (a one- or
            # two-letter word scans every row): while the user types, counts of words already
            # replaced would take the cores the next keystroke's page needs. Count when typing
            # pauses; the page shows at once.
            self._count_timer = self.set_timer(SLOW_COUNT_DELAY, lambda: self._count(gen, flt))
        else:
            self._count(gen, flt)

    def set_query(self, flt: PairFilter, order: str | None = None, desc: bool | None = None) -> None:
        self.flt = flt
        if order is not None:
            self.order = order
        if desc is not None:
            self.desc = desc
        self.terms = [w for w in fold(flt.query).split()] if flt.query else []
        self.cursor = 0
        self.scroll_to(y=0, animate=False, immediate=True)
        self.reload(keep_rows=False)

    def pair_at(self, row: int) -> Pair | None:
        page, i = divmod(row, PAGE)
        rows = self._pages.get(page)
        if rows is None:
            rows = self._stale.get(page)
        if rows is not None and i < len(rows):
            return rows[i]
        return None

    @property
    def cursor_pair(self) -> Pair | None:
        return self.pair_at(self.cursor) if self.row_count else None

    def target_ids(self) -> list[int]:
        """Marked pairs if any are marked, else the pair under the cursor."""
        if self.marked:
            return sorted(self.marked)
        p = self.cursor_pair
        return [p.id] if p else []

    def toggle_mark(self) -> None:
        p = self.cursor_pair
        if p is None:
            return
        if p.id in self.marked:
            self.marked.discard(p.id)
        else:
            self.marked.add(p.id)
        self.move_cursor(1)
        self.refresh()

    def clear_marks(self) -> None:
        self.marked.clear()
        self.refresh()

    # ----------------------------------------------------------------- loading

    @work(thread=True, exit_on_error=False, group="pair-count", exclusive=True)
    def _count(self, gen: int, flt: PairFilter) -> None:
        worker = get_current_worker()
        with Store(self.db_path, migrate=False) as store:
            if worker.is_cancelled or gen != self._count_gen:
                return
            _abort_when(store, lambda: worker.is_cancelled or gen != self._count_gen)
            try:
                total = store.count_pairs(flt)
            except sqlite3.OperationalError:
                if worker.is_cancelled or gen != self._count_gen:
                    return  # interrupted: a newer count replaced this one
                raise
        self.app.call_from_thread(self._counted, gen, total)

    def _counted(self, gen: int, total: int) -> None:
        if gen != self._count_gen:
            return
        if self.total is not None and total != self.total:
            # rows came or went: pages read against the old count may be shifted
            self._stale.update(self._pages)
            self._pages.clear()
        self.total = total
        self._update_virtual_size()
        if self.cursor >= total:
            self.cursor = max(0, total - 1)
        self._request_visible()
        self.refresh()
        self.post_message(self.Counted(self, total))

    def show_pair(self, pair_id: int) -> None:
        """Put the cursor on this pair (one saved a moment ago lands at the end of the list, off
        the screen): its row in the current filter and order is read in a worker; a pair the
        filter hides leaves the cursor where it is."""
        self._find_pair(self._gen, pair_id, self.flt, self.order, self.desc)

    @work(thread=True, exit_on_error=False, group="pair-find", exclusive=True)
    def _find_pair(self, gen: int, pair_id: int, flt: PairFilter, order: str, desc: bool) -> None:
        with Store(self.db_path, migrate=False) as store:
            row = store.pair_row(pair_id, flt, order=order, desc=desc)
            total = store.count_pairs(flt) if row is not None else 0
        if row is not None:
            self.app.call_from_thread(self._found, gen, row, total)

    def _found(self, gen: int, row: int, total: int) -> None:
        if gen != self._gen:
            return  # the table was read again since (another filter or order): the row is not that one
        if row >= self.row_count:
            self._counted(self._count_gen, total)  # the count that has the new row in it
        self.set_cursor(row)

    def _visible_pages(self) -> range:
        top = int(self.scroll_y)
        bottom = top + max(1, self.size.height)
        rows = max(self.row_count, PAGE if self.total is None else 0)
        last_row = min(bottom, max(rows - 1, 0))
        return range(top // PAGE, last_row // PAGE + 1)

    def _request_visible(self) -> None:
        # the visible pages, and the page the cursor is on (after a jump it may be off screen for a moment)
        pages = [*self._visible_pages(), self.cursor // PAGE]
        self._wanted_pages = frozenset(pages)
        for page in pages:
            self._request_page(page)

    def _request_page(self, page: int) -> None:
        if page in self._pages or page in self._pending:
            return
        if self.total is not None and page * PAGE >= max(self.total, 1):
            return
        self._pending.add(page)
        if page not in self._wanted_pages:  # a row being drawn asked for it: it is on screen
            self._wanted_pages = self._wanted_pages | {page}
        self._load_page(self._gen, page, self.flt, self.order, self.desc, self.total, self._anchor(page))

    def _anchor(self, page: int) -> Anchor | None:
        """The cached row nearest to ``page`` that its read can seek to (on the UI thread: the
        loader thread gets the row, never the cache): the last row of a full page before it, or
        the first row of a page after it, with the rows to skip from there."""
        best: Anchor | None = None
        for q, rows in self._pages.items():
            if q < page and len(rows) == PAGE:
                found = Anchor(rows[-1], backwards=False, skip=(page - q - 1) * PAGE)
            elif q > page and rows:
                found = Anchor(rows[0], backwards=True, skip=(q - page - 1) * PAGE)
            else:
                continue
            if best is None or found.skip < best.skip:
                best = found
        return best

    @work(thread=True, exit_on_error=False, group="pair-pages")
    def _load_page(self, gen: int, page: int, flt: PairFilter, order: str, desc: bool, total: int | None,
                   anchor: Anchor | None = None) -> None:
        if gen != self._gen or get_current_worker().is_cancelled:
            self.app.call_from_thread(self._page_dropped, gen, page)
            return
        if page not in self._wanted_pages:
            # scrolled away before we got to it
            self.app.call_from_thread(self._page_dropped, gen, page)
            return
        with Store(self.db_path, migrate=False) as store:
            _abort_when(store, lambda: gen != self._gen)
            try:
                rows = self._read_page(store, page, flt, order, desc, total, anchor)
            except sqlite3.OperationalError:
                if gen != self._gen:
                    self.app.call_from_thread(self._page_dropped, gen, page)
                    return
                raise
        self.app.call_from_thread(self._page_loaded, gen, page, rows, total)

    @staticmethod
    def _read_page(store: Store, page: int, flt: PairFilter, order: str, desc: bool, total: int | None,
                   anchor: Anchor | None = None) -> list[Pair]:
        """The rows of ``page``, read from whichever is nearest: the start, the end (backwards),
        or a cached row next to it (keyset: SQLite seeks to the row in the index). SQLite walks
        past every row an OFFSET skips: page-down in the middle of a million pairs read 500,000
        rows for a page of 100 (262 ms p95) before the seek."""
        offset = page * PAGE
        ways = [("start", offset)]
        if total is not None:
            ways.append(("end", total - min(total, offset + PAGE)))
        if anchor is not None:
            ways.append(("anchor", anchor.skip))
        way = min(ways, key=lambda w: w[1])[0]
        if way == "anchor" and anchor is not None:
            rows = store.list_pairs(flt, order=order, desc=desc != anchor.backwards, after=anchor.row, offset=anchor.skip, limit=PAGE)
            if anchor.backwards:
                rows.reverse()
            return rows
        if way == "end" and total is not None:
            end = min(total, offset + PAGE)
            rows = store.list_pairs(flt, order=order, desc=not desc, offset=total - end, limit=end - offset)
            rows.reverse()
            return rows
        return store.list_pairs(flt, order=order, desc=desc, offset=offset, limit=PAGE)

    def _page_dropped(self, gen: int, page: int) -> None:
        if gen == self._gen:
            self._pending.discard(page)

    def _page_loaded(self, gen: int, page: int, rows: list[Pair], total: int | None = None) -> None:
        if gen != self._gen:
            return
        if total is not None and total != self.total:
            # read backwards from an end that has moved since: read it again
            self._pending.discard(page)
            self._request_page(page)
            return
        self._pending.discard(page)
        self._pages[page] = rows
        self._pages.move_to_end(page)
        self._stale.pop(page, None)
        while len(self._pages) > CACHE_PAGES:
            self._pages.popitem(last=False)
        if self.total is None:
            self.known_rows = max(self.known_rows, page * PAGE + len(rows))
            self._update_virtual_size()
        self._loaded_once = True
        self.refresh()
        if page == 0 and self._count_after_first_page:
            self._count_after_first_page = False
            if len(rows) < PAGE:
                self._counted(self._count_gen, len(rows))
            else:
                self._start_count()

    def _update_virtual_size(self) -> None:
        width = self.scrollable_content_region.width
        self.virtual_size = Size(width, self.row_count + 1)  # +1: the header line

    # ------------------------------------------------------------------ cursor

    @property
    def body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_cursor(self, delta: int) -> None:
        self.set_cursor(self.cursor + delta)

    def set_cursor(self, row: int) -> None:
        n = self.row_count
        row = max(0, min(row, n - 1)) if n else 0
        self.cursor = row

    def watch_cursor(self, old: int, new: int) -> None:
        top = int(self.scroll_y)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + self.body_height:
            self.scroll_to(y=new - self.body_height + 1, animate=False, immediate=True)
        self._request_visible()
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(direction * self.body_height)

    def action_jump(self, where: int) -> None:
        self.set_cursor(0 if where == 0 else self.row_count - 1)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._request_visible()

    def on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._request_visible()

    def on_mount(self) -> None:
        localize(self)
        self._update_virtual_size()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            col = self._column_at(offset.x)
            if col is not None and col.orderable:
                self.post_message(self.SortRequested(self, col.key))
            return
        self.set_cursor(int(self.scroll_y) + offset.y - 1)
        self.focus()

    # --------------------------------------------------------------- rendering

    def _widths(self, width: int) -> list[int]:
        wide = width >= 110
        fixed = {"status": 8, "split": 5, "tags": 14 if wide else 9, "updated": 16 if wide else 11}
        mark = 1
        gaps = len(COLUMNS)  # one space before each column
        rest = max(10, width - mark - gaps - sum(fixed.values()))
        q = rest // 2 + rest % 2
        a = rest // 2
        return [fixed["status"], fixed["split"], fixed["tags"], q, a, fixed["updated"]]

    def _column_at(self, x: int) -> Column | None:
        pos = 1
        for col, w in zip(COLUMNS, self._widths(self.scrollable_content_region.width)):
            if pos <= x < pos + w + 1:
                return col
            pos += w + 1
        return None

    def _style(self, name: str) -> Style:
        """The text colour and attributes of a component class (no background)."""
        full = self.get_component_rich_style(name)
        return Style(color=full.color, bold=full.bold, italic=full.italic, underline=full.underline)

    def _bg(self, name: str) -> Style:
        """The background and attributes of a component class (keeps each cell's own colour)."""
        full = self.get_component_rich_style(name)
        return Style(bgcolor=full.bgcolor, bold=full.bold, underline=full.underline)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._render_header(width)
        row = int(self.scroll_y) + y - 1
        n = self.row_count
        if row >= n:
            if row == 0 and n == 0 and self._loaded_once and self.total is not None:
                msg = t("pairs.table.nomatch") if (self.flt.query or self.flt.status or self.flt.split or self.flt.tag) else t("pairs.table.empty")
                text = Text(" " + msg, style=self._style("pair-table--dim"))
                text.truncate(width, pad=True)
                return Strip(text.render(self.app.console), width).apply_style(base)
            return Strip.blank(width, base)
        pair = self.pair_at(row)
        if pair is None:
            self._request_page(row // PAGE)
            text = Text(" " + t("pairs.table.loading"), style=self._style("pair-table--dim"))
            text.truncate(width, pad=True)
            return Strip(text.render(self.app.console), width).apply_style(base)
        return self._render_row(pair, row, width)

    def _render_header(self, width: int) -> Strip:
        hstyle = self.get_component_rich_style("pair-table--header")
        sorted_style = self.get_component_rich_style("pair-table--header-sorted")
        line = Text(" ", style=hstyle)
        for col, w in zip(COLUMNS, self._widths(width)):
            line.append(" ", style=hstyle)
            label = t("pairs.col." + col.key)
            style = hstyle
            if col.key == self.order:
                label += " ▼" if self.desc else " ▲"
                style = sorted_style
            cell = Text(label, style=style)
            cell.truncate(w, overflow="ellipsis", pad=True)
            line.append(cell)
        line.truncate(width, pad=True)
        line.stylize(hstyle)
        return Strip(line.render(self.app.console), width).apply_style(self.rich_style)

    def _render_row(self, pair: Pair, row: int, width: int) -> Strip:
        marked = pair.id in self.marked
        row_style = Style()
        if marked:
            row_style += self._bg("pair-table--marked")
        if row == self.cursor:
            cursor = self.get_component_rich_style("pair-table--cursor")
            row_style += Style(color=cursor.color, bgcolor=cursor.bgcolor, bold=cursor.bold)
        match = self._bg("pair-table--match")
        widths = self._widths(width)
        line = Text(no_wrap=True)
        line.append("●" if marked else " ", style=self._style("pair-table--mark") if marked else Style())
        status_style = self._style(f"pair-table--{pair.status}") if pair.status in ("approved", "rejected", "draft") else Style()
        cells = [
            (t("pairs.status." + pair.status), status_style, False),
            (t("pairs.split." + pair.split), self._style("pair-table--eval") if pair.split == "eval" else Style(), False),
            (",".join(pair.tags), self._style("pair-table--dim"), False),
            (one_line(pair.question), Style(), True),
            (one_line(pair.answer), self._style("pair-table--dim"), True),
            (short_time(pair.updated, width >= 110), self._style("pair-table--dim"), False),
        ]
        for (value, style, searchable), w in zip(cells, widths):
            line.append(" ")
            cell = Text(value, style=style, no_wrap=True)
            if searchable and self.terms:
                for s, e in match_spans(value, self.terms):
                    cell.stylize(match, s, e)
            cell.truncate(w, overflow="ellipsis", pad=True)
            line.append(cell)
        line.truncate(width, pad=True)
        segments = list(line.render(self.app.console))
        strip = Strip(segments, width)
        if row_style:
            strip = Strip(Segment.apply_style(strip, post_style=row_style), width)
        return strip.apply_style(self.rich_style)

    # -------------------------------------------------------------- for tests

    def visible_pairs(self) -> list[Pair]:
        out = []
        for row in range(int(self.scroll_y), min(self.row_count, int(self.scroll_y) + self.body_height)):
            p = self.pair_at(row)
            if p is not None:
                out.append(p)
        return out

    def cached_rows(self) -> int:
        return sum(len(v) for v in self._pages.values()) + sum(len(v) for v in self._stale.values())
