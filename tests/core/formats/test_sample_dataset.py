"""The bundled sample data set is what new users train on first: it must be well-formed,
Russian, split sensibly and free of duplicate questions."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from core.text import normalize
from tests.support.paths import SAMPLE

TAGS = {"основы", "lora", "данные", "обучение", "железо", "экспорт", "оценка", "инструмент"}
ROLES = {"system", "user", "assistant"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    out = []
    with SAMPLE.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            assert line.strip(), f"line {lineno} is empty"
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:  # pragma: no cover - the message is the point
                pytest.fail(f"{SAMPLE.name} line {lineno}: not valid JSON ({exc})")
    return out


def _cyrillic_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum("\u0400" <= c <= "\u04ff" for c in letters) / max(1, len(letters))


def _question(row: dict) -> str:
    return [m["content"] for m in row["messages"] if m["role"] == "user"][-1]


def test_has_enough_pairs(rows):
    assert len(rows) >= 150


def test_every_line_is_a_well_formed_conversation(rows):
    for n, row in enumerate(rows, 1):
        assert set(row) == {"messages", "split", "tags"}, f"line {n}: fields {sorted(row)}"
        msgs = row["messages"]
        roles = [m["role"] for m in msgs]
        assert set(roles) <= ROLES, f"line {n}: roles {roles}"
        assert "system" not in roles[1:], f"line {n}: system turn must come first"
        turns = [r for r in roles if r != "system"]
        # user/assistant alternate, start with the user and end with the answer
        assert turns[0] == "user" and turns[-1] == "assistant", f"line {n}: roles {roles}"
        assert all(a != b for a, b in zip(turns, turns[1:])), f"line {n}: roles {roles}"
        for m in msgs:
            assert isinstance(m["content"], str) and m["content"].strip(), f"line {n}: empty {m['role']} text"
            assert m["content"] == m["content"].strip(), f"line {n}: stray whitespace around {m['role']} text"


def test_has_system_prompts_and_multi_turn_examples(rows):
    with_system = sum(r["messages"][0]["role"] == "system" for r in rows)
    multi_turn = sum(sum(m["role"] == "user" for m in r["messages"]) > 1 for r in rows)
    assert with_system >= 5
    assert multi_turn >= 3


def test_text_is_mostly_russian(rows):
    for n, row in enumerate(rows, 1):
        text = " ".join(m["content"] for m in row["messages"])
        assert _cyrillic_share(text) >= 0.35, f"line {n}: too little Cyrillic: {_question(row)!r}"
    everything = " ".join(m["content"] for r in rows for m in r["messages"])
    assert _cyrillic_share(everything) >= 0.75


def test_eval_split_is_between_10_and_20_percent_and_covers_topics(rows):
    splits = Counter(r["split"] for r in rows)
    assert set(splits) == {"train", "eval"}
    share = splits["eval"] / len(rows)
    assert 0.10 <= share <= 0.20, f"eval share {share:.1%}"
    eval_tags = {t for r in rows if r["split"] == "eval" for t in r["tags"]}
    assert eval_tags == {t for r in rows for t in r["tags"]}, "some topic has no eval pair"


def test_no_duplicate_questions_after_normalising(rows):
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        key = normalize(_question(row))
        assert key not in seen, f"line {n} repeats the question of line {seen[key]}: {_question(row)!r}"
        seen[key] = n


def test_tags_come_from_the_small_vocabulary(rows):
    for n, row in enumerate(rows, 1):
        assert row["tags"], f"line {n}: no tags"
        assert set(row["tags"]) <= TAGS, f"line {n}: unknown tags {set(row['tags']) - TAGS}"
        assert len(row["tags"]) == len(set(row["tags"])), f"line {n}: repeated tag"
