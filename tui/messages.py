"""Messages the rooms send each other through the app."""

from __future__ import annotations

from textual.message import Message


class PairsChanged(Message):
    """Pairs were added or changed outside the Pairs room (a corrected answer in Chat or
    Evaluate): the app recounts the status bar and reloads the pairs table. ``pair_id``: the
    pair just saved, which the table puts its cursor on (it may land past the end of the screen)."""

    def __init__(self, pair_id: int | None = None) -> None:
        super().__init__()
        self.pair_id = pair_id


class ModelsChanged(Message):
    """Models were registered (an export finished): the rooms that list models reload them."""


class ExportRequested(Message):
    """Export a finished run (the Train room's e/у), or export it and chat with it next to its
    base and the previous run (c/с); the app opens the Export dialog or starts the jobs."""

    def __init__(self, run_id: int | None, *, chat: bool = False) -> None:
        super().__init__()
        self.run_id = run_id
        self.chat = chat


class ExportFinished(Message):
    """An export job ended (seen by the Export dialog or the app's poll of the store).

    ``ok`` is the parity check's verdict (None when none ran or the job did not finish);
    ``line`` says it in one line, or names the error."""

    def __init__(self, job_id: int, status: str, ok: bool | None, line: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.status = status
        self.ok = ok
        self.line = line
