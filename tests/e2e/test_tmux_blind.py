"""Chat's blind comparison in a real terminal (tmux, 80×24, the app in Russian) with real GGUF
models: a run and its base answer as A and B, no model name is on the screen until the vote,
ф (a on the Russian layout) votes A, the names show, and the store holds the vote and its
preference (A's answer chosen). Every wait is on the screen or the store.

The two models are the demo loop's (the `taught` fixture, tests/conftest.py: built once per
session and shared with tests/e2e/test_demo_learns.py, hence the same xdist group): the demo
base and the default demo run that learnt a correction. Asked the corrected question, the run
answers with the correction (chrF ≥ 90) and the base with words that score under 20 against it,
on every CPU kernel path (test_demo_learns.py asserts both; docs/numerics.md): the two answers
differ by a margin, not by luck. Two quantizations of one model would not do: they answer most
questions word for word alike, and which ones differ moves with the CPU's kernels."""

from __future__ import annotations

import shutil

import pytest

from core.workspace import Workspace
from tests.support.demo_loop import BASE, CORRECTED_QUESTION, RUN
from tests.support.tmux import start_app

pytestmark = [
    pytest.mark.slow,
    pytest.mark.learning,  # the two models answer differently because one of them learnt
    pytest.mark.xdist_group("demo_learns"),  # the worker that builds `taught` once
    pytest.mark.timeout(1800),  # the first test to ask for `taught` trains the run
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]

NAMES = (BASE, RUN)
QUESTION = CORRECTED_QUESTION  # the run answers it with the correction, the base does not know it


def _named(screen: str) -> bool:
    return any(name in screen for name in NAMES)


def test_blind_votes_hide_the_names_until_the_vote_and_record_the_preference(taught_copy):
    home = taught_copy
    with Workspace.open(home).store() as store:  # the demo loop asked the base in Chat and corrected it
        before = {c.id for c in store.list_conversations()}
        preferences = {p.id for p in store.live_preferences()}
        assert store.blind_votes() == []
    tmux = start_app("blind", home)
    try:
        tmux.wait_for(lambda s: "пар " in s and "Пары" in s, "the app", timeout=60)
        # the room's keys in the footer: the focus is in the room (a key sent before the app took
        # it after its first paint would be lost, or sent back to Pairs)
        tmux.wait_footer("одобрить", "the focus in the Pairs room")
        tmux.keys("3")
        tmux.wait_for(lambda s: "Вопрос модели" in s and _named(s), "the Chat room with a model chosen")
        # the second model list: four fields back from the question box, open, the first model
        for _ in range(4):
            tmux.keys("BTab")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: all(name in s for name in NAMES) and "▲" in s, "the second list open")
        tmux.keys("Down", "Enter")
        tmux.wait_for(lambda s: all(name in s.splitlines()[4] for name in NAMES), "two models side by side")

        tmux.type("м")  # v on the Russian layout: blind
        screen = tmux.wait_for(lambda s: "Вслепую" in s, "the blind comparison on")
        assert not _named(screen), screen  # the model lists are hidden
        tmux.type(QUESTION)
        tmux.keys("Enter")
        screen = tmux.wait_for(lambda s: "B: " in s and "ток/с" in s, "both answers written", timeout=180)
        assert "│A " in screen and "│B " in screen and not _named(screen), screen  # A and B, never a name
        with Workspace.open(home).store() as store:
            (conv,) = [c for c in store.list_conversations() if c.id not in before]
            a, b = [m for m in conv.messages if m.role == "assistant"]  # stored in the order shown
            assert store.blind_votes() == []
        # a sanity check, not luck: the run learnt this answer and the base never saw it (see above)
        assert a.content != b.content, f"the run and its base both answered {a.content!r}"

        tmux.type("ф")  # a: A is better
        screen = tmux.wait_for(lambda s: f"A — {a.model}" in s, "the names, after the vote")
        assert f"B — {b.model}" in screen
        with Workspace.open(home).store() as store:
            (vote,) = store.blind_votes()
            # the vote's preference: a new one, or, when A is the run, the very pair the demo loop's
            # correction already kept (the correction over the base's answer) — never a copy of it
            (pref,) = [p for p in store.live_preferences() if p.id == vote.preference_id]
            added = [p for p in store.live_preferences() if p.id not in preferences]
        assert added == ([] if pref.id in preferences else [pref])
        assert (vote.winner, vote.model_a, vote.model_b) == ("a", a.model, b.model)
        assert {a.model, b.model} == set(NAMES)
        assert (pref.prompt, pref.chosen, pref.rejected) == (QUESTION, a.content, b.content)
        if added:  # a pair the vote made names the model whose answer won
            assert pref.chosen_model == a.model
        tmux.quit()
    finally:
        tmux.run("kill-server")
