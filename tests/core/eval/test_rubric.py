"""The judge's rubric: filled in literally (a rubric may hold braces of its own), named by a hash
that line ends do not change, refused when the judge would never see the answer."""

from __future__ import annotations

import pytest


def test_the_prompt_fills_the_placeholders_and_leaves_other_braces():
    from core.eval.rubric import Rubric

    r = Rubric('Ответь JSON {"оценка": N}.\nВопрос: {question}\nЭталон: {reference}\nОтвет: {answer}')
    assert r.prompt("Что такое {x}?", "Эталон.", "") == (
        'Ответь JSON {"оценка": N}.\nВопрос: Что такое {x}?\nЭталон: Эталон.\nОтвет: (пусто)')


def test_the_hash_names_the_text_not_its_line_ends():
    from core.eval.rubric import rubric_hash

    assert rubric_hash("Оцени: {answer}\n") == rubric_hash("Оцени: {answer}\r\n") == rubric_hash("Оцени: {answer}  ")
    assert rubric_hash("Оцени: {answer}") != rubric_hash("Оцени строго: {answer}")


@pytest.mark.parametrize("text, code", [("  \n", "rubric.empty"), ("Оцени ответ.", "rubric.no_answer")])
def test_a_rubric_the_judge_cannot_use_is_a_user_error(text, code):
    from core.errors import UserError
    from core.eval.rubric import check

    with pytest.raises(UserError) as err:
        check(text)
    assert err.value.code == code
