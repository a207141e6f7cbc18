"""Text helpers shared by the store, formats and stats: normalisation and token estimates."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")


def fold(text: str) -> str:
    """Case-fold and make ё/е the same letter; the form search compares."""
    return text.casefold().replace("ё", "е")


def normalize(text: str) -> str:
    """The form duplicate detection compares: trimmed, whitespace collapsed, folded."""
    return fold(_WS.sub(" ", text).strip())


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate of tokens.

    Large multilingual tokenizers average about 2.5 characters per token on Russian
    text and about 4 on English; we weight by the share of Cyrillic letters.
    """
    if not text:
        return 0
    cyr = sum(1 for ch in text if "\u0400" <= ch <= "\u04ff")
    letters = sum(1 for ch in text if ch.isalpha()) or 1
    share = cyr / letters
    chars_per_token = 2.5 * share + 4.0 * (1 - share)
    return max(1, round(len(text) / chars_per_token))
