"""The app's tabs of rooms: a TabbedContent that ignores stale focus news.

Textual switches to the tab holding a widget that gets focus, by a message that arrives a
moment after the focus. A room that focuses its own box as it opens (Chat) would then pull a
user who pressed on to the next tab straight back. Here a pane's "focused" message only
switches tabs if it was sent after the last tab change.
"""

from __future__ import annotations

from textual import _time
from textual.widgets import TabbedContent, TabPane


class RoomTabs(TabbedContent):
    _switched_at: float = 0.0

    def watch_active(self, active: str) -> None:
        self._switched_at = _time.get_time()

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        if event.time < self._switched_at:  # focus given before the user moved on: old news
            event.stop()
            return
        super()._on_tab_pane_focused(event)
