"""`nastavnik chats votes`: the models ranked by the blind votes in the store, as JSON and as
a table, best first, with the counts and the interval each line rests on."""

from __future__ import annotations

import pytest

from core.loop.blind import cast_vote
from tests.support.cli import run_cli
from tests.support.data import asked


def test_chats_votes_ranks_the_models_by_their_votes(home, store):
    for n in range(3):
        cast_vote(store, *asked(store, f"Вопрос {n}?", {"base": f"Плохо {n}.", "run-1": f"Хорошо {n}."}), n, "b")
    cast_vote(store, *asked(store, "Ещё?", {"run-1": "Да.", "base": "Нет."}), 9, "tie")
    r = run_cli(home, "chats", "votes", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["votes"] == 4 and report["method"]["ties"] == "half a win each"
    first, second = report["models"]
    assert (first["model"], first["wins"], first["ties"], first["losses"], first["votes"]) == ("run-1", 3, 1, 0, 4)
    assert first["win_rate"] == pytest.approx(0.875) and first["low"] < 0.875 < first["high"]
    assert second["model"] == "base" and first["rating"] > 1000 > second["rating"]
    text = run_cli(home, "chats", "votes")
    assert text.code == 0 and text.out.index("run-1") < text.out.index("base") and "4 votes" in text.out
