"""Detached jobs (training runs, export jobs, every later background job): one framework.

A job is a row in the store plus a worker process started in its own session with stdio
going to a log file, so it survives the terminal, the SSH session or the app that started
it. Its row records the worker's pid and a heartbeat the worker refreshes every few seconds;
whoever reads the store (the CLI after a reconnect, a reopened app) decides from those two
whether the worker still lives.

* ``process``: the one child-process helper (environment, session, log, stop with grace);
* ``host``: the clock and the process table the job layer reads, passed in (``Host``);
* ``table``: refresh, cancel, wait and follow over a kind's ``JobTable``;
* ``worker``: the worker skeleton, claim → heartbeat → body → claim the end;
* ``heartbeat``: the worker's heartbeat thread.
"""

from core.jobs.heartbeat import Heartbeat
from core.jobs.host import (
           HEARTBEAT_S,
           HOST,
           STALE_S,
           Clock,
           Host,
           ProcessTable,
           SystemClock,
           SystemProcesses,
           age_s,
           pid_alive,
           process_state,
)
from core.jobs.process import OFFLINE_ENV, REPO, spawn_detached, worker_env

__all__ = ["HEARTBEAT_S", "HOST", "OFFLINE_ENV", "REPO", "STALE_S", "Clock", "Heartbeat", "Host", "ProcessTable",
           "SystemClock", "SystemProcesses", "age_s", "pid_alive", "process_state", "spawn_detached", "worker_env"]
