"""Where a widget's or a room's styles come from: its sibling ``.tcss`` file, read by one helper.

The house rule is one way per kind of class, and no CSS written inside Python:

- a ``Screen`` (every dialog) names its sibling file in ``CSS_PATH``; Textual loads it when
  the screen is first shown;
- a widget or a room is not a screen (Textual ignores its ``CSS_PATH``), so it sets
  ``DEFAULT_CSS = sibling_css(__file__)``: the file's rules are the class's defaults, scoped to
  it, and the app's own ``app.tcss`` can still override them.

``tests/test_layout.py`` checks that no module under ``tui/`` writes a CSS block inline.
"""

from __future__ import annotations

from pathlib import Path


def sibling_css(module_file: str) -> str:
    """The styles in the ``.tcss`` file beside ``module_file`` (a module's ``__file__``)."""
    return Path(module_file).with_suffix(".tcss").read_text(encoding="utf-8")
