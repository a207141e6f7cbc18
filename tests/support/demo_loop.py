"""The demo loop as a user runs it, shared by the tests that need a taught model: the sample
pairs, the demo base, a correction made in Chat, one default demo run, both exported (the
`taught` fixture in tests/conftest.py builds it once per session). The run answers the train
split nearly word for word and the corrected question with the correction; the base knows
neither (tests/e2e/test_demo_learns.py asserts both, on every CPU kernel path: docs/numerics.md)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run_cli

# the correction a user writes in Chat for one train question: two sentences, other words than
# the sample's own answer to it (and sharing words with the answers next to it: «эпох», «LoRA»)
CORRECTED_QUESTION = "Что такое эпоха?"
CORRECTION = ("Эпоха — это один полный проход модели по всему обучающему набору. "
              "Для LoRA на паре сотен примеров обычно хватает трёх эпох.")
BASE, RUN = "demo-q8_0", "run-1-q8_0"  # the exported base and the exported run, as Chat lists them


def eval_report(home: Path, *models: str, split: str = "train") -> dict:
    """``nastavnik eval MODELS --split SPLIT --json``, parsed."""
    code, out, err = run_cli(home, "eval", *models, "--split", split, "--json")
    assert code == 0, err
    return json.loads(out)


def train_and_export(home: Path, name: str) -> int:
    """One default demo run (`nastavnik train --preset demo`, followed to its end), exported as
    ``NAME-q8_0``; its run id."""
    code, out, err = run_cli(home, "train", "--preset", "demo")
    assert code == 0, err + out
    from core.workspace import Workspace

    with Workspace.open(home).store() as store:
        run = store.list_runs(limit=1)[0]
    assert run.status == "done" and run.config["epochs"] == 36 and "lm_head" in run.config["targets"], run
    code, out, err = run_cli(home, "export", str(run.id), "--quant", "q8_0", "--no-parity", "--name", name)
    assert code == 0, err
    return run.id
