"""UI strings in Russian and English.

Each room registers its own strings (``register(ru={...}, en={...})``) at import time, so
rooms never edit one shared table. ``t("key", n=3)`` formats the string of the current
language, falling back to English, then to the key itself.
"""

from __future__ import annotations

import locale
import os

LANGS = ("ru", "en")
_STRINGS: dict[str, dict[str, str]] = {"ru": {}, "en": {}}
_current = "en"


def register(*, ru: dict[str, str], en: dict[str, str]) -> None:
    _STRINGS["ru"].update(ru)
    _STRINGS["en"].update(en)


def detect_lang() -> str:
    """The language of the user's locale: ru for a Russian locale, else en."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "ru" if value.lower().startswith("ru") else "en"
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return "ru" if loc.lower().startswith("ru") else "en"


def set_lang(lang: str) -> None:
    global _current
    _current = lang if lang in LANGS else "en"


def get_lang() -> str:
    return _current


def t(key: str, **values) -> str:
    text = _STRINGS[_current].get(key) or _STRINGS["en"].get(key) or key
    return text.format(**values) if values else text
