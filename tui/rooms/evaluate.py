"""The Evaluate room: eval questions × models, with chrF, judge score, human grade and deltas,
and beside each model the Russian check (✓, or ⚠ when the answer switched language).

The grid is built from stored results (``core.eval.evaluate.build_report``); r/к runs the
evaluation for the chosen models in a worker (each model in a child process, see the Chat
room for why), filling only what is missing. The pairs are the eval split's, or the train
split's (did it learn them?), or only those a correction wrote (did it learn the correction?). w/ц shows only the questions that got worse
from one model to the next (columns are in the order the models were chosen: base, previous
run, this run). Enter opens a question: the reference and every model's answer side by
side, where 1–5 grade the chosen answer and e/у corrects it into a new pair.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from textual import on, work
from textual.worker import get_current_worker
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, ProgressBar, Select, SelectionList, Static

from core.progress import ProgressEvent
from tui.i18n import t
from tui.messages import PairsChanged
from tui.keys import both, localize
from tui.dialogs.compare import CompareScreen
from tui.dialogs.correct import Correction, saved_note
from tui.dialogs.rubric import RubricScreen
from tui.dialogs.run_diff import RunDiffScreen
from tui.eval_format import agreement_line, fmt, ru_check
from tui.styles import sibling_css
from tui.widgets.progress import draw, from_worker

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace


def _share(value: float | None) -> str:
    return "·" if value is None else f"{value:.0%}"


def _delta(d: float | None) -> str:
    if d is None or d == 0:
        return ""
    return f" ▲{d:+.1f}" if d > 0 else f" ▼{d:+.1f}"


class EvaluateRoom(Vertical):
    """Shown as a tab of the app."""

    DEFAULT_CSS = sibling_css(__file__)
    BINDINGS = [
        both("r", "run", "evaluate.run"),
        both("w", "toggle_worse", "evaluate.worse"),
        both("g", "refresh_grid", "evaluate.refresh"),
        both("t", "toggle_tags", "evaluate.by_tag"),
        both("j", "rubric", "evaluate.rubric"),
        both("d", "pair_diff", "evaluate.pair_diff"),
    ]

    def __init__(self, ws: Workspace, **kw) -> None:
        super().__init__(**kw)
        self.ws = ws
        self.report = None
        self.only_worse = False
        self.by_tag = False  # the grid shows the scores per tag instead of the questions
        self.rows_shown: list = []
        self._stop = threading.Event()
        self.busy = False
        self._announce = False  # say "done" when the grid of the evaluation that ended arrives
        self.split = "eval"  # which pairs: the eval split, the train split, or the corrected pairs

    def compose(self) -> ComposeResult:
        with Horizontal(id="ev-top"):
            with Vertical(id="ev-left"):
                yield SelectionList(id="ev-models")
                yield Select([], prompt=t("evaluate.judge"), id="ev-judge", compact=True)
                yield Select(self._split_options(), value="eval", allow_blank=False, id="ev-split", compact=True)
            yield Static("", id="ev-summary")
        yield DataTable(id="ev-grid", cursor_type="row", zebra_stripes=True)
        yield ProgressBar(id="ev-progress", show_eta=False)
        yield Static("", id="ev-status")

    def on_mount(self) -> None:
        self.load_models()  # then the grid, both in workers
        self.localize()

    @staticmethod
    def _split_options() -> list[tuple[str, str]]:
        from core.eval.evaluate import EVAL_SPLITS

        return [(t(f"evaluate.split.{name}"), name) for name in EVAL_SPLITS]

    def localize(self) -> None:
        """Texts in the current language (the app calls this after a language switch)."""
        localize(self)
        self.query_one("#ev-models", SelectionList).border_title = t("evaluate.models")
        self.query_one("#ev-judge", Select).prompt = t("evaluate.judge")
        split = self.query_one("#ev-split", Select)
        with split.prevent(Select.Changed):
            split.set_options(self._split_options())
            split.value = self.split
        if self.report is not None:
            self._fill()

    def on_unmount(self) -> None:
        self._stop.set()

    def on_show(self) -> None:
        if not self.busy and self.is_mounted:
            self.load_models()

    def status(self, text: str) -> None:
        self.query_one("#ev-status", Static).update(text)

    def load_models(self) -> None:
        self._load_models()

    @work(thread=True, exit_on_error=False, exclusive=True, group="evaluate-models")
    def _load_models(self) -> None:
        from core.store import Store

        with Store(self.ws.db_path) as store:
            # the bases first, then the runs in the order they were trained: choosing from the
            # top gives the columns base → previous run → this run, which the deltas compare
            models = sorted(store.list_models(kind="gguf"), key=lambda m: (m.run_id is not None, m.run_id or 0))
            gguf = [m.name for m in models]
            evaluated = store.eval_models()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_models, gguf, evaluated)

    def _show_models(self, gguf: list[str], evaluated: list[str]) -> None:
        if not self.is_mounted:
            return
        sl = self.query_one("#ev-models", SelectionList)
        chosen = set(sl.selected) if sl.option_count else set(evaluated)
        with sl.prevent(SelectionList.SelectedChanged):
            sl.clear_options()
            names = list(dict.fromkeys(gguf + evaluated))  # the GGUFs in their order, then results of models gone
            for name in names:
                sl.add_option((name, name, name in chosen))
        if sl.option_count and sl.highlighted is None:
            sl.highlighted = 0  # space selects at once: no Down first to reach the first model
        judge = self.query_one("#ev-judge", Select)
        current = judge.value
        judge.set_options([(name, name) for name in gguf])
        if isinstance(current, str) and current in gguf:
            judge.value = current
        if not names:
            self.status(t("evaluate.no_models"))
        self.refresh_grid()

    def chosen(self) -> list[str]:
        sl = self.query_one("#ev-models", SelectionList)
        return [str(v) for v in sl.selected]

    # ------------------------------------------------------------------ grid

    def action_refresh_grid(self) -> None:
        self.refresh_grid()

    def refresh_grid(self) -> None:
        """Rebuild the grid from stored results, in a worker (it reads every pair of the split)."""
        self._load_grid(self.chosen(), self.split)

    @on(Select.Changed, "#ev-split")
    def _split_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.split:
            self.split = event.value
            self.refresh_grid()

    @work(thread=True, exit_on_error=False, exclusive=True, group="evaluate-grid")
    def _load_grid(self, models: list[str], split: str = "eval") -> None:
        from core.eval.evaluate import build_report, eval_pairs
        from core.eval.rubric import current_hash
        from core.store import Store

        rubric = current_hash(self.ws)
        with Store(self.ws.db_path) as store:
            if not models:
                models = store.eval_models()
            pairs, used = eval_pairs(store, split)
            report = build_report(store, models, pairs, used, rubric=rubric)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_report, report)

    def _show_report(self, report) -> None:
        if not self.is_mounted:
            return
        self.report = report
        self._fill()
        if self._announce:  # an evaluation ended: "done" is said with its results on screen
            self._announce = False
            self.status(t("evaluate.done", n=len(report.rows), m=len(report.models)))

    def _fill(self) -> None:
        report = self.report
        grid = self.query_one("#ev-grid", DataTable)
        grid.clear(columns=True)
        if self.by_tag:
            self._fill_tags(grid)
        else:
            self._fill_questions(grid)
        lines = []
        for s in report.summaries:
            if not s.pairs:  # nothing answered in these pairs yet: no "chrF 0.0" for it
                continue
            lines.append(t("evaluate.summary", model=s.model[-28:], chrf=s.chrf, exact=s.exact,
                           judge=fmt(s.judge, ".2f"), grade=fmt(s.grade, ".2f"), drift=_share(s.drift)))
        lines += [agreement_line(a) for a in report.agreement]
        if report.stale_judgements:
            lines.append(t("evaluate.stale", n=report.stale_judgements))
        if report.pairs_used == "all" and report.rows:
            lines.append(t("evaluate.all_pairs"))
        if lines:
            lines.append(t("evaluate.legend_tags") if self.by_tag else t("evaluate.legend"))
        empty = t("evaluate.no_corrected") if self.split == "corrected" and not report.rows else t("evaluate.empty")
        self.query_one("#ev-summary", Static).update("\n".join(lines) or empty)
        if self.only_worse and not self.by_tag:
            self.status(t("evaluate.filter_on", n=len(self.rows_shown)))

    def _fill_tags(self, grid: DataTable) -> None:
        """One row per tag (the untagged pairs last): each model's chrF, exact share and judge."""
        report = self.report
        self.rows_shown = []
        grid.add_column(t("evaluate.tag"), key="tag", width=22)
        for m in report.models:
            grid.add_column(m[-28:], key=m)
        for row in report.by_tag:
            name = row.tag if row.tag is not None else t("evaluate.untagged")
            cells = [f"{name[:16]} ({row.questions})"]
            for m in report.models:
                sc = row.models.get(m)
                cells.append("" if sc is None else f"{sc.chrf:5.1f} {sc.exact:4.0%} {fmt(sc.judge, '.1f')}")
            grid.add_row(*cells, key="\x1ftag:" + (row.tag if row.tag is not None else ""))

    def _fill_questions(self, grid: DataTable) -> None:
        report = self.report
        grid.add_column(t("evaluate.question"), key="q", width=40)
        for m in report.models:
            grid.add_column(m[-28:], key=m)
            grid.add_column(t("evaluate.ru"), key=m + "\x1fru")
        rows = [r for r in report.rows if r.cells and (not self.only_worse or r.worse(report.models))]
        self.rows_shown = rows
        for r in rows:
            cells = [r.question.replace("\n", " ")[:40]]
            for i, m in enumerate(report.models):
                c = r.cells.get(m)
                if c is None:
                    cells += ["", ""]
                    continue
                d = r.delta(report.models, i) if i else None
                cells.append(f"{c.chrf:5.1f} {fmt(c.judge_score)} {fmt(c.grade)}{_delta(d)}")
                cells.append(ru_check(c))
            grid.add_row(*cells, key=str(r.pair_id))

    def action_toggle_worse(self) -> None:
        self.only_worse = not self.only_worse
        if self.report is None:
            return
        self._fill()
        if not self.only_worse:
            self.status(t("evaluate.filter_off", n=len(self.rows_shown)))

    def action_toggle_tags(self) -> None:
        self.by_tag = not self.by_tag
        if self.report is None:
            return
        self._fill()
        self.status(t("evaluate.tags_on", n=len(self.report.by_tag)) if self.by_tag else t("evaluate.tags_off"))

    @on(DataTable.RowSelected, "#ev-grid")
    def _open(self, event: DataTable.RowSelected) -> None:
        if self.by_tag or not str(event.row_key.value).isdigit():
            return
        pid = int(event.row_key.value)
        row = next((r for r in self.rows_shown if r.pair_id == pid), None)
        if row is not None:
            self.app.push_screen(CompareScreen(self, row))

    # ------------------------------------------------------------------ what changed in a pair

    @staticmethod
    def diff_runs(row, models: list[str], runs: dict[str, int | None]) -> tuple[int, int] | None:
        """The two runs a question's pair is compared between: of the models that are runs (in
        the grid's order) the first step where it got worse, else the two latest runs, older first."""
        of = {m: r for m in models if m in row.cells and (r := runs.get(m)) is not None}
        chosen = list(of)
        for i in range(1, len(chosen)):
            d = row.delta(chosen, i)
            if d is not None and d < 0 and of[chosen[i - 1]] != of[chosen[i]]:
                return of[chosen[i - 1]], of[chosen[i]]
        ids = sorted(set(of.values()))
        return (ids[-2], ids[-1]) if len(ids) >= 2 else None

    def action_pair_diff(self) -> None:
        grid = self.query_one("#ev-grid", DataTable)
        if self.report is None or not grid.row_count or not self.rows_shown:
            return
        row = self.rows_shown[min(grid.cursor_row, len(self.rows_shown) - 1)]
        self._open_pair_diff(row, list(self.report.models))

    @work(thread=True, exit_on_error=False, group="evaluate-diff")
    def _open_pair_diff(self, row, models: list[str]) -> None:
        from core.store import Store
        from core.train.run_diff import run_of_model

        with Store(self.ws.db_path) as store:
            runs = {m: run_of_model(store, m) for m in models}
        pair = self.diff_runs(row, models, runs)
        if pair is None:
            self.app.call_from_thread(self.notify, t("evaluate.diff_not_runs"), severity="warning")
            return
        self.app.call_from_thread(self.app.push_screen, RunDiffScreen(self.ws, pair[1], pair[0], pair_id=row.pair_id))

    @on(SelectionList.SelectedChanged)
    def _models_changed(self) -> None:
        if not self.busy:
            self.refresh_grid()

    # ------------------------------------------------------------------ the judge's rubric

    def action_rubric(self) -> None:
        self._open_rubric()

    @work(thread=True, exit_on_error=False, group="evaluate-rubric")
    def _open_rubric(self) -> None:
        """Read (or first write) the rubric off the UI thread, then open it to edit."""
        from core.eval.rubric import current_hash, rubric_path

        current_hash(self.ws)  # writes the default when there is no rubric yet
        path = rubric_path(self.ws)
        text = path.read_text(encoding="utf-8")
        agreement = self.report.agreement if self.report is not None else []
        self.app.call_from_thread(self.app.push_screen, RubricScreen(text, path, agreement), self._rubric_edited)

    def _rubric_edited(self, text: str | None) -> None:
        if text is not None:
            self._save_rubric(text)

    @work(thread=True, exit_on_error=False, group="evaluate-rubric")
    def _save_rubric(self, text: str) -> None:
        from core.eval.rubric import write

        rubric = write(self.ws, text)
        self.app.call_from_thread(self._rubric_saved, rubric.hash)

    def _rubric_saved(self, digest: str) -> None:
        self.notify(t("evaluate.rubric_saved", hash=digest), timeout=8)
        self.refresh_grid()

    # ------------------------------------------------------------------ grading and correcting

    @work(thread=True, exit_on_error=False, group="evaluate-save")
    def save_grade(self, row, model: str, score: int, comment: str) -> None:
        """A human grade for one model's answer to an eval question, off the UI thread."""
        from core.store import Store

        cell = row.cells[model]
        with Store(self.ws.db_path) as store:
            store.grade(model, row.question, score, comment=comment or None, answer=cell.answer, pair_id=row.pair_id)
        self.app.call_from_thread(self._graded, cell, model, score)

    def _graded(self, cell, model: str, score: int) -> None:
        cell.grade = score
        self.notify(t("evaluate.graded", score=score, model=model))
        self.refresh_grid()

    @work(thread=True, exit_on_error=False, group="evaluate-save")
    def save_correction(self, pair_id: int, model: str, fix: Correction) -> None:
        """A corrected eval answer as a new pair (source ``eval:<pair id>:<model>``), off the
        UI thread; runs on the room, so closing the question view does not lose the message."""
        from core.loop.corrections import correct_eval
        from core.store import Store

        with Store(self.ws.db_path) as store:
            pair = correct_eval(store, pair_id, model, fix.answer, question=fix.question, status=fix.status,
                                replace=fix.replace)
        self.app.call_from_thread(self._saved, pair, fix.replace is not None)

    def _saved(self, pair, replaced: bool = False) -> None:
        self.notify(saved_note(pair, replaced), timeout=8)
        self.app.post_message(PairsChanged(pair.id))
        self.refresh_grid()  # a replaced train answer is the reference now

    # ------------------------------------------------------------------ running

    def action_run(self) -> None:
        if self.busy:
            self.notify(t("evaluate.busy"), severity="warning")
            return
        models = self.chosen()
        if not models:
            self.notify(t("evaluate.pick"), severity="warning")
            return
        if self.split == "corrected" and self.report is not None and not self.report.rows:
            self.notify(t("evaluate.no_corrected"), severity="warning")
            return
        self.busy = True
        self._stop.clear()
        self.query_one("#ev-progress", ProgressBar).display = True
        judge = self.query_one("#ev-judge", Select)
        self._evaluate(models, None if judge.is_blank() else str(judge.value), self.split)

    @work(thread=True, exit_on_error=False, exclusive=True, group="evaluate")
    def _evaluate(self, models: list[str], judge: str | None = None, split: str = "eval") -> None:
        from core.eval.evaluate import evaluate

        worker = get_current_worker()

        try:
            evaluate(self.ws, models, judge=judge, split=split, in_process=False, progress=from_worker(self.app, self._progress),
                     cancel=lambda: self._stop.is_set() or worker.is_cancelled)
        finally:
            self.app.call_from_thread(self._finished)

    def _progress(self, e: ProgressEvent) -> None:
        draw(self.query_one("#ev-progress", ProgressBar), e)
        self.status(t("evaluate.running", model=e.info.get("model", ""), done=e.done, total=e.total))

    def _finished(self) -> None:
        self.busy = False
        self.query_one("#ev-progress", ProgressBar).display = False
        self._announce = True
        self.refresh_grid()
