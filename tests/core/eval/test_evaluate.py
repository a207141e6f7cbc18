"""Evaluation: chrF and exact match per model and pair, judge parsing, filling only what is missing."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import run_cli


@pytest.mark.parametrize(
    "text, score",
    [
        ("Оценка: 4", 4),
        ("**Оценка:** 5 — ответ полный", 5),
        ("Score: 3/5", 3),
        ("Я бы поставил 2 из 5.", 2),
        ("оценка - 1", 1),
        ("4", 4),
        ("Grade = 5", 5),
        ("Ответ неплохой, но 7 ошибок", None),
        ("", None),
        ("без оценки", None),
    ],
)
def test_parse_judge_score(text, score):
    from core.eval.evaluate import parse_judge_score

    assert parse_judge_score(text) == score


def test_chrf_and_exact():
    from core.eval.evaluate import chrf, normalize_answer

    assert chrf("Один проход по данным.", "Один проход по данным.") == 100.0
    assert 0 < chrf("Один проход по всем данным", "Один проход по данным.") < 100
    assert normalize_answer("  Ёлка  ЗЕЛЁНАЯ ") == normalize_answer("елка зеленая")


@pytest.mark.slow
@pytest.mark.xdist_group("export")
def test_eval_fills_only_what_is_missing(exported_copy, exported):
    from core.workspace import Workspace

    ws = Workspace.open(exported_copy)
    expected = next(a for a in exported["report"]["parity"]["answers"] if a["quant"] == "q8_0")
    with ws.store() as store:
        exact = store.add_pair(expected["question"], expected["hf_answer"], split="eval")
        other = store.add_pair("Что такое токенизатор?", "Он режет текст на токены.", split="eval")
        store.add_pair("Тренировочный вопрос?", "Не для оценки.", split="train")
    code, out, err = run_cli(exported_copy, "eval", "demo-q8_0", "--json", "-n", "32")
    assert code == 0, err
    data = json.loads(out)
    assert data["pairs_used"] == "all"  # nothing approved yet
    rows = {r["pair_id"]: r for r in data["rows"]}
    assert set(rows) == {exact.id, other.id}
    cell = rows[exact.id]["cells"]["demo-q8_0"]
    assert cell["exact"] and cell["chrf"] == 100.0
    assert data["summaries"][0]["answered_now"] == 2

    # again: nothing answered; approve one pair → only approved pairs are used
    with ws.store() as store:
        store.set_status([exact.id], "approved")
    code, out, err = run_cli(exported_copy, "eval", "demo-q8_0", "demo-f16", "--json", "-n", "32")
    data = json.loads(out)
    assert data["pairs_used"] == "approved" and [r["pair_id"] for r in data["rows"]] == [exact.id]
    answered = {s["model"]: s["answered_now"] for s in data["summaries"]}
    assert answered == {"demo-q8_0": 0, "demo-f16": 1}

    # an edited reference is scored again without asking the model again
    with ws.store() as store:
        store.update_pair(exact.id, answer="Совсем другой эталон.")
    data = json.loads(run_cli(exported_copy, "eval", "demo-q8_0", "--json")[1])
    assert data["summaries"][0]["answered_now"] == 0
    cell = data["rows"][0]["cells"]["demo-q8_0"]
    assert not cell["exact"] and cell["chrf"] < 50

    # a judge (here the demo model itself): every answer in the eval set gets a judgement,
    # its raw text kept whether or not a score could be read from it
    code, out, err = run_cli(exported_copy, "eval", "demo-q8_0", "--judge", "demo-q8_0", "--json", "-n", "8")
    assert code == 0, err
    assert json.loads(out)["judge"] == "demo-q8_0"
    with ws.store() as store:
        results = {r.pair_id: r for r in store.eval_results(["demo-q8_0"], judge="demo-q8_0")}
        assert results[exact.id].judge == "demo-q8_0" and results[exact.id].judge_raw is not None
        assert results[other.id].judge is None  # no longer in the (approved) eval set


@pytest.mark.slow
@pytest.mark.xdist_group("export")
def test_eval_without_eval_pairs_is_a_user_error(exported_copy):
    code, _, err = run_cli(exported_copy, "eval", "demo-q8_0")
    assert code == 2 and "no pairs in the eval split" in err
