"""Text helpers shared by the store, formats and stats: normalisation, tags fields and token estimates."""

from __future__ import annotations

import re


def normalize_newlines(text: str) -> str:
    r"""Line ends as ``\n`` only: ``\r\n`` (Windows, Excel's multi-line cells) and a lone ``\r``
    (old Mac) become ``\n``, so training text never carries a ``\r``.

    Every way new text enters the store goes through this: the importers (on each record
    they read) and the store's write API (new pairs, edits, merges). Text already stored
    is never rewritten by it, so stored pairs keep their content hashes.
    """
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def normalize_context(context: list[dict]) -> list[dict]:
    """``normalize_newlines`` over the content of each earlier turn (a new list when one changes)."""
    if not any("\r" in t.get("content", "") for t in context if isinstance(t.get("content"), str)):
        return context
    return [
        {**t, "content": normalize_newlines(t["content"])} if isinstance(t.get("content"), str) else t for t in context
    ]


#: what separates tags in a tags field: "a, b; c" is three tags
TAG_SEPARATORS = re.compile(r"[,;]")


def split_tags(text: str) -> list[str]:
    """The tags of a tags field, split on ``,`` and ``;``, trimmed, empty and repeated ones left
    out: ``"a; b, c, a"`` → ``["a", "b", "c"]``. The Tags dialog, the editor, the importers and
    the CLI's editor form all read tags with this."""
    out: list[str] = []
    for part in TAG_SEPARATORS.split(text):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


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
