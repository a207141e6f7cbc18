"""Teacher drafts with the exported demo GGUF as the teacher: one answer, pairs from a
document through the grammar, duplicates, progress, undo. The demo model writes short
Russian fragments — the tests check behaviour (saved, parsed, counted), not quality."""

from __future__ import annotations

import json

import pytest

from core.workspace import Workspace
from tests.support.cli import run_cli
from tests.support.data import NOTES

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("export")]


def test_draft_one_answer_saves_a_draft_pair(exported_copy):
    code, out, err = run_cli(exported_copy, "draft", "--teacher", "demo-q8_0", "-q", "Что такое эпоха?",
                             "--max-tokens", "48", "--json")
    assert code == 0, err
    pair = json.loads(out)
    assert pair["source"] == "teacher:demo-q8_0" and pair["status"] == "draft" and pair["teacher"] == "demo-q8_0"
    assert pair["answer"].strip() and pair["draft"] == pair["answer"] and pair["edited"] is False

    # streamed to stdout without --json; the same question again is refused
    code, out, err = run_cli(exported_copy, "draft", "--teacher", "demo-q8_0", "-q", "Что такое LoRA?", "--max-tokens", "48")
    assert code == 0, err
    assert out.strip() and "saved draft pair" in err and "teacher:demo-q8_0" in err
    code, out, err = run_cli(exported_copy, "draft", "--teacher", "demo-q8_0", "-q", "что  такое ЛОРА?".replace("ЛОРА", "LoRA"))
    assert code == 2 and "already asks this question" in err


def test_draft_from_a_document_parses_every_answer(exported_copy, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES, encoding="cp1251")  # encodings are detected
    args = ("draft", "--teacher", "demo-q8_0", "--from-file", notes, "--count", "3", "--max-tokens", "96")
    code, out, err = run_cli(exported_copy, *args, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["chunks"] > 1  # the document does not fit the demo's 512-token context at once
    assert report["failed"] == 0 and report["failures"] == []  # the grammar: every output parses, within the caps
    assert report["saved"] == len(report["pairs"]) and report["saved"] + report["duplicates"] <= report["attempts"]
    assert report["saved"] >= 1
    for p in report["pairs"]:
        assert p["status"] == "draft" and p["source"] == "teacher:demo-q8_0" and p["question"].strip() and p["answer"].strip()
        assert p["draft"] == p["answer"] and p["edited"] is False
    with Workspace.open(exported_copy).store() as store:
        stats = store.draft_stats()
        assert stats["waiting"] == report["saved"] and stats["accepted_unchanged"] == 0
        before = store.count_pairs()

    # the same document again: greedy answers repeat, and repeats are skipped and counted
    code, out, err = run_cli(exported_copy, *args)
    assert code == 0, err
    assert "duplicate(s) skipped" in out and "0 failed" in out
    assert "[load]" in err and "[split]" in err  # progress goes to stderr
    again = int(out.split("duplicate(s) skipped")[0].rsplit(":", 1)[1].split()[0])
    assert again >= 1

    # one undo takes the last batch back
    with Workspace.open(exported_copy).store() as store:
        added = store.count_pairs() - before
        if added:
            assert store.undo().kind == "import"
            assert store.count_pairs() == before


def test_draft_errors_are_one_line(exported_copy, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    for args, message in [
        (("--teacher", "demo-q8_0"), "give -q QUESTION or --from-file FILE"),
        (("--teacher", "nobody", "-q", "Вопрос?"), "no GGUF model called 'nobody'"),
        (("--teacher", "demo-q8_0", "--from-file", empty), "the document is empty"),
        (("--teacher", "demo-q8_0", "--from-file", tmp_path / "missing.txt"), "no such file"),
    ]:
        code, out, err = run_cli(exported_copy, "draft", *args)
        assert code == 2, (args, out, err)
        assert message in err and err.count("\n") == 1, err
