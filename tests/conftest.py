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
