"""Blind votes in the store: the order drawn from the stored seed, an A/B vote's preference
(the winner's answer chosen, as Chat's `p` records it), a tie's none, one vote per question's
answers, answers alike taking only a tie."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.loop.blind import blind_order, cast_vote
from tests.support.data import asked


def test_the_seed_decides_the_order_and_both_orders_occur():
    orders = {tuple(blind_order(["base", "run-1"], seed)) for seed in range(20)}
    assert orders == {("base", "run-1"), ("run-1", "base")}
    assert all(blind_order(["base", "run-1"], s) == blind_order(["base", "run-1"], s) for s in range(20))
    with pytest.raises(UserError):
        blind_order(["base", "base"], 1)


def test_an_a_or_b_vote_records_the_winners_answer_as_chosen_a_tie_records_none(store):
    a, b = asked(store, "Что такое эпоха?", {"run-1": "Один проход по данным.", "base": "Отдых."}, system="Кратко.")
    vote = cast_vote(store, a, b, 77, "b")
    assert (vote.model_a, vote.model_b, vote.winner, vote.winner_model, vote.seed) == ("run-1", "base", "b", "base", 77)
    (pref,) = store.live_preferences()
    assert vote.preference_id == pref.id
    assert (pref.prompt, pref.chosen, pref.rejected, pref.system) == ("Что такое эпоха?", "Отдых.", "Один проход по данным.", "Кратко.")
    assert (pref.chosen_model, pref.model, pref.kind) == ("base", "run-1", "compare")
    with pytest.raises(UserError) as err:
        cast_vote(store, a, b, 77, "a")  # one vote per pair of answers
    assert err.value.code == "blind.voted"

    c, d = asked(store, "Что такое LoRA?", {"base": "Матрицы.", "run-1": "Низкоранговая добавка."})
    tie = cast_vote(store, c, d, 5, "tie")
    assert tie.preference_id is None and tie.winner_model is None
    assert len(store.live_preferences()) == 1
    assert [v.winner for v in store.blind_votes()] == ["b", "tie"]


def test_a_vote_on_identical_answers_writes_nothing_and_a_repeated_question_links_its_preference(store):
    a, b = asked(store, "Кто выше?", {"base": "Жираф.", "run-1": "Жираф."})
    with pytest.raises(UserError) as err:
        cast_vote(store, a, b, 1, "a")
    assert err.value.code == "blind.same" and store.blind_votes() == []  # alike: only a tie
    assert cast_vote(store, a, b, 1, "tie").winner == "tie"

    first = cast_vote(store, *asked(store, "Кто ниже?", {"base": "Мышь.", "run-1": "Слон."}), 2, "a")
    again = cast_vote(store, *asked(store, "Кто ниже?", {"base": "Мышь.", "run-1": "Слон."}), 3, "a")
    assert again.preference_id == first.preference_id and len(store.live_preferences()) == 1
    assert len(store.blind_votes()) == 3
