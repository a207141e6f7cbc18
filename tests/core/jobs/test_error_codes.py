"""A job's error as the app needs it: the worker skeleton stores a UserError's code and params
beside its English line (what the CLI prints), a crash only its line; a worker found dead is
coded too; a data-parallel run's refusal keeps its code across the process that raised it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import UserError
from core.store.base import now
from core.workspace import Workspace
from tests.support.data import run_state
from tests.support.waits import wait_for


@pytest.fixture
def handlers():
    """The signal handlers a worker run in-process installs, put back after."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_user_error_is_stored_with_its_code_and_a_crash_with_its_line_only(home, store, handlers, tmp_path):
    from core.jobs.worker import Worker
    from core.train.runs import RunTable

    ws = Workspace.open(home)
    refused = store.create_run(base="tiny", preset=None, backend="hf", config={})

    def refuse():
        raise UserError(f"{tmp_path} has no .safetensors weights", hint="give a folder with model.safetensors",
                        code="model.no_weights", params={"path": tmp_path})  # a Path: stored as its text

    Worker(RunTable(store), refused.id, open_store=ws.store).run(refuse, status="running")
    ended = store.get_run(refused.id)
    assert ended.status == "failed"
    assert ended.error == f"{tmp_path} has no .safetensors weights — give a folder with model.safetensors"
    assert (ended.error_code, ended.error_params) == ("model.no_weights", {"path": str(tmp_path)})
    assert ended.to_dict()["error_code"] == "model.no_weights"

    crashed = store.create_run(base="tiny", preset=None, backend="hf", config={})
    Worker(RunTable(store), crashed.id, open_store=ws.store, log_path=tmp_path / "train.log").run(lambda: 1 / 0, status="running")
    ended = store.get_run(crashed.id)
    assert ended.error == f"ZeroDivisionError: division by zero (see {tmp_path / 'train.log'})"
    assert (ended.error_code, ended.error_params) == (None, {})


def test_an_export_job_keeps_its_code_too(home, store, handlers):
    from core.export.jobs import ExportTable
    from core.jobs.worker import Worker

    ws = Workspace.open(home)
    job = store.create_export_job(source="gone", quants=["q8_0"])

    def refuse():
        raise UserError("nothing to export called 'gone'", code="export.nothing_called", params={"ref": "gone"})

    Worker(ExportTable(ws, store), job.id, open_store=ws.store).run(refuse)
    ended = store.get_export_job(job.id)
    assert (ended.status, ended.error_code, ended.error_params) == ("failed", "export.nothing_called", {"ref": "gone"})


def test_a_worker_found_dead_is_coded(home, store):
    """A run whose worker vanished ends ``interrupted`` with the English line and ``run.lost``."""
    from core.jobs import Host
    from core.train.runs import refresh
    from tests.support.jobs import ClockAhead

    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()  # a pid no process has now
    run = store.create_run(base="tiny", preset=None, backend="hf", config={})
    store.update_run(run.id, status="running", pid=gone.pid, heartbeat=now())
    refresh(store, Host(clock=ClockAhead(3600)))
    ended = store.get_run(run.id)
    assert (ended.status, ended.error_code) == ("interrupted", "run.lost") and "stopped without finishing" in ended.error


@pytest.mark.slow
def test_a_refusal_in_a_process_of_a_data_parallel_run_keeps_its_code(home, store, tmp_path):
    """``--processes 2``: the base lost its weights after the run was queued; rank 0's refusal
    reaches the run's row with its code, not as bare text."""
    from core.jobs.host import HOST
    from core.train.config import TrainConfig
    from core.train.pipeline import take_snapshot
    from core.train.runs import open_run, worker_command, worker_env

    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"model_type": "llama"}), encoding="utf-8")
    ws = Workspace.open(home)
    config = TrainConfig(base=str(base), preset="demo", backend="hf", max_steps=2, num_processes=2)
    run = open_run(ws, store, config, take_snapshot(store, config.method), label="base", backend="hf")
    pid = HOST.processes.spawn(worker_command(home, run.id), Path(run.run_dir) / "train.log", cwd=home,
                               env=worker_env(home, config))
    store.update_run(run.id, pid=pid)
    ended = wait_for(lambda: (lambda r: r if r.status not in ("queued", "running") else None)(run_state(home, run.id)),
                     timeout=600, what="the run's end")
    log = (Path(run.run_dir) / "train.log").read_text(encoding="utf-8", errors="replace")
    assert (ended.status, ended.error_code) == ("failed", "model.no_weights"), (ended.error, log[-2000:])
    assert ended.error_params == {"path": str(base)} and ended.error.startswith(f"{base} has no .safetensors weights")
