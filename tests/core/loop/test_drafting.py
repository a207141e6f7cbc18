"""Teacher drafting without a model: splitting a document to fit a context, the prompts,
the JSON the grammar allows, and the stats panel's draft counts."""

from __future__ import annotations

import json

import pytest

from core.loop.drafting import caps, document_messages, parse_qa, qa_grammar, split_document, teacher_messages
from core.errors import UserError


def words(text: str) -> int:
    return len(text.split())


DOC = (
    "Первый абзац из пяти слов.\n\n"
    "Второй абзац длиннее: в нём девять слов и одна точка.\n\n\n"
    "Третий абзац. В нём три предложения. Каждое короткое.\r\n\r\n"
    + " ".join(f"слово{i}" for i in range(25))
)


def test_chunks_fit_the_budget_and_keep_the_order():
    chunks = split_document(DOC, 16, words)
    assert all(words(c) <= 16 for c in chunks)
    joined = " ".join(" ".join(chunks).split())
    assert joined == " ".join(DOC.split())  # nothing lost, nothing reordered
    assert chunks[0] == "Первый абзац из пяти слов."  # the next paragraph would overflow: a new chunk
    assert "Третий абзац. В нём три предложения. Каждое короткое." in chunks  # a paragraph kept whole
    # a run of 25 words with no sentence end is cut between words
    assert [words(c) for c in chunks[-4:]] == [8, 8, 8, 1]  # a word costs itself and a space


def test_a_big_budget_keeps_the_document_in_one_chunk():
    assert len(split_document(DOC, 1000, words)) == 1


def test_a_budget_too_small_is_a_clear_error():
    with pytest.raises(UserError, match="leaves 10 tokens for the document"):
        split_document(DOC, 10, words)


def test_prompts():
    msgs = teacher_messages("Что такое LoRA?", context=[{"role": "user", "content": "Привет"},
                                                          {"role": "assistant", "content": "Здравствуйте"}])
    assert msgs[0]["role"] == "system" and "по-русски" in msgs[0]["content"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"] and msgs[-1]["content"] == "Что такое LoRA?"
    assert teacher_messages("В?", system="Отвечай кратко.")[0]["content"] == "Отвечай кратко."
    doc = document_messages("Текст фрагмента.", [f"вопрос {i}?" for i in range(8)])
    assert "Текст фрагмента." in doc[1]["content"] and "JSON" in doc[1]["content"]
    assert "вопрос 7?" in doc[1]["content"] and "вопрос 2?" not in doc[1]["content"]  # the last five only
    assert "уже заданы" not in document_messages("Текст.")[1]["content"]


def test_the_grammar_and_the_parser():
    from core.loop.drafting import JSON_OVERHEAD

    for tokens in (96, 120, 1024, 2048):
        q, a = caps(tokens)
        assert 2 * (q + a) + JSON_OVERHEAD <= tokens  # escapes included, the JSON closes in time
    assert caps(2048) == (200, 804)
    g = qa_grammar(*caps(120))
    assert "char{3,8}" in g and "char{1,32}" in g and g.startswith("root ::=")
    assert parse_qa(json.dumps({"question": " Что  такое\nэпоха? ", "answer": " Проход. "})) == ("Что такое эпоха?", "Проход.")
    for bad in ('{"question": "", "answer": "а"}', '["a"]', "не json"):
        with pytest.raises(UserError):
            parse_qa(bad)
