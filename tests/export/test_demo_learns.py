"""The demo shows the loop working: `nastavnik train --preset demo` with its defaults, on the
sample pairs, teaches the demo base answers it never saw.

The demo base is pretrained on the sample questions only (core/train/demo_model.py), so its
greedy answers to the train questions score chrF ≈ 3 against the references; after one
default demo run (30 epochs, LoRA with the embeddings and the output head trained in full)
the exported GGUF answers them with chrF ≥ 40 — the summary mean `nastavnik eval` prints.
The user's demo model and commands, through export and llama.cpp; one trained and exported
demo per test session. (A corrected answer trained again does not yet reach chrF 60: the run
memorises 58 of 197 answers to chrF ≥ 60, and one corrected question measured 18.)
"""

from __future__ import annotations

import json

import pytest

from tests.export.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_learns"), pytest.mark.timeout(1800)]

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
    assert run.status == "done" and run.config["epochs"] == 30 and "lm_head" in run.config["targets"], run
    code, out, err = run_cli(home, "export", str(run.id), "--quant", "q8_0", "--no-parity", "--name", name)
    assert code == 0, err
    return run.id


@pytest.fixture(scope="session")
def taught(tmp_path_factory, shipped_demo_model, exported):
    """The sample pairs, the demo base as a user gets it, one default demo run; both exported
    and evaluated on the train split (the `exported` fixture has fetched the converter)."""
    from core.train.demo import import_sample
    from core.workspace import Workspace

    home = tmp_path_factory.mktemp("demo-learns") / "home"
    with Workspace.open(home).store() as store:
        assert import_sample(store) > 200
        store.add_model("base", "demo", str(shipped_demo_model), meta={"demo": True}, replace=True)
    _train_and_export(home, "run-1")
    code, out, err = run_cli(home, "export", str(shipped_demo_model), "--quant", "q8_0", "--no-parity", "--name", "demo")
    assert code == 0, err
    report = _eval(home, "run-1-q8_0", "demo-q8_0")
    return {"home": home, "report": report}


def test_the_default_demo_run_learns_the_train_split_its_base_never_saw(taught, shipped_demo_model):
    from transformers import AutoTokenizer

    from core.train.demo_model import load_corpus, pretraining_texts

    # the base was never shown an answer: no answer's text is in what it was pretrained on
    seen = "\n".join(pretraining_texts(AutoTokenizer.from_pretrained(str(shipped_demo_model)), load_corpus()))
    answers = [conv[-1]["content"] for conv in load_corpus()]
    assert not [a for a in answers if a in seen]

    report = taught["report"]
    assert report["pairs_used"] == "approved"
    scores = {s["model"]: s["chrf"] for s in report["summaries"]}
    assert all(s["pairs"] > 150 for s in report["summaries"]), report["summaries"]
    assert scores["demo-q8_0"] < 10, scores  # the base does not know the answers
    assert scores["run-1-q8_0"] >= 40, scores  # the run taught them

