"""Backends: choosing one, Unsloth's failures and processors, the accelerate command, models add."""

from __future__ import annotations

import json

import pytest

from core.errors import UserError
from core.train.config import TrainConfig


def test_unsloth_backend_without_the_package_is_a_one_line_user_error(monkeypatch):
    import importlib.util

    from core.train.backends import get_backend

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "unsloth" else real(name, *a))
    with pytest.raises(UserError) as err:
        get_backend("unsloth")
    assert "unsloth package" in str(err.value) and "\n" not in str(err.value)


def test_unsloth_with_several_processes_is_refused_not_ignored():
    from core.train.backends import get_backend

    for kw in ({"num_gpus": 2}, {"num_processes": 2}):
        with pytest.raises(UserError) as err:
            get_backend("unsloth", TrainConfig(base="x", **kw))
        assert "one device" in str(err.value) and "--backend hf" in str(err.value)


def test_auto_is_unsloth_only_with_a_gpu(monkeypatch):
    import core.train.backends as b

    monkeypatch.setattr(b, "cuda_available", lambda: False)
    assert b.resolve("auto") == "hf"
    monkeypatch.setattr(b, "cuda_available", lambda: True)
    assert b.resolve("auto") == "unsloth"
    assert b.resolve("hf") == "hf" and b.resolve("unsloth") == "unsloth"


def test_auto_falls_back_to_hf_with_one_warning_when_unsloth_cannot_be_imported(monkeypatch, demo_model):
    """auto → Unsloth on a GPU; if its import fails there the run goes on with hf; --backend unsloth stops."""
    import core.train.backends as b
    import core.train.backends.unsloth as u
    from core.train import pipeline

    monkeypatch.setattr(b, "cuda_available", lambda: True)
    monkeypatch.setattr(u, "import_unsloth", lambda: "Unsloth cannot be imported here: RuntimeError: operator torchvision::nms does not exist")
    lines: list[str] = []
    cfg = TrainConfig.from_preset("demo", backend="auto")
    backend, model, tok, processing = pipeline.load_base(cfg, str(demo_model), log=lines.append)
    assert backend.NAME == "hf" and processing is tok
    assert len(lines) == 1 and lines[0].startswith("warning: Unsloth cannot be imported") and "hf backend" in lines[0]
    with pytest.raises(UserError) as err:
        pipeline.load_base(cfg.with_(backend="unsloth"), str(demo_model), log=lines.append)
    assert "torchvision::nms" in str(err.value) and "\n" not in str(err.value)


def test_a_processor_gives_its_tokenizer_for_text_and_stays_the_processing_class(replica):
    """Unsloth on CUDA returns Gemma 3's AutoProcessor: it must not be called like a tokenizer."""
    from transformers import AutoProcessor

    from core.train.dataset import encode
    from core.train.backends.unsloth import split_processor

    processor = AutoProcessor.from_pretrained(str(replica("gemma3")))
    assert type(processor).__name__ == "Gemma3Processor"
    tokenizer, processing_class = split_processor(processor)
    assert processing_class is processor and tokenizer is processor.tokenizer
    messages = [{"role": "user", "content": "Что такое эпоха?"}, {"role": "assistant", "content": "Один проход по данным."}]
    enc = encode(tokenizer, tokenizer.chat_template, messages)
    trained = tokenizer.decode([t for t, lab in zip(enc.input_ids, enc.labels) if lab != -100])
    assert trained == "Один проход по данным.<end_of_turn>"
    plain, same = split_processor(tokenizer)  # the CPU fallback returns the tokenizer itself
    assert plain is tokenizer and same is tokenizer


def test_accelerate_command_for_several_gpus_and_processes(tmp_path):
    from core.train.backends.hf import launch_command
    from core.train.runs import worker_command

    one = worker_command(tmp_path, 7)
    assert one[1:] == ["-m", "core.train.worker", "--home", str(tmp_path), "--run", "7"]
    args = ["--home", str(tmp_path), "--run", "7", "--rank-process"]
    for cfg in (TrainConfig(base="x", num_gpus=4), TrainConfig(base="x", num_processes=4)):
        many = launch_command(args, cfg)
        assert many[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in many
        assert many[many.index("--num_processes") + 1] == "4"
        assert many[many.index("--mixed_precision") + 1] == "no"  # each process takes precision from its device
        assert many[-(len(args) + 2):] == ["-m", "core.train.worker", *args]
    assert launch_command(args, TrainConfig(base="x"))[1:3] == ["-m", "core.train.worker"]


def test_models_add_refuses_bin_only_and_missing_config(cli, tmp_path, monkeypatch):
    bin_only = tmp_path / "bin"
    bin_only.mkdir()
    (bin_only / "config.json").write_text("{}")
    (bin_only / "pytorch_model.bin").write_bytes(b"x")
    r = cli("models", "add", str(bin_only))
    assert r.code == 2 and "safetensors" in r.err
    no_cfg = tmp_path / "nocfg"
    no_cfg.mkdir()
    (no_cfg / "model.safetensors").write_bytes(b"x")
    r = cli("models", "add", str(no_cfg))
    assert r.code == 2 and "config.json" in r.err
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "x.Y"}}))
    (remote / "model.safetensors").write_bytes(b"x")
    r = cli("models", "add", str(remote))
    assert r.code == 2 and "trust_remote_code" in r.err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    r = cli("models", "add", "unsloth/gemma-3-12b-it-bnb-4bit")
    assert r.code == 2 and "HF_HUB_OFFLINE" in r.err and "Traceback" not in r.err


@pytest.mark.xdist_group("demo_model")
def test_models_add_and_list(cli, demo_model):
    r = cli("models", "add", str(demo_model), "--name", "tiny", "--json")
    assert r.code == 0, r.err
    assert r.json()["kind"] == "base" and r.json()["size_bytes"] > 1_000_000
    listed = cli("models", "list", "--json").json()
    assert [(m["name"], m["kind"]) for m in listed] == [("tiny", "base")]
    assert cli("models", "add", str(demo_model), "--name", "tiny").code == 2  # names are unique


@pytest.mark.xdist_group("demo_model")
@pytest.mark.learning
def test_packed_rows_give_the_same_loss_as_padded_rows(demo_model):
    """Packing must not let an example see the one packed before it (the pipeline's model
    has no KV cache, so transformers builds a block-diagonal mask from the position ids)."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from core.train.dataset import Example, encode_all
    from core.train import pipeline
    from core.train.templates import get_template
    from tests.support.data import sample_pairs

    config = TrainConfig.from_preset("demo", packing=True, backend="hf")
    _, model, tok, _ = pipeline.load_base(config, str(demo_model))
    model.eval()
    convs = [[{"role": "user", "content": p["question"]}, {"role": "assistant", "content": p["answer"]}] for p in sample_pairs(6, 0)]
    enc = encode_all(tok, get_template("gemma").jinja, [Example(None, c) for c in convs], max_len=256)
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in enc]
    padded = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)(rows)
    packed = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id, padding_free=True)(rows)
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed  # one row, six examples
    with torch.no_grad():
        loss_padded = float(model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"], labels=padded["labels"]).loss)
        # as the trainer calls it: the collator's example boundaries and position ids
        loss_packed = float(model(**{k: v for k, v in packed.items() if k != "seq_idx"}).loss)
        # position ids alone must keep the examples apart too
        loss_positions = float(model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], labels=packed["labels"]).loss)
    assert loss_packed == pytest.approx(loss_padded, rel=1e-4)
    assert loss_positions == pytest.approx(loss_padded, rel=1e-4)


def test_out_of_memory_is_explained():
    import torch

    from core.train import pipeline

    class Exploding:
        def train(self, **kw):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(UserError) as err:
        pipeline.train(Exploding(), None)
    assert "ran out of memory" in str(err.value) and "--batch-size" in str(err.value)
