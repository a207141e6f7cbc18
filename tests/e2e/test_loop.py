"""The whole loop on the demo model, through the commands a person would type.

import the sample → approve → train a few steps → export Q8_0 → chat → eval → correct an
answer into a new pair → the pair is in the store with its provenance.
"""

from __future__ import annotations

import json

import pytest

from tests.support.paths import DATASETS
from tests.support.cli import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("export")]


def test_the_whole_loop(tmp_path, demo_model, llamacpp_cache):
    from core.store import PairFilter
    from core.train.runs import wait
    from core.workspace import Workspace

    home = tmp_path / "home"
    ws = Workspace.open(home)

    def ok(*args, stdin=None):
        code, out, err = run_cli(home, *args, stdin=stdin)
        assert code == 0, f"{args}: {err}"
        return out

    ok("pairs", "import", DATASETS / "sample_ru.jsonl")
    with ws.store() as store:
        ids = store.pair_ids(PairFilter())
        store.set_status(ids, "approved")
        evals = store.list_pairs(PairFilter(split="eval"), limit=3)
        # a small eval set keeps the test quick: the rest of the eval split moves to train
        store.set_split([p.id for p in store.list_pairs(PairFilter(split="eval"), limit=None)[3:]], "train")
    ok("models", "add", demo_model, "--name", "demo")
    run = json.loads(ok("train", "--base", "demo", "--steps", "3", "--batch-size", "2", "--grad-accum", "1",
                        "--max-seq-len", "256", "--json"))
    run = wait(ws, run["id"], timeout=600)
    assert run.status == "done", (run.status, run.error)

    report = json.loads(ok("export", str(run.id), "--quant", "q8_0", "--json"))
    assert report["run_id"] == run.id and report["parity"]["ok"], report["parity"]["warnings"]
    name = f"run-{run.id}-q8_0"
    with ws.store() as store:
        model = store.get_model(name)
        assert model.kind == "gguf" and model.run_id == run.id and model.dataset_sha256 == run.dataset_sha256
        assert model.base == "demo"
    listing = ok("models", "list", "--json")
    assert name in listing

    question = evals[0].question
    chat = json.loads(ok("chat", name, "-p", question, "--json", "-n", "48"))
    answer = chat["answers"][0]
    assert answer["text"].strip() and answer["tokens"] > 0

    result = json.loads(ok("eval", name, "--json", "-n", "24"))
    assert result["pairs_used"] == "approved" and len(result["rows"]) == 3
    assert all(0 <= r["cells"][name]["chrf"] <= 100 for r in result["rows"])

    corrected = "Правильный ответ, написанный наставником."
    saved = json.loads(ok("correct", answer["message_id"], "--answer", corrected, "--json"))
    eval_fix = json.loads(ok("correct", "--eval", evals[0].id, "--model", name, "--answer-file", "-", "--approve",
                             "--json", stdin="Эталонный ответ из оценки."))
    with ws.store() as store:
        stored = store.get_pair(saved["id"])
        assert stored.answer == corrected and stored.question == question
        assert stored.source == f"chat:{chat['conversation_id']}" and stored.status == "draft" and stored.split == "train"
        conv = store.get_conversation(chat["conversation_id"])
        assert conv.messages[-1].content == answer["text"] and conv.messages[-1].model == name
        fixed = store.get_pair(eval_fix["id"])
        assert fixed.source == f"eval:{evals[0].id}:{name}" and fixed.status == "approved"
        assert fixed.question == evals[0].question and fixed.answer == "Эталонный ответ из оценки."
