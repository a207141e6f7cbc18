"""The parity check runs on the GPU when the card has room for it, and says so when it does not.

This machine has no GPU: the tests play one by replacing ``torch.cuda.is_available`` and
``torch.cuda.mem_get_info`` (what the plan asks the driver), and assert what the check asks
transformers and torch for — the real loading then happens on the CPU."""

from __future__ import annotations

import pytest

GB = 10**9


def _fake_gpu(monkeypatch, free: int | None, total: int = 16 * GB) -> list:
    """A CUDA device 0 with ``free`` bytes free (None: no device); the devices the plan asked about."""
    import torch

    asked: list = []

    def mem_get_info(device=None):
        asked.append(device)
        return free, total

    monkeypatch.setattr(torch.cuda, "is_available", lambda: free is not None)
    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    return asked


def test_the_plan_takes_the_gpu_when_it_has_room_else_says_why_the_cpu(replica, monkeypatch):
    from core.export.parity import GPU_MARGIN, _tensor_bytes, parity_memory_plan
    from core.export.preflight import FIXED_RAM, SPARE

    base = replica("qwen3")
    model = sum(_tensor_bytes(base))
    gpu_need = model + GPU_MARGIN
    plenty = 10**15
    later = "`nastavnik export X`"

    asked = _fake_gpu(monkeypatch, gpu_need)  # exactly enough, a training run's share already taken
    plan = parity_memory_plan(base, later, plenty)
    assert plan.mode == "gpu" and asked == [0]
    assert (plan.gpu_need, plan.gpu_free) == (gpu_need, gpu_need)
    assert plan.line == (f"the parity check holds the HF model on the GPU: it needs {gpu_need / GB:.1f} GB, "
                         f"the GPU has {gpu_need / GB:.1f} GB free")

    _fake_gpu(monkeypatch, gpu_need - 1)  # one byte short: the CPU, and the line says why
    plan = parity_memory_plan(base, later, plenty)
    assert plan.mode == "ram" and plan.line is not None
    assert plan.line.startswith(f"the GPU has {(gpu_need - 1) / GB:.1f} GB free, the check needs {gpu_need / GB:.1f} GB "
                                "there: on the CPU, holding the HF model in RAM")

    # the GPU too busy and RAM for three quarters of the model: offloaded, both said
    room = int((FIXED_RAM + 0.75 * model) / (1 - SPARE)) + 1
    plan = parity_memory_plan(base, later, room)
    assert plan.mode == "offload" and plan.budget is not None and plan.line is not None
    assert plan.line.startswith("the GPU has ") and "reads the rest from the merged folder" in plan.line
    # a check that cannot be offloaded (a LoRA export's unmerged base + adapter) is skipped there instead
    assert parity_memory_plan(base, later, room, offload=False).mode == "skip"

    plan = parity_memory_plan(base, later, GB // 10)  # neither: skipped, with the GPU's figures and how to run it later
    assert plan.mode == "skip" and plan.line is not None and plan.line.startswith("parity check skipped")
    assert f"the GPU has {(gpu_need - 1) / GB:.1f} GB free of the {gpu_need / GB:.1f} GB it needs there" in plan.line
    assert plan.line.endswith(later)

    asked = _fake_gpu(monkeypatch, None)  # no GPU: as before, nothing said about one
    assert asked == []
    plan = parity_memory_plan(base, later, plenty)
    assert (plan.mode, plan.line, plan.gpu_free) == ("ram", None, None)
    assert parity_memory_plan(base, later, room).line.startswith("the parity check's HF model needs")  # type: ignore[union-attr]

    import torch

    def broken(device=None):
        raise RuntimeError("CUDA error: no CUDA-capable device is detected")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", broken)  # a device listed but not opened: the CPU
    assert parity_memory_plan(base, later, plenty).mode == "ram"


def test_on_the_gpu_the_check_loads_the_model_on_device_0(replica, monkeypatch):
    """The merged export's HF model is asked for with ``device_map={"": 0}`` in its own dtype; a LoRA
    export's given model is moved with ``.to("cuda:0")``. The real load goes to the CPU here."""
    from transformers import AutoModelForCausalLM

    from core.export.merge import checkpoint_dtype
    from core.export.parity import parity_check

    base = replica("qwen3")
    real = AutoModelForCausalLM.from_pretrained
    asked: list[dict] = []
    loaded: list = []

    def spy(path, **kwargs):
        asked.append(kwargs)
        model = real(path, **{**kwargs, "device_map": {"": "cpu"}})  # what torch can honour on this machine
        loaded.append(model)
        return model

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    report = parity_check(base, {}, ["Что такое эпоха?"], max_new_tokens=2, on_gpu=True)
    assert asked == [{"dtype": checkpoint_dtype(base), "device_map": {"": 0}}]
    assert report.answers == [] and report.mismatches == []  # no GGUF given: only the HF side ran

    asked.clear()
    parity_check(base, {}, ["Что такое эпоха?"], max_new_tokens=2)  # on the CPU: no device map, as before
    assert asked == [{"dtype": checkpoint_dtype(base)}]

    given = loaded[0]
    moved: list = []

    def to(*args, **kwargs):
        moved.append((args, kwargs))
        return given

    given.to = to
    parity_check(base, {}, ["Что такое эпоха?"], max_new_tokens=2, model=given, on_gpu=True)
    assert moved == [(("cuda:0",), {})]
    moved.clear()
    parity_check(base, {}, ["Что такое эпоха?"], max_new_tokens=2, model=given)
    assert moved == []


def test_every_tensor_the_hf_side_makes_is_on_the_models_device(monkeypatch):
    """The prompt ids, the attention mask and the logit-gap prefix are made on ``model.device`` (a CUDA
    device for the check on the GPU): recorded here as torch is asked, and built on the CPU."""
    import torch

    from core.export.parity import _logit_gap, hf_greedy

    cuda = torch.device("cuda", 0)
    made: list = []
    real_tensor, real_ones = torch.tensor, torch.ones

    def tensor(data, *args, device=None, **kwargs):
        made.append(("tensor", device))
        return real_tensor(data, *args, **kwargs)

    def ones(*size, device=None, **kwargs):
        made.append(("ones", device))
        return real_ones(*size, **kwargs)

    class OnCuda:
        device = cuda

        def generate(self, input_ids, attention_mask, **kwargs):
            return real_tensor([input_ids[0].tolist() + [5, 7]])

        def __call__(self, input_ids):
            logits = real_ones(1, input_ids.shape[1], 10)
            logits[0, -1, 3] = 2.0

            class Out:
                pass

            out = Out()
            out.logits = logits  # type: ignore[attr-defined]
            return out

    class Tok:
        pad_token_id = 0

    monkeypatch.setattr(torch, "tensor", tensor)
    monkeypatch.setattr(torch, "ones", ones)
    assert hf_greedy(OnCuda(), Tok(), [1, 2], 4, [7]) == ([5], True)
    assert _logit_gap(OnCuda(), [1, 2, 5], 3, 4) == pytest.approx(1.0 / float(real_tensor([1.0] * 9 + [2.0]).std()))
    assert made == [("tensor", cuda), ("ones", cuda), ("tensor", cuda)]
