"""Checkpoints chosen by their answers, on the demo model through the CLI: a run with evaluation
steps stores the chrF of its answers per evaluation and its best checkpoint; an early-stopped run
ends where its metric stopped improving; export takes the best or a numbered checkpoint, and
the exported model is that checkpoint (its answers, its logits), not the run's last weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("train_runs")]

FAST = ("--batch-size", "2", "--grad-accum", "1", "--max-seq-len", "96", "--backend", "hf", "--save-steps", "50")
PROMPT = "<s><start_of_turn>user\nЧто такое LoRA?<end_of_turn>\n<start_of_turn>model\n"


def _logits(base: Path, adapter: Path | None = None, merged: Path | None = None):
    """The demo model's logits on one prompt: the base with ``adapter`` on it, or a merged folder."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from core.train.demo_model import load_tokenizer

    tok = load_tokenizer(str(base))
    ids = tok(PROMPT, add_special_tokens=False, return_tensors="pt")["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(str(merged or base))
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter))
    with torch.no_grad():
        return model(ids).logits


def _answers(merged: Path, questions: list[list[dict]]) -> list[str]:
    """Greedy answers of a merged folder, asked as the run asked them at its evaluations."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.train.answer_eval import answer, prompt_ids

    tok = AutoTokenizer.from_pretrained(str(merged))
    model = AutoModelForCausalLM.from_pretrained(str(merged))
    model.eval()
    template = (merged / "chat_template.jinja").read_text(encoding="utf-8")
    return [answer(model, tok, prompt_ids(tok, template, messages)) for messages in questions]


def test_a_run_with_evaluation_steps_keeps_its_best_checkpoint_and_exports_it(train_home, cli, demo_model, llamacpp_cache):
    r = cli("train", "--base", "demo", "--steps", "4", "--eval-steps", "2", "--answer-eval-max", "2", "--lr", "2e-2", *FAST)
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done" and show["steps"] == 4
    scored = [(m["step"], m["chrf"]) for m in show["metrics"] if m["chrf"] is not None]
    assert [s for s, _ in scored] == [2, 4]  # one chrF per evaluation, beside its eval loss
    assert all(m["eval_loss"] is not None for m in show["metrics"] if m["step"] in (2, 4))
    evals = show["evals"]
    assert [e["step"] for e in evals] == [2, 4] and all(len(e["answers"]) == 2 for e in evals)
    for e, (_, chrf) in zip(evals, scored):
        assert e["chrf"] == chrf == round(sum(a["chrf"] for a in e["answers"]) / 2, 2)
    best = 4 if scored[1][1] > scored[0][1] else 2  # an equal later score is no improvement
    assert show["best_step"] == best and show["best_value"] == dict(scored)[best]
    assert show["checkpoints"] == [2, 4]  # the best and the last (here: every one there was)
    other = 6 - best
    run_dir = train_home / "runs" / "1"
    for step in (2, 4):
        folder = run_dir / "checkpoints" / f"checkpoint-{step}"
        assert json.loads((folder / "nastavnik_run.json").read_text())["model_class"] == "LlamaForCausalLM"
        assert (folder / "tokenizer.json").read_bytes() == (Path(demo_model) / "tokenizer.json").read_bytes()

    r = cli("export", "1", "--checkpoint", "best", "--merged", "--quant", "f16", "--json")  # the merge's logits below
    assert r.code == 0, r.err
    report = r.json()
    assert report["name"] == f"run-1-step{best}" and report["source"] == "1@best" and report["parity"]["ok"], report["parity"]
    merged = Path(report["merged_dir"])
    # registered under the run's id, marked as its checkpoint: the run's model is still to be exported
    from core.export.jobs import chat_lineup
    from core.workspace import Workspace

    with Workspace.open(train_home).store() as store:
        assert [m.checkpoint for m in store.list_models(kind="gguf") if m.run_id == 1] == [best]
        assert chat_lineup(store, 1).tuned is None and chat_lineup(store, 1).to_export[-1] == "1"
    # the exported model is the best checkpoint: its logits, not the other checkpoint's, and the
    # answers the run itself gave at that evaluation
    exported = _logits(demo_model, merged=merged)
    assert (exported - _logits(demo_model, run_dir / "checkpoints" / f"checkpoint-{best}")).abs().max() < 1e-3
    assert (exported - _logits(demo_model, run_dir / "checkpoints" / f"checkpoint-{other}")).abs().max() > 0.1
    snapshot = [json.loads(line) for line in (run_dir / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    asked = {rec["pair_id"]: rec["messages"][:-1] for rec in snapshot if rec["split"] == "eval"}
    at_best = next(e for e in evals if e["step"] == best)["answers"]
    assert _answers(merged, [asked[a["pair_id"]] for a in at_best]) == [a["answer"] for a in at_best]

    # a numbered checkpoint: the merge reads that folder's adapter
    from core.export import merge, resolve_source

    source = resolve_source(Workspace.open(train_home), f"1@{other}")
    assert source.adapter_dir == run_dir / "checkpoints" / f"checkpoint-{other}" and source.name == f"run-1-step{other}"
    folder = merge(source, train_home / "merged-other")
    assert (_logits(demo_model, merged=folder) - _logits(demo_model, source.adapter_dir)).abs().max() < 1e-3
    missing = cli("export", "1", "--checkpoint", "3")
    assert missing.code != 0 and "no checkpoint at step 3 (on disk: 2, 4)" in missing.err


def test_an_early_stopped_run_ends_patience_evaluations_after_its_best(train_home, cli):
    """At a learning rate of 1e-9 the greedy answers cannot change: every chrF equals the first,
    which stays the best, and with patience 2 the run stops at its third evaluation."""
    r = cli("train", "--base", "demo", "--steps", "10", "--eval-steps", "1", "--answer-eval-max", "1",
            "--early-stop-patience", "2", "--lr", "1e-9", *FAST)
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done" and show["steps"] == 3 and show["max_steps"] == 10
    chrfs = [(m["step"], m["chrf"]) for m in show["metrics"] if m["chrf"] is not None]
    assert [s for s, _ in chrfs] == [1, 2, 3] and len({v for _, v in chrfs}) == 1
    assert show["best_step"] == 1 and show["checkpoints"] == [1, 3]
    assert "no better evaluation since step 1: stopping early" in cli("runs", "logs", "1").out
    from core.export import resolve_source
    from core.workspace import Workspace

    source = resolve_source(Workspace.open(train_home), "1@best")  # the best, not the last weights
    assert source.adapter_dir == train_home / "runs" / "1" / "checkpoints" / "checkpoint-1" and source.name == "run-1-step1"


def test_a_run_with_a_judge_stores_its_mean_score_per_evaluation_and_picks_the_best_by_it(train_home, cli, exported):
    """The demo base's GGUF as the judge: its scores are noise, so what is asserted is the
    mechanism — a 1–5 score per answer and their mean per evaluation, beside chrF, and the best
    checkpoint chosen by that mean (a later equal mean is no improvement)."""
    judge = next(f["path"] for f in exported["report"]["files"] if f["quant"] == "q8_0")
    r = cli("train", "--base", "demo", "--steps", "4", "--eval-steps", "2", "--answer-eval-max", "2", "--lr", "2e-2",
            "--judge", judge, "--best-metric", "judge", *FAST)
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done" and show["config"]["judge"] == judge
    judged = [(m["step"], m["judge"]) for m in show["metrics"] if m["judge"] is not None]
    assert [s for s, _ in judged] == [2, 4] and all(1 <= v <= 5 for _, v in judged), judged
    for e, (_, mean) in zip(show["evals"], judged):
        scores = [a["judge"] for a in e["answers"]]
        assert all(s in (1, 2, 3, 4, 5) for s in scores) and e["judge"] == mean == round(sum(scores) / len(scores), 2)
        assert e["judge_s"] > 0 and all(a["judge_reply"].startswith("Оценка: ") for a in e["answers"])
    best = 4 if judged[1][1] > judged[0][1] else 2
    assert show["best_step"] == best and show["best_value"] == dict(judged)[best]
    log = cli("runs", "logs", "1").out
    assert "judge: " in log and f"best so far (judge {dict(judged)[2]:.4g})" in log
    text = cli("runs", "show", "1").out
    header = next(line for line in text.splitlines() if "eval_loss" in line and "chrF" in line)
    assert header.split()[-1] == "judge"  # the metrics table has the judge's column
    print("judge seconds per evaluation:", [e["judge_s"] for e in show["evals"]],
          "answers:", [e["answer_eval_s"] for e in show["evals"]])
