"""Does an answer stay in Russian? A script count, no language model.

Small models tuned on Russian drift into English or Chinese mid-answer (what Qwen's Russian
users report most). ``check(answer, reference)`` flags an answer when most of its letters are
not Cyrillic (Latin, CJK, anything else), counting only the letters that are the answer's
own prose:

* code is left out — fenced blocks (```` ``` ```` or ``~~~``) and inline ``code`` spans;
* formulas are left out — ``$$…$$``, ``$…$``, ``\\[…\\]``, ``\\(…\\)``;
* web addresses are left out;
* so are the words the reference answer itself uses (``LoRA``, ``GGUF``, ``batch size``): a
  term the reference writes in Latin is not a switch of language.

A reference that is itself mostly not Cyrillic (an English pair) is not a Russian answer to
check: ``applies`` is False and nothing is flagged. Scripts come from ``unicodedata`` names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

_FENCED = re.compile(r"(```|~~~).*?(?:\1|\Z)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_FORMULAS = (
    re.compile(r"\$\$.+?\$\$", re.S),
    re.compile(r"\\\[.+?\\\]", re.S),
    re.compile(r"\\\(.+?\\\)", re.S),
    re.compile(r"(?<![\\$])\$(?!\s)[^$\n]+?(?<!\s)\$(?!\d)"),
)
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_WORD = re.compile(r"[^\W\d_]+")
_CJK_NAMES = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "IDEOGRAPHIC", "BOPOMOFO")


@dataclass(frozen=True)
class LangCheck:
    flagged: bool  # most letters are not Cyrillic
    applies: bool  # the reference is Russian (mostly Cyrillic), so the check means something
    cyrillic: int
    latin: int
    cjk: int
    other: int
    script: str | None  # the script most of the other letters are in: latin, cjk or other

    @property
    def letters(self) -> int:
        return self.cyrillic + self.latin + self.cjk + self.other

    def to_dict(self) -> dict:
        return asdict(self)


def script_of(ch: str) -> str | None:
    """cyrillic, latin, cjk or other for a letter; None for anything that is not a letter."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "")
    if name.startswith("CYRILLIC"):
        return "cyrillic"
    if name.startswith("LATIN"):
        return "latin"
    if name.startswith(_CJK_NAMES):
        return "cjk"
    return "other"


def prose(text: str) -> str:
    """``text`` without code, formulas and web addresses."""
    text = _FENCED.sub(" ", text or "")
    text = _INLINE_CODE.sub(" ", text)
    for pattern in _FORMULAS:
        text = pattern.sub(" ", text)
    return _URL.sub(" ", text)


def _counts(text: str) -> dict[str, int]:
    counts = {"cyrillic": 0, "latin": 0, "cjk": 0, "other": 0}
    for ch in text:
        if ch.isascii():
            if ch.isalpha():
                counts["latin"] += 1
            continue
        s = script_of(ch)
        if s is not None:
            counts[s] += 1
    return counts


def terms(reference: str) -> set[str]:
    """The words of the reference that are not Cyrillic (case-folded): terms an answer may use."""
    out = set()
    for word in _WORD.findall(prose(reference)):
        if any(script_of(ch) not in ("cyrillic", None) for ch in word):
            out.add(word.casefold())
    return out


def check(answer: str, reference: str = "") -> LangCheck:
    """Flag ``answer`` when most of its own letters are not Cyrillic (see the module docs)."""
    ref = _counts(prose(reference))
    ref_letters = sum(ref.values())
    applies = not ref_letters or ref["cyrillic"] * 2 > ref_letters
    allowed = terms(reference)
    text = prose(answer)
    if allowed:
        text = _WORD.sub(lambda m: " " if m.group(0).casefold() in allowed else m.group(0), text)
    c = _counts(text)
    foreign = c["latin"] + c["cjk"] + c["other"]
    flagged = applies and foreign > c["cyrillic"]
    script = max(("latin", "cjk", "other"), key=lambda k: c[k]) if foreign else None
    return LangCheck(flagged, applies, c["cyrillic"], c["latin"], c["cjk"], c["other"], script)
