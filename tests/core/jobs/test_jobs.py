"""The job framework (core/jobs/) as runs and exports both use it: a paused worker is left alone,
a hung one is killed and interrupted, and a worker never writes its end over another verdict."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.jobs import Host, process_state
from core.store.base import now
from core.workspace import Workspace
from tests.support.jobs import ClockAhead, idle_worker

HOUR_AHEAD = Host(clock=ClockAhead(3600))  # every heartbeat an hour old


def _running_run(store, pid: int):
    run = store.create_run(base="tiny", preset=None, backend="hf", config={})
    store.claim_run(run.id, expect=("queued",), status="running", pid=pid, heartbeat=now(), started=now())
    return store.get_run(run.id)


def _running_export(store, pid: int):
    job = store.create_export_job(source="demo", quants=["q8_0"])
    store.claim_export_job(job.id, expect=("queued",), status="running", pid=pid, heartbeat=now(), started=now())
    return store.get_export_job(job.id)


class Runs:
    marker = "core.train.worker"

    def start(self, ws, store, pid):
        return _running_run(store, pid)

    def get(self, store, job_id):
        return store.get_run(job_id)

    def liveness(self, job, host):
        from core.train.runs import liveness

        return liveness(job, host)

    def refresh(self, ws, store, host):
        from core.train.runs import refresh

        return refresh(store, host)

    def cancel(self, ws, store, job_id, wait_s):
        from core.train.runs import cancel_run

        return cancel_run(ws, job_id, store=store, wait_s=wait_s)


class Exports(Runs):
    marker = "core.export.worker"

    def start(self, ws, store, pid):
        return _running_export(store, pid)

    def get(self, store, job_id):
        return store.get_export_job(job_id)

    def liveness(self, job, host):
        from core.export.jobs import liveness

        return liveness(job, host)

    def refresh(self, ws, store, host):
        from core.export.jobs import refresh

        return refresh(ws, store, host)

    def cancel(self, ws, store, job_id, wait_s):
        from core.export.jobs import cancel_job

        return cancel_job(ws, job_id, store=store, wait_s=wait_s)


KINDS = pytest.mark.parametrize("kind", [Runs(), Exports()], ids=["run", "export"])


def _stopped(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while process_state(pid) != "T":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@KINDS
def test_a_stopped_worker_is_paused_not_hung_and_is_not_killed(home, store, kind):
    """SIGSTOP (as tests pause runs, or a debugger) freezes the heartbeat too: however old it is,
    the worker is reported paused, keeps its job and lives on."""
    ws = Workspace.open(home)
    with idle_worker(kind.marker) as proc:
        job = kind.start(ws, store, proc.pid)
        os.kill(proc.pid, signal.SIGSTOP)
        assert _stopped(proc.pid)
        assert kind.liveness(job, HOUR_AHEAD) == "paused"
        assert kind.refresh(ws, store, HOUR_AHEAD) == []
        assert kind.get(store, job.id).status == "running"
        time.sleep(0.2)
        assert proc.poll() is None and process_state(proc.pid) == "T"  # not killed, still paused


@KINDS
def test_a_hung_worker_is_killed_and_its_job_interrupted(home, store, kind):
    """A worker that is there and running but beats no more is hung: killed (so it cannot write
    after the verdict) and its job ``interrupted`` — a training run now as an export always was."""
    ws = Workspace.open(home)
    with idle_worker(kind.marker) as proc:
        job = kind.start(ws, store, proc.pid)
        assert kind.liveness(job, Host()) == "alive"  # a fresh heartbeat
        assert kind.refresh(ws, store, Host()) == []
        assert kind.liveness(job, HOUR_AHEAD) == "hung"
        assert kind.refresh(ws, store, HOUR_AHEAD) == [job.id]
        assert proc.wait(timeout=10) == -signal.SIGKILL
    ended = kind.get(store, job.id)
    assert ended.status == "interrupted" and "stopped without finishing" in ended.error and ended.finished


@KINDS
def test_cancel_wakes_a_stopped_worker_to_hear_it(home, store, kind):
    """A stopped worker handles SIGTERM only once it runs: the cancel wakes it (SIGCONT) instead
    of waiting out its grace and killing it — for a training run now as for an export."""
    ws = Workspace.open(home)
    with idle_worker(kind.marker) as proc:
        job = kind.start(ws, store, proc.pid)
        os.kill(proc.pid, signal.SIGSTOP)
        assert _stopped(proc.pid)
        started = time.monotonic()
        assert kind.cancel(ws, store, job.id, wait_s=60).status == "cancelled"
        assert time.monotonic() - started < 30
        assert proc.wait(timeout=10) == -signal.SIGTERM  # it heard the cancel; it was not killed


def test_an_interrupted_verdict_written_while_the_run_trained_stands(home, store, tmp_path):
    """The training worker wrote its end unconditionally: a run found hung (``interrupted``) while
    its body ran came back ``done``. Its end is now claimed only over ``running``, as an export's."""
    from core.train import worker
    from core.train.config import TrainConfig

    ws = Workspace.open(home)
    config = TrainConfig(base=str(tmp_path), backend="hf")
    run = store.create_run(base="tiny", preset=None, backend="hf", config=config.to_dict())
    store.update_run(run.id, run_dir=str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    adapter = tmp_path / "adapter"
    adapter.mkdir()

    def train_here(ws, worker_store, run, config, paths, *, resume, should_stop):
        with ws.store() as other:  # meanwhile another process found the worker hung
            assert other.claim_run(run.id, expect=("running",), status="interrupted", error="found hung")
        return {"adapter": str(adapter), "steps": 3, "train_loss": 1.0, "eval_loss": None, "sha256": None, "setup": None}

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    real, worker._train_here = worker._train_here, train_here
    try:
        worker._supervise(ws, ws.store(), store.get_run(run.id), config, resume=False)
    finally:
        worker._train_here = real
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    ended = store.get_run(run.id)
    assert (ended.status, ended.error) == ("interrupted", "found hung")


def test_a_worker_never_writes_its_end_over_a_verdict(home, store):
    """The skeleton every worker uses: a ``cancelled`` written while the body ran stands, and the
    body's own end is written when nothing else was."""
    from core.jobs.worker import End, Worker
    from core.train.runs import RunTable

    ws = Workspace.open(home)
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        first = store.create_run(base="tiny", preset=None, backend="hf", config={})

        def cancelled_meanwhile() -> End:
            assert store.get_run(first.id).status == "running" and store.get_run(first.id).pid == os.getpid()
            store.claim_run(first.id, expect=("running",), status="cancelled")
            return End("done")

        assert Worker(RunTable(store), first.id, open_store=ws.store).run(cancelled_meanwhile, status="running").status == "done"
        assert store.get_run(first.id).status == "cancelled"

        second = store.create_run(base="tiny", preset=None, backend="hf", config={})
        end = Worker(RunTable(store), second.id, open_store=ws.store).run(lambda: 1 / 0, status="running")
        ended = store.get_run(second.id)
        assert end.status == "failed" and (ended.status, ended.error) == ("failed", "ZeroDivisionError: division by zero")
        assert Worker(RunTable(store), second.id, open_store=ws.store).run(lambda: End("done")) is None  # not queued: not ours
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_a_child_is_stopped_with_grace_then_killed(tmp_path):
    """The one child-process helper: a stopped child is woken to hear the SIGTERM; one that
    ignores it is killed after the grace."""
    from core.jobs.process import start_child, stop_child

    polite = start_child([sys.executable, "-c", "import time; time.sleep(300)"], detached=True)
    os.kill(polite.pid, signal.SIGSTOP)
    assert _stopped(polite.pid)
    assert stop_child(polite, grace_s=10) == -signal.SIGTERM

    deaf = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(300)"
    stubborn = start_child([sys.executable, "-c", deaf], log_path=tmp_path / "child.log")
    deadline = time.monotonic() + 30
    while "ready" not in (tmp_path / "child.log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    assert stop_child(stubborn, grace_s=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_a_child_run_to_its_end_is_stopped_when_the_caller_is_interrupted(tmp_path):
    """``run_child`` (the converter's way): interrupting the caller stops the child, nothing is left running."""
    script = tmp_path / "caller.py"
    script.write_text(
        # Ctrl-C's handler, whatever the suite was started with: a background job of a shell
        # inherits SIGINT ignored, and Python then keeps it ignored
        "import signal, sys\nfrom pathlib import Path\nfrom core.jobs.process import run_child\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"run_child([sys.executable, '-c', 'import os, time; print(os.getpid(), flush=True); time.sleep(300)'],"
        f" log_path=Path({str(tmp_path / 'child.log')!r}))\n", encoding="utf-8")
    caller = subprocess.Popen([sys.executable, str(script)], env=dict(os.environ, PYTHONPATH=str(Path.cwd())))
    log = tmp_path / "child.log"
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(log.read_text().split()[0])
    caller.send_signal(signal.SIGINT)
    caller.wait(timeout=30)
    deadline = time.monotonic() + 10
    while process_state(child) not in (None, "Z", "X"):
        assert time.monotonic() < deadline, "the child outlived its interrupted caller"
        time.sleep(0.05)


def test_a_child_spoken_to_through_a_pipe_is_asked_first(tmp_path):
    """The chat model's way: a child reading requests line by line exits on ``close``; one that
    does not answer it is stopped by signal after the grace, its pipes still open."""
    import subprocess as sp

    from core.jobs.process import child_env, start_child, stop_child

    serve = "import sys\nfor line in sys.stdin:\n    if line.strip() == 'close' and 'polite' in sys.argv: sys.exit(3)\n"
    for name, expected in (("polite", 3), ("deaf", -signal.SIGTERM)):
        proc = start_child([sys.executable, "-c", serve, name], env=child_env(), stdin=sp.PIPE, stdout=sp.PIPE,
                           stderr=sp.DEVNULL, text=True, encoding="utf-8", bufsize=1)

        def ask(proc=proc) -> None:
            proc.stdin.write("close\n")
            proc.stdin.flush()

        started = time.monotonic()
        assert stop_child(proc, grace_s=1, ask=ask) == expected
        assert time.monotonic() - started < 5
        proc.stdin.close()
        proc.stdout.close()
