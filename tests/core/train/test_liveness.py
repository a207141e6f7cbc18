"""Seeing a dead worker without mistaking a worker that is still starting for one."""

from __future__ import annotations

import subprocess
import sys


def _queued_run_with(store, pid: int):
    run = store.create_run(base="tiny", preset=None, backend="hf", config={})
    return store.update_run(run.id, pid=pid)


def test_a_just_spawned_worker_is_not_taken_for_dead(store):
    """Between fork and exec the child's command line is still the parent's: a queued run whose
    process lives is left alone while it is young (this raced in CI: the run was marked
    interrupted before its worker could claim it)."""
    from core.jobs import Host
    from core.train.runs import refresh

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # alive, not a worker
    try:
        run = _queued_run_with(store, proc.pid)
        assert refresh(store) == [] and store.get_run(run.id).status == "queued"
        # later on (nothing counts as young any more), a process that is no worker is not ours
        assert refresh(store, Host(stale_s=0.0)) == [run.id]
        assert store.get_run(run.id).status == "interrupted"
        gone = _queued_run_with(store, proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert refresh(store) == [gone.id]  # no process: dead at once, however young
