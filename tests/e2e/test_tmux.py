"""The real installed `nastavnik` in a real terminal (tmux): search, edit, save, quit.

Drives `.venv/bin/nastavnik` the way a person does over SSH — literal UTF-8 keystrokes,
a 100×30 terminal — and checks the store through the CLI afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tmux import footer, start_app

BIN = Path(sys.executable).parent / "nastavnik"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
    pytest.mark.skipif(not BIN.exists(), reason=f"{BIN} is not installed (make install)"),
]

PAIRS = [
    ("Что такое эпоха обучения?", "Один проход по всем данным."),
    ("Как выбрать ранг LoRA?", "Начните с 8 или 16 и смотрите на лосс на eval."),
    ("Почему щавель кислый?", "Старый ответ, который надо исправить."),
    ("Что такое GGUF?", "Формат файла модели для llama.cpp."),
]
NEW_ANSWER = "В щавеле много щавелевой кислоты."


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), "--home", str(home), *args], capture_output=True, text=True, timeout=60)


def test_search_edit_save_quit_in_a_real_terminal(tmp_path):
    home = tmp_path / "home"
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}, ensure_ascii=False) + "\n"
            for q, a in PAIRS
        ),
        encoding="utf-8",
    )
    done = cli(home, "pairs", "import", str(data))
    assert done.returncode == 0, done.stderr
    found = json.loads(cli(home, "pairs", "search", "щавель", "--json").stdout)
    assert [p["question"] for p in found] == ["Почему щавель кислый?"]
    pair_id = found[0]["id"]

    tmux = start_app("test", home, lang="en", size=(100, 30), program=str(BIN))
    try:
        tmux.wait_for(lambda s: "Что такое эпоха" in s and "4 pairs" in s, "the pairs table and its counts")
        # the room's keys in the footer: the focus is in the room (a key sent before the app took
        # it after its first paint would be lost)
        tmux.wait_footer("approve", "the focus in the Pairs room")
        tmux.keys("/")
        tmux.wait_cursor(lambda line: "ctrl+f" in line, "the caret in the search box")  # its placeholder's line
        tmux.type("щавель")
        tmux.wait_for(lambda s: "Почему щавель" in s and "Что такое эпоха" not in s, "the search to narrow the table")
        blurred = tmux.style_of("Почему щавель")  # the table's cursor row while the search box has the focus
        tmux.keys("Enter")  # leave the search box for the table
        tmux.wait_style("Почему щавель", lambda style: style != blurred, "the focus on the table: its cursor row lit")
        tmux.keys("Enter")  # open the editor on the selected (only) row
        tmux.wait_for(lambda s: "Старый ответ" in s and ("^s" in s or "ctrl+s" in s.lower()), "the editor")
        tmux.keys("Tab")  # question → answer
        tmux.wait_cursor(lambda line: "Старый ответ" in line, "the caret in the answer")
        tmux.keys("Home")
        tmux.keys("C-k")  # clear the (one-line) answer
        tmux.wait_for(lambda s: "Старый ответ" not in s, "the old answer to be cleared")
        tmux.type(NEW_ANSWER)
        tmux.wait_for(lambda s: "щавелевой" in s, "the typed answer")
        tmux.keys("C-s")
        tmux.wait_for(  # the Pairs room's keys back in the footer: the focus is back on the table
            lambda s: "В щавеле много" in s and "approve" in footer(s) and "^s" not in s, "the editor to close on the saved row"
        )
        tmux.quit()
    finally:
        tmux.run("kill-server")

    shown = cli(home, "pairs", "show", str(pair_id), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)[0]["answer"] == NEW_ANSWER
