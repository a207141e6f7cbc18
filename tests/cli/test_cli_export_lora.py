"""`nastavnik export RUN` as a user types it: a LoRA-only run becomes a GGUF LoRA on its base GGUF
(no merge), which chat and eval answer with; a background job keeps that choice; a run that trains
whole modules falls back to the full merge and says why.

The runs are trained through the CLI, two steps each: one on the Qwen 3 replica (core/train/replicas.py)
with the default targets (LoRA only), one on the demo model with the demo preset (its embeddings and
output head in full, as a user's demo runs train them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.workspace import Workspace
from tests.support.cli import run_cli
from tests.support.data import sample_pairs

pytestmark = [pytest.mark.slow]

TRAIN = ("--steps", "2", "--save-steps", "50", "--batch-size", "2", "--grad-accum", "1", "--max-seq-len", "96",
         "--backend", "hf", "--lr", "2e-2", "--json")


def _ok(home: Path, *args: str) -> str:
    r = run_cli(home, *args)
    assert r.code == 0, r.err + r.out
    return r.out


@pytest.fixture(scope="module")
def qwen_runs(tmp_path_factory, replica, demo_model, llamacpp_cache):
    """A workspace with a few approved pairs and two finished runs: 1 on the Qwen 3 replica ("qwen")
    with the default targets (LoRA only), 2 on the demo model ("demo") with the demo preset (modules_to_save)."""
    from core.train.runs import wait

    home = tmp_path_factory.mktemp("lora-cli") / "home"
    ws = Workspace.open(home)
    with ws.store() as store:
        for p in sample_pairs(4, 1):
            store.add_pair(p["question"], p["answer"], status="approved", split=p["split"])
    _ok(home, "models", "add", str(replica("qwen3")), "--name", "qwen")
    _ok(home, "models", "add", str(demo_model), "--name", "demo")
    ids = []
    for extra in (("--base", "qwen"), ("--base", "demo", "--preset", "demo")):
        started = json.loads(_ok(home, "train", *extra, *TRAIN))
        run = wait(ws, started["id"], timeout=900)
        assert run.status == "done", (run.status, run.error)
        ids.append(run.id)
    return {"home": home, "lora_run": ids[0], "full_run": ids[1]}


@pytest.fixture
def runs_home(qwen_runs, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(qwen_runs["home"], home)  # the runs' adapters stay where the module's workspace has them
    return home


def test_a_lora_run_is_exported_as_a_gguf_lora_by_default_and_chat_and_eval_answer_with_it(runs_home, qwen_runs):
    from core.export.jobs import cancel_job, chat_lineup, wait_job

    home, run = runs_home, qwen_runs["lora_run"]
    ws = Workspace.open(home)
    with ws.store() as store:  # export-and-chat: only the run is exported, its export makes the base GGUF
        assert chat_lineup(store, run, ws=ws).to_export == [str(run)]
    out = _ok(home, "export", str(run), "--no-parity")
    assert "the run's adapter as a GGUF LoRA" in out and "full merge" not in out
    folder = home / "exports" / f"run-{run}"
    assert not (folder / "merged").exists()  # no merge was written
    with ws.store() as store:
        model = store.get_model(f"run-{run}-q8_0")
        base = next(m for m in store.list_models(kind="gguf") if m.run_id is None and m.quant == "q8_0")
        lineup = chat_lineup(store, run, ws=ws)
    lora = Path(model.meta["lora"])
    assert lora.parent == folder and model.path == base.path and base.meta["lora_base"]
    assert lora.stat().st_size * 5 < Path(base.path).stat().st_size  # the adapter alone
    assert (lineup.base, lineup.tuned, lineup.to_export) == (base.name, model.name, [])  # beside the base it is on

    answer = json.loads(_ok(home, "chat", str(run), "-p", "Что такое эпоха?", "-n", "8", "--json"))["answers"][0]
    assert answer["model"] == f"run-{run}-q8_0" and answer["text"].strip()
    report = json.loads(_ok(home, "eval", f"run-{run}-q8_0", "--json"))
    (summary,) = report["summaries"]
    assert report["models"] == [f"run-{run}-q8_0"] and summary["answered_now"] == summary["pairs"] == 1

    # a background job keeps the choice: the run again as a GGUF LoRA, on the base GGUF made above
    job = json.loads(_ok(home, "export", str(run), "--detach", "--json", "--no-parity", "--name", "again"))
    assert job["how"] == "lora"
    done = wait_job(ws, job["id"], timeout=600)
    assert done.status == "done", done.error
    assert done.result["how"] == "lora" and "lora_refused" not in done.result and "base" not in done.result["seconds"]
    assert not (home / "exports" / "again" / "merged").exists()
    shown = _ok(home, "exports", "show", str(job["id"]))
    assert "the run's adapter as a GGUF LoRA" in shown
    # and --merged too (the worker then takes the full merge: the fallback's test sees one run to its end)
    merged = json.loads(_ok(home, "export", str(run), "--merged", "--detach", "--json", "--no-parity", "--name", "whole"))
    assert merged["how"] == "merged" and "the whole model" in _ok(home, "exports", "show", str(merged["id"]))
    assert cancel_job(ws, merged["id"]).status == "cancelled"


def test_a_run_that_trains_whole_modules_falls_back_to_the_merge_and_says_why(runs_home, qwen_runs):
    from core.export.lora import planned_refusal

    home, run = runs_home, qwen_runs["full_run"]
    ws = Workspace.open(home)
    is_run, refusal = planned_refusal(ws, str(run))  # what the Export dialog shows before it starts
    assert is_run and refusal is not None and refusal.code == "export.lora_full_modules"
    out = _ok(home, "export", str(run), "--no-parity")
    assert f"a full merge, not a LoRA export: {refusal.english}" in out and "lm_head" in out
    folder = home / "exports" / f"run-{run}"
    assert (folder / "merged" / "config.json").is_file()
    assert json.loads((folder / "export.json").read_text())["lora_refused"]["code"] == "export.lora_full_modules"
    with ws.store() as store:
        assert "lora" not in store.get_model(f"run-{run}-q8_0").meta
    assert planned_refusal(ws, "demo") == (False, None)  # a whole model: merged, with nothing to say about LoRA
