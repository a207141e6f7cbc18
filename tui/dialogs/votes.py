"""The blind-vote ranking: the models ranked by the votes of Chat's blind comparison — Bradley–
Terry rating, win rate with its 95 % interval, and how many votes each line rests on — so a
user sees which run wins and how sure that is. Opened from Chat (w/ц); the same numbers as
``nastavnik chats votes``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.i18n import t
from tui.keys import both

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


class VotesScreen(ModalScreen[None]):
    """The ranking table; Esc closes it."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [both("escape", "close", "votes.close")]

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws

    def compose(self) -> ComposeResult:
        with Vertical(id="votes-box"):
            yield Static("", id="votes-title")
            yield DataTable(id="votes-table", cursor_type="row", zebra_stripes=True)
            yield Static(t("votes.how"), id="votes-how", classes="hint")

    def on_mount(self) -> None:
        from core.eval.ranking import rank

        with self.ws.store() as store:  # a few rows: read at once
            votes = store.blind_votes()
        table = rank([(v.model_a, v.model_b, v.winner) for v in votes])
        self.query_one("#votes-title", Static).update(t("votes.title", n=len(votes)))
        grid = self.query_one("#votes-table", DataTable)
        grid.add_columns(t("votes.model"), t("votes.rating"), t("votes.rate"), t("votes.interval"), t("votes.wtl"),
                         t("votes.votes"))
        for s in table:
            grid.add_row(s.model, f"{s.rating:.0f}" if s.rating is not None else "—", f"{s.win_rate:.0%}",
                         f"{s.low:.0%}–{s.high:.0%}", f"{s.wins}–{s.ties}–{s.losses}", str(s.votes))
        if not votes:
            self.query_one("#votes-how", Static).update(t("votes.none"))
        grid.focus()

    def action_close(self) -> None:
        self.dismiss(None)
