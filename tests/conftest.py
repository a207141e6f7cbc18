"""Fixtures every test shares: a fresh workspace, its store, and the CLI run in-process."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO / "datasets"


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """An empty workspace folder; NASTAVNIK_HOME points at it."""
    h = tmp_path / "home"
    monkeypatch.setenv("NASTAVNIK_HOME", str(h))
    return h


@pytest.fixture
def store(home: Path):
    from core.workspace import Workspace

    s = Workspace.open(home).store()
    yield s
    s.close()


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(home: Path):
    """Run ``nastavnik --home HOME ARGS…`` in-process; returns exit code, stdout, stderr."""
    from tui.cli import main

    def run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["--home", str(home), *map(str, args)])
        return Result(code, out.getvalue(), err.getvalue())

    return run


# ---------------------------------------------------------------------------- demo model

DEMO_TEST_STEPS = 250  # cheaper than the workspace demo model; still answers in words


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The tiny demo Llama (tokenizer + safetensors), built once and cached on disk.

    Cached under ``.cache/test-demo-model/<fingerprint>`` (keyed by the builder's source,
    its parameters and the sample data), built under an fcntl lock so two xdist workers
    never build it twice. Treat the folder as read-only: copy it before changing it.
    """
    import fcntl
    import hashlib

    from core.train.demo_model import SAMPLE, build_demo_model, builder_fingerprint

    data_hash = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()[:12] if SAMPLE.exists() else "missing"
    key = builder_fingerprint(seed=0, steps=DEMO_TEST_STEPS, data=data_hash)
    root = Path(os.environ.get("NASTAVNIK_TEST_CACHE", REPO / ".cache" / "test-demo-model"))
    root.mkdir(parents=True, exist_ok=True)
    target = root / key
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / "model.safetensors").exists():
                build_demo_model(target, seed=0, steps=DEMO_TEST_STEPS)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target
