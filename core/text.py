"""Text helpers shared by the store, formats and stats: normalisation and token estimates."""

from __future__ import annotations


def fold(text: str) -> str:
    """Case-fold and make ё/е the same letter; the form search compares."""
    return text.casefold().replace("ё", "е")


def normalize(text: str) -> str:
    """The form duplicate detection compares: trimmed, whitespace collapsed, folded."""
    return fold(" ".join(text.split()))


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate of tokens, cheap enough for a million pairs.

    Large multilingual tokenizers average about 2.5 characters per token on Russian text
    and about 4 on English; we weight by the share of non-ASCII (in practice Cyrillic)
    characters, counted at C speed from the UTF-8 length.
    """
    if not text:
        return 0
    n = len(text)
    non_ascii = len(text.encode("utf-8", "surrogatepass")) - n  # 1 extra byte per Cyrillic letter
    share = min(1.0, non_ascii / max(1, n - text.count(" ")))
    chars_per_token = 2.5 * share + 4.0 * (1 - share)
    return max(1, int(n / chars_per_token + 0.5))


def estimate_tokens_sql(column: str) -> str:
    """The same estimate as ``estimate_tokens``, as an SQLite expression over ``column``,
    so a million pairs are measured inside SQLite instead of in a Python loop."""
    n = f"length({column})"
    extra = f"(length(CAST({column} AS BLOB)) - {n})"
    letters = f"max(1, {n} - ({n} - length(replace({column}, ' ', ''))))"
    share = f"min(1.0, {extra} * 1.0 / {letters})"
    per_token = f"(2.5 * {share} + 4.0 * (1 - {share}))"
    return f"(CASE WHEN coalesce({n}, 0) = 0 THEN 0 ELSE max(1, CAST({n} / {per_token} + 0.5 AS INTEGER)) END)"
