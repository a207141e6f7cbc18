"""Counts by status, split and tag, teacher drafts (waiting, accepted as drafted or after an
edit), preference pairs, and a histogram of pair lengths in tokens.

Pairs longer than the model's maximum sequence length are counted and the limit is
drawn as a line on the histogram, so a person sees what training would truncate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static
from textual_plotext import PlotextPlot

from core.errors import UserError
from tui.i18n import error_text, t
from tui.styles import sibling_css

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace
    from core.store import Store



def histogram(lengths: list[int], limit: int, bins: int = 24) -> tuple[list[float], list[int], float]:
    """Bin centres, counts and bin width covering the data and the limit line."""
    top = max([limit, *lengths]) if lengths else limit
    width = max(1.0, top / bins)
    counts = [0] * bins
    for n in lengths:
        counts[min(bins - 1, int(n / width))] += 1
    centres = [width * (i + 0.5) for i in range(bins)]
    return centres, counts, width


class StatsPanel(Horizontal):
    DEFAULT_CSS = sibling_css(__file__)

    def __init__(self, ws: Workspace, max_tokens: int = 1024, *, flt=None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.ws = ws
        self.max_tokens = int(max_tokens)
        self.flt = flt
        self.stats: dict | None = None
        self.lengths: list[int] = []
        self.over_limit = 0
        self._stats_busy = False
        self._stats_stale = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="stats-counts-box"):
            yield Static(t("stats.loading"), id="stats-counts")
        yield PlotextPlot(id="stats-plot")

    def on_mount(self) -> None:
        self.refresh_stats()

    def refresh_stats(self, max_tokens: int | None = None) -> None:
        """Recount in a worker; the panel updates when the numbers arrive.

        A thread cannot be stopped, so while one count runs a new request only marks the
        numbers stale and one more count follows it (never a pile of them on a big store).
        """
        if max_tokens is not None:
            self.max_tokens = int(max_tokens)
        if self._stats_busy:
            self._stats_stale = True
            return
        self._stats_busy = True
        self._stats_stale = False
        self._load(self.max_tokens)

    @work(thread=True, exit_on_error=False, group="stats")
    def _load(self, limit: int) -> None:
        try:
            with self.ws.store() as store:
                stats = self._counts(store) if self.flt is None else store.stats(self.flt)
                stats["drafts"] = store.draft_stats()
                stats["preferences"] = store.count_preferences()
                lengths = store.answer_token_lengths(self.flt)
        except UserError as exc:
            self.app.call_from_thread(self._failed, error_text(exc, " — "))
            return
        hist = histogram(lengths, limit)
        over = sum(1 for n in lengths if n > limit)
        self.app.call_from_thread(self._show, stats, lengths, hist, over, limit)

    @staticmethod
    def _counts(store: Store) -> dict:
        """The counts ``store.stats()`` gives, from SQL counts only: ``stats()`` also measures
        every text in Python, which on a million pairs takes most of a minute."""
        from core.store import SPLITS, STATUSES, PairFilter

        return {
            "total": store.count_pairs(),
            "status": {s: store.count_pairs(PairFilter(status=s)) for s in STATUSES},
            "split": {s: store.count_pairs(PairFilter(split=s)) for s in SPLITS},
            "tags": dict(store.tags()),
            "trash": store.count_pairs(PairFilter(trash=True)),
        }

    def _failed(self, message: str) -> None:
        self._stats_busy = False
        self.app.notify(message, severity="error")

    def _finished(self) -> None:
        self._stats_busy = False
        if self._stats_stale:
            self.refresh_stats()

    def counts_text(self) -> Text:
        s = self.stats or {}
        out = Text()
        out.append(t("stats.total", n=s.get("total", 0)) + "\n", style="bold")
        out.append(t("stats.status") + "\n", style="bold underline")
        for name, n in s.get("status", {}).items():
            out.append(f"  {t('stats.status.' + name):<12}{n:>8}\n")
        out.append(t("stats.split") + "\n", style="bold underline")
        for name, n in s.get("split", {}).items():
            out.append(f"  {t('stats.split.' + name):<12}{n:>8}\n")
        out.append(t("stats.tags") + "\n", style="bold underline")
        tags = s.get("tags", {})
        for name, n in list(tags.items())[:12]:
            out.append(f"  {name[:12]:<12}{n:>8}\n")
        if not tags:
            out.append("  " + t("stats.no_tags") + "\n", style="dim")
        drafts = s.get("drafts") or {}
        out.append(t("stats.drafts") + "\n", style="bold underline")
        if drafts.get("total"):
            # accepted = approved; waiting = still drafts; a person's edit is told from the teacher's text
            for key, n in (("waiting", drafts["waiting"]), ("unchanged", drafts["accepted_unchanged"]),
                           ("edited", drafts["accepted_edited"])):
                out.append(f"  {t('stats.drafts.' + key):<12}{n:>8}\n")
        else:
            out.append("  " + t("stats.drafts.none") + "\n", style="dim")
        out.append(t("stats.prefs", n=s.get("preferences", 0)) + "\n")
        out.append(t("stats.trash", n=s.get("trash", 0)) + "\n")
        out.append(
            t("stats.over", max=self.max_tokens, n=self.over_limit),
            style="bold red" if self.over_limit else "green",
        )
        return out

    def _show(self, stats: dict, lengths: list[int], hist, over: int, limit: int) -> None:
        self._finished()
        if self._stats_stale or self._stats_busy:
            return  # newer numbers are on their way
        self.stats, self.lengths, self.over_limit, self.max_tokens = stats, lengths, over, limit
        self.query_one("#stats-counts", Static).update(self.counts_text())
        centres, counts, width = hist
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(t("stats.plot_title", max=limit))
        plt.xlabel(t("stats.xlabel"))
        plt.bar(centres, counts, width=0.9)
        plt.vline(limit, "red")
        plot.refresh()
