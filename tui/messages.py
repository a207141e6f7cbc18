"""Messages the rooms send each other through the app."""

from __future__ import annotations

from textual.message import Message


class PairsChanged(Message):
    """Pairs were added or changed outside the Pairs room (a corrected answer in Chat or
    Evaluate): the app recounts the status bar and reloads the pairs table."""


class PreferencesChanged(Message):
    """Preference pairs were recorded or changed (a pick in Chat, the Preferences view):
    whoever shows them reads them again."""
