"""What changed between two runs (``core.train.run_diff``), as a scrolling page in a dialog.

Opened from the Runs list (a run against the run before it; another run can be picked at the
top) and from Evaluate (one question's own pair between the two runs whose models answered
it: only that pair's changes, and the settings, which touch every pair). Removed words are red
and struck out, added ones green, as in a pair's history.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Select, Static

from core.errors import UserError
from tui.dialogs.history import NEW_STYLE, OLD_STYLE, text_diff
from tui.i18n import error_text, has, t
from tui.keys import both

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.train.run_diff import RunDiff
    from core.workspace import Workspace


def _word(kind: str, value) -> str:
    """A status or split in the UI's language (the Stats panel's words)."""
    return t(f"stats.{kind}.{value}") if has(f"stats.{kind}.{value}") else str(value)


def _short(text: str, width: int = 50) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _head(out: Text, mark: str, style: str, item) -> None:
    out.append(f" {mark} ", style=style)
    out.append(f"#{item.id} ", style="bold")
    out.append(_short(item.question))


def _change(out: Text, mark: str, what: str, item, old: list[str], new: list[str], between: str = "") -> None:
    """One pair's changed ``what`` (status, split, tags): its head line, then the ``old`` pieces
    struck red, ``between`` them and the ``new`` pieces green."""
    _head(out, mark, "bold", item)
    out.append("  " + t(f"run_diff.{what}") + " ")
    for piece in old:
        out.append(piece, style=OLD_STYLE)
    out.append(between)
    for piece in new:
        out.append(piece, style=NEW_STYLE)
    out.append("\n")


def diff_text(diff: RunDiff) -> Text:
    """The whole diff as Rich text: settings, then each kind of change to the pairs."""
    out = Text()
    if not diff.complete:
        out.append(t("run_diff.incomplete") + "\n\n", style="italic")
    if diff.settings:
        out.append(t("run_diff.settings") + "\n", style="bold underline")
        for c in diff.settings:
            out.append(f" {c.key}: ")
            out.append(str(c.old), style=OLD_STYLE)
            out.append(" → ")
            out.append(str(c.new), style=NEW_STYLE)
            out.append("\n")
        out.append("\n")
    if diff.kind_a != diff.kind_b:
        out.append(t("run_diff.kinds", a=diff.a, b=diff.b, ka=t(f"run_diff.kind.{diff.kind_a}"),
                     kb=t(f"run_diff.kind.{diff.kind_b}")) + "\n", style="italic")
    for title, data in (("run_diff.pairs", diff.pairs), ("run_diff.preferences", diff.preferences)):
        if data is None or data.empty:
            continue
        out.append(t(title) + "\n", style="bold underline")
        for item in data.added:
            _head(out, "+", "bold green", item)
            out.append("  " + t(f"run_diff.added.{item.before or 'unknown'}") + "\n", style="green")
        for item in data.removed:
            _head(out, "−", "bold red", item)
            out.append("  " + t(f"run_diff.removed.{item.reason or 'unknown'}") + "\n", style="red")
        for item in data.edited:
            _head(out, "~", "bold yellow", item)
            out.append("  " + t("run_diff.edited") + "\n", style="yellow")
            for change in item.changes:
                out.append(f"    {t('run_diff.field.' + change.field)}: ", style="bold")
                shown = text_diff(change.old, change.new)
                if shown is None:
                    out.append("\n")
                elif "\n" in change.old or "\n" in change.new:  # a line diff: under the field, indented
                    out.append("\n")
                    for line in shown.split("\n"):
                        out.append("      ")
                        out.append_text(line)
                        out.append("\n")
                else:
                    out.append_text(shown)
                    out.append("\n")
        for field, mark, word in (("status", "*", "status"), ("moved", "›", "split")):
            for item in getattr(data, field, []):
                _change(out, mark, word, item, [_word(word, item.old)], [_word(word, item.new)], " → ")
        for item in getattr(data, "tags", []):
            _change(out, "#", "tags", item, ["-" + tag + " " for tag in item.removed], ["+" + tag + " " for tag in item.added])
        out.append("\n")
    if diff.empty:
        out.append(t("run_diff.none"), style="dim")
    out.rstrip()
    return out


class RunDiffScreen(ModalScreen[None]):
    """Run ``a`` → run ``b``; ``a`` None: the run before ``b`` (the user may pick another).
    With ``pair_id``: only that pair's changes (from Evaluate)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [both("escape", "close", "run_diff.close")]

    def __init__(self, ws: Workspace, b: int, a: int | None = None, *, pair_id: int | None = None) -> None:
        super().__init__()
        self.ws = ws
        self.a, self.b = a, b
        self.pair_id = pair_id
        self.diff: RunDiff | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="run-diff-box"):
            yield Static(self._title(), id="run-diff-title")
            with Horizontal(id="run-diff-pick"):
                yield Static(t("run_diff.against"), id="run-diff-against")
                yield Select([], prompt=t("run_diff.pick"), id="run-diff-other", compact=True)
            with VerticalScroll(id="run-diff-body"):
                yield Static(t("run_diff.loading"), id="run-diff-text")
            yield Static(f"[b]esc[/b] {t('run_diff.close')}   [dim]{t('run_diff.legend')}[/dim]", id="run-diff-keys")

    def _title(self) -> str:
        a = "?" if self.a is None else self.a
        if self.pair_id is not None:
            return t("run_diff.title_pair", id=self.pair_id, a=a, b=self.b)
        return t("run_diff.title", a=a, b=self.b)

    def on_mount(self) -> None:
        self.query_one("#run-diff-pick").display = self.pair_id is None  # Evaluate's two runs are its models'
        self.load()

    @work(thread=True, exit_on_error=False, exclusive=True, group="run-diff")
    def load(self) -> None:
        from core.train.run_diff import compare_runs

        try:
            with self.ws.store() as store:
                others = [r.id for r in store.list_runs() if r.id != self.b and r.run_dir
                          and (Path(r.run_dir) / "dataset.jsonl").is_file()]
                diff = compare_runs(store, self.b) if self.a is None else compare_runs(store, self.a, self.b)
        except UserError as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        if self.pair_id is not None:
            diff = diff.only_pair(self.pair_id)
        self.app.call_from_thread(self._show, diff, others)

    def _failed(self, exc: UserError) -> None:
        self.query_one("#run-diff-text", Static).update(error_text(exc))

    def _show(self, diff: RunDiff, others: list[int]) -> None:
        self.diff = diff
        self.a = diff.a
        self.query_one("#run-diff-title", Static).update(self._title())
        pick = self.query_one("#run-diff-other", Select)
        with pick.prevent(Select.Changed):
            pick.set_options([(t("run_diff.run", id=r), r) for r in others])
            if diff.a in others:
                pick.value = diff.a
        text = diff_text(diff)
        if self.pair_id is not None and diff.empty:
            text = Text(t("run_diff.none_pair"), style="dim")
        self.query_one("#run-diff-text", Static).update(text)
        self.query_one("#run-diff-body", VerticalScroll).focus()

    @on(Select.Changed, "#run-diff-other")
    def _other_picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, int) and event.value != self.a:
            self.a = event.value
            self.query_one("#run-diff-text", Static).update(t("run_diff.loading"))
            self.load()

    def action_close(self) -> None:
        self.dismiss(None)
