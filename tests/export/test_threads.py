"""How many CPU threads llama.cpp gets: every core, unless ``$NASTAVNIK_THREADS`` says fewer."""

from __future__ import annotations

import os

import pytest

from core.errors import UserError
from core.llamacpp import load_llama, threads


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
