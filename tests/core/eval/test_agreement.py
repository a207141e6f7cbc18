"""Judge–human agreement: Spearman's ρ with ties, exact and ±1 agreement, on known grades."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest


def test_ranks_share_the_mean_rank_of_a_tie():
    from core.eval.agreement import ranks

    assert ranks([5, 3, 5, 1]) == [3.5, 2.0, 3.5, 1.0]


def test_spearman_without_ties_is_the_textbook_formula():
    from core.eval.agreement import spearman

    # d = (0, -1, 1, 0): ρ = 1 − 6·Σd² / (n(n²−1)) = 1 − 12/60
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_agreement_with_ties_on_both_sides():
    from core.eval.agreement import agreement

    # judge 5 4 4 2 1 → ranks 5 3.5 3.5 2 1; user 5 5 3 2 2 → ranks 4.5 4.5 3 1.5 1.5; both means 3.
    # deviations (2, .5, .5, −1, −2) and (1.5, 1.5, 0, −1.5, −1.5): Σxy = 8.25, Σx² = 9.5, Σy² = 9
    # ρ = 8.25 / √(9.5·9) = 0.892; equal on 2 of 5; every one within a point
    a = agreement("judge-q8_0", [(5, 5), (4, 5), (4, 3), (2, 2), (1, 2)])
    assert (a.judge, a.n, a.spearman, a.exact, a.within_one) == ("judge-q8_0", 5, 0.892, 0.4, 1.0)


def test_no_correlation_from_one_answer_or_one_grade_for_all():
    from core.eval.agreement import agreement

    one = agreement("j", [(4, 4)])
    assert (one.n, one.spearman, one.exact, one.within_one) == (1, None, 1.0, 1.0)
    flat = agreement("j", [(5, 3), (2, 3), (4, 3)])  # the user gave 3 to all: no ranking to follow
    assert (flat.n, flat.spearman, flat.exact, flat.within_one) == (3, None, 0.0, 0.667)
    assert agreement("j", []).n == 0 and agreement("j", []).exact is None


def _judgement(judge, model, question, answer, score):
    return NS(judge=judge, model=model, question=question, answer=answer, score=score)


def _grade(model, question, score, answer=None):
    return NS(model=model, question=question, score=score, answer=answer)


def test_judge_agreement_pairs_each_judge_with_the_grades_of_the_same_answers():
    from core.eval.agreement import judge_agreement

    judgements = [
        _judgement("big", "run-1", "Что такое LoRA?", "Малые матрицы.", 5),
        _judgement("big", "run-1", "Что такое эпоха?", "Проход  по данным.", 2),
        _judgement("big", "base", "Что такое LoRA?", "Не знаю.", 1),
        _judgement("big", "base", "Что такое эпоха?", "Тоже не знаю.", None),  # no score in the reply
        _judgement("small", "run-1", "Что такое LoRA?", "Малые матрицы.", 3),
        _judgement("small", "base", "Что такое токен?", "Кусок текста.", 4),  # never graded
    ]
    grades = [
        _grade("run-1", "что такое  LoRA?", 5, "Малые матрицы."),  # the same question, folded
        _grade("run-1", "Что такое эпоха?", 3, "Проход по данным."),  # whitespace aside the same answer
        _grade("base", "Что такое LoRA?", 2),  # given without its answer: counts
        _grade("base", "Что такое эпоха?", 1),
        _grade("other", "Что такое токен?", 4),  # another model's answer
    ]
    big, small = judge_agreement(judgements, grades)
    # big: (5,5) (2,3) (1,2) → ranks equal on both sides: ρ = 1; one exact; all within a point
    assert (big.judge, big.n, big.spearman, big.exact, big.within_one) == ("big", 3, 1.0, 0.333, 1.0)
    assert (small.judge, small.n, small.spearman, small.exact, small.within_one) == ("small", 1, None, 0.0, 0.0)


def test_a_grade_of_another_answer_does_not_count():
    """A Chat grade was given to a sampled answer, not to the one the judge read."""
    from core.eval.agreement import judge_agreement

    (a,) = judge_agreement([_judgement("big", "run-1", "Что такое LoRA?", "Малые матрицы.", 5)],
                           [_grade("run-1", "Что такое LoRA?", 1, "Совсем другой ответ.")])
    assert (a.judge, a.n, a.spearman, a.exact) == ("big", 0, None, None)
