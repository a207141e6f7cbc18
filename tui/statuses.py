"""Run statuses as the UI shows them: the names come from the store, the words from here.

``core.store.runs.RUN_STATUSES`` is the one list of the names; the words are the strings
table's ``run_status.<name>`` keys. Everything in ``tui/`` that shows a run's (or another
job's) status calls ``run_status(name)`` instead of printing the name.
"""

from __future__ import annotations

from core.store.runs import RUN_STATUSES
from tui.i18n import t


def run_status(status: str | None) -> str:
    """The status in the current language; a name this module does not know, as it is."""
    if not status:
        return ""
    key = f"run_status.{status}"
    text = t(key)
    return status if text == key else text


__all__ = ["RUN_STATUSES", "run_status"]
