"""The demo shows the loop working: `nastavnik train --preset demo` with its defaults, on the
sample pairs, teaches the demo base answers it never saw, and a correction made in Chat.

The demo base is pretrained on the sample questions only (core/train/demo_model.py), so its
greedy answers to the train questions score chrF ≈ 3 against the references. The user asks
the base one train question in Chat, corrects its answer (replacing that pair's answer, as the
app offers, and approving it), and runs one default demo run (36 epochs, batches of 8 grouped
by length, LoRA with the embeddings and the output head trained in full): the exported GGUF
answers the train split with chrF ≥ 85 and the corrected question with chrF ≥ 90 against the
correction — the summary means `nastavnik eval` prints. Measured on every CPU kernel path
(default, avx2, avx512), at one and two threads, with three seeds: 98.0–99.7 on the train split,
100 on the correction (docs/numerics.md); the 4-head base this replaced gave 43–87 and 7–100.

One run serves both numbers (the suite's time budget): the base stands in for the model the
user corrects, which changes nothing the run sees — the corrected pair and the others. The
app's wiring of the same loop (Train → Export → Chat → `e` → Train) is tests/e2e/test_tmux_loop.py.
"""

from __future__ import annotations

import json

import pytest

from tests.support.cli import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_learns"), pytest.mark.timeout(1800), pytest.mark.learning]

def _eval(home, *models: str, split: str = "train") -> dict:
    code, out, err = run_cli(home, "eval", *models, "--split", split, "--json")
    assert code == 0, err
    return json.loads(out)


def _train_and_export(home, name: str) -> int:
    code, out, err = run_cli(home, "train", "--preset", "demo")  # its defaults; follows the run to the end
    assert code == 0, err + out
    from core.workspace import Workspace

    with Workspace.open(home).store() as store:
        run = store.list_runs(limit=1)[0]
    assert run.status == "done" and run.config["epochs"] == 36 and "lm_head" in run.config["targets"], run
    code, out, err = run_cli(home, "export", str(run.id), "--quant", "q8_0", "--no-parity", "--name", name)
    assert code == 0, err
    return run.id


# the correction a user writes in Chat for one train question: two sentences, other words than
# the sample's own answer to it (and sharing words with the answers next to it: «эпох», «LoRA»)
CORRECTED_QUESTION = "Что такое эпоха?"
CORRECTION = ("Эпоха — это один полный проход модели по всему обучающему набору. "
              "Для LoRA на паре сотен примеров обычно хватает трёх эпох.")


@pytest.fixture(scope="session")
def taught(tmp_path_factory, shipped_demo_model, exported):
    """The sample pairs and the demo base as a user gets them; the user asks the base one train
    question in Chat and corrects its answer (replacing that pair's answer, approved), then one
    default demo run; both models exported and evaluated on the train split and on the corrected
    pair (the `exported` fixture has fetched the converter)."""
    from core.loop.corrections import pair_to_replace
    from core.train.demo import import_sample
    from core.workspace import Workspace

    home = tmp_path_factory.mktemp("demo-learns") / "home"
    with Workspace.open(home).store() as store:
        assert import_sample(store) > 200
        store.add_model("base", "demo", str(shipped_demo_model), meta={"demo": True}, replace=True)
    code, out, err = run_cli(home, "export", str(shipped_demo_model), "--quant", "q8_0", "--no-parity", "--name", "demo")
    assert code == 0, err
    code, out, err = run_cli(home, "chat", "demo-q8_0", "-p", CORRECTED_QUESTION, "--json")
    assert code == 0, err
    answer = json.loads(out)["answers"][0]
    with Workspace.open(home).store() as store:
        original = pair_to_replace(store, CORRECTED_QUESTION)  # what the app offers to replace
        assert original is not None and original.answer != CORRECTION
    code, out, err = run_cli(home, "correct", str(answer["message_id"]), "--answer", CORRECTION,
                             "--replace", str(original.id), "--approve")
    assert code == 0, err
    _train_and_export(home, "run-1")
    return {"home": home, "base_answer": answer["text"], "pair": original.id,
            "train": _eval(home, "run-1-q8_0", "demo-q8_0"), "corrected": _eval(home, "run-1-q8_0", "demo-q8_0", split="corrected")}


def test_the_default_demo_run_learns_the_train_split_its_base_never_saw(taught, shipped_demo_model):
    from transformers import AutoTokenizer

    from core.train.demo_model import load_corpus, pretraining_texts

    # the base was never shown an answer: no answer's text is in what it was pretrained on
    seen = "\n".join(pretraining_texts(AutoTokenizer.from_pretrained(str(shipped_demo_model)), load_corpus()))
    answers = [conv[-1]["content"] for conv in load_corpus()]
    assert not [a for a in answers if a in seen]

    report = taught["train"]
    assert report["pairs_used"] == "approved"
    scores = {s["model"]: s["chrf"] for s in report["summaries"]}
    assert all(s["pairs"] > 150 for s in report["summaries"]), report["summaries"]
    assert scores["demo-q8_0"] < 10, scores  # the base does not know the answers
    assert scores["run-1-q8_0"] >= 85, scores  # the run taught them, nearly word for word


def test_a_correction_made_in_chat_is_learnt_by_the_next_default_run(taught):
    from core.workspace import Workspace

    with Workspace.open(taught["home"]).store() as store:
        pair = store.get_pair(taught["pair"])
        assert pair.answer == CORRECTION and pair.status == "approved" and pair.split == "train"
        assert [p.id for p in store.list_pairs(limit=None) if p.question == CORRECTED_QUESTION] == [pair.id]  # replaced, not added
    report = taught["corrected"]
    assert [row["question"] for row in report["rows"]] == [CORRECTED_QUESTION], report["rows"]
    scores = {s["model"]: s["chrf"] for s in report["summaries"]}
    assert scores["demo-q8_0"] < 20, (scores, taught["base_answer"])  # the base did not know it
    assert scores["run-1-q8_0"] >= 90, (scores, report["rows"])  # the run learnt the correction
