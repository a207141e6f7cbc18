"""``nastavnik pairs edit`` never overwrites a change made while the user was editing.

$EDITOR is a small script: it rewrites the answer in the document it is given and, when
asked, changes the same pair through its own store connection first, the way the app in
another window would while the user is still typing.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

EDITOR = textwrap.dedent(
    """
    import os, sys
    from core.store import Store
    path = sys.argv[1]
    text = open(path, encoding="utf-8").read()
    meanwhile = os.environ.get("MEANWHILE")
    if meanwhile:
        with Store(os.environ["STORE_DB"], migrate=False) as store:
            if meanwhile == "edit":
                store.update_pair(1, answer="Их ответ.")
            elif meanwhile == "trash":
                store.delete_pairs([1])
    head, rest = text.split("=== answer ===\\n", 1)
    old_answer, tail = rest.split("=== system ===", 1)
    text = head + "=== answer ===\\n" + os.environ["NEW_ANSWER"] + "\\n=== system ===" + tail
    if os.environ.get("BREAK"):
        text = text.replace("=== system ===", "=== sistem ===")
    open(path, "w", encoding="utf-8").write(text)
    """
)


@pytest.fixture
def editor(cli, home, tmp_path, monkeypatch):
    """Pair 1 in the store and $EDITOR set to the script; returns a function setting what it does."""
    assert cli("pairs", "add", "-q", "Что такое эпоха?", "-a", "Один проход.", "-t", "основы").code == 0
    script = tmp_path / "fake_editor.py"
    script.write_text(EDITOR, encoding="utf-8")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f'"{sys.executable}" "{script}"')
    monkeypatch.setenv("STORE_DB", str(home / "nastavnik.db"))

    def set_up(new_answer: str, meanwhile: str = "", broken: bool = False) -> None:
        monkeypatch.setenv("NEW_ANSWER", new_answer)
        monkeypatch.setenv("MEANWHILE", meanwhile)
        monkeypatch.setenv("BREAK", "1" if broken else "")

    return set_up


def answer(cli, pid=1):
    return cli("pairs", "show", str(pid), "--json").json()[0]["answer"]


def test_editor_saves_the_edited_text(cli, editor):
    editor("Один полный проход по данным.")
    r = cli("pairs", "edit", "1", "--editor")
    assert r.code == 0, r.err
    shown = cli("pairs", "show", "1", "--json").json()[0]
    assert (shown["question"], shown["answer"], shown["tags"]) == ("Что такое эпоха?", "Один полный проход по данным.", ["основы"])


def test_concurrent_edit_stops_keeps_my_text_and_force_overwrites(cli, editor):
    editor("Моя правка.", meanwhile="edit")
    r = cli("pairs", "edit", "1", "--editor")
    assert r.code == 2
    assert r.err.strip().count("\n") == 0 and "Traceback" not in r.err
    assert "pair 1 was changed elsewhere" in r.err and "answer" in r.err and "--force" in r.err
    assert answer(cli) == "Их ответ."  # theirs is not overwritten
    kept = Path(re.search(r"kept in (\S+)", r.err).group(1))
    assert "Моя правка." in kept.read_text(encoding="utf-8")
    # the kept file still carries the version the edit started from: without --force it is refused again
    again = cli("pairs", "edit", "1", "--file", str(kept))
    assert again.code == 2 and "pair 1 was changed elsewhere" in again.err
    assert answer(cli) == "Их ответ."
    forced = cli("pairs", "edit", "1", "--file", str(kept), "--force")
    assert forced.code == 0, forced.err
    assert answer(cli) == "Моя правка."
    hist = cli("pairs", "history", "1", "--json").json()
    assert "Их ответ." in [rev["answer"] for rev in hist["revisions"]]


def test_trashed_while_editing_says_so(cli, editor):
    editor("Моя правка.", meanwhile="trash")
    r = cli("pairs", "edit", "1", "--editor")
    assert r.code == 2 and r.err.strip().count("\n") == 0
    assert "pair 1 was moved to the trash" in r.err and "pairs restore 1" in r.err
    assert cli("pairs", "list", "--trash", "--json").json()[0]["answer"] == "Один проход."


def test_editor_with_no_change_elsewhere_and_no_edit_writes_nothing(cli, editor):
    editor("Один проход.")
    r = cli("pairs", "edit", "1", "--editor")
    assert r.code == 0 and "nothing changed" in r.out
    assert [rev for rev in cli("pairs", "history", "1", "--json").json()["revisions"] if rev["action"] == "edit"] == []


def test_if_updated_refuses_a_stale_stamp(cli, editor):
    stamp = cli("pairs", "show", "1", "--json").json()[0]["updated"]
    assert cli("pairs", "approve", "1").code == 0  # a change elsewhere moves the stamp
    r = cli("pairs", "edit", "1", "-a", "Моя правка.", "--if-updated", stamp)
    assert r.code == 2 and "pair 1 was changed elsewhere" in r.err and "--force" in r.err
    assert answer(cli) == "Один проход."
    fresh = cli("pairs", "show", "1", "--json").json()[0]["updated"]
    assert cli("pairs", "edit", "1", "-a", "Моя правка.", "--if-updated", fresh).code == 0
    assert answer(cli) == "Моя правка."


def test_a_mistake_in_the_edited_text_names_the_line_and_keeps_the_text(cli, editor):
    editor("Моя правка.", broken=True)
    r = cli("pairs", "edit", "1", "--editor")
    assert r.code == 2 and r.err.strip().count("\n") == 0
    assert "the edited text, line 8: unknown section 'sistem'" in r.err
    kept = Path(re.search(r"kept in (\S+?);", r.err).group(1))
    assert "Моя правка." in kept.read_text(encoding="utf-8")
    assert answer(cli) == "Один проход."
    kept.write_text(kept.read_text(encoding="utf-8").replace("sistem", "system"), encoding="utf-8")
    fixed = cli("pairs", "edit", "1", "--file", str(kept))  # nothing changed meanwhile: no --force needed
    assert fixed.code == 0, fixed.err
    assert answer(cli) == "Моя правка."
