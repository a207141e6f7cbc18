"""How many CPU threads llama.cpp gets: every core (one fewer beside the app), unless
``$NASTAVNIK_THREADS`` says."""

from __future__ import annotations

import os

import pytest

from core.errors import UserError
from core.infer.llamacpp import load_llama, threads


def test_every_core_unless_the_environment_says(monkeypatch):
    monkeypatch.delenv("NASTAVNIK_THREADS", raising=False)
    assert threads() == max(1, os.cpu_count() or 1)
    monkeypatch.setenv("NASTAVNIK_THREADS", "3")
    assert threads() == 3


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_value_is_named_with_what_to_set(monkeypatch, value):
    monkeypatch.setenv("NASTAVNIK_THREADS", value)
    with pytest.raises(UserError) as e:
        threads()
    assert repr(value) in str(e.value) and "whole number" in e.value.hint


@pytest.mark.xdist_group("export")  # the export worker's session export, not a second one
def test_a_loaded_model_uses_them(monkeypatch, exported, tmp_path):
    gguf = next(f["path"] for f in exported["report"]["files"] if f["quant"] == "q8_0")
    monkeypatch.setenv("NASTAVNIK_THREADS", "3")
    llm = load_llama(gguf, log_file=tmp_path / "llama.log")
    try:
        assert (llm.n_threads, llm.n_threads_batch) == (3, 3)
    finally:
        llm.close()


def test_beside_the_app_one_core_is_left_for_the_screen(monkeypatch):
    monkeypatch.delenv("NASTAVNIK_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert (threads(), threads(beside_app=True)) == (2, 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert threads(beside_app=True) == 1  # never none
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert threads(beside_app=True) == 15
    monkeypatch.setenv("NASTAVNIK_THREADS", "4")  # what the user says wins
    assert threads(beside_app=True) == 4


def test_the_apps_models_get_the_threads_beside_it(monkeypatch, tmp_path):
    """The app's rooms open models with in_process=False: child processes with a core left."""
    from core.infer.runner import LocalRunner, ChildRunner, open_model
    from core.workspace import Workspace

    monkeypatch.delenv("NASTAVNIK_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    ws = Workspace.open(tmp_path / "home")
    app_model, cli_model = open_model(ws, str(gguf), in_process=False), open_model(ws, str(gguf))
    assert isinstance(app_model, ChildRunner) and app_model.n_threads == 3
    assert isinstance(cli_model, LocalRunner) and cli_model.n_threads is None  # load_llama: every core
