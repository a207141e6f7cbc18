"""Shared setup for the training tests: a workspace with approved sample pairs and the demo model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "sample_ru.jsonl"


def sample_pairs(n_train: int, n_eval: int) -> list[dict]:
    train, evals = [], []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        msgs = rec["messages"]
        if len(msgs) != 2:
            continue
        pair = {"question": msgs[0]["content"], "answer": msgs[1]["content"], "split": rec.get("split", "train")}
        (evals if pair["split"] == "eval" else train).append(pair)
    return train[:n_train] + evals[:n_eval]


def fill_home(store, cli, demo_model, n_train: int, n_eval: int) -> None:
    for p in sample_pairs(n_train, n_eval):
        store.add_pair(p["question"], p["answer"], status="approved", split=p["split"])
    store.add_pair("Черновик без одобрения", "Не должен попасть в обучение", status="draft")
    r = cli("models", "add", str(demo_model), "--name", "demo")
    assert r.code == 0, r.err


@pytest.fixture
def train_home(home, store, demo_model, cli):
    """A workspace with 8 approved train pairs, 2 eval pairs and the demo model as base "demo"."""
    fill_home(store, cli, demo_model, 8, 2)
    return home


@pytest.fixture
def small_home(home, store, demo_model, cli):
    """4 approved train pairs and 1 eval pair: few enough that a short run clearly learns them."""
    fill_home(store, cli, demo_model, 4, 1)
    return home


def wait_for(predicate, timeout: float = 300.0, poll: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def run_state(home: Path, run_id: int):
    """The run as the store sees it now (after the liveness check), or None before it exists."""
    from core.train.runs import refresh
    from core.workspace import Workspace

    with Workspace.open(home).store() as s:
        refresh(s)
        return s.find_run(run_id)
