"""UI strings in Russian and English: the language in use and the one lookup, ``t``.

The strings live in one table per language (``tui/strings/en.py``, ``tui/strings/ru.py``),
keys named by room or dialog (``pairs.approve``, ``export_model.title``). ``t("key", n=3)``
formats the string of the current language, falling back to English, then to the key itself.
"""

from __future__ import annotations

import locale
import os

from tui.strings.en import STRINGS as EN
from tui.strings.ru import STRINGS as RU

LANGS = ("ru", "en")
_STRINGS: dict[str, dict[str, str]] = {"ru": RU, "en": EN}
_current = "en"


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


def has(key: str) -> bool:
    """Whether the strings table has ``key`` (in English, which has every key)."""
    return key in _STRINGS["en"]


def t(key: str, **values) -> str:
    text = _STRINGS[_current].get(key) or _STRINGS["en"].get(key) or key
    return text.format(**values) if values else text
