"""The one exception type for mistakes a person can fix.

The CLI prints ``str(error)`` and exits 2; the TUI shows it in a notification.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, with the message they should read."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} — {hint}")
