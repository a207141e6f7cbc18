"""Waits the tests share: run an async test body, wait for the app to settle or its screen to stand
still, and poll for a condition; every wait is for a state, with a deadline."""

from __future__ import annotations

import asyncio
import functools
import time

from textual.worker import WorkerCancelled

from tui.i18n import set_lang


def async_test(fn):
    """Run an async test body in its own event loop; leave the UI language English after."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return asyncio.run(fn(*args, **kwargs))
        finally:
            set_lang("en")

    return wrapper


async def settle(pilot, rounds: int = 3) -> None:
    """Let debounce timers fire, workers finish and their messages land."""
    for _ in range(rounds):
        await pilot.pause(0.05)
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive worker replaced by a newer one: fine
            pass
        await pilot.pause()


async def still(pilot) -> None:
    """Stop text cursors blinking and wait until the screen stops changing (rooms fill in
    from workers), so a picture does not depend on the moment it is taken."""
    for widget in pilot.app.screen.query("Input, TextArea"):
        widget.cursor_blink = False
    from textual.worker import WorkerState

    await pilot.pause()
    last = None
    for _ in range(100):
        await settle(pilot)
        await pilot.pause(0.1)
        now = pilot.app.export_screenshot()
        # a loaded CI machine can leave a worker (Chat's model list) running across two frames
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)
        if now == last and not busy:
            return
        last = now


def wait_for(predicate, timeout: float = 300.0, poll: float = 0.5, what: str = "condition"):
    """``predicate()``'s first true value, polled every ``poll`` s; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def until(pilot, predicate, what: str, timeout: float = 240.0) -> None:
    """Let the app settle (``settle``) until ``predicate()`` holds; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await settle(pilot)
        if predicate():
            return
    raise AssertionError(f"never: {what}")
