"""Backends: Unsloth's contract (with a fake unsloth module), its GPU check, accelerate command, models add."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.errors import UserError
from core.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]

FAKE_UNSLOTH = '''
import json, os, sys
RECORD = os.environ["FAKE_UNSLOTH_RECORD"]
def _write(entry):
    with open(RECORD, "a") as fh:
        fh.write(json.dumps(entry) + "\\n")
_write({"event": "import", "already_imported": sorted(m for m in ("trl", "transformers", "peft") if m in sys.modules)})

class FastLanguageModel:
    @staticmethod
    def from_pretrained(model_name, max_seq_length=None, load_in_4bit=None, dtype=None, **kw):
        _write({"event": "from_pretrained", "model_name": model_name, "max_seq_length": max_seq_length,
                "load_in_4bit": load_in_4bit, "dtype": dtype})
        from transformers import AutoModelForCausalLM, AutoTokenizer
        return AutoModelForCausalLM.from_pretrained(model_name), AutoTokenizer.from_pretrained(model_name)

    @staticmethod
    def get_peft_model(model, **kw):
        _write({"event": "get_peft_model", **{k: v for k, v in kw.items()}})
        from peft import LoraConfig, get_peft_model
        return get_peft_model(model, LoraConfig(r=kw["r"], lora_alpha=kw["lora_alpha"], target_modules=kw["target_modules"], task_type="CAUSAL_LM"))
'''

DRIVER = '''
import sys
import core.train.backends as b
b.cuda_available = lambda: True           # pretend there is a GPU: everything else is real
import core.train.backends.unsloth as u
u.trainer_args = lambda config: {"use_cpu": True}
from core.train import pipeline
from core.train.config import TrainConfig
cfg = TrainConfig.from_preset("demo", backend="unsloth", load_in_4bit=True, max_seq_len=128, lora_r=4)
assert "trl" not in sys.modules, "trl imported before the backend loaded"
backend, model, tok = pipeline.load_base(cfg, sys.argv[1])
model = pipeline.add_adapters(backend, model, cfg)
print("trainable", sum(p.numel() for p in model.parameters() if p.requires_grad))
'''


@pytest.mark.xdist_group("demo_model")
def test_unsloth_backend_contract_with_a_fake_unsloth(tmp_path, demo_model):
    pkg = tmp_path / "fake" / "unsloth"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKE_UNSLOTH)
    record = tmp_path / "calls.jsonl"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tmp_path / 'fake'}:{REPO}", "FAKE_UNSLOTH_RECORD": str(record), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(demo_model)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [c["event"] for c in calls] == ["import", "from_pretrained", "get_peft_model"]
    assert calls[0]["already_imported"] == []  # unsloth came before trl, transformers and peft
    assert calls[1]["load_in_4bit"] is True and calls[1]["max_seq_length"] == 128 and calls[1]["model_name"] == str(demo_model)
    peft = calls[2]
    assert peft["use_gradient_checkpointing"] == "unsloth" and peft["r"] == 4 and peft["bias"] == "none"
    assert "q_proj" in peft["target_modules"] and peft["random_state"] == 3407
    assert int(proc.stdout.split()[-1]) > 0


def test_unsloth_without_gpu_is_a_one_line_user_error(monkeypatch):
    import core.train.backends as b
    from core.train.backends import get_backend

    monkeypatch.setattr(b, "cuda_available", lambda: False)
    with pytest.raises(UserError) as err:
        get_backend("unsloth")
    assert "NVIDIA GPU" in str(err.value) and "\n" not in str(err.value)
    assert b.resolve("auto") == "hf"


def test_train_with_unsloth_on_this_machine_exits_2_with_the_reason(cli, store, monkeypatch):
    import core.train.backends as b

    monkeypatch.setattr(b, "cuda_available", lambda: False)
    store.add_pair("Q?", "A.", status="approved")
    store.add_model("base", "tiny", str(REPO))
    r = cli("train", "--base", "tiny", "--backend", "unsloth", "--steps", "1")
    assert r.code == 2
    assert "needs an NVIDIA GPU" in r.err and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_accelerate_command_for_several_gpus(tmp_path):
    from core.train.runs import worker_command

    one = worker_command(tmp_path, 7)
    assert one[1:] == ["-m", "core.train.worker", "--home", str(tmp_path), "--run", "7"]
    many = worker_command(tmp_path, 7, resume=True, num_gpus=4)
    assert many[1:3] == ["-m", "accelerate.commands.launch"]
    assert many[many.index("--num_processes") + 1] == "4" and "--multi_gpu" in many
    assert many[-7:] == ["-m", "core.train.worker", "--home", str(tmp_path), "--run", "7", "--resume"]


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
def test_packed_rows_give_the_same_loss_as_padded_rows(demo_model):
    """Packing must not let an example see the one packed before it (the pipeline's model
    has no KV cache, so transformers builds a block-diagonal mask from the position ids)."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from core.dataset import Example, encode_all
    from core.train import pipeline
    from core.train.templates import get_template
    from tests.train.conftest import sample_pairs

    config = TrainConfig.from_preset("demo", packing=True, backend="hf")
    _, model, tok = pipeline.load_base(config, str(demo_model))
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


def test_out_of_memory_is_explained(monkeypatch):
    import torch
    import trl

    from core.train import pipeline

    class Exploding:
        def __init__(self, **kw):
            pass

        def remove_callback(self, callback):
            pass

        def train(self, **kw):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trl, "SFTTrainer", Exploding)
    with pytest.raises(UserError) as err:
        pipeline.train(None, None, [], None, None, [])
    assert "ran out of memory" in str(err.value) and "--batch-size" in str(err.value)
