"""`nastavnik demo --if-missing`, `train --preview` and `runs` on an empty workspace."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.xdist_group("demo_model")


def test_demo_if_missing_imports_approved_sample_and_registers_the_model(cli, home, demo_model):
    from core.workspace import Workspace

    ws = Workspace.open(home)
    shutil.copytree(demo_model, ws.models_dir / "demo")  # already built: --if-missing must not rebuild it
    stamp = (ws.models_dir / "demo" / "model.safetensors").stat().st_mtime_ns
    r = cli("demo", "--if-missing")
    assert r.code == 0, r.err
    assert "imported" in r.out
    pairs = cli("pairs", "list", "--status", "approved", "--json", "--limit", "1000").json()
    assert len(pairs) >= 150
    models = cli("models", "list", "--json").json()
    assert [(m["name"], m["kind"]) for m in models] == [("demo", "base")] and models[0]["meta"]["demo"] is True
    assert (ws.models_dir / "demo" / "model.safetensors").stat().st_mtime_ns == stamp
    again = cli("demo", "--if-missing")  # nothing left to do
    assert again.code == 0 and "imported" not in again.out
    assert len(cli("pairs", "list", "--json", "--limit", "1000").json()) == len(pairs)


def test_train_preview_marks_answer_tokens_and_warns_about_truncation(cli, store, demo_model):
    store.add_pair("Что такое эпоха?", "Эпоха — один полный проход по всем данным.", status="approved")
    store.add_pair("Длинный вопрос?", "очень длинный ответ " * 30, status="approved")
    assert cli("models", "add", str(demo_model), "--name", "demo").code == 0
    r = cli("train", "--base", "demo", "--preview", "--max-seq-len", "48", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["examples"] == 2 and data["trained_tokens"] < data["tokens"]
    assert data["truncated"] == [2] and len(data["dataset_sha256"]) == 64
    trained = "".join(text for text, on in data["samples"][0]["pieces"] if on)
    assert trained == "Эпоха — один полный проход по всем данным.<end_of_turn>"
    text = cli("train", "--base", "demo", "--preview", "--max-seq-len", "48")
    assert text.code == 0 and "will be cut" in text.err and "trained" in text.out
    assert cli("runs", "list", "--json").json() == []  # a preview starts nothing


def test_runs_commands_on_an_empty_workspace(cli):
    assert cli("runs", "list").out.startswith("no runs yet")
    r = cli("runs", "show", "3")
    assert r.code == 2 and "no run 3" in r.err
    r = cli("train", "--steps", "1")  # no approved pairs, no demo model
    assert r.code == 2 and "demo model" in r.err
