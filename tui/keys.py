"""Key bindings: stable action ids, the Russian ЙЦУКЕН twin, descriptions from the strings table.

On a Russian layout the key labelled ``a`` types ``ф``; Textual sees the character, so a
binding on ``a`` alone never fires. ``both("a", "approve", "pairs.approve")`` makes one
``Binding`` that answers to ``a`` and ``ф``, with the id ``pairs.approve``. The id is stable:
it names the binding in the workspace's ``keymap`` setting (applied with ``App.set_keymap``)
and is the strings-table key of its description; ``localize(node)`` rewrites the descriptions
in the current language. This module is the one place that knows the twin layout.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from textual.binding import Binding, BindingsMap
from textual.keys import Keys

from tui.i18n import has, t

LATIN = "qwertyuiopasdfghjklzxcvbnm"
CYRILLIC = "йцукенгшщзфывапролдячсмить"
LAT_TO_CYR: dict[str, str] = dict(zip(LATIN, CYRILLIC))
LAT_TO_CYR.update({a.upper(): c.upper() for a, c in zip(LATIN, CYRILLIC)})
CYR_TO_LAT: dict[str, str] = {c: a for a, c in LAT_TO_CYR.items()}

#: binding id → the strings key of its description, where the two differ (``chat.grade3``
#: says what ``chat.grade`` says); every other id is its own description key
_DESCRIBED_BY: dict[str, str] = {}
#: every id ``both`` has made, for checking a keymap
_IDS: set[str] = set()

_PRETTY = {"escape": "esc", "slash": "/", "full_stop": ".", "question_mark": "?", "space": "space", "delete": "del"}
_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
_KEY_NAMES = {k.value for k in Keys}


def keys_for(key: str) -> str:
    """``"a"`` → ``"a,ф"``; ``"ctrl+z"`` → ``"ctrl+z"`` (only single letters have a twin)."""
    out: list[str] = []
    for k in key.split(","):
        k = k.strip()
        out.append(k)
        twin = LAT_TO_CYR.get(k)
        if twin:
            out.append(twin)
    return ",".join(dict.fromkeys(out))


def both(
    key: str,
    action: str,
    id: str,
    *,
    description: str | None = None,
    twin: bool = True,
    show: bool = True,
    priority: bool = False,
    key_display: str | None = None,
) -> Binding:
    """A binding on ``key`` and its ЙЦУКЕН twin, with the stable ``id``; its description is the
    strings entry ``description`` (default: the id itself; none where the table has neither).
    ``twin=False`` for the rare binding whose Russian twin would mean something else."""
    if description and description != id:
        _DESCRIBED_BY[id] = description
    _IDS.add(id)
    return Binding(
        keys_for(key) if twin else key,
        action,
        _describe(id),
        show=show,
        priority=priority,
        key_display=key_display,
        id=id,
    )


def hidden(prefix: str, *rows: tuple[str, str, str]) -> list[Binding]:
    """Bindings kept out of the footer (help and the palette still list them), from a table of
    (key, action, id) rows; each id is ``prefix.id``, with its ЙЦУКЕН twin as ``both`` adds it."""
    return [both(key, action, f"{prefix}.{name}", show=False) for key, action, name in rows]


def _describe(binding_id: str) -> str:
    key = _DESCRIBED_BY.get(binding_id, binding_id)
    return t(key) if has(key) else ""


def localize(node) -> None:
    """Rewrite the descriptions of ``node``'s bindings in the current language, from their ids."""
    bindings = getattr(node, "_bindings", None)
    if isinstance(bindings, BindingsMap) and _relabel(bindings):
        node.refresh_bindings()


def localize_classes() -> None:
    """Rewrite, in the current language, the bindings every widget and screen class hands its new
    instances: a dialog opened after a language switch (or after the language was first set, as
    the classes were built on import) then speaks it without localizing itself."""
    from textual.dom import DOMNode

    todo = list(DOMNode.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        merged = cls.__dict__.get("_merged_bindings")
        if isinstance(merged, BindingsMap):
            _relabel(merged)


def _relabel(bindings: BindingsMap) -> bool:
    changed = False
    for key, lst in bindings.key_to_bindings.items():
        new = []
        for b in lst:
            text = _describe(b.id) if b.id in _IDS else b.description
            if text != b.description:
                b = replace(b, description=text)
                changed = True
            new.append(b)
        bindings.key_to_bindings[key] = new
    return changed


# ----------------------------------------------------------------------------- the keymap


def is_key(key: str) -> bool:
    """Whether Textual knows ``key`` (``v``, ``ctrl+a``, ``f5``, ``question_mark``)."""
    *mods, name = key.strip().split("+")
    if not name or any(m not in _MODIFIERS for m in mods):
        return False
    if len(name) == 1 or name in _KEY_NAMES or name in _PRETTY:
        return True
    try:
        unicodedata.lookup(name.replace("_", " "))
    except KeyError:
        return False
    return True


def check_keymap(keymap, known_ids: set[str]) -> tuple[dict[str, str], list[str]]:
    """The usable part of a ``keymap`` setting (single letters with their twin) and a problem
    line for each entry left out."""
    if not isinstance(keymap, dict):
        return {}, [t("app.keymap_not_object")]
    good: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in keymap.items():
        if binding_id not in known_ids:
            problems.append(t("app.keymap_bad_id", id=binding_id))
        elif not isinstance(keys, str) or not keys.strip() or not all(is_key(k) for k in keys.split(",")):
            problems.append(t("app.keymap_bad_key", id=binding_id, keys=keys))
        else:
            good[binding_id] = keys_for(",".join(k.strip() for k in keys.split(",")))
    return good, problems


# ----------------------------------------------------------------------------- reading keys


def pretty(key: str) -> str:
    return _PRETTY.get(key, key)


def layouts(keys: str) -> tuple[str, str]:
    """``"q,й"`` or ``"q"`` → ("q", "й"); keys without letters read the same on both layouts."""
    latin: list[str] = []
    russian: list[str] = []
    for key in (k.strip() for k in keys.split(",")):
        if not key:
            continue
        # only bare letters differ: ctrl+letter reaches the app the same on both layouts
        if key in CYR_TO_LAT:
            russian.append(key)
            latin.append(CYR_TO_LAT[key])
        elif key in LAT_TO_CYR:
            latin.append(key)
            russian.append(LAT_TO_CYR[key])
        else:
            latin.append(key)
            russian.append(key)
    return _join(latin), _join(russian)


def _join(keys: list[str]) -> str:
    return ", ".join(pretty(k) for k in dict.fromkeys(keys))


def described(bindings: BindingsMap) -> list[tuple[str, Binding, str]]:
    """(keys, binding, description) for each of the app's own described bindings in a map (made
    by ``both``; Textual's editing keys inside its widgets are left out), keys of one binding
    joined: ``("a,ф", …, "approve")``."""
    keys: dict[str, list[str]] = {}
    first: dict[str, Binding] = {}
    for key, lst in bindings.key_to_bindings.items():
        for b in lst:
            if b.id in _IDS:
                keys.setdefault(b.id, []).append(key)
                first.setdefault(b.id, b)
    out = []
    for ident, b in first.items():
        desc = _describe(ident)
        if desc:
            out.append((",".join(keys[ident]), b, desc))
    return out


def live_bindings(node, keymap: dict[str, str]) -> BindingsMap:
    """The bindings of a mounted node or of a class, with the keymap applied."""
    bindings = node._bindings.copy() if isinstance(getattr(node, "_bindings", None), BindingsMap) else node._merge_bindings()
    if keymap:
        bindings.apply_keymap(keymap)
    return bindings


def hint(bindings: BindingsMap, action: str) -> str:
    """The Latin keys of ``action`` in a bindings map, as a palette shows them: ``"g, f2"``."""
    keys = [key for key, lst in bindings.key_to_bindings.items() for b in lst if b.action == action]
    return layouts(",".join(keys))[0] if keys else ""


def key_of(bindings: BindingsMap, binding_id: str) -> str:
    """The first key bound to ``binding_id`` in a bindings map (keymap applied), as a user reads
    it on the Latin layout: ``"ctrl+s"``, ``"?"``; "" where nothing is bound to it."""
    keys = [key for key, lst in bindings.key_to_bindings.items() for b in lst if b.id == binding_id]
    return layouts(",".join(keys))[0].split(", ")[0] if keys else ""


def known_ids(wanted=()) -> set[str]:
    """Every binding id ``both`` has made; the dialogs' modules are loaded first when ``wanted``
    holds an id not seen yet (they load lazily, on first use)."""
    if not set(wanted) <= _IDS:
        import importlib
        import pkgutil

        import tui.dialogs
        import tui.rooms
        import tui.widgets

        for package in (tui.rooms, tui.dialogs, tui.widgets):
            for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
                importlib.import_module(info.name)
    return set(_IDS)
