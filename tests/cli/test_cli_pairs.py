"""The pairs CLI as a script would use it: exit codes, JSON shapes, one-line errors."""

from __future__ import annotations

import subprocess
import sys


def test_add_list_show_json(cli):
    r = cli("pairs", "add", "-q", "Что такое LoRA?", "-a", "Адаптер.", "-t", "основы", "--json")
    assert r.code == 0, r.err
    pid = r.json()["id"]
    listed = cli("pairs", "list", "--json").json()
    assert len(listed) == 1
    assert {"id", "question", "answer", "system", "tags", "status", "split", "source"} <= set(listed[0])
    assert listed[0]["tags"] == ["основы"]
    shown = cli("pairs", "show", pid).out
    assert "Что такое LoRA?" in shown and "Адаптер." in shown


def test_user_errors_exit_2_with_one_line(cli):
    r = cli("pairs", "show", "42")
    assert r.code == 2
    assert r.err.strip().count("\n") == 0
    assert "no pair with id 42" in r.err
    assert "Traceback" not in r.err
    r = cli("pairs", "add", "-q", " ", "-a", "ответ")
    assert r.code == 2 and "question is empty" in r.err
    r = cli("pairs", "approve", "abc")
    assert r.code == 2 and "'abc' is not a pair id" in r.err


def test_duplicate_add_is_refused(cli):
    assert cli("pairs", "add", "-q", "Вопрос?", "-a", "Ответ.").code == 0
    r = cli("pairs", "add", "-q", "вопрос?", "-a", "ответ.")
    assert r.code == 2 and "already" in r.err


def test_curation_commands(cli):
    for i in range(6):
        cli("pairs", "add", "-q", f"Вопрос про обучение {i}?", "-a", f"Ответ {i}.")
    assert cli("pairs", "approve", "1-3").code == 0
    assert cli("pairs", "reject", "4").code == 0
    assert cli("pairs", "tag", "1,2", "-t", "основы").code == 0
    assert cli("pairs", "edit", "1", "-a", "Новый ответ.").code == 0
    assert cli("pairs", "rm", "6").code == 0
    stats = cli("pairs", "stats", "--json").json()
    assert stats["total"] == 5
    assert stats["status"] == {"draft": 1, "approved": 3, "rejected": 1}
    assert stats["tags"] == {"основы": 2}
    assert {"question_chars", "answer_chars", "question_tokens", "answer_tokens"} <= set(stats["length"])
    assert cli("pairs", "restore", "6").code == 0
    hist = cli("pairs", "history", "1", "--json").json()
    old = [r for r in hist["revisions"] if r["existed"] and r["answer"] == "Ответ 0."]
    assert old, hist
    assert cli("pairs", "revert", "1", str(old[-1]["id"])).code == 0
    assert cli("pairs", "show", "1", "--json").json()[0]["answer"] == "Ответ 0."
    assert "undone" in cli("pairs", "undo").out
    assert cli("pairs", "show", "1", "--json").json()[0]["answer"] == "Новый ответ."
    found = cli("pairs", "search", "ОБУЧЕНИЕ 3", "--json").json()
    assert [p["id"] for p in found] == [4]
    split = cli("pairs", "split", "--eval-fraction", "0.5", "--seed", "1", "--json").json()
    assert split == {"train": 3, "eval": 3}
    assert cli("pairs", "list", "--split", "eval", "--json").json().__len__() == 3


def test_dedup_lists_groups(cli):
    cli("pairs", "add", "-q", "Что такое ёлка?", "-a", "Дерево.")
    cli("pairs", "add", "-q", "Что такое ёлка?", "-a", "Хвойное дерево.")
    report = cli("pairs", "dedup", "--json").json()
    assert report["duplicates"] == []
    assert [[p["id"] for p in g] for g in report["conflicts"]] == [[1, 2]]


def test_help_everywhere_has_examples():
    from tui.cli import cli as root

    import click

    def walk(cmd, path):
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, path + [name])

    for path, cmd in walk(root, []):
        ctx = click.Context(cmd, info_name=" ".join(["nastavnik", *path]))
        text = cmd.get_help(ctx)
        assert len(text) > 80, path
        if path == ["pairs"] or path[:1] == ["pairs"] and path[-1] in {"import", "export", "add", "split", "search"}:
            assert "nastavnik pairs" in text or "обуч" in text, path


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from tui.cli import main; "
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'llama_cpp', 'textual', 'pyarrow', 'datasets') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_opening_an_up_to_date_store_stays_light(tmp_path):
    """sqlite-utils pulls in pandas (~0.7 s); only a store that needs a migration loads it."""
    code = (
        "import sys\n"
        "from core.store import Store\n"
        f"Store({str(tmp_path / 'n.db')!r}).close()\n"
        "first = 'pandas' in sys.modules\n"
        "for m in [m for m in sys.modules if m.startswith(('pandas', 'sqlite_utils'))]: del sys.modules[m]\n"
        f"Store({str(tmp_path / 'n.db')!r}).close()\n"
        "print(first, 'sqlite_utils' in sys.modules or 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]
