"""How an evaluation cell's numbers read, the same in the Evaluate room's grid and in its Compare
dialog (one answer's title there): a missing number is "·", the Russian check is ✓ or ⚠; and a
judge's agreement with the user's grades, the same in the room's summary and the rubric dialog."""

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


def agreement_line(a) -> str:
    """One judge's agreement with the user's grades (``core.eval.agreement.Agreement``), short
    enough for the Evaluate room's summary at 80 columns: ρ, exact, ±1 and n."""
    from tui.i18n import t

    if not a.n:
        return t("evaluate.agreement_none", judge=a.judge[-24:])
    return t("evaluate.agreement", judge=a.judge[-24:], rho=fmt(a.spearman, "+.2f"), exact=fmt(a.exact, ".0%"),
             near=fmt(a.within_one, ".0%"), n=a.n)
