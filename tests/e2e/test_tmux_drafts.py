"""The dataset built by chatting, in a real terminal (tmux) with the real `nastavnik`: a
teacher drafts an answer in the pair editor, the user edits and saves it, then corrects a
model's answer in Chat; `nastavnik train --method dpo` trains on that preference while the app
stays open, and the Train room shows the run with its reward margin — and the store holds the
drafted pair, the preference and the DPO run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.workspace import Workspace
from tests.support.tmux import start_app

BIN = Path(sys.executable).parent / "nastavnik"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.learning,
    pytest.mark.xdist_group("export"),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
    pytest.mark.skipif(not BIN.exists(), reason=f"{BIN} is not installed (make install)"),
]

QUESTION = "Что такое эпоха обучения?"
EDIT = " Правка наставника."
CHAT_QUESTION = "Зачем нужна проверочная выборка?"
FIXED = "Чтобы заметить переобучение."


def cli(env: dict, home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), "--home", str(home), *args], capture_output=True, text=True, timeout=120, env=env)


def test_draft_edit_save_correct_in_chat_then_dpo_and_its_margin(exported_copy, demo_model):
    home = exported_copy
    Workspace.open(home).update_settings(teacher="demo-q8_0")
    tmux = start_app("drafts", home, lang="en", size=(110, 32), program=str(BIN))
    env = tmux.env  # the CLI below runs with the app's environment
    try:
        tmux.wait_for(lambda s: "0 pairs" in s or "approve" in s, "the pairs room")
        # the room's keys in the footer: the focus is in the room (a key sent before the app took
        # it after its first paint would be lost)
        tmux.wait_footer("approve", "the focus in the Pairs room")
        tmux.keys("n")
        tmux.wait_for(lambda s: "New pair" in s and "teacher draft" in s, "the editor with its ctrl+t key")
        tmux.type(QUESTION)
        tmux.wait_for(lambda s: QUESTION in s, "the typed question")
        tmux.keys("C-t")
        tmux.wait_for(lambda s: "Draft from demo-q8_0" in s, "the teacher's draft", timeout=90)
        tmux.type(EDIT)  # the cursor waits at the end of the drafted answer
        tmux.wait_for(lambda s: "Правка наставника" in s, "the edit")
        tmux.keys("C-s")
        tmux.wait_for(lambda s: "New pair" not in s and "Что такое эпоха" in s, "the saved pair in the table")

        tmux.keys("3")
        tmux.wait_for(lambda s: "Ask the model" in s, "the Chat room")
        tmux.wait_cursor(lambda line: "Ask the model" in line, "the caret in the question box")
        asking = tmux.style_of("model…")  # the box's placeholder, drawn as in a box with the focus
        tmux.type(CHAT_QUESTION)
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "tokens/s" in s, "the model's answer", timeout=90)
        # the answer keys work once it is written: the focus leaves the question box for the
        # answers (the box, empty again, is drawn as without the focus). Correct it
        tmux.wait_style("model…", lambda style: style != asking, "the focus off the question box")
        tmux.keys("e")
        tmux.wait_for(lambda s: "Correct the answer" in s, "the correction dialog")
        tmux.type(FIXED)  # the model's answer is selected: typing replaces it
        tmux.wait_for(lambda s: FIXED in s, "the corrected answer")
        tmux.keys("C-s")
        tmux.wait_for(lambda s: "Saved as pair" in s, "the correction saved")

        # DPO on that preference, from the command line, while the app stays open
        dpo = subprocess.run([str(BIN), "--home", str(home), "train", "--method", "dpo", "--preset", "demo", "--base",
                              str(demo_model), "--steps", "6", "--backend", "hf", "--max-seq-len", "96"],
                             capture_output=True, text=True, timeout=300, env=env)
        assert dpo.returncode == 0 and "margin" in dpo.stdout, dpo.stderr + dpo.stdout
        tmux.keys("C-PageUp")  # back to Train (digits grade answers in Chat)
        tmux.wait_for(lambda s: "Method" in s and "Start" in s, "the Train room")
        tmux.keys("p")
        screen = tmux.wait_for(lambda s: "margin (right axis)" in s and "dpo · step 6/6" in s and "done" in s,
                               "the DPO run's margin in the Progress view", timeout=60)
        assert "margin " in screen.split("dpo · step 6/6", 1)[1]  # the stats line carries the last margin
        assert any("\u2800" < ch <= "\u28ff" for ch in screen), screen  # the curves, drawn in braille
        tmux.quit()
    finally:
        tmux.run("kill-server")

    pairs = json.loads(cli(env, home, "pairs", "list", "--json").stdout)
    drafted = next(p for p in pairs if p["question"] == QUESTION)
    assert drafted["source"] == "teacher:demo-q8_0" and drafted["status"] == "draft"
    assert drafted["answer"] == drafted["draft"] + EDIT and drafted["edited"] is True
    corrected = next(p for p in pairs if p["question"] == CHAT_QUESTION)
    assert corrected["answer"] == FIXED and corrected["source"].startswith("chat:")
    (pref,) = json.loads(cli(env, home, "prefs", "list", "--json").stdout)
    assert (pref["prompt"], pref["chosen"], pref["kind"]) == (CHAT_QUESTION, FIXED, "chat")
    assert pref["rejected"].strip() and pref["model"] in ("demo-q8_0", "demo-f16") and pref["pair_id"] == corrected["id"]
    (run,) = json.loads(cli(env, home, "runs", "list", "--json").stdout)
    show = json.loads(cli(env, home, "runs", "show", str(run["id"]), "--json").stdout)
    assert show["method"] == "dpo" and show["status"] == "done" and show["train_pairs"] == 1
    margins = [m["margin"] for m in show["metrics"] if m["margin"] is not None]
    assert len(margins) == 6 and margins[-1] > margins[0]
