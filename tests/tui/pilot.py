"""Helpers the TUI tests share: run an async test body, and wait for the app to settle."""

from __future__ import annotations

import asyncio
import functools

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
