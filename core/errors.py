"""The one exception type for mistakes a person can fix.

A ``UserError`` carries two things in the user's words: ``message`` (what went wrong) and
``hint`` (what to do about it, or None). ``str(error)`` joins them, so a log line or a test
that matches on it reads both. The CLI prints them on their own lines with the command that
failed and exits 2; the TUI's one error handler (``tui/app.py``) shows them in a notification.
Anything else that escapes is a bug and keeps its traceback.

An error a user meets in the app's flows also carries a stable ``code`` ("import.bad_record")
and its ``params`` ({"where": …, "reason": …}): core stays free of the UI, and the app looks
``error.<code>`` up in its strings table to say the same in the UI's language, naming the
dialog's own controls instead of CLI flags. The English ``message`` stays what the CLI prints.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, with the message they should read."""

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None,
                 params: dict | None = None) -> None:
        self.message = message
        self.hint = hint or None
        self.code = code
        self.params = dict(params or {})
        super().__init__(message)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} — {self.hint}"

    def lines(self) -> list[str]:
        """The message, then the hint when there is one: what a screen shows on two lines."""
        return [self.message] + ([self.hint] if self.hint else [])
