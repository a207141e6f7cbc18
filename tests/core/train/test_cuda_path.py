"""The CUDA branch of training, driven on the CPU: a fake device or a fake ``nvidia-smi`` stands in
for the GPU, the libraries' own code runs where it runs here (torch's bf16 check, PEFT's
LoraConfig, TRL's trainers, Unsloth's signatures read from its pinned sources).

See ../shared/notes/gpu-path-review.md (A2, A4, A9–A12, A14, B1–B3, B5, B7) for the library lines
each test stands for."""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest

from core.errors import UserError
from core.train.config import TrainConfig
from core.train.device import Device

CUDA = Device("cuda", 0, True)


# ---------------------------------------------------------------------------- a fake nvidia-smi


def fake_smi(tmp_path: Path, monkeypatch, *, n: int = 1, cap: str | list[str] = "8.0", driver: str = "580.65.06",
             name: str = "NVIDIA A100-SXM4-80GB", only: bool = False) -> Path:
    """An ``nvidia-smi`` on PATH answering as ``n`` cards would (``-L`` and the queries we make; shell
    builtins only); ``only``: PATH holds nothing else (no compiler)."""
    caps = cap if isinstance(cap, list) else [cap] * n
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    answers = {
        "-L": [f"GPU {i}: {name} (UUID: GPU-{i:04d})" for i in range(n)],
        "--query-gpu=index,uuid,name,memory.free,memory.total": [f"{i}, GPU-{i:04d}, {name}, 80000, 81920" for i in range(n)],
        "--query-gpu=index,uuid,compute_cap": [f"{i}, GPU-{i:04d}, {c}" for i, c in enumerate(caps)],
        "--query-gpu=driver_version": [driver] * n,
    }
    cases = "".join(f"{flag})\n" + "".join(f"  echo '{line}'\n" for line in lines) + ";;\n" for flag, lines in answers.items())
    smi = bin_dir / "nvidia-smi"
    smi.write_text(f'#!/bin/sh\ncase "$1" in\n{cases}*) echo "unknown option $1" >&2; exit 2;;\nesac\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir) if only else f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return bin_dir


# ---------------------------------------------------------------------------- 1. LoRA switches (A2)


@functools.lru_cache(maxsize=None)
def _unsloth_source(module_file: str) -> str:
    """unsloth/models/<module_file> of the pinned Unsloth, read, not imported (the import would patch TRL
    for this whole test process)."""
    root = Path(importlib.util.find_spec("unsloth").submodule_search_locations[0])
    return (root / "models" / module_file).read_text(encoding="utf-8")


def _unsloth_parameters(module_file: str, cls: str, method: str) -> set[str]:
    """The named parameters of Unsloth's ``cls.method``, from its pinned source."""
    tree = ast.parse(_unsloth_source(module_file))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == method:
                    a = item.args
                    return {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
    raise AssertionError(f"{cls}.{method} is not in unsloth/models/{module_file}")


def _fake_unsloth(monkeypatch, calls: list):
    """``unsloth.FastLanguageModel.get_peft_model`` as far as it goes without a GPU: the route by
    ``UNSLOTH_USE_NEW_MODEL`` (llama.py ~4603), and on the FastLlamaModel route every keyword it does
    not name goes into ``peft.LoraConfig(**arguments)`` (llama.py ~5045-5072)."""
    from peft import LoraConfig, TaskType

    llama = _unsloth_parameters("llama.py", "FastLlamaModel", "get_peft_model")
    fast_model = _unsloth_parameters("vision.py", "FastBaseModel", "get_peft_model")

    def get_peft_model(model, **kwargs):
        if os.environ.get("UNSLOTH_USE_NEW_MODEL", "0") == "1":
            unknown = set(kwargs) - fast_model
            assert not unknown, f"FastBaseModel.get_peft_model has no {unknown}"
            calls.append(("FastModel", kwargs))
            return model
        extra = {k: v for k, v in kwargs.items() if k not in llama}
        LoraConfig(r=kwargs["r"], lora_alpha=kwargs["lora_alpha"], target_modules=kwargs["target_modules"],
                   lora_dropout=kwargs["lora_dropout"], bias=kwargs["bias"], task_type=TaskType.CAUSAL_LM,
                   modules_to_save=kwargs.get("modules_to_save"), **extra)
        calls.append(("FastLlamaModel", kwargs))
        return model

    fake = types.ModuleType("unsloth")
    fake.FastLanguageModel = types.SimpleNamespace(get_peft_model=get_peft_model)
    monkeypatch.setitem(sys.modules, "unsloth", fake)


@pytest.mark.parametrize("arch, cls, loader_flag", [
    ("llama3.1", "AutoModelForCausalLM", "0"),  # FastLlamaModel.from_pretrained sets "0" (llama.py:3515)
    ("qwen3", "AutoModelForCausalLM", "0"),  # FastQwen3Model → FastLlamaModel's loader
    ("gemma3", "Gemma3ForConditionalGeneration", "1"),  # FastModel's loader sets "1" (vision.py:3563)
    ("qwen3.5", "Qwen3_5ForConditionalGeneration", "1"),  # the class Unsloth on CUDA loads it as
])
def test_unsloth_add_adapters_on_cuda_gives_each_route_only_what_it_takes(monkeypatch, replica, arch, cls, loader_flag):
    import transformers

    from core.train.backends import unsloth

    setter = f'os.environ["UNSLOTH_USE_NEW_MODEL"] = "{loader_flag}"'
    assert setter in _unsloth_source("llama.py" if loader_flag == "0" else "vision.py")  # the loader that routes this family
    model = getattr(transformers, cls).from_pretrained(str(replica(arch)))
    config = TrainConfig(base="x", lora_r=8, lora_alpha=16)
    for flag in (loader_flag, None):  # as Unsloth's loader left it; with no Unsloth load in the process
        calls: list = []
        _fake_unsloth(monkeypatch, calls)
        if flag is None:
            monkeypatch.delenv("UNSLOTH_USE_NEW_MODEL", raising=False)
        else:
            monkeypatch.setenv("UNSLOTH_USE_NEW_MODEL", flag)
        unsloth.add_adapters(model, config, CUDA)  # a TypeError from LoraConfig here is finding A2
        (route, kwargs), = calls
        fast = flag == "1"
        assert route == ("FastModel" if fast else "FastLlamaModel")
        assert ("finetune_vision_layers" in kwargs) is fast
        if fast:  # FastModel builds its language-only regex from the leaf names and these
            assert kwargs["finetune_vision_layers"] is False and kwargs["finetune_language_layers"] is True
        assert kwargs["target_modules"] == config.targets


# ---------------------------------------------------------------------------- 3. bf16 by compute capability (A4)


def _fake_cuda(monkeypatch, major: int, minor: int, *, count: int = 1):
    """torch.cuda with only its hardware queries faked: a card of compute capability major.minor,
    on which a bf16 tensor can be made (Turing and Volta emulate it)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: types.SimpleNamespace(major=major, minor=minor))
    monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda device: True)


@pytest.mark.parametrize("cap, native", [((7, 5), False), ((7, 0), False), ((8, 0), True), ((9, 0), True)])
def test_bf16_on_cuda_is_the_compute_capability_not_emulation(monkeypatch, cap, native):
    import torch

    from core.train import device as devices
    from core.train.backends import hf

    _fake_cuda(monkeypatch, *cap)
    for var in ("LOCAL_RANK", "WORLD_SIZE", "RANK"):
        monkeypatch.delenv(var, raising=False)
    assert torch.cuda.is_bf16_supported() is True  # torch's default counts emulation: what the old check read
    dev = devices.current()
    assert dev.kind == "cuda" and dev.bf16 is native
    assert devices.compute_dtype("auto", dev) == ("bfloat16" if native else "float16")
    assert hf.trainer_args(TrainConfig(base="x"), dev)["bf16"] is native


def test_a_process_without_a_gpu_of_its_own_is_refused(monkeypatch):
    """--gpus 2 with one GPU visible: rank 1 must not share cuda:0 with rank 0 (B1)."""
    from core.train import device as devices

    _fake_cuda(monkeypatch, 8, 0, count=1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(UserError) as err:
        devices.current()
    assert "no GPU of its own" in str(err.value) and "--gpus 1" in str(err.value)


# ---------------------------------------------------------------------------- 4. precision refused for every family (A11)


@pytest.mark.parametrize("family", ["llama", "qwen3", "gemma3", "qwen3_5", None])
def test_bfloat16_on_a_card_without_it_is_refused_for_every_family(family):
    from core.train.device import check_precision

    with pytest.raises(UserError) as err:
        check_precision(family, "bfloat16", cuda=True, bf16=False)
    assert "no bfloat16" in str(err.value) and "--dtype float32" in str(err.value)
    check_precision(family, "bfloat16", cuda=True, bf16=True)
    check_precision(family, "float32", cuda=True, bf16=False)
    check_precision(family, "bfloat16", cuda=False, bf16=None)  # the CPU is not checked


def test_the_start_refuses_bfloat16_on_a_turing_card_for_llama(tmp_path, monkeypatch, replica):
    """What `nastavnik train --dtype bfloat16` meets on a T4: nvidia-smi's compute capability 7.5."""
    from core.train.runs import check_precision

    fake_smi(tmp_path, monkeypatch, cap="7.5")
    config = TrainConfig(base=str(replica("llama3.1")), dtype="bfloat16")
    with pytest.raises(UserError) as err:
        check_precision(config)
    assert "no bfloat16" in str(err.value)
    check_precision(config.with_(dtype="auto"))  # float16 there: Llama trains in it
    check_precision(config.with_(num_processes=2))  # --processes N trains on the CPU


def test_the_bf16_check_before_the_run_reads_the_card_that_trains(tmp_path, monkeypatch):
    """A T4 (GPU 0, PCI order) beside an A100: the run trains on the first visible one (worker_env)."""
    from core.train.runs import gpu_bf16

    fake_smi(tmp_path, monkeypatch, n=2, cap=["7.5", "8.0"])
    assert gpu_bf16() is False and gpu_bf16(2) is False
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert gpu_bf16() is True
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0001,GPU-0000")
    assert gpu_bf16() is True and gpu_bf16(2) is False


# ---------------------------------------------------------------------------- 5. several GPUs (A9, A10, B1, B2)


def test_auto_picks_hf_for_several_processes(tmp_path, monkeypatch):
    import core.train.backends as b

    fake_smi(tmp_path, monkeypatch, n=2)
    assert b.unsloth_installed() and b.cuda_available()
    assert b.resolve("auto", TrainConfig(base="x")) == "unsloth"
    for many in (TrainConfig(base="x", num_gpus=2), TrainConfig(base="x", num_processes=2)):
        assert b.resolve("auto", many) == "hf"
        assert b.get_backend("auto", many).NAME == "hf"  # not refused as unsloth with N > 1 was


@pytest.mark.parametrize("config, gpus, visible, expected", [
    (TrainConfig(base="x"), 2, None, "0"),  # one process on a two-GPU box: TRL refuses nn.DataParallel
    (TrainConfig(base="x", num_gpus=2), 4, None, "0,1"),  # accelerate's two processes, the two the VRAM check read
    (TrainConfig(base="x"), 4, "3,1", "3"),  # the user's own choice, its first
    (TrainConfig(base="x", num_processes=2), 2, None, ""),  # --processes N: CPU processes, no rank on cuda:0
])
def test_the_worker_sees_exactly_the_gpus_it_trains_on_in_nvidia_smi_order(tmp_path, monkeypatch, config, gpus, visible, expected):
    from core.train.runs import worker_env

    fake_smi(tmp_path, monkeypatch, n=gpus)
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    env = worker_env(tmp_path, config)
    assert env["CUDA_VISIBLE_DEVICES"] == expected
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["NASTAVNIK_HOME"] == str(tmp_path) and env["HF_HUB_OFFLINE"] == "1"  # jobs.worker_env's own


def test_without_nvidia_smi_the_worker_environment_is_left_alone(tmp_path, monkeypatch):
    from core.train.runs import worker_env

    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    env = worker_env(tmp_path, TrainConfig(base="x", num_processes=2))
    assert "CUDA_VISIBLE_DEVICES" not in env and "CUDA_DEVICE_ORDER" not in env


def test_gpus_2_with_auto_starts_an_hf_run_pinned_to_two_gpus_without_touching_cuda(train_home, store, tmp_path, monkeypatch):
    """The start path as the app runs it: backend auto → hf for --gpus 2, the spawned worker's
    environment pinned, and no CUDA call in this process (nvidia-smi answers everything)."""
    import torch

    from core.jobs import Host
    from core.train import runs
    from core.train.backends.hf import launch_command
    from core.workspace import Workspace
    from tests.support.jobs import FakeSpawn

    fake_smi(tmp_path, monkeypatch, n=4)

    def no_cuda(*a, **k):
        raise AssertionError("the app's process touched torch.cuda")

    for name in ("is_available", "device_count", "init", "_lazy_init", "is_bf16_supported", "get_device_properties"):
        monkeypatch.setattr(torch.cuda, name, no_cuda)
    processes = FakeSpawn()  # starts nothing: the run is found dead later, never trained
    run = runs.start_run(Workspace.open(train_home), TrainConfig(base="demo", num_gpus=2), store=store, host=Host(processes=processes))
    assert run.backend == "hf"
    [spawned] = processes.spawned
    assert spawned["env"]["CUDA_VISIBLE_DEVICES"] == "0,1" and spawned["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    launch = launch_command(["--home", str(train_home), "--run", str(run.id), "--rank-process"], TrainConfig.from_dict(run.config))
    assert launch[launch.index("--num_processes") + 1] == "2"


# ---------------------------------------------------------------------------- 6. a GPU torch cannot use (B3, B5)


def _no_torch_cuda(monkeypatch, built: str | None):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", built)


def test_an_old_driver_is_refused_in_one_line_naming_it(tmp_path, monkeypatch):
    from core.train.device import check_gpu_usable

    fake_smi(tmp_path, monkeypatch, driver="550.54.15")
    _no_torch_cuda(monkeypatch, "13.0")
    with pytest.raises(UserError) as err:
        check_gpu_usable()
    text = str(err.value)
    assert "driver 550.54.15" in text and "CUDA 13.0" in text and "580 or newer" in text and "NVIDIA A100" in text
    assert "\n" not in text
    _no_torch_cuda(monkeypatch, None)  # a CPU build of torch on a GPU box
    with pytest.raises(UserError) as err:
        check_gpu_usable()
    assert "built without CUDA" in str(err.value) and "550.54.15" in str(err.value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the run sees no GPU (--processes N): a CPU run, fine
    check_gpu_usable()


def test_triton_needs_a_compiler_and_python_headers_on_cuda_only(tmp_path, monkeypatch):
    import sysconfig

    import torch

    from core.train.device import check_gpu_usable

    fake_smi(tmp_path, monkeypatch, only=True)  # PATH: nvidia-smi and nothing else
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(UserError) as err:
        check_gpu_usable()
    assert "C compiler" in err.value.message and "Python.h" not in err.value.message
    gcc = tmp_path / "fake-bin" / "gcc"
    gcc.write_text("#!/bin/sh\nexit 0\n")
    gcc.chmod(0o755)
    check_gpu_usable()  # a compiler, and this Python's headers
    real = sysconfig.get_paths
    monkeypatch.setattr(sysconfig, "get_paths", lambda *a, **k: {**real(*a, **k), "include": str(tmp_path / "no-headers")})
    with pytest.raises(UserError) as err:
        check_gpu_usable()
    assert "Python.h" in err.value.message and "C compiler" not in err.value.message
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    check_gpu_usable()  # a CPU run needs neither


def test_the_worker_refuses_a_gpu_its_torch_cannot_use_before_training(train_home, store, tmp_path, monkeypatch):
    """The detached worker itself (this torch is a CPU build): nvidia-smi shows a card, the run fails
    with the one line instead of training on the CPU."""
    from core.train import runs
    from core.workspace import Workspace

    fake_smi(tmp_path, monkeypatch, driver="550.54.15")
    ws = Workspace.open(train_home)
    run = runs.start_run(ws, TrainConfig(base="demo", backend="hf", max_steps=1), store=store)
    done = runs.wait(ws, run.id, timeout=120, store=store)
    assert done.status == "failed" and "driver 550.54.15" in done.error and "built without CUDA" in done.error
    assert done.step in (0, None) and not done.setup


# ---------------------------------------------------------------------------- 7. what the trainer really did (B7, A12)


def _trainer(demo_model, tmp_path, *, packing=False, padding_free=False, dtype="auto"):
    from core.train.dataset import Example, encode_all, to_hf_dataset
    from core.train import pipeline
    from core.train.templates import get_template
    from tests.support.data import sample_pairs

    device = Device("cpu", 0, False)
    config = TrainConfig.from_preset("demo", backend="hf", packing=packing, dtype=dtype, max_steps=1)
    backend, model, tok, processing = pipeline.load_base(config, str(demo_model), device)
    model = pipeline.add_adapters(backend, model, config, device)
    convs = [[{"role": "user", "content": p["question"]}, {"role": "assistant", "content": p["answer"]}] for p in sample_pairs(2, 0)]
    enc = encode_all(tok, get_template("gemma").jinja, [Example(None, c) for c in convs], max_len=128)
    args = pipeline.sft_config(config, backend, pipeline.RunPaths(tmp_path / "run"), has_eval=False, device=device)
    if padding_free:  # what Unsloth's SFTTrainer does to the config on CUDA before TRL's __init__: padding-free on
        # (unsloth/utils/packing.py), and its guard takes max_length off once the rows are cut to it (rl.py ~2837)
        args.padding_free, args.remove_unused_columns, args.max_length = True, False, None
    trainer = pipeline.make_trainer(model, processing, to_hf_dataset(enc), None, args, [])
    return config, backend, device, trainer


@pytest.mark.xdist_group("demo_model")
def test_setup_records_padding_free_precision_and_attention_as_the_trainer_built_them(demo_model, tmp_path):
    from core.train import pipeline

    config, backend, device, trainer = _trainer(demo_model, tmp_path)
    setup = pipeline.describe(trainer, backend, device)
    assert (setup["padding_free"], setup["precision"], setup["attn_implementation"]) == (False, "fp32", "sdpa")
    assert setup["model_class"] == "LlamaForCausalLM"
    # Unsloth's trainer turns padding-free on by itself on CUDA: read from what TRL built
    _, _, _, auto = _trainer(demo_model, tmp_path, padding_free=True)
    assert auto.data_collator.padding_free is True and pipeline.describe(auto, backend, device)["padding_free"] is True
    # packing: TRL's padding-free collator and our per-example attention
    _, _, _, packed = _trainer(demo_model, tmp_path, packing=True)
    described = pipeline.describe(packed, backend, device)
    assert described["padding_free"] is True and described["packing"] is True
    assert described["attn_implementation"] == packed.model.get_base_model().config._attn_implementation != "sdpa"
    # --dtype float32 under Unsloth on an Ampere card: its generated __init__ sets args.bf16 (rl.py ~2673-2680)
    config32, _, _, fp32 = _trainer(demo_model, tmp_path, dtype="float32")
    assert pipeline.describe(fp32, backend, device)["precision"] == "fp32"
    assert pipeline.precision_note(config32, pipeline.describe(fp32, backend, device)) is None
    fp32.args.bf16 = True
    setup32 = pipeline.describe(fp32, backend, device)
    assert setup32["precision"] == "bf16" and setup32["bf16"] is True
    note = pipeline.precision_note(config32, setup32)
    assert "--dtype float32" in note and "bf16 autocast" in note


@pytest.mark.slow
@pytest.mark.xdist_group("demo_model")
def test_runs_show_says_what_unsloths_trainer_did(small_home, cli):
    """One step with Unsloth (its CPU fallback) through the worker: `runs show` and the log have the
    trainer's own choices (the hf trainer's are the test above, in this process)."""
    r = cli("train", "--base", "demo", "--backend", "unsloth", "--steps", "1", "--save-steps", "100", "--batch-size", "2",
            "--grad-accum", "1")
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done", show
    setup = show["setup"]
    assert setup["backend"] == "unsloth" and setup["device"] == "cpu" and "_make_cpu_sft_trainer" in setup["trainer"]
    assert setup["padding_free"] is False and setup["attn_implementation"] == "sdpa"
    # no autocast on the CPU, and float32 weights: left to itself Unsloth's CPU fallback loads bf16 where the
    # processor has AVX512-BF16 or AMX and float32 elsewhere, so one run would differ from CPU to CPU
    assert not setup["bf16"] and not setup["fp16"]
    assert setup["precision"] == "fp32" and setup["trainable_dtype"] == "float32"
    assert "fp32, padding-free off, attention sdpa" in cli("runs", "logs", "1").out


# ---------------------------------------------------------------------------- A14: Unsloth's save_pretrained stays


def test_saving_the_trained_adapter_alone_puts_an_instance_save_pretrained_back():
    from core.train.preference import _only_trained_adapter

    class Model:
        peft_config = {"default": 1, "ref": 2}

        def save_pretrained(self, *args, **kwargs):  # the class's (PEFT's)
            return ("class", kwargs)

    plain = Model()
    with _only_trained_adapter(plain):
        assert plain.save_pretrained("x") == ("class", {"selected_adapters": ["default"]})
    assert "save_pretrained" not in plain.__dict__
    unsloth_like = Model()
    own = lambda *args, **kwargs: ("unsloth", kwargs)  # noqa: E731 - Unsloth sets it on the instance (unsloth/save.py)
    unsloth_like.save_pretrained = own
    with _only_trained_adapter(unsloth_like):
        assert unsloth_like.save_pretrained("x") == ("unsloth", {"selected_adapters": ["default"]})
    assert unsloth_like.__dict__["save_pretrained"] is own
