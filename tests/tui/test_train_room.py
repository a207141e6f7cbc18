"""The Training room: form, layout at 80×24, a finished run on screen, and real runs started, stopped and previewed from it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re

import pytest

from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Static

from tui.app import ReportingApp
from tui.rooms.train import TrainRoom


class RoomApp(ReportingApp):  # worker errors end as the app's do
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


@contextlib.asynccontextmanager
async def _train_room(home, lang: str, size: tuple[int, int]):
    """The app on ``home`` in ``lang`` at ``size``, switched to the Train room: (app, pilot, room)."""
    from core.workspace import Workspace
    from tests.support.waits import settle
    from tui.app import NastavnikApp

    app = NastavnikApp(Workspace.open(home), lang)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        yield app, pilot, app.query_one(TrainRoom)


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


@async_test
async def test_the_form_gives_the_config_its_4bit_backend_and_dtype(home, store):
    """The preset's 4-bit choice is the default; the switch, backend and dtype reach the run's config."""
    from textual.widgets import Checkbox, Select

    from core.workspace import Workspace

    app = RoomApp(Workspace.open(home))
    async with app.run_test(size=(80, 24)) as pilot:
        room = app.query_one(TrainRoom)
        await pilot.pause()
        box = room.query_one("#train-4bit", Checkbox)
        assert room.form_config().load_in_4bit is False and "off" in str(box.label)  # demo: no 4-bit
        room.query_one("#train-preset", Select).value = "gemma3-4b"
        await pilot.pause()
        assert box.value is True and "on" in str(box.label)  # the 4B preset loads in 4 bits
        cfg = room.form_config()
        assert (cfg.load_in_4bit, cfg.backend, cfg.dtype) == (True, "auto", "auto")
        await pilot.click("#train-4bit")  # the switch overrides the preset
        room.query_one("#train-backend", Select).value = "unsloth"
        room.query_one("#train-dtype", Select).value = "float32"
        await pilot.pause()
        cfg = room.form_config()
        assert (cfg.load_in_4bit, cfg.backend, cfg.dtype, cfg.base) == (False, "unsloth", "float32", "unsloth/gemma-3-4b-it-bnb-4bit")
        assert [v for _, v in room.query_one("#train-dtype", Select)._options] == ["auto", "bfloat16", "float16", "float32"]


@async_test
async def test_the_room_counts_the_drafts_that_wait_each_time_it_is_shown(home, store):
    from tests.support.waits import settle

    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    store.add_pair("Черновик", "Ещё не проверен.")
    async with _train_room(home, "ru", (80, 24)) as (app, pilot, room):
        drafts = app.query_one("#train-drafts", Static)
        assert "Черновиков ждут одобрения: 1" in str(drafts.render())
        await pilot.press("1")
        store.add_pair("Исправление из чата", "Оставлено черновиком.")  # a correction left as a draft
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert "Черновиков ждут одобрения: 2" in str(drafts.render())
        assert "не попадут в обучение" in str(drafts.render())


def _inside(widget, screen) -> bool:
    r, s = widget.region, screen.region
    return r.width > 0 and r.height > 0 and s.contains_region(r)


@async_test
async def test_every_view_fits_80x24_in_russian(home, store):
    """Every field of the form on screen without scrolling, the legend above the plot, every
    column of the runs in view, the statuses in Russian; the room's keys on the Russian layout."""
    from textual.widgets import Checkbox, Select, TabbedContent

    from tests.support.waits import settle

    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    _finished_run(store)
    old = store.create_run(base="unsloth/Meta-Llama-3.1-8B-Instruct-bnb-4bit", preset="llama3.1-8b", backend="unsloth", config={})
    store.update_run(old.id, status="interrupted", step=250, max_steps=500, loss=1.23456, eval_loss=1.5, dataset_sha256="ef" * 32)
    async with _train_room(home, "ru", (80, 24)) as (app, pilot, room):
        views = room.query_one("#train-views", TabbedContent)
        assert views.active == "train-setup" and app.focused is not None and room in app.focused.ancestors_with_self
        form = room.query_one("#train-form")
        assert form.max_scroll_y == 0  # nothing below the fold
        for widget in room.query("#train-form Input, #train-form Select, #train-form Checkbox, #train-start, #train-preview-btn"):
            assert _inside(widget, app.screen), widget
        assert isinstance(room.query_one("#train-4bit"), Checkbox) and isinstance(room.query_one("#train-backend"), Select)

        await pilot.press("з")  # p on the Russian layout: Progress
        await settle(pilot)
        assert views.active == "train-progress-view"
        legend, plot = room.query_one("#train-legend"), room.query_one("#train-plot")
        assert _inside(legend, app.screen) and _inside(plot, app.screen)
        assert legend.region.bottom <= plot.region.y  # the legend is outside the plot
        assert "потери на проверке" in str(legend.render())
        stats = str(room.query_one("#train-stats", Static).render())
        assert stats.startswith(f"#{old.id} ") and "прервано" in stats and "interrupted" not in stats, stats  # the newest, in Russian
        assert _inside(room.query_one("#train-cancel"), app.screen) and room.query_one("#train-cancel").disabled  # nothing to stop

        await pilot.press("к")  # r: Runs
        await settle(pilot)
        assert views.active == "train-runs-view"
        table = room.query_one("#train-runs", DataTable)
        assert table.max_scroll_x == 0, table.virtual_size  # no column cut off at the right
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[:3] for r in rows] == [[str(old.id), "прервано", "250/500"], ["1", "готово", "10/10"]]
        assert rows[0][-1] == "Meta-Llama-3.…" and rows[0][3:5] == ["1.235", "1.500"]

        table.focus()
        table.move_cursor(row=1)
        await pilot.press("enter")  # a run chosen in Runs is shown in Progress
        await settle(pilot)
        assert views.active == "train-progress-view"
        stats = str(room.query_one("#train-stats", Static).render())
        assert stats.startswith("#1 ") and "готово" in stats, stats


@async_test
async def test_start_stays_in_view_at_80x24_with_the_first_run_guide_shown(home, store, monkeypatch):
    """On the demo the first-run guide's line sits above the status bar; at 80×24 it pushed the
    form's Start button below the fold (a click there hit the form's border). The fields scroll
    in a short terminal, Start and Preview stay under them: seen, and pressed from the keys."""
    from textual.widgets import Button

    from core.workspace import Workspace
    from tests.support.waits import settle
    from tui.widgets.first_steps import FirstStepsGuide

    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    store.add_model("base", "demo", str(Workspace.open(home).models_dir / "demo"), meta={"demo": True})
    async with _train_room(home, "ru", (80, 24)) as (app, pilot, room):
        guide = app.query_one(FirstStepsGuide)
        assert guide.display and guide.region.height == 1, "the guide is shown, in one line"
        start = room.query_one("#train-start", Button)
        for button in (start, room.query_one("#train-preview-btn", Button)):
            x, y = button.region.offset
            assert app.screen.get_widget_at(x + 1, y)[0] is button, f"{button.id} is not drawn on the screen"
        assert room.query_one("#train-form").max_scroll_y == 0  # every field in view too

        started: list = []
        monkeypatch.setattr(room, "start_run", lambda cfg: started.append(cfg))
        room.query_one("#train-dtype").focus()  # the form's last field: Tab goes on to Start
        await pilot.press("tab")
        await settle(pilot)
        assert app.focused is start
        await pilot.press("enter")
        await settle(pilot)
        assert len(started) == 1


@async_test
async def test_view_keys_work_with_a_button_focused_and_enter_in_a_field_starts(home, store, monkeypatch):
    """In tmux the Start button kept the room on Settings: p did nothing while it had the focus
    (hidden, it handed the focus to a neighbour and the tabs switched back). Enter in a field,
    and ctrl+s in Settings, start the run with the form's settings; a run that ended is said."""
    from textual.widgets import Button, TabbedContent

    from tests.support.waits import settle

    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    async with _train_room(home, "ru", (80, 24)) as (app, pilot, room):
        views = room.query_one("#train-views", TabbedContent)
        started: list = []
        monkeypatch.setattr(room, "start_run", lambda cfg: started.append(cfg))

        room.query_one("#train-start", Button).focus()
        await pilot.pause()
        await pilot.press("p")
        await settle(pilot)
        assert views.active == "train-progress-view" and room.query_one("#train-start") is not app.focused
        await pilot.press("r")
        await settle(pilot)
        assert views.active == "train-runs-view" and app.focused is room.query_one("#train-runs")  # rows at hand
        await pilot.press("ы")
        await settle(pilot)
        assert views.active == "train-setup"
        assert "ctrl+s" in {k for k, b in app.active_bindings.items() if b.binding.show}  # start, in Settings only

        steps = room.query_one("#train-steps", Input)
        steps.focus()
        await pilot.press("3", "enter")
        await settle(pilot)
        assert [c.max_steps for c in started] == [3]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert [c.max_steps for c in started] == [3, 3]
        room.query_one("#train-preview-btn", Button).focus()
        await pilot.pause()
        await pilot.press("з")  # p on the Russian layout, from another button of Settings
        await settle(pilot)
        assert "ctrl+s" not in {k for k, b in app.active_bindings.items() if b.binding.show}

        from core.store.base import now
        from tests.support.jobs import idle_worker

        with idle_worker("core.train.worker") as worker:  # a live worker behind this run: it stays running
            run = store.create_run(base="demo", preset="demo", backend="hf", config={})
            store.update_run(run.id, status="running", max_steps=3, step=1, pid=worker.pid, heartbeat=now())
            room.poll()
            await settle(pilot)
            store.update_run(run.id, status="done", step=3)
            room.poll()
            await settle(pilot)
        notes = [str(n.message) for n in app._notifications]
        assert any(f"Обучение #{run.id} готово" in n and "c — экспорт и чат" in n for n in notes), notes


# ---------------------------------------------------------------------------- real runs from the room
# The demo model trains for real in a detached worker. The test decides when a run may move
# (SIGSTOP/SIGCONT on its worker) and waits for what the store and the room show, never for
# a length of time.

FAST_FORM = {"train-batch": "2", "train-max-len": "96"}


async def _until(pilot, predicate, what: str, timeout: float = 240.0):
    """Let the app run until ``predicate()`` holds (it reads the store or the room)."""
    import time

    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.1)
    return value


def _run(home, run_id=None):
    from tests.support.data import run_state
    from core.workspace import Workspace

    if run_id is None:
        with Workspace.open(home).store() as s:
            runs = s.list_runs(limit=1)
        return runs[0] if runs else None
    return run_state(home, run_id)


def _signal(run, sig) -> None:
    import os

    if run is not None and run.pid:
        try:
            os.kill(run.pid, sig)
        except ProcessLookupError:
            pass


def _store_writable(home) -> bool:
    """Whether a write could start now (the paused worker holds no write lock on the store)."""
    import sqlite3

    from core.workspace import Workspace

    conn = sqlite3.connect(str(Workspace.open(home).db_path), timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


async def _hold(pilot, home, run) -> None:
    """SIGSTOP the run's worker at a moment it is not writing to the store (else the room's
    cancel would wait on its lock); let it take another step and try again when it was."""
    import signal

    while True:
        _signal(run, signal.SIGSTOP)
        if _store_writable(home):
            return
        step = _run(home, run.id).step
        _signal(run, signal.SIGCONT)
        await _until(pilot, lambda: _run(home, run.id).step > step, "another step")


@pytest.fixture
def room_runs(train_home):
    """Whatever a test leaves running from the room is woken and cancelled at the end."""
    import signal

    from core.train.runs import TERMINAL, cancel_run
    from core.workspace import Workspace

    yield train_home
    run = _run(train_home)
    if run is not None and run.status not in TERMINAL:
        _signal(run, signal.SIGCONT)
        cancel_run(Workspace.open(train_home), run.id)


async def _fill(pilot, room, steps: str) -> None:
    from textual.widgets import Select

    for wid, value in {**FAST_FORM, "train-steps": steps}.items():
        room.query_one(f"#{wid}", Input).value = value
    room.query_one("#train-backend", Select).value = "hf"
    await pilot.pause()


@pytest.mark.slow
@pytest.mark.xdist_group("train_runs")
@async_test
async def test_start_in_the_room_trains_the_demo_model_and_shows_the_run(room_runs):
    home = room_runs
    async with _train_room(home, "ru", (80, 24)) as (app, pilot, room):
        await _fill(pilot, room, "3")
        await pilot.click("#train-start")
        run = await _until(pilot, lambda: _run(home), "the run in the store")
        notices = lambda: [n.message for n in app._notifications]  # noqa: E731
        await _until(pilot, lambda: f"Запущено обучение #{run.id}" in notices(), "the notice that it started")
        assert room.view == "train-progress-view"  # starting shows the run going
        done = await _until(pilot, lambda: (r := _run(home, run.id)).status == "done" and r, "the run to finish")
        assert done.step == done.max_steps == 3 and done.loss is not None
        assert (done.backend, done.config["max_steps"], done.config["batch_size"], done.config["max_seq_len"]) == ("hf", 3, 2, 96)
        assert done.config["load_in_4bit"] is False and done.config["dtype"] == "auto"
        # the room shows it done, in Russian, with its curve
        await _until(pilot, lambda: "готово" in str(room.query_one("#train-stats", Static).render()), "the room to show it done")
        stats = str(room.query_one("#train-stats", Static).render())
        assert stats.startswith(f"#{run.id} · шаг 3/3 · потери {done.loss:.4f}"), stats
        assert room.plotted()["loss"][0] == [1, 2, 3]
        table = room.query_one("#train-runs", DataTable)
        assert [str(c) for c in table.get_row_at(0)][:3] == [str(run.id), "готово", "3/3"]
        assert room.query_one("#train-cancel").disabled  # nothing left to stop


@pytest.mark.slow
@pytest.mark.xdist_group("train_runs")
@async_test
async def test_stop_in_the_room_cancels_the_running_run(room_runs):
    import signal

    home = room_runs
    async with _train_room(home, "en", (80, 24)) as (app, pilot, room):
        await _fill(pilot, room, "400")
        await pilot.click("#train-start")
        run = await _until(pilot, lambda: (r := _run(home)) and r.step >= 1 and r.status == "running" and r, "the first step")
        await _hold(pilot, home, run)  # held between two steps: it cannot finish before the stop lands
        stop = room.query_one("#train-cancel")
        await _until(pilot, lambda: not stop.disabled, "the Stop button to be enabled")
        stop.focus()  # by keyboard: a click there may land on the "started" notice above it
        await pilot.press("enter")
        await _until(pilot, lambda: _run(home, run.id).cancel_requested, "the cancel request in the store")
        _signal(run, signal.SIGCONT)  # it wakes to the SIGTERM the room sent
        cancelled = await _until(pilot, lambda: (r := _run(home, run.id)).status == "cancelled" and r, "the run cancelled")
        assert cancelled.step < 400
        await _until(pilot, lambda: f"Run #{run.id}: cancelled" in [n.message for n in app._notifications], "the notice")  # it ended
        await _until(pilot, lambda: "cancelled" in str(room.query_one("#train-stats", Static).render()), "the room to show it")
        table = room.query_one("#train-runs", DataTable)
        await _until(pilot, lambda: [str(c) for c in table.get_row_at(0)][:2] == [str(run.id), "cancelled"], "the runs table")
        await _until(pilot, lambda: stop.disabled, "Stop disabled again")


@pytest.mark.slow
@async_test
async def test_preview_shows_the_tokens_the_model_learns_from(train_home):
    """The demo model's real tokenizer and template: the answer's tokens green, the rest dim."""
    from core.workspace import Workspace
    from tests.support.data import sample_pairs

    app = RoomApp(Workspace.open(train_home))
    async with app.run_test(size=(80, 24)) as pilot:
        room = app.query_one(TrainRoom)
        await pilot.pause()
        await pilot.click("#train-preview-btn")
        preview = room.query_one("#train-preview", Static)
        await _until(pilot, lambda: "Green" in str(preview.render()), "the preview")
        text = preview.content  # the Text the room built: its spans carry the styles
        trained = "".join(text.plain[s.start:s.end] for s in text.spans if "green" in str(s.style))
        shown = "".join(text.plain[s.start:s.end] for s in text.spans if "dim" == str(s.style))
        first = sample_pairs(8, 2)[0]
        assert first["answer"] in trained  # the answer is what it learns from
        assert first["question"] in shown and first["question"] not in trained  # the question is context only
        assert "8 train pairs" in str(room.query_one("#train-dataset", Static).render())  # the data line, counted once
        assert str(room.query_one("#train-form-error", Static).render()) == ""


@async_test
async def test_a_language_switch_rewrites_the_room_in_place(home, store):
    """The words change; what the user typed in the form and the runs shown stay."""
    from textual.widgets import TabbedContent

    from tests.support.waits import settle

    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    _finished_run(store)
    async with _train_room(home, "en", (100, 30)) as (app, pilot, room):
        room.query_one("#train-lr", Input).value = "0.0005"
        app.set_language("ru")
        await settle(pilot)
        assert room is app.query_one(TrainRoom)  # the same room, not a new one
        assert room.query_one("#train-lr", Input).value == "0.0005"
        assert str(room.query_one("#train-lr-label").render()) == "Скорость обуч."
        assert str(room.query_one("#train-views", TabbedContent).get_tab("train-runs-view").label) == "Прогоны"
        table = room.query_one("#train-runs", DataTable)
        assert [str(c.label) for c in table.columns.values()][:2] == ["#", "статус"]
        assert [str(c) for c in table.get_row_at(0)][:2] == ["1", "готово"]
        assert "готово" in str(room.query_one("#train-stats", Static).render())
        assert "потери на проверке" in str(room.query_one("#train-legend").render())


def _finished_dpo_run(store):
    run = store.create_run(base="demo", preset="demo", backend="hf", config={"base": "demo", "method": "dpo", "from_run": 1})
    for step in range(1, 9):
        store.add_metric(run.id, step, loss=0.69 - step * 0.05, lr=1e-3, grad_norm=1.0, reward_chosen=0.05 * step,
                         reward_rejected=-0.2 * step, margin=0.25 * step, accuracy=1.0 if step > 1 else 0.0)
    store.update_run(run.id, status="done", max_steps=8, dataset_sha256="cd" * 32, started="2026-01-01T00:00:00+00:00")
    return run


@async_test
async def test_a_preference_run_plots_its_margin_and_the_form_has_the_method(home, store):
    """A DPO run: loss and the reward margin (right axis) in the plot, the margin in the legend
    and the stats line; the method row reaches the config and the data summary counts the
    preference pairs."""
    from textual.widgets import Select

    from core.workspace import Workspace
    from tui.i18n import set_lang

    set_lang("en")  # an earlier test may have left the app in Russian
    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    store.add_preference("Что такое эпоха?", "Один проход по данным.", "Это библиотека.", model="demo")
    run = _finished_dpo_run(store)
    app = RoomApp(Workspace.open(home))
    async with app.run_test(size=(120, 40)) as pilot:
        room = app.query_one(TrainRoom)
        stats = room.query_one("#train-stats", Static)
        await _until(pilot, lambda: "done" in str(stats.render()), "the run shown")
        assert str(stats.render()).startswith(f"#{run.id} · dpo · step 8/8") and "margin 2.000" in str(stats.render())
        assert "accuracy 1.00" in str(stats.render())
        series = room.plotted()
        assert set(series) == {"loss", "margin"}
        assert series["margin"] == (list(range(1, 9)), [0.25 * s for s in range(1, 9)])
        legend = str(room.query_one("#train-legend", Static).render())
        assert "margin (right axis)" in legend and "lr" not in legend

        dataset = room.query_one("#train-dataset", Static)
        await _until(pilot, lambda: "1 train pairs" in str(dataset.render()), "the SFT data summary")
        room.query_one("#train-method", Select).value = "orpo"
        await _until(pilot, lambda: "preference pairs for orpo" in str(dataset.render()), "the preference data summary")
        assert "Data: 1 preference pairs" in str(dataset.render())
        # an SFT summary from a worker started before the switch, ending after it (a clean-clone
        # run under load saw it): the room keeps the summary of the method shown
        room._set_dataset("Data: 1 train pairs, 0 eval", 0, None, "sft")
        await pilot.pause()
        assert "Data: 1 preference pairs" in str(dataset.render())
        cfg = room.form_config()
        assert (cfg.method, cfg.from_run, cfg.preference) == ("orpo", None, True)
        assert [v for _, v in room.query_one("#train-method", Select)._options] == ["sft", "dpo", "orpo"]
        store.delete_preferences([1])
        room.load_dataset_summary()
        await _until(pilot, lambda: "No preference pairs" in str(dataset.render()), "no preference pairs")


@pytest.mark.slow
@async_test
async def test_preview_has_a_key_pages_through_examples_counts_tokens_once_and_goes_stale(train_home):
    """One token count on screen, named; the preview key again shows the next example; another
    base or other data takes a preview off the screen."""
    from textual.widgets import Tabs

    from core.workspace import Workspace
    from tests.support.data import sample_pairs

    def on_screen() -> str:
        return str(room.query_one("#train-dataset", Static).render()) + "\n" + str(preview.render())

    ws = Workspace.open(train_home)
    app = RoomApp(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        room = app.query_one(TrainRoom)
        preview = room.query_one("#train-preview", Static)
        await _until(pilot, lambda: "estimated from the text" in on_screen(), "the data line")
        assert len(re.findall(r"\d+ tokens", on_screen())) == 1
        room.query_one("#train-base", Input).focus()
        await pilot.press("ctrl+r")  # from a field of the form, where v would be typed
        await _until(pilot, lambda: "Example 1/5" in on_screen(), "the preview")
        assert room.query_one("#train-base", Input).value == "demo"
        shown = on_screen()
        assert "tokens with the tokenizer and chat template of demo" in shown
        assert len(re.findall(r"\d+ tokens", shown)) == 1 and "estimated" not in shown, shown
        pairs = sample_pairs(8, 2)
        assert pairs[0]["answer"] in str(preview.render()) and pairs[1]["answer"] not in str(preview.render())
        room.query_one("#train-views").query_one(Tabs).focus()
        await pilot.press("м")  # v on the Russian layout: the next example
        await pilot.pause()
        assert "Example 2/5" in on_screen() and pairs[1]["answer"] in str(preview.render())
        # a Changed of the base it was made from (it can arrive after the preview, when the field
        # was set and the preview started at once) leaves the preview on screen
        base_field = room.query_one("#train-base", Input)
        base_field.post_message(Input.Changed(base_field, base_field.value))
        await pilot.pause()
        await pilot.pause()
        assert "Example 2/5" in on_screen()

        room.query_one("#train-base", Input).value = "some/other-base"  # another base: that preview is not its
        await _until(pilot, lambda: str(preview.render()) == "" and "estimated" in on_screen(), "the stale preview gone")
        room.query_one("#train-base", Input).value = "demo"
        room.action_preview()
        await _until(pilot, lambda: "Example 1/5" in on_screen(), "the preview again")
        with ws.store() as store:
            store.add_pair("Новый вопрос?", "Новый ответ.", status="approved")
        room.load_dataset_summary()  # as opening the room again does
        await _until(pilot, lambda: "9 train pairs" in on_screen(), "the new data")
        assert str(preview.render()) == "" and "estimated" in on_screen()
