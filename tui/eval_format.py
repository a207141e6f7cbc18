"""How an evaluation cell's numbers read, the same in the Evaluate room's grid and in its Compare
dialog (one answer's title there): a missing number is "·", the Russian check is ✓ or ⚠."""

from __future__ import annotations


def fmt(value, spec: str = "") -> str:
    return "·" if value is None else format(value, spec)


def ru_check(cell) -> str:
    """The Russian check of one answer: ✓ stayed Russian, ⚠ and the script it switched to."""
    if cell is None or cell.drift is None:
        return ""
    if not cell.drift:
        return "✓"
    return "⚠ " + {"latin": "lat", "cjk": "cjk"}.get(cell.drift_script or "", "?")
