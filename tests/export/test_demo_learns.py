"""The demo shows the loop working: `nastavnik train --preset demo` with its defaults, on the
sample pairs, teaches the demo base answers it never saw.

The demo base is pretrained on the sample questions only (core/train/demo_model.py), so its
greedy answers to the train questions score chrF ≈ 3 against the references; after one
default demo run (30 epochs, LoRA with the embeddings and the output head trained in full)
the exported GGUF answers them with chrF ≥ 40 — the summary mean `nastavnik eval` prints.
This is the user's demo model and the user's command, through export and llama.cpp: about
three minutes of this suite.
"""

from __future__ import annotations

import json

import pytest

from tests.export.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_learns"), pytest.mark.timeout(1500)]


def _chrf(home, *models: str) -> dict[str, float]:
    code, out, err = run_cli(home, "eval", *models, "--split", "train", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["pairs_used"] == "approved"
    return {s["model"]: s["chrf"] for s in report["summaries"] if s["pairs"] > 150}


def test_the_default_demo_run_learns_the_train_split_its_base_never_saw(tmp_path, shipped_demo_model, exported):
    from core.train.demo import import_sample
    from core.train.demo_model import pretraining_texts
    from core.workspace import Workspace

    home = tmp_path / "home"
    with Workspace.open(home).store() as store:
        assert import_sample(store) > 200
        store.add_model("base", "demo", str(shipped_demo_model), meta={"demo": True}, replace=True)
        answers = [p.answer for p in store.list_pairs(limit=None)]
    # the base was never shown an answer: no answer's text is in what it was pretrained on
    from transformers import AutoTokenizer

    from core.train.demo_model import load_corpus

    seen = "\n".join(pretraining_texts(AutoTokenizer.from_pretrained(str(shipped_demo_model)), load_corpus()))
    assert not [a for a in answers if a in seen]

    code, out, err = run_cli(home, "train", "--preset", "demo")  # its defaults; follows the run to the end
    assert code == 0, err + out
    with Workspace.open(home).store() as store:
        (run,) = store.list_runs(limit=5)
    assert run.status == "done" and run.config["epochs"] == 30 and "lm_head" in run.config["targets"]

    for source, name in ((str(run.id), "run-1"), (str(shipped_demo_model), "demo")):
        code, out, err = run_cli(home, "export", source, "--quant", "q8_0", "--no-parity", "--name", name)
        assert code == 0, err
    scores = _chrf(home, "run-1-q8_0", "demo-q8_0")
    assert scores["demo-q8_0"] < 10, scores  # the base does not know the answers
    assert scores["run-1-q8_0"] >= 40, scores  # the run taught them
