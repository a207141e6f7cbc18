"""The Training room in a tiny app: form validation, and a finished run's metrics on screen."""

from __future__ import annotations

import asyncio
import functools
import re

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Static

from tui.screens.train import TrainRoom


class RoomApp(App):
    def __init__(self, ws):
        super().__init__()
        self.ws = ws

    def compose(self) -> ComposeResult:
        yield TrainRoom(self.ws, id="train-room")


def _finished_run(store, sha="ab" * 32):
    run = store.create_run(base="demo", preset="demo", backend="hf", config={"base": "demo"})
    for step in range(1, 11):
        store.add_metric(run.id, step, loss=3.0 - step * 0.2, lr=1e-3 * (11 - step) / 10, grad_norm=1.0, tokens_per_s=500.0)
    store.add_metric(run.id, 10, eval_loss=1.5)
    store.update_run(run.id, status="done", max_steps=10, dataset_sha256=sha, started="2026-01-01T00:00:00+00:00")
    return run


def async_test(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


@async_test
async def test_train_room_shows_a_finished_run_and_validates_the_form(home, store):
    from core.workspace import Workspace

    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    run = _finished_run(store)
    app = RoomApp(Workspace.open(home))
    async with app.run_test(size=(140, 45)) as pilot:
        room = app.query_one(TrainRoom)
        await pilot.pause(0.5)
        for _ in range(20):  # the first poll runs in a thread
            if "done" in str(room.query_one("#train-stats", Static).render()):
                break
            await pilot.pause(0.2)
        stats = str(room.query_one("#train-stats", Static).render())
        assert "10/10" in stats and "1.0000" in stats and "done" in stats
        room.poll()  # later polls of a finished run re-read no metrics: the stats keep its last numbers
        await pilot.pause(0.5)
        stats = str(room.query_one("#train-stats", Static).render())
        assert "lr 1.00e-04" in stats and "500 tok/s" in stats, stats
        table = room.query_one("#train-runs", DataTable)
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)][:2] == [str(run.id), "done"]
        assert str(table.get_row_at(0)[5]) == "ab" * 4
        plot = room.query_one("#train-plot")
        series = room.plotted()
        assert series["loss"][0] == list(range(1, 11)) and series["eval loss"] == ([10], [1.5])  # the run's series
        built = plot.plt.build()
        lines = re.sub(r"\x1b\[[0-9;]*m", "", built).splitlines()  # without the colour codes
        assert not any(name in line for line in lines for name in ("loss", "lr")), built  # no legend drawn on the curves
        legend = str(room.query_one("#train-legend", Static).render())
        assert "loss" in legend and "lr" in legend and "eval loss" in legend  # it is above the plot instead
        axis = next(lines[i + 1] for i, line in enumerate(lines) if "└" in line)
        assert re.findall(r"\d+(?:\.\d+)?", axis) == ["1", "3", "6", "8", "10"], axis  # whole steps on the x axis
        dataset = str(room.query_one("#train-dataset", Static).render())
        assert "1" in dataset and "sha256" in dataset

        room.query_one("#train-lr", Input).value = "abc"
        await pilot.click("#train-start")
        await pilot.pause(0.2)
        error = str(room.query_one("#train-form-error", Static).render())
        assert "abc" in error
        room.query_one("#train-lr", Input).value = "5"
        await pilot.click("#train-start")
        await pilot.pause(0.2)
        assert str(room.query_one("#train-form-error", Static).render()).startswith("lr:")
        assert len(store.list_runs()) == 1  # nothing was started
