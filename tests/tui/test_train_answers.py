"""The Train room for checkpoints chosen by their answers: the form's evaluation row reaches the
run's settings (and a patience without evaluations is refused there), and Progress plots the chrF
of the answers at each evaluation beside the eval losses, with the legend naming it, in Russian."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input, Static

from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.app import ReportingApp
from tui.rooms.train import TrainRoom


class RoomApp(ReportingApp):
    def __init__(self, ws):
        super().__init__()
        self.ws = ws

    def compose(self) -> ComposeResult:
        yield TrainRoom(self.ws, id="train-room")


def _run_with_evaluations(store):
    run = store.create_run(base="demo", preset="demo", backend="hf", config={"base": "demo", "eval_steps": 2, "answer_eval_max": 8})
    for step in range(1, 7):
        store.add_metric(run.id, step, loss=3.0 - step * 0.3, lr=1e-3, tokens_per_s=500.0)
    for step, loss, chrf in ((2, 2.5, 20.0), (4, 2.2, 35.5), (6, 2.3, 31.0)):
        store.add_metric(run.id, step, eval_loss=loss, chrf=chrf)
    store.update_run(run.id, status="done", max_steps=6, best_step=4, best_value=35.5, started="2026-01-01T00:00:00+00:00")
    return run


@async_test
async def test_progress_plots_the_answers_chrf_and_the_form_sets_the_evaluations(home, store):
    from tui.i18n import set_lang

    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    _run_with_evaluations(store)
    set_lang("ru")
    app = RoomApp(Workspace.open(home))
    async with app.run_test(size=(80, 24)) as pilot:
        room = app.query_one(TrainRoom)
        for _ in range(50):  # the first poll runs in a thread
            await settle(pilot)
            if "chrF" in room.plotted():
                break
        series = room.plotted()
        assert series["chrF"] == ([2, 4, 6], [20.0, 35.5, 31.0]) and series["eval loss"] == ([2, 4, 6], [2.5, 2.2, 2.3])
        assert "lr" not in series  # chrF has the right axis
        legend = str(room.query_one("#train-legend", Static).render())
        assert "chrF ответов" in legend and "потери на проверке" in legend, legend
        stats = str(room.query_one("#train-stats", Static).render())
        assert "лучший: шаг 4, chrF 35.5" in stats, stats

        room.query_one("#train-eval-steps", Input).value = "5"
        room.query_one("#train-patience", Input).value = "2"
        cfg = room.form_config()
        assert (cfg.eval_steps, cfg.early_stop_patience, cfg.best_metric) == (5, 2, "chrf")
        room.query_one("#train-eval-steps", Input).value = "0"
        await pilot.click("#train-start")
        await settle(pilot)
        error = str(room.query_one("#train-form-error", Static).render())
        assert "Ранней остановке нужны проверки" in error and "Проверка каждые" in error, error


@async_test
async def test_the_stats_at_80_columns_in_russian_keep_each_part_whole_with_the_best_and_the_judge(home, store):
    """A long run picked by its judge: the stats are two lines that each fit 80 columns — the
    step's numbers, then the time left, the status, the best and the judge's latest mean — and
    the Train form names the judge."""
    from core.train.config import TrainConfig
    from tui.i18n import set_lang

    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    run = store.create_run(base="demo", preset="demo", backend="hf",
                           config={"base": "demo", "eval_steps": 200, "answer_eval_max": 8, "judge": "судья-q8_0",
                                   "best_metric": "judge"})
    store.add_metric(run.id, 1199, loss=1.2345, lr=2.0e-4, tokens_per_s=12345.0)
    store.add_metric(run.id, 1000, eval_loss=2.2, chrf=35.5, judge=4.25)
    store.add_metric(run.id, 1200, eval_loss=2.3, chrf=31.0, judge=3.9)
    store.update_run(run.id, status="done", max_steps=1200, best_step=1000, best_value=4.25, started="2026-01-01T00:00:00+00:00")
    set_lang("ru")
    app = RoomApp(Workspace.open(home))
    async with app.run_test(size=(80, 24)) as pilot:
        room = app.query_one(TrainRoom)
        stats = room.query_one("#train-stats", Static)
        for _ in range(50):  # the first poll runs in a thread
            await settle(pilot)
            if "судья 3.90" in str(stats.render()):
                break
        room.action_view("train-progress-view")
        await settle(pilot)
        lines = [strip.text.strip() for strip in stats.render_lines(stats.size.region)]
        assert len(lines) == 2 and stats.size.width <= 78, lines
        assert lines[0].startswith(f"#{run.id} · шаг 1200/1200 · потери") and lines[0].endswith("12345 ток/с"), lines
        assert lines[1].startswith("осталось") and "готово · лучший: шаг 1000, судья 4.25 · судья 3.90" in lines[1], lines
        assert stats.region.bottom <= room.query_one("#train-log").region.y < 24  # the log keeps its rows below

        label = str(room.query_one("#train-judge-label").render())
        assert label == "Судья", label
        room.action_view("train-setup")
        await settle(pilot)
        assert room.query_one("#train-judge", Input).size.width >= 9  # room for a name like demo-q8_0
        room.query_one("#train-eval-steps", Input).value = "5"
        room.query_one("#train-judge", Input).value = "судья-q8_0"
        assert room.form_config().judge == "судья-q8_0"
        assert TrainConfig.from_preset("demo").judge == ""  # the form starts without one
