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


def error_lines(error, **extra) -> list[str]:
    """What the app shows for a ``UserError``: its message and hint in the UI's language.

    An error with a ``code`` is looked up as ``error.<code>`` (and ``error.<code>.hint``) in the
    strings table and formatted with its ``params``; the app's strings name the dialog's own
    controls where the CLI's English names a flag. An error without a code, or a code the table
    lacks, shows the English message and hint as they are. ``extra`` adds values the app
    knows and core does not (the label of the dialog's checkbox).
    """
    code = getattr(error, "code", None)
    if code and has(f"error.{code}"):
        params = _localized({**(getattr(error, "params", None) or {}), **extra})
        try:
            message = t(f"error.{code}", **params)
            hint = t(f"error.{code}.hint", **params) if has(f"error.{code}.hint") else None
        except (KeyError, IndexError, ValueError):  # a table entry that names a param core did not give
            return _english_lines(error)
        return [message] + ([hint] if hint else [])
    return _english_lines(error)


def error_text(error, sep: str = "\n", **extra) -> str:
    """``error_lines`` joined with ``sep``: a newline for a notification, " — " for one line
    (what ``str(UserError)`` gives in English)."""
    lines = error_lines(error, **extra)
    if sep != "\n" and len(lines) == 2 and lines[1][:2].istitle():  # "… — выберите …", as one sentence
        lines = [lines[0], lines[1][0].lower() + lines[1][1:].rstrip(".")]
    return sep.join(lines)


def job_error_text(job, sep: str = " — ") -> str:
    """Why a run or an export job ended badly, in the UI's language: the code and params its
    worker stored with the error (``error.<code>``, as ``error_text`` looks it up), or its English
    line as stored — a row from before codes were kept, or a crash's line naming its log."""
    from core.errors import UserError

    line = getattr(job, "error", None) or "?"
    code = getattr(job, "error_code", None)
    if not code:
        return line
    return error_text(UserError(line, code=code, params=getattr(job, "error_params", None)), sep)


def json_text(problem: str, column=None) -> str:
    """What the JSON decoder found (core's stable name of its message, ``json.<problem>``) and
    where on the line, in the UI's language."""
    text = t(f"json.{problem}") if has(f"json.{problem}") else t("json.other")
    return t("json.at_column", problem=text, column=column) if column else text


def reason_text(code: str | None, params: dict | None = None, default: str = "") -> str:
    """Why a record of an imported file was refused (core's reason code and its values,
    ``import.reason.<code>``) in the UI's language; ``default`` (core's English) for a code the
    table lacks."""
    if not code or not has(f"import.reason.{code}"):
        return default
    values = dict(params or {})
    if "kind" in values:
        kind = str(values["kind"])
        values["kind"] = t(f"import.kind.{kind}") if has(f"import.kind.{kind}") else kind
    if "problem" in values:
        values["json"] = json_text(str(values["problem"]), values.get("column"))
    try:
        return t(f"import.reason.{code}", **values)
    except (KeyError, IndexError, ValueError):
        return default


def _localized(params: dict) -> dict:
    """An error's params with the parts core gives by name said in the UI's language: a record's
    reason, a JSON decoder's problem, the field and how many more records were bad."""
    out = dict(params)
    if "problem" in out:
        out["json"] = json_text(str(out["problem"]), out.get("column"))
    if out.get("reason_code"):
        out["reason"] = reason_text(out["reason_code"], out.get("reason_params"), str(out.get("reason", "")))
    status = out.get("status")
    if isinstance(status, str) and has(f"run_status.{status}"):  # a run's or an export job's: its word here
        out["status"] = t(f"run_status.{status}")
    loc = out.get("location")
    if isinstance(loc, dict) and loc.get("line") is None and loc.get("row") is not None:  # a table's row
        out["where"] = t("import.where_row", file=loc["file"], row=loc["row"])
    if "field" in out:  # a reason that a key is missing names it itself
        named = str(out.get("reason_code") or "").startswith("missing_")
        out["field_note"] = t("import.reason.field", field=out["field"]) if out["field"] and not named else ""
    if "more" in out:
        out["more_note"] = t("import.reason.more", n=out["more"]) if out["more"] else ""
    if isinstance(out.get("tips"), list):  # what to change, each a field of the form and its new value
        tips = [t(f"tip.{tip['name']}", value=tip["value"]) for tip in out["tips"] if has(f"tip.{tip['name']}")]
        out["tips_text"] = t("tip.or").join(tips) if tips else t("tip.none")
    return out


def _english_lines(error) -> list[str]:
    lines = getattr(error, "lines", None)
    return lines() if callable(lines) else [str(error)]
