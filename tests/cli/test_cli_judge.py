"""A judge you can trust, and eval by tag, through the CLI: the rubric is a workspace file the
judge reads (its hash kept with each judgement), the judges' agreement with the user's grades,
and the scores per tag in ``eval --json`` — on stored answers, with a stand-in judge."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from tests.support.rooms import stored_grid

MODELS = ("base-q8_0", "run-1-q8_0")


@pytest.fixture
def grid(home, monkeypatch):
    """The stored grid, its models and a judge registered as GGUFs, and a judge that scores
    3 when its rubric says «СТРОГО», else 5; ``grid.prompts`` keeps what it read."""
    import core.infer.runner

    ws = stored_grid(home)
    with ws.store() as store:
        for name in (*MODELS, "judge-q8_0"):
            (home / f"{name}.gguf").write_bytes(b"GGUF")
            store.add_model("gguf", name, str(home / f"{name}.gguf"))
        pairs = sorted(store.iter_pairs(), key=lambda p: p.id)
    prompts: list[str] = []

    class Judge:
        def reply(self, messages, temperature=0.0, max_tokens=0):
            prompts.append(messages[-1]["content"])
            return NS(text="Оценка: 3" if "СТРОГО" in prompts[-1] else "Оценка: 5", tokens=3)

        def close(self):
            pass

    monkeypatch.setattr(core.infer.runner, "open_model", lambda *a, **k: Judge())
    return NS(ws=ws, home=home, pairs=pairs, prompts=prompts)


def test_the_rubric_is_a_workspace_file_written_in_russian_on_first_use(cli, home):
    r = cli("judge", "rubric", "--json")
    assert r.code == 0, r.err
    data = r.json()
    path = home / "judge_rubric.md"
    assert data["path"] == str(path.resolve()) and path.read_text(encoding="utf-8") == data["text"]
    assert data["text"].startswith("Ты строгий экзаменатор") and "{answer}" in data["text"]
    assert cli("judge", "rubric").out.strip() == str(path.resolve())
    path.write_text("Оцени СТРОГО: {answer}\n", encoding="utf-8")
    assert cli("judge", "rubric", "--show").out.strip() == "Оцени СТРОГО: {answer}"
    changed = cli("judge", "rubric", "--json").json()["hash"]
    assert changed != data["hash"]
    assert cli("judge", "rubric", "--reset", "--json").json()["hash"] == data["hash"]


def test_the_judge_reads_the_rubric_and_an_edited_one_judges_again(cli, grid):
    r = cli("eval", *MODELS, "--judge", "judge-q8_0", "--json")
    assert r.code == 0, r.err
    first = r.json()
    assert len(grid.prompts) == 6  # every stored answer of both models, once
    q, ref = grid.pairs[1].question, grid.pairs[1].answer
    assert any(f"Вопрос: {q}\nЭталонный ответ: {ref}\nОтвет ученика: ответ base-q8_0" in p for p in grid.prompts)
    assert [s["judge"] for s in first["summaries"]] == [5.0, 5.0] and first["stale_judgements"] == 0

    (grid.home / "judge_rubric.md").write_text("Оцени СТРОГО.\n{question}\n{answer}\n", encoding="utf-8")
    shown = cli("eval", *MODELS, "--json").json()  # no judge run: the old scores are not the new rubric's
    assert shown["rubric"] != first["rubric"]
    assert [s["judge"] for s in shown["summaries"]] == [None, None] and shown["stale_judgements"] == 6
    again = cli("eval", *MODELS, "--judge", "judge-q8_0", "--json").json()
    assert len(grid.prompts) == 12 and grid.prompts[-1].startswith("Оцени СТРОГО.")
    assert [s["judge"] for s in again["summaries"]] == [3.0, 3.0] and again["stale_judgements"] == 0
    nothing_left = cli("eval", *MODELS, "--judge", "judge-q8_0", "--json")
    assert nothing_left.code == 0 and len(grid.prompts) == 12


def test_a_rubric_without_the_answer_is_refused(cli, grid):
    (grid.home / "judge_rubric.md").write_text("Оцени ответ.\n", encoding="utf-8")
    r = cli("eval", *MODELS, "--judge", "judge-q8_0")
    assert r.code == 2 and "{answer}" in r.err and not grid.prompts
    assert cli("eval", *MODELS).code == 0  # without a judge the rubric is not read
    other = grid.home / "strict.md"
    other.write_text("СТРОГО: {answer}", encoding="utf-8")
    data = cli("eval", *MODELS, "--judge", "judge-q8_0", "--rubric", str(other), "--json").json()
    assert [s["judge"] for s in data["summaries"]] == [3.0, 3.0]


def test_agreement_of_each_judge_with_the_users_grades(cli, grid):
    cli("eval", *MODELS, "--judge", "judge-q8_0")  # scores 5 everywhere
    with grid.ws.store() as store:
        for model, pair, score in (("base-q8_0", 0, 5), ("base-q8_0", 1, 4), ("run-1-q8_0", 1, 2)):
            p = grid.pairs[pair]
            store.grade(model, p.question, score, answer=f"ответ {model}", pair_id=p.id)
        # a grade given to an answer the judge never read (Chat's) is left out
        store.grade("run-1-q8_0", grid.pairs[0].question, 5, answer="другой ответ")
    data = cli("eval", *MODELS, "--json").json()
    judges = {a["judge"]: a for a in data["agreement"]}
    # judge-q8_0 gave 5 to all; graded: 5, 4, 2 here and the grid's 5 for run-1's third answer
    # (given without its answer): two exact, three within a point, no ranking of its own
    assert judges["judge-q8_0"] == {"judge": "judge-q8_0", "n": 4, "spearman": None, "exact": 0.5, "within_one": 0.75}
    # the grid's own "judge" scored run-1's first answer by the default rubric; its grade is of another answer
    assert judges["judge"]["n"] == 0
    alone = cli("judge", "agreement", "--json").json()
    assert alone["judges"] == data["agreement"] and alone["rubric"] == data["rubric"]
    text = cli("judge", "agreement").out
    assert "judge judge-q8_0: n 4, spearman -, exact 50%, ±1 75%" in text


def test_eval_json_breaks_the_scores_down_by_tag(cli, grid):
    with grid.ws.store() as store:
        store.change_tags([grid.pairs[0].id, grid.pairs[1].id], add=["общие"])
        store.change_tags([grid.pairs[1].id], add=["обучение"])
    data = cli("eval", *MODELS, "--json").json()
    tags = {row["tag"]: row for row in data["by_tag"]}
    assert [row["tag"] for row in data["by_tag"]] == ["обучение", "общие", None]  # the untagged last
    general = tags["общие"]
    assert general["questions"] == 2
    assert general["models"]["base-q8_0"] == {"pairs": 2, "chrf": 27.75, "exact": 0.0, "judge": None}
    assert general["models"]["run-1-q8_0"] == {"pairs": 2, "chrf": 47.15, "exact": 0.0, "judge": 4.0}
    assert tags["обучение"]["models"]["run-1-q8_0"]["chrf"] == 30.1
    assert tags[None]["models"]["run-1-q8_0"] == {"pairs": 1, "chrf": 100.0, "exact": 1.0, "judge": None}
    assert data["rows"][1]["tags"] == ["общие", "обучение"]
    table = cli("eval", *MODELS).out
    assert any(line.split()[:2] == ["общие", "run-1-q8_0"] and line.split()[3] == "47.1" for line in table.splitlines())


def test_judge_rubric_edit_opens_the_editor_and_refuses_a_rubric_without_the_answer(cli, home, tmp_path, monkeypatch):
    import sys

    new = tmp_path / "new.md"  # what the "user" types: the stand-in editor copies it over the file it opens
    editor = tmp_path / "editor.py"
    editor.write_text(f"import pathlib, sys\npathlib.Path(sys.argv[1]).write_text(pathlib.Path({str(new)!r}).read_text())\n")
    monkeypatch.setenv("VISUAL", f"{sys.executable} {editor}")
    before = cli("judge", "rubric", "--json").json()
    new.write_text("Оцени: {answer}\n", encoding="utf-8")
    r = cli("judge", "rubric", "--edit", "--json")
    assert r.code == 0, r.err
    assert r.json()["text"] == "Оцени: {answer}\n" and r.json()["hash"] != before["hash"]
    new.write_text("Оцени ответ.\n", encoding="utf-8")
    refused = cli("judge", "rubric", "--edit")
    assert refused.code == 2 and "{answer}" in refused.err
    assert (home / "judge_rubric.md").read_text(encoding="utf-8") == "Оцени: {answer}\n"
