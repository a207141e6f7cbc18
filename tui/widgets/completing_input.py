"""An Input whose completion suggestion is accepted with Tab (and still with →).

Without a suggestion, Tab moves focus on as usual, so the dialog stays usable
without a mouse.
"""

from __future__ import annotations

import os
from pathlib import Path

from tui.keys import both
from textual.suggester import Suggester
from textual.widgets import Input


class CompletingInput(Input):
    BINDINGS = [both("tab", "accept_or_next", "common.complete", show=False, priority=True)]

    def action_accept_or_next(self) -> None:
        if self.has_focus and self._suggestion and self.cursor_at_end and self._suggestion != self.value:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()


class PathSuggester(Suggester):
    """Completes file-system paths: the longest common continuation of the matching names.

    A single match that is a folder gets a trailing ``/`` so the next Tab goes inside it.
    Hidden names are offered only once the typed part starts with a dot.
    """

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value)


def complete_path(value: str) -> str | None:
    if not value:
        return None
    path = Path(value).expanduser()
    if value.endswith(os.sep):
        folder, prefix = path, ""
    else:
        folder, prefix = path.parent, path.name
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return None
    if not prefix.startswith("."):
        entries = [e for e in entries if not e.name.startswith(".")]
    if not entries:
        return None
    if len(entries) == 1:
        entry = entries[0]
        completion = entry.name + (os.sep if entry.is_dir() else "")
    else:
        completion = os.path.commonprefix(sorted(e.name for e in entries))
    if len(completion) <= len(prefix):
        return None
    return value + completion[len(prefix) :]


class ChoiceSuggester(PathSuggester):
    """Completes from a list of names first (the registered models, the presets' bases), else as a
    path: the Train form's base is chosen from what the workspace knows, and a folder can still be typed."""

    def __init__(self, choices: list[str] | None = None) -> None:
        super().__init__()
        self.choices: list[str] = list(choices or [])

    async def get_suggestion(self, value: str) -> str | None:
        if value:
            for name in self.choices:
                if name.startswith(value) and name != value:
                    return name
        return complete_path(value)
