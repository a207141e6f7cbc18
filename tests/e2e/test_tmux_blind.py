"""Chat's blind comparison in a real terminal (tmux, 80×24, the app in Russian) with real GGUF
models: the two exported demo models answer as A and B, no model name is on the screen until
the vote, ф (a on the Russian layout) votes A, the names show, and the store holds the vote and
its preference (A's answer chosen). The demo base is exported once per session
(tests/conftest.py); every wait is on the screen or the store."""

from __future__ import annotations

import os
import shutil
import sys
import time

import pytest

from core.workspace import Workspace
from tests.support.paths import REPO
from tests.support.tmux import Tmux

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("export"),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]

NAMES = ("demo-q8_0", "demo-f16")
# the Q8_0 and F16 demo GGUFs answer most questions alike, word for word (greedy, one seed): a
# vote then has nothing to prefer and is refused; this one they answer differently
QUESTION = "Как работает градиентный спуск?"


def _named(screen: str) -> bool:
    return any(name in screen for name in NAMES)


def test_blind_votes_hide_the_names_until_the_vote_and_record_the_preference(exported_copy):
    home = exported_copy
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env.update(TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8", NASTAVNIK_HOME=str(home), TEXTUAL_FPS="30",
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    tmux = Tmux(f"nastavnik-blind-{os.getpid()}", env)
    command = f"cd {REPO} && {sys.executable} -c 'from tui.cli import entry; entry()' --home {home} --lang ru"
    assert tmux.run("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", command).returncode == 0
    try:
        tmux.wait_for(lambda s: "пар " in s and "Пары" in s, "the app", timeout=60)
        tmux.keys("3")
        tmux.wait_for(lambda s: "Вопрос модели" in s and "demo-" in s, "the Chat room with a model chosen")
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
            (conv,) = store.list_conversations()
            a, b = [m for m in conv.messages if m.role == "assistant"]  # stored in the order shown
            assert store.blind_votes() == []
        assert a.content != b.content, f"both models answered {a.content!r}: ask a question they answer differently"

        tmux.type("ф")  # a: A is better
        screen = tmux.wait_for(lambda s: f"A — {a.model}" in s, "the names, after the vote")
        assert f"B — {b.model}" in screen
        with Workspace.open(home).store() as store:
            (vote,) = store.blind_votes()
            (pref,) = store.live_preferences()
        assert (vote.winner, vote.model_a, vote.model_b, vote.preference_id) == ("a", a.model, b.model, pref.id)
        assert {a.model, b.model} == set(NAMES)
        assert (pref.prompt, pref.chosen, pref.rejected, pref.chosen_model) == (QUESTION, a.content, b.content, a.model)
        tmux.keys("q")
        deadline = time.monotonic() + 15
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not tmux.alive(), "q did not quit the app:\n" + tmux.screen()
    finally:
        tmux.run("kill-server")
