"""Which layers llama.cpp puts on the GPU: decided from plain facts, said when it matters."""

from __future__ import annotations

import json

import pytest

from core.infer.llamacpp import offload_plan
from tests.support.cli import run_cli

GiB = 2**30


@pytest.fixture
def gguf(exported):
    return next(f["path"] for f in exported["report"]["files"] if f["quant"] == "q8_0")


def test_no_gpu_means_no_offload_and_nothing_to_say(gguf):
    assert offload_plan(gguf, gpu_build=True, free_bytes=None) == offload_plan(gguf, gpu_build=False, free_bytes=None)
    plan = offload_plan(gguf, gpu_build=False, free_bytes=None)
    assert plan.layers == 0 and plan.note is None


def test_a_gpu_next_to_a_cpu_build_is_said_with_the_command_that_rebuilds_it(gguf):
    """`make install` is a no-op once installed (and skips CUDA without nvcc): the note names
    `make llama-cuda` and what it needs (tests/core/export/test_make_llama.py: what that target does)."""
    plan = offload_plan(gguf, gpu_build=False, free_bytes=20 * GiB)
    assert plan.layers == 0 and "built without CUDA" in plan.note
    assert "`make llama-cuda` rebuilds it with CUDA" in plan.note and "nvcc" in plan.note and "make install" not in plan.note


def test_everything_on_the_gpu_when_it_fits_and_nothing_while_training(gguf):
    assert offload_plan(gguf, gpu_build=True, free_bytes=20 * GiB).layers == -1
    busy = offload_plan(gguf, gpu_build=True, free_bytes=20 * GiB, training=True)
    assert busy.layers == 0 and "training run" in busy.note and "--gpu-layers" in busy.note


def test_a_model_too_big_for_the_free_memory_gets_the_layers_that_fit(tmp_path, gguf):
    from pathlib import Path

    from core.infer.gguf_meta import read_metadata

    meta = read_metadata(gguf, skip_arrays=True)
    blocks = meta[f"{meta['general.architecture']}.block_count"]
    size = Path(gguf).stat().st_size
    half = int(512 * 2**20 + size * 1.1 * 0.55)  # room for a bit more than half the weights after the context
    plan = offload_plan(gguf, gpu_build=True, free_bytes=half)
    assert plan.layers == blocks // 2 and f"{plan.layers} of {blocks} layers" in plan.note


def test_asked_layers_win_and_reach_llama_cpp(exported, gguf, monkeypatch):
    """`chat --gpu-layers N` is what load_llama gets as n_gpu_layers, in process and in the child."""
    import core.infer.llamacpp as lc
    from core.infer.runner import open_model

    assert offload_plan(gguf, requested=7, gpu_build=False, free_bytes=None).layers == 7
    seen = {}
    real = lc.load_llama

    def spy(path, **kw):
        seen.update(kw)
        return real(path, **kw)

    monkeypatch.setattr(lc, "load_llama", spy)
    monkeypatch.setattr("core.train.vram.gpus", lambda **kw: None)  # no GPU here: the CLI's model stays in process
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


# ---------------------------------------------------------------------------- off the GPU for real
#
# llama.cpp 0.3.36 with n_gpu_layers=0 alone still lists every GPU, opens a backend on each and
# sends batches of 32+ tokens to it (core.infer.llamacpp.NO_GPU_KWARGS cites the lines). What cannot run
# here is faked: the GPU nvidia-smi reports (core.train.vram.gpus), a training run holding it, and a
# CUDA build's llama_print_system_info. What llama.cpp receives is read from the real Llama's params.


def _fake_gpu(monkeypatch, free=20 * GiB, *, training=False):
    from core.store.runs import RunsMixin
    from core.train.vram import Gpu

    monkeypatch.setattr("core.train.vram.gpus", lambda **kw: [Gpu(0, "NVIDIA Fake 16GB", free, 16 * GiB)])
    monkeypatch.setattr(RunsMixin, "active_run", lambda self: object() if training else None)


def _params(llm) -> tuple:
    """What llama.cpp got: llama_model_params and llama_context_params as the Llama passed them."""
    return (llm.model_params.n_gpu_layers, llm.model_params.split_mode, llm.model_params.main_gpu,
            llm.context_params.op_offload)


def test_no_layer_on_the_gpu_means_no_gpu_device_for_llama_cpp(gguf, tmp_path):
    """0 layers (load_llama's default, so also the parity check's and the benches'): split_mode
    NONE with main_gpu -1 empties llama.cpp's device list (src/llama.cpp:289-291) and op_offload
    is off; any layer on the GPU leaves llama.cpp's defaults."""
    import llama_cpp

    from core.infer.llamacpp import load_llama

    log = tmp_path / "llama.log"
    for asked in ({}, {"n_gpu_layers": 0}):
        llm = load_llama(gguf, log_file=log, n_ctx=256, **asked)
        try:
            assert _params(llm) == (0, llama_cpp.LLAMA_SPLIT_MODE_NONE, -1, False)
        finally:
            llm.close()
    llm = load_llama(gguf, log_file=log, n_ctx=256, n_gpu_layers=-1)
    try:
        assert _params(llm) == (0x7FFFFFFF, llama_cpp.LLAMA_SPLIT_MODE_LAYER, 0, True)
    finally:
        llm.close()


def test_the_parity_check_keeps_llama_cpp_off_the_gpu(exported, gguf, tmp_path, monkeypatch):
    import llama_cpp

    from core.export.parity import parity_check

    seen = []
    real = llama_cpp.Llama

    class Spy(real):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            seen.append(_params(self))

    monkeypatch.setattr(llama_cpp, "Llama", Spy)
    report = parity_check(exported["demo"], {"q8_0": gguf}, ["Что такое эпоха?"], max_new_tokens=2,
                          log_file=tmp_path / "llama.log")
    assert report.answers and seen == [(0, llama_cpp.LLAMA_SPLIT_MODE_NONE, -1, False)]


def test_a_cuda_build_is_known_in_a_process_without_gpus(monkeypatch):
    """A child started with CUDA_VISIBLE_DEVICES="" sees no device: llama_supports_gpu_offload says
    no, but the CUDA backend is still registered, and llama_print_system_info lists it."""
    import llama_cpp

    from core.infer.llamacpp import gpu_supported

    assert gpu_supported(gpus_hidden=True) is False  # this CPU build lists only "CPU : …"
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: False)
    monkeypatch.setattr(llama_cpp, "llama_print_system_info",
                        lambda: b"CUDA : ARCHS = 890 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | CPU : SSE3 = 1 | AVX2 = 1 | ")
    assert gpu_supported() is False and gpu_supported(gpus_hidden=True) is True


def test_a_model_in_a_process_without_gpus_plans_and_loads_as_on_a_cuda_build(gguf, tmp_path, monkeypatch):
    """What the hidden child (core.infer.server.serve) does with the facts it is given, in process: on a
    CUDA build the training note, 0 layers, and no GPU device for llama.cpp."""
    import llama_cpp

    from core.infer.runner import LocalRunner, ModelRef

    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: False)
    monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda: b"CUDA : ARCHS = 890 | CPU : SSE3 = 1 | ")
    model = LocalRunner(ModelRef("q8", gguf, "q8"), log_file=tmp_path / "llama.log", n_ctx=256,
                       offload={"requested": None, "free_bytes": 20 * GiB, "training": True, "gpus_hidden": True})
    try:
        model.load()
        assert model.offload.layers == 0 and "training run" in model.offload.note
        assert _params(model.llm) == (0, llama_cpp.LLAMA_SPLIT_MODE_NONE, -1, False)
    finally:
        model.close()


def _spy_popen(monkeypatch) -> list:
    import subprocess

    started = []
    real = subprocess.Popen

    def spy(cmd, *a, **kw):
        started.append((cmd, kw.get("env")))
        return real(cmd, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", spy)
    return started


def _child_offload(started) -> tuple[dict, str | None]:
    (cmd, env), = [s for s in started if s[0][1:3] == ["-m", "core.infer.server"]]
    return json.loads(cmd[-1]), env.get("CUDA_VISIBLE_DEVICES")


def test_a_model_kept_off_the_gpu_runs_in_a_child_that_sees_no_gpu(exported, monkeypatch):
    """A training run holds the card: the app's model process (and the CLI's, which then leaves
    its own process) starts with CUDA_VISIBLE_DEVICES="" — no CUDA context, nothing on the card.
    With the card free it starts as before."""
    import os

    from core.infer.runner import LocalRunner, ChildRunner, open_model
    from core.infer.llamacpp import CPU_BUILD_NOTE
    from core.workspace import Workspace

    ws = Workspace.open(exported["home"])
    _fake_gpu(monkeypatch, training=True)
    started = _spy_popen(monkeypatch)
    for in_process in (False, True):
        model = open_model(ws, "demo-q8_0", in_process=in_process)
        assert isinstance(model, ChildRunner) and (model.n_threads is None) == in_process  # the CLI's: every core
        try:
            model.load()
            offload, visible = _child_offload(started)
            assert visible == "" and offload == {"requested": None, "free_bytes": 20 * GiB, "training": True, "gpus_hidden": True}
            # this CPU build says so in the hidden child too (a CUDA build: the previous test)
            assert model.offload.layers == 0 and model.offload.note == CPU_BUILD_NOTE
        finally:
            model.close()
        started.clear()

    _fake_gpu(monkeypatch, training=False)  # the card is free: all layers planned, the GPU visible
    model = open_model(ws, "demo-q8_0", in_process=False)
    try:
        model.load()
        offload, visible = _child_offload(started)
        assert "gpus_hidden" not in offload and visible == os.environ.get("CUDA_VISIBLE_DEVICES")
    finally:
        model.close()
    assert isinstance(open_model(ws, "demo-q8_0"), LocalRunner)


def test_asked_for_no_layer_the_cli_keeps_a_present_gpu_out(exported, monkeypatch):
    """`chat --gpu-layers 0` looks whether a GPU is here: then the model runs without one; on a
    machine without a GPU it stays in the CLI's process."""
    from core.infer.runner import LocalRunner, ChildRunner, open_model
    from core.workspace import Workspace

    ws = Workspace.open(exported["home"])
    _fake_gpu(monkeypatch)
    assert isinstance(open_model(ws, "demo-q8_0", gpu_layers=0), ChildRunner)
    assert isinstance(open_model(ws, "demo-q8_0", gpu_layers=-1), LocalRunner)
    monkeypatch.setattr("core.train.vram.gpus", lambda **kw: None)
    assert isinstance(open_model(ws, "demo-q8_0", gpu_layers=0), LocalRunner)


def test_eval_beside_a_training_run_answers_in_a_process_without_gpus(exported_copy, monkeypatch):
    from core.workspace import Workspace

    ws = Workspace.open(exported_copy)
    with ws.store() as store:
        store.add_pair("Что такое эпоха?", "Один проход по данным.", split="eval")
    _fake_gpu(monkeypatch, training=True)
    started = _spy_popen(monkeypatch)
    code, out, err = run_cli(exported_copy, "eval", "demo-q8_0", "--json", "-n", "2")
    assert code == 0, err
    assert json.loads(out)["summaries"][0]["answered_now"] == 1
    offload, visible = _child_offload(started)
    assert visible == "" and offload["gpus_hidden"] and offload["training"]


# ---------------------------------------------------------------------------- side by side


def test_side_by_side_chat_plans_each_model_after_the_one_before_loaded(exported, monkeypatch):
    """`nastavnik chat A B` on a card with room for one: A's load takes the free memory, so B's
    plan — read after A loaded — gets the layers that still fit, not "all layers"."""
    from pathlib import Path

    import core.infer.llamacpp as lc
    from core.infer.gguf_meta import read_metadata
    from core.train.vram import Gpu

    files = {f["quant"]: Path(f["path"]) for f in exported["report"]["files"]}
    f16 = files["f16"]
    meta = read_metadata(f16, skip_arrays=True)
    blocks = meta[f"{meta['general.architecture']}.block_count"]
    half = int(512 * 2**20 + f16.stat().st_size * 1.1 * 0.55)  # what A leaves: room for half of B's layers
    free = [20 * GiB]
    events = []

    def fake_gpus(**kw):
        events.append(("gpus", free[0]))
        return [Gpu(0, "NVIDIA Fake 16GB", free[0], 16 * GiB)]

    real = lc.load_llama

    def fake_load(path, **kw):
        llm = real(path, **kw)
        events.append(("load", Path(path).name, kw["n_gpu_layers"]))
        free[0] = half  # the loaded model holds the rest of the card
        return llm

    monkeypatch.setattr("core.train.vram.gpus", fake_gpus)
    monkeypatch.setattr(lc, "load_llama", fake_load)
    monkeypatch.setattr(lc, "gpu_supported", lambda **kw: True)  # a CUDA build
    code, out, err = run_cli(exported["home"], "chat", "demo-q8_0", "demo-f16", "-p", "Что такое эпоха?", "-n", "2", "--json")
    assert code == 0, err
    assert events == [("gpus", 20 * GiB), ("load", files["q8_0"].name, -1), ("gpus", half), ("load", f16.name, blocks // 2)]
    assert 0 < blocks // 2 < blocks and f"{blocks // 2} of {blocks} layers" in err
