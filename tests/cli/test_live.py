"""A detached run watched while it goes: `runs logs --follow`, and the Train room re-attaching to it."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.data import run_state
from tests.support.waits import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("train_runs")]

FAST = ("--batch-size", "2", "--grad-accum", "1", "--max-seq-len", "96", "--backend", "hf", "--save-steps", "1000")
_SCRIPT = Path(sys.executable).with_name("nastavnik")  # the installed CLI next to this Python
NASTAVNIK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from tui.cli import entry; entry()"]
STEP_LINE = re.compile(r"^step (\d+) .*\bloss=")


@pytest.fixture
def start(train_home, cli):
    """Start a detached run of N steps; whatever the test's outcome, no worker outlives it."""
    from core.train.runs import TERMINAL, cancel_run
    from core.workspace import Workspace

    started: list[int] = []

    def go(steps: int) -> int:
        r = cli("train", "--base", "demo", "--detach", "--json", "--steps", str(steps), *FAST)
        assert r.code == 0, r.err
        started.append(r.json()["id"])
        return started[-1]

    yield go
    for run_id in started:
        run = run_state(train_home, run_id)
        if run.status not in TERMINAL:
            _signal(train_home, run_id, signal.SIGCONT)  # a paused worker must be awake to hear the cancel
            cancel_run(Workspace.open(train_home), run_id)


def _signal(home: Path, run_id: int, sig: int) -> None:
    """Pause (SIGSTOP) or resume (SIGCONT) the run's worker: the test, not the machine's speed,
    decides when the run moves (a CPU step of the demo model takes a few tens of ms)."""
    pid = run_state(home, run_id).pid
    if pid:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _step_past(home: Path, run_id: int, step: int, timeout: float = 180.0) -> int:
    """Wait until the store shows the run beyond ``step``; the step it shows."""
    return wait_for(lambda: (run_state(home, run_id).step or 0) > step and run_state(home, run_id).step, timeout,
                    poll=0.02, what=f"run {run_id} past step {step}")


def _follow(home: Path, run_id: int) -> tuple[subprocess.Popen, queue.Queue]:
    """`nastavnik runs logs ID --follow` as a process of its own, its stdout lines on a queue."""
    proc = subprocess.Popen(
        [*NASTAVNIK, "--home", str(home), "runs", "logs", str(run_id), "--follow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    return proc, lines


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line.rstrip("\n"))
    out.put(None)


def test_logs_follow_prints_steps_as_they_come_and_ends_with_the_run(train_home, start):
    steps = 16
    run_id = start(steps)
    # the worker is paused after its first steps: what --follow prints then, it printed while the
    # run was going, and everything after the pause it has to pick up as the run goes on
    _step_past(train_home, run_id, 0)
    _signal(train_home, run_id, signal.SIGSTOP)
    paused_at = run_state(train_home, run_id).step
    proc, lines = _follow(train_home, run_id)
    seen: list[str] = []
    resumed = False
    deadline = time.monotonic() + 240
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no end of --follow after 240 s; got {seen[-5:]}") from None
            if line is None:
                break
            seen.append(line)
            if STEP_LINE.match(line) and not resumed:
                run = run_state(train_home, run_id)
                assert run.status == "running" and run.step < steps, run  # printed while the run goes
                assert proc.poll() is None  # and still following
                resumed = True
                _signal(train_home, run_id, signal.SIGCONT)
        code = proc.wait(timeout=30)
    finally:
        _signal(train_home, run_id, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert code == 0, err
    printed = [int(m.group(1)) for m in map(STEP_LINE.match, seen) if m]
    assert printed == list(range(1, steps + 1)), seen
    assert seen[-1].startswith(f"run {run_id} done at step {steps}"), seen[-3:]
    assert resumed and paused_at < steps
    assert run_state(train_home, run_id).status == "done"
    # a second --follow on the finished run prints the same log once and returns at once
    again = subprocess.run([*NASTAVNIK, "--home", str(train_home), "runs", "logs", str(run_id), "--follow"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.splitlines() == seen


def test_logs_follow_of_a_cancelled_run_ends_with_exit_2_and_the_reason(train_home, start, cli):
    run_id = start(400)
    proc, lines = _follow(train_home, run_id)
    try:
        wait_for(lambda: run_state(train_home, run_id).step >= 1, timeout=120, what="the first step")
        assert proc.poll() is None  # still following
        assert cli("runs", "cancel", str(run_id)).code == 0
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = []
    while (line := lines.get(timeout=10)) is not None:
        out.append(line)
    err = proc.stderr.read()
    assert code == 2 and f"error: run {run_id} cancelled" in err, err
    assert any(STEP_LINE.match(line) for line in out)
    assert any(line.startswith(f"run {run_id} cancelled at step") for line in out), out[-3:]


# ---------------------------------------------------------------------------- the Train room, live


def _view(app) -> dict:
    """What the Train room shows now: the loss series of its plot, its progress bar, its labels."""
    from textual.widgets import ProgressBar, RichLog, Static

    from tui.rooms.train import TrainRoom

    rooms = app.query(TrainRoom)
    if not rooms:
        return {"points": [], "evals": [], "progress": 0, "total": None, "stats": "", "log": "", "rows": []}
    room = rooms.first()
    plotted = room.plotted()  # the series the plot holds, by name (it draws no legend of its own)
    bar = room.query_one("#train-progress", ProgressBar)
    log = room.query_one("#train-log", RichLog)
    table = room.query_one("#train-runs")
    return {
        "points": plotted.get("loss", ([], []))[0],
        "evals": plotted.get("eval loss", ([], []))[0],
        "progress": bar.progress,
        "total": bar.total,
        "stats": str(room.query_one("#train-stats", Static).render()),
        "log": "\n".join(line.text for line in log.lines),
        "rows": [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)],
    }


async def _until(pilot, predicate, what: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    view = _view(pilot.app)
    while not predicate(view):
        if time.monotonic() > deadline:
            raise AssertionError(f"the Train room never showed {what}; it shows {view}")
        await pilot.pause(0.25)
        view = _view(pilot.app)
    return view


def _newest_run(view) -> str:
    return view["rows"][0][0] if view["rows"] else ""


def _tokens_per_s(stats: str) -> float | None:
    m = re.search(r"([\d.]+) tok/s", stats)
    return float(m.group(1)) if m else None


def test_train_room_follows_a_running_run_and_reattaches_after_a_restart(train_home, start):
    from core.workspace import Workspace
    from tests.support.waits import async_test
    from tui.app import NastavnikApp

    steps = 40
    run_id = start(steps)
    _step_past(train_home, run_id, 1)
    _signal(train_home, run_id, signal.SIGSTOP)  # paused at an early step while the app opens
    seen: dict = {}

    @async_test
    async def first_app():
        app = NastavnikApp(Workspace.open(train_home), "en")
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.press("2")  # the Train tab
            first = await _until(pilot, lambda v: v["points"] and "running" in v["stats"], "the first steps of the running run")
            assert _newest_run(first) == str(run_id)
            _signal(train_home, run_id, signal.SIGCONT)  # let it take a few steps, then pause it again
            _step_past(train_home, run_id, max(first["points"]) + 2)
            _signal(train_home, run_id, signal.SIGSTOP)
            later = await _until(
                pilot, lambda v: len(v["points"]) > len(first["points"]) and v["progress"] > first["progress"], "the plot growing"
            )
            assert later["total"] == steps and 0 < later["progress"] < steps, later
            assert later["points"] == list(range(1, len(later["points"]) + 1))
            assert _tokens_per_s(later["stats"]), later["stats"]
            assert re.search(r"ETA \d+:\d\d", later["stats"]), later["stats"]
            assert any(STEP_LINE.match(line) for line in later["log"].splitlines()), later["log"]
            seen.update(later)
            app.exit()

    first_app()
    assert run_state(train_home, run_id).status == "running"  # still going when the room comes back

    @async_test
    async def second_app():
        app = NastavnikApp(Workspace.open(train_home), "en")
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.press("2")
            back = await _until(pilot, lambda v: len(v["points"]) >= len(seen["points"]), "the points it showed before")
            assert _newest_run(back) == str(run_id) and back["points"][: len(seen["points"])] == seen["points"]
            assert "running" in back["stats"] and len(back["points"]) < steps, back  # attached to the run while it goes
            _signal(train_home, run_id, signal.SIGCONT)
            more = await _until(pilot, lambda v: len(v["points"]) > len(back["points"]), "the plot going on after the restart")
            assert more["progress"] > back["progress"]
            done = await _until(pilot, lambda v: "done" in v["stats"], "the run done")
            assert done["points"] == list(range(1, steps + 1))
            assert done["progress"] == done["total"] == steps
            assert f"{steps}/{steps}" in done["stats"] and done["rows"][0][:2] == [str(run_id), "done"]
            assert f"run {run_id} done at step {steps}" in done["log"]
            with Workspace.open(train_home).store() as store:
                evals = [m.step for m in store.run_metrics(run_id) if m.eval_loss is not None]
            assert evals and done["evals"] == evals  # the last eval, logged after the last step, is on the plot too
            app.exit()

    second_app()
