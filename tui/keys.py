"""One place that maps the Latin keyboard to Russian ЙЦУКЕН for key bindings.

On a Russian layout the key labelled ``a`` types ``ф``; Textual sees the character, so a
binding on ``a`` alone never fires. ``both("a", "approve", "pairs.approve")`` makes one
``Binding`` that answers to ``a`` and ``ф``. Descriptions are i18n keys; ``localize(node)``
turns them into the current language (call it on mount and after a language switch).
"""

from __future__ import annotations

from dataclasses import replace

from textual.binding import Binding, BindingsMap

from tui.i18n import t

LATIN = "qwertyuiopasdfghjklzxcvbnm"
CYRILLIC = "йцукенгшщзфывапролдячсмить"
LAT_TO_CYR: dict[str, str] = dict(zip(LATIN, CYRILLIC))
LAT_TO_CYR.update({a.upper(): c.upper() for a, c in zip(LATIN, CYRILLIC)})
CYR_TO_LAT: dict[str, str] = {c: a for a, c in LAT_TO_CYR.items()}

#: marks the description of a binding as an i18n key (kept in ``Binding.id``)
_PREFIX = "i18n:"


def keys_for(key: str) -> str:
    """``"a"`` → ``"a,ф"``; ``"ctrl+z"`` → ``"ctrl+z"`` (only single letters have a twin)."""
    out: list[str] = []
    for k in key.split(","):
        k = k.strip()
        out.append(k)
        twin = LAT_TO_CYR.get(k)
        if twin and twin not in out:
            out.append(twin)
    return ",".join(out)


def both(
    key: str,
    action: str,
    description: str = "",
    *,
    show: bool = True,
    priority: bool = False,
    key_display: str | None = None,
) -> Binding:
    """A binding on ``key`` and its ЙЦУКЕН twin; ``description`` is an i18n key."""
    return Binding(
        keys_for(key),
        action,
        t(description) if description else "",
        show=show,
        priority=priority,
        key_display=key_display,
        id=_PREFIX + description if description else None,
    )


def localize(node) -> None:
    """Rewrite the descriptions of ``node``'s bindings in the current language."""
    bindings = getattr(node, "_bindings", None)
    if not isinstance(bindings, BindingsMap):
        return
    changed = False
    for key, lst in bindings.key_to_bindings.items():
        new = []
        for b in lst:
            if b.id and b.id.startswith(_PREFIX):
                text = t(b.id[len(_PREFIX) :])
                if text != b.description:
                    b = replace(b, description=text)
                    changed = True
            new.append(b)
        bindings.key_to_bindings[key] = new
    if changed:
        node.refresh_bindings()


def display_key(key: str) -> str:
    """How a binding's keys read in help: ``"a,ф"`` → ``"a / ф"``."""
    return " / ".join(k.strip() for k in key.split(","))
