"""How a dialog draws ``core.progress.ProgressEvent``s: the same event the CLI prints.

``from_worker(app, show)`` is the progress callback a worker thread hands to a core step: it
brings each event to the UI thread (a stage's first and last always, the rest at most every
``every_s`` seconds, so a fast import does not flood the app) and calls ``show(event)`` there.
``draw(bar, event)`` puts an event on a ``ProgressBar``: done of total, or a pulsing bar while
the total is not known.
"""

from __future__ import annotations

import time
from typing import Callable

from textual.widgets import ProgressBar

from core.progress import OnProgress, ProgressEvent


def draw(bar: ProgressBar, event: ProgressEvent) -> None:
    bar.update(total=None if event.total is None else max(event.total, 1), progress=event.done)


def from_worker(app, show: Callable[[ProgressEvent], None], *, every_s: float = 0.05) -> OnProgress:
    last = {"stage": None, "at": 0.0}

    def forward(event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.stage == last["stage"] and not event.finished and now - last["at"] < every_s:
            return
        last.update(stage=event.stage, at=now)
        app.call_from_thread(show, event)

    return forward
