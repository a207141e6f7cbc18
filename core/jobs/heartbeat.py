"""The heartbeat thread of a worker: it proves the worker lives and brings it the cancel flag."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from core.jobs.host import HEARTBEAT_S


class Heartbeat:
    """A daemon thread calling ``beat()`` every ``every`` seconds until ``stop()``.

    ``beat`` runs in the thread: give it its own store connection (``open_store``), never the
    main thread's. It returns True to ask the worker to stop (a cancel seen in the store);
    ``on_stop`` is then called once, from the thread.
    """

    def __init__(self, open_store: Callable[[], Any], beat: Callable[[Any], bool], *,
                 on_stop: Callable[[], None] | None = None, every: float = HEARTBEAT_S) -> None:
        self._open_store = open_store
        self._beat = beat
        self._on_stop = on_stop
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()

    def _run(self) -> None:
        store = self._open_store()
        asked = False
        try:
            while not self._done.wait(self._every):
                if self._beat(store) and not asked and self._on_stop is not None:
                    asked = True
                    self._on_stop()
        finally:
            store.close()
