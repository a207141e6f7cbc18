"""Which layers llama.cpp puts on the GPU: decided from plain facts, said when it matters."""

from __future__ import annotations

import pytest

from core.llamacpp import offload_plan

GiB = 2**30


@pytest.fixture
def gguf(exported):
    return next(f["path"] for f in exported["report"]["files"] if f["quant"] == "q8_0")


def test_no_gpu_means_no_offload_and_nothing_to_say(gguf):
    assert offload_plan(gguf, gpu_build=True, free_bytes=None) == offload_plan(gguf, gpu_build=False, free_bytes=None)
    plan = offload_plan(gguf, gpu_build=False, free_bytes=None)
    assert plan.layers == 0 and plan.note is None


def test_a_gpu_next_to_a_cpu_build_is_said(gguf):
    plan = offload_plan(gguf, gpu_build=False, free_bytes=20 * GiB)
    assert plan.layers == 0 and "built without CUDA" in plan.note and "make install" in plan.note


def test_everything_on_the_gpu_when_it_fits_and_nothing_while_training(gguf):
    assert offload_plan(gguf, gpu_build=True, free_bytes=20 * GiB).layers == -1
    busy = offload_plan(gguf, gpu_build=True, free_bytes=20 * GiB, training=True)
    assert busy.layers == 0 and "training run" in busy.note and "--gpu-layers" in busy.note


def test_a_model_too_big_for_the_free_memory_gets_the_layers_that_fit(tmp_path, gguf):
    from pathlib import Path

    from core.gguf_meta import read_metadata

    meta = read_metadata(gguf, skip_arrays=True)
    blocks = meta[f"{meta['general.architecture']}.block_count"]
    size = Path(gguf).stat().st_size
    half = int(512 * 2**20 + size * 1.1 * 0.55)  # room for a bit more than half the weights after the context
    plan = offload_plan(gguf, gpu_build=True, free_bytes=half)
    assert plan.layers == blocks // 2 and f"{plan.layers} of {blocks} layers" in plan.note


def test_asked_layers_win_and_reach_llama_cpp(exported, gguf, monkeypatch):
    """`chat --gpu-layers N` is what load_llama gets as n_gpu_layers, in process and in the child."""
    import core.llamacpp as lc
    from core.chat import open_model

    assert offload_plan(gguf, requested=7, gpu_build=False, free_bytes=None).layers == 7
    seen = {}
    real = lc.load_llama

    def spy(path, **kw):
        seen.update(kw)
        return real(path, **kw)

    monkeypatch.setattr(lc, "load_llama", spy)
    from core.workspace import Workspace

    model = open_model(Workspace.open(exported["home"]), "demo-q8_0", gpu_layers=0)
    try:
        model.load()
        assert seen["n_gpu_layers"] == 0 and model.offload.layers == 0
    finally:
        model.close()
    child = open_model(Workspace.open(exported["home"]), "demo-q8_0", in_process=False, gpu_layers=0)
    try:
        child.load()
        assert child.offload is not None and child.offload.layers == 0  # decided in the model's own process
    finally:
        child.close()
