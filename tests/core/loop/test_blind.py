"""Blind votes in the store: the order drawn from the stored seed, an A/B vote's preference
(the winner's answer chosen, as Chat's `p` records it), a tie's none, one vote per question's
answers, and `nastavnik chats votes --json` ranking the models by those votes."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.loop.blind import blind_order, cast_vote
from tests.support.cli import run_cli


def _asked(store, question: str, answers: dict[str, str], system: str | None = None) -> list[int]:
    """A side-by-side question as Chat stores it; the assistant message ids, in ``answers``' order."""
    conv = store.add_conversation(list(answers), system=system).id
    store.add_message(conv, "user", question)
    return [store.add_message(conv, "assistant", text, model=model).id for model, text in answers.items()]


def test_the_seed_decides_the_order_and_both_orders_occur():
    orders = {tuple(blind_order(["base", "run-1"], seed)) for seed in range(20)}
    assert orders == {("base", "run-1"), ("run-1", "base")}
    assert all(blind_order(["base", "run-1"], s) == blind_order(["base", "run-1"], s) for s in range(20))
    with pytest.raises(UserError):
        blind_order(["base", "base"], 1)


def test_an_a_or_b_vote_records_the_winners_answer_as_chosen_a_tie_records_none(store):
    a, b = _asked(store, "Что такое эпоха?", {"run-1": "Один проход по данным.", "base": "Отдых."}, system="Кратко.")
    vote = cast_vote(store, a, b, 77, "b")
    assert (vote.model_a, vote.model_b, vote.winner, vote.winner_model, vote.seed) == ("run-1", "base", "b", "base", 77)
    (pref,) = store.live_preferences()
    assert vote.preference_id == pref.id
    assert (pref.prompt, pref.chosen, pref.rejected, pref.system) == ("Что такое эпоха?", "Отдых.", "Один проход по данным.", "Кратко.")
    assert (pref.chosen_model, pref.model, pref.kind) == ("base", "run-1", "compare")
    with pytest.raises(UserError) as err:
        cast_vote(store, a, b, 77, "a")  # one vote per pair of answers
    assert err.value.code == "blind.voted"

    c, d = _asked(store, "Что такое LoRA?", {"base": "Матрицы.", "run-1": "Низкоранговая добавка."})
    tie = cast_vote(store, c, d, 5, "tie")
    assert tie.preference_id is None and tie.winner_model is None
    assert len(store.live_preferences()) == 1
    assert [v.winner for v in store.blind_votes()] == ["b", "tie"]


def test_a_vote_on_identical_answers_writes_nothing_and_a_repeated_question_links_its_preference(store):
    a, b = _asked(store, "Кто выше?", {"base": "Жираф.", "run-1": "Жираф."})
    with pytest.raises(UserError) as err:
        cast_vote(store, a, b, 1, "a")
    assert err.value.code == "blind.same" and store.blind_votes() == []  # alike: only a tie
    assert cast_vote(store, a, b, 1, "tie").winner == "tie"

    first = cast_vote(store, *_asked(store, "Кто ниже?", {"base": "Мышь.", "run-1": "Слон."}), 2, "a")
    again = cast_vote(store, *_asked(store, "Кто ниже?", {"base": "Мышь.", "run-1": "Слон."}), 3, "a")
    assert again.preference_id == first.preference_id and len(store.live_preferences()) == 1
    assert len(store.blind_votes()) == 3


def test_chats_votes_ranks_the_models_by_their_votes(home, store):
    for n in range(3):
        cast_vote(store, *_asked(store, f"Вопрос {n}?", {"base": f"Плохо {n}.", "run-1": f"Хорошо {n}."}), n, "b")
    cast_vote(store, *_asked(store, "Ещё?", {"run-1": "Да.", "base": "Нет."}), 9, "tie")
    r = run_cli(home, "chats", "votes", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["votes"] == 4 and report["ties"] == "half a win each"
    first, second = report["models"]
    assert (first["model"], first["wins"], first["ties"], first["losses"], first["votes"]) == ("run-1", 3, 1, 0, 4)
    assert first["win_rate"] == pytest.approx(0.875) and first["low"] < 0.875 < first["high"]
    assert second["model"] == "base" and first["rating"] > 1000 > second["rating"]
    text = run_cli(home, "chats", "votes")
    assert text.code == 0 and text.out.index("run-1") < text.out.index("base") and "4 votes" in text.out
