"""Shared by the export/chat/eval tests: one converter cache and one exported demo model.

The llama.cpp converter is fetched through pip once into ``.cache/`` at the repo root (the
same ignored folder the demo model is cached in), not into a temporary folder, so a CI
machine pays for the download once. The demo base model is exported once per session
(``nastavnik export DEMO --quant q8_0,f16``) into a session workspace; tests that change
that workspace copy what they need first.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("NASTAVNIK_LLAMACPP_CACHE", REPO / ".cache"))


@pytest.fixture(scope="session", autouse=True)
def llamacpp_cache():
    """Point the converter cache outside tmp (shared across sessions and workers)."""
    old = os.environ.get("NASTAVNIK_LLAMACPP_CACHE")
    os.environ["NASTAVNIK_LLAMACPP_CACHE"] = str(CACHE)
    CACHE.mkdir(parents=True, exist_ok=True)
    yield CACHE
    if old is None:
        os.environ.pop("NASTAVNIK_LLAMACPP_CACHE", None)
    else:
        os.environ["NASTAVNIK_LLAMACPP_CACHE"] = old


def run_cli(home: Path, *args: str, stdin: str | None = None):
    """``nastavnik --home HOME ARGS…`` in-process → (code, stdout, stderr)."""
    import sys

    from tui.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["--home", str(home), *map(str, args)])
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def exported(tmp_path_factory, demo_model, llamacpp_cache):
    """A workspace with the demo base exported to Q8_0 and F16 through the CLI."""
    import fcntl

    home = tmp_path_factory.mktemp("export-home")
    with open(CACHE / "converter.lock", "w") as lock:  # two workers fetch the converter once
        fcntl.flock(lock, fcntl.LOCK_EX)
        from core.infer.llamacpp import converter_dir

        converter_dir(CACHE)
        fcntl.flock(lock, fcntl.LOCK_UN)
    code, out, err = run_cli(home, "export", demo_model, "--quant", "q8_0,f16", "--name", "demo", "--json")
    assert code == 0, err
    return {"home": home, "report": json.loads(out), "stderr": err, "demo": demo_model}


@pytest.fixture
def exported_copy(exported, tmp_path):
    """A private copy of the exported workspace, for tests that write to it."""
    home = tmp_path / "home"
    shutil.copytree(exported["home"], home)
    # the copy's registered paths still point into the session workspace: fine for reading
    return home
