"""The Preferences view: every preference pair (prompt, chosen, rejected), shown in full,
deleted to the trash, restored, undone — the same store calls as ``nastavnik prefs``.

Opened from the Pairs room (p/з) or the command palette. The list and every write run in
thread workers with their own ``Store``; the workers get plain values and post results back.
Undo is the store's one undo: it takes back the last change to pairs or preferences.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from tui.i18n import t
from tui.undo_text import action_text
from tui.keys import both, localize
from tui.messages import PairsChanged

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace

LIMIT = 5000  # rows the list holds at once (newest first)


def _short(text: str, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def detail_text(p) -> Text:
    """One preference in full, as the trainer will see it."""
    out = Text()

    def block(title: str, body: str, style: str = "") -> None:
        out.append(title + "\n", style="bold underline")
        out.append((body or "—") + "\n\n", style=style)

    if p.system:
        block(t("preferences.system"), p.system, "italic")
    if p.context:
        block(t("preferences.context"), "\n".join(f"{turn['role']}: {turn['content']}" for turn in p.context), "dim")
    block(t("preferences.prompt"), p.prompt)
    who = "" if p.chosen_model else f" ({t('preferences.by_person')})"
    out.append(t("preferences.chosen") + who + "\n", style="bold underline green")
    out.append(p.chosen + "\n\n", style="green")
    out.append(t("preferences.rejected") + "\n", style="bold underline red")
    out.append(p.rejected + "\n\n", style="red")
    meta = t("preferences.meta", model=p.model or "?", run=t("preferences.run", id=p.run_id) if p.run_id is not None else "",
             source=p.source or "-")
    if p.chosen_model:
        meta += t("preferences.meta_chosen", model=p.chosen_model)
    out.append(meta, style="dim")
    return out


class PreferencesScreen(ModalScreen[bool]):
    """Dismisses True when something was written (the Pairs room reloads then)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        both("escape", "close", "preferences.close"),
        both("d,delete", "delete", "preferences.delete", key_display="d"),
        both("r", "restore", "preferences.restore"),
        both("t", "toggle_trash", "preferences.trash"),
        both("slash", "search", "preferences.search", key_display="/"),
        both("ctrl+z", "undo", "preferences.undo", key_display="^z", priority=True),
    ]

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws
        self.trash = False
        self.query_text = ""
        self.rows: list = []  # the preferences shown, in table order
        self.total = 0
        self.changed = False

    def compose(self) -> ComposeResult:
        with Vertical(id="prefs-box"):
            yield Static("", id="prefs-title")
            yield Input(placeholder=t("preferences.search_placeholder"), id="prefs-search")
            with Vertical(id="prefs-body"):
                yield DataTable(id="prefs-table", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="prefs-detail-box"):
                    yield Static("", id="prefs-detail")
            yield Footer()

    def on_mount(self) -> None:
        localize(self)
        table = self.query_one("#prefs-table", DataTable)
        for key in ("id", "kind", "model", "prompt", "chosen", "rejected"):
            table.add_column(t(f"preferences.col.{key}"), key=key)
        self.reload()
        table.focus()

    # ------------------------------------------------------------ reading

    def reload(self, keep: int | None = None) -> None:
        self._load(self.trash, self.query_text, keep)

    @work(thread=True, exit_on_error=False, exclusive=True, group="prefs-load")
    def _load(self, trash: bool, query: str, keep: int | None) -> None:
        from core.store import PreferenceFilter, Store

        flt = PreferenceFilter(trash=trash, query=query or None)
        with Store(self.ws.db_path, migrate=False) as store:
            rows = store.list_preferences(flt, desc=True, limit=LIMIT)
            total = store.count_preferences(flt)
        self.app.call_from_thread(self._show, rows, total, keep)

    def _show(self, rows: list, total: int, keep: int | None) -> None:
        if not self.is_mounted:
            return
        self.rows, self.total = rows, total
        table = self.query_one("#prefs-table", DataTable)
        table.clear()
        for p in rows:
            table.add_row(
                str(p.id), t(f"preferences.kind.{p.kind}"), _short(p.model or "", 14), _short(p.prompt, 30),
                _short(p.chosen, 22), _short(p.rejected, 22), key=str(p.id),
            )
        title = t("preferences.title_trash" if self.trash else "preferences.title", n=total)
        if total > len(rows):
            title += t("preferences.more", shown=len(rows))
        self.query_one("#prefs-title", Static).update(title)
        if rows:
            index = next((i for i, p in enumerate(rows) if p.id == keep), None) if keep is not None else None
            table.move_cursor(row=index if index is not None else 0)
            self._detail(table.cursor_row)
        else:
            empty = "preferences.none" if self.query_text else ("preferences.empty_trash" if self.trash else "preferences.empty")
            self.query_one("#prefs-detail", Static).update(t(empty))

    def _detail(self, row: int) -> None:
        if 0 <= row < len(self.rows):
            self.query_one("#prefs-detail", Static).update(detail_text(self.rows[row]))

    @on(DataTable.RowHighlighted, "#prefs-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.cursor_row)

    def current(self):
        table = self.query_one("#prefs-table", DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    # ------------------------------------------------------------ search

    def action_search(self) -> None:
        self.screen.set_focus(self.query_one("#prefs-search", Input))

    @on(Input.Changed, "#prefs-search")
    def _search(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        self.reload()

    @on(Input.Submitted, "#prefs-search")
    def _search_done(self) -> None:
        self.query_one("#prefs-table", DataTable).focus()

    def action_toggle_trash(self) -> None:
        self.trash = not self.trash
        self.reload()

    # ------------------------------------------------------------ writing

    def _focus_is_typing(self) -> bool:
        return isinstance(self.focused, Input)

    def action_delete(self) -> None:
        if self._focus_is_typing():
            return
        p = self.current()
        if p is None or p.deleted is not None:
            self.notify(t("preferences.nothing"), severity="warning")
            return
        self._write("delete", p.id)

    def action_restore(self) -> None:
        if self._focus_is_typing():
            return
        p = self.current()
        if p is None or p.deleted is None:
            self.notify(t("preferences.nothing"), severity="warning")
            return
        self._write("restore", p.id)

    def action_undo(self) -> None:
        self._write("undo", None)

    @work(thread=True, exit_on_error=False, group="prefs-write")
    def _write(self, what: str, pref_id: int | None) -> None:
        from core.store import Store

        with Store(self.ws.db_path, migrate=False) as store:
            if what == "delete":
                store.delete_preferences([pref_id])
                result = None
            elif what == "restore":
                store.restore_preferences([pref_id])
                result = None
            else:
                result = store.undo()
        self.app.call_from_thread(self._written, what, pref_id, result)

    def _written(self, what: str, pref_id: int | None, action) -> None:
        if what == "undo":
            if action is None:
                self.notify(t("preferences.nothing_to_undo"), timeout=3)
                return
            self.notify(t("preferences.undone", what=action_text(action.summary)), timeout=4)
            self.app.post_message(PairsChanged())  # the undo may have been of a pair
        else:
            self.notify(t("preferences.deleted" if what == "delete" else "preferences.restored", id=pref_id), timeout=4)
        self.changed = True
        self.reload(keep=pref_id)

    def action_close(self) -> None:
        if self._focus_is_typing() and self.query_text:
            self.query_one("#prefs-search", Input).value = ""
            self.query_one("#prefs-table", DataTable).focus()
            return
        self.dismiss(self.changed)
