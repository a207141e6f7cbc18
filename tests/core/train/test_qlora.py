"""QLoRA for real on the CPU: Unsloth (its CPU fallback) and transformers + bitsandbytes, 4-bit, on
tiny replicas of Llama 3.1, Qwen 3 and Gemma 3, through `nastavnik train` and its detached worker
(each run is its own process, so Unsloth's patching of TRL never leaks into another test)."""

from __future__ import annotations

import math

import pytest

from tests.support.data import sample_pairs

pytestmark = [pytest.mark.slow, pytest.mark.learning]

QUICK = ("--steps", "12", "--lr", "5e-3", "--batch-size", "2", "--grad-accum", "1", "--max-seq-len", "96",
         "--save-steps", "100", "--lora-r", "8", "--lora-alpha", "16")


def _home(store, cli, replica, arch: str, *, prequantized: bool = False, n_train: int = 4) -> str:
    for p in sample_pairs(n_train, 1):
        store.add_pair(p["question"], p["answer"], status="approved", split=p["split"])
    folder = replica(arch, prequantized=prequantized)
    r = cli("models", "add", str(folder), "--name", folder.name)
    assert r.code == 0, r.err
    return folder.name


def _losses(show: dict) -> list[float]:
    return [m["loss"] for m in show["metrics"] if m["loss"] is not None]


def _adapter_changes_the_model(base_folder, adapter: str) -> None:
    """The saved adapter reloads onto its base (in this process: no Unsloth) and changes its logits."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(adapter)  # the adapter folder carries the base's tokenizer files
    prompt = tok.apply_chat_template([{"role": "user", "content": "Что такое эпоха?"}], tokenize=False, add_generation_prompt=True,
                                     enable_thinking=False)
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(str(base_folder))
    with torch.no_grad():
        before = base(input_ids=ids).logits
        tuned = PeftModel.from_pretrained(base, adapter)
        after = tuned(input_ids=ids).logits
    assert any(float(p.abs().sum()) > 0 for n, p in tuned.named_parameters() if "lora_B" in n)
    assert not torch.allclose(before, after, atol=1e-5)


@pytest.mark.parametrize("arch", ["llama3.1", "qwen3", "gemma3"])
@pytest.mark.parametrize("backend", ["unsloth", "hf"])
def test_qlora_trains_on_a_4bit_replica(store, cli, replica, arch, backend):
    base = _home(store, cli, replica, arch)
    r = cli("train", "--base", base, "--backend", backend, "--load-in-4bit", *QUICK)
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done" and show["steps"] == 12 and show["backend"] == backend
    setup = show["setup"]
    assert setup["load_in_4bit"] and setup["quantized_layers"].get("bitsandbytes.nn.modules.Linear4bit", 0) >= 14
    assert setup["lora_tensors"] >= 28 and setup["lora_in_towers"] == 0  # Gemma 3's vision tower stays without LoRA
    assert setup["device"] == "cpu" and setup["world_size"] == 1
    if backend == "unsloth":
        assert "_make_cpu_sft_trainer" in setup["trainer"]  # Unsloth's patched SFTTrainer, not TRL's own
    else:
        assert setup["trainer"] == "trl.trainer.sft_trainer.SFTTrainer"
    losses = _losses(show)
    assert len(losses) == 12 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 * 0.97, losses  # falling on four pairs seen three times each
    _adapter_changes_the_model(replica(arch), show["adapter_path"])


def test_the_readme_command_unsloth_gemma3_4bit_ten_steps(store, cli, replica):
    """`nastavnik train --backend unsloth --base demo-gemma3 --load-in-4bit --steps 10`, as the README says."""
    base = _home(store, cli, replica, "gemma3", n_train=6)
    assert base == "demo-gemma3"
    r = cli("train", "--backend", "unsloth", "--base", base, "--load-in-4bit", "--steps", "10")
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done" and show["steps"] == 10
    assert show["setup"]["model_class"] == "Gemma3ForConditionalGeneration" and show["setup"]["load_in_4bit"]
    assert "training with" in (cli("runs", "logs", "1").out)


def test_a_prequantized_base_trains_in_4bit_and_is_refused_in_16_bits(store, cli, replica):
    base = _home(store, cli, replica, "llama3.1", prequantized=True)
    refused = cli("train", "--base", base, "--backend", "hf", "--no-load-in-4bit", "--steps", "2")
    assert refused.code == 2 and "stored in 4-bit" in refused.err and len(refused.err.strip().splitlines()) == 1
    r = cli("train", "--base", base, "--backend", "hf", "--load-in-4bit", *QUICK[:2], "--max-seq-len", "96", "--save-steps", "100")
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done" and show["setup"]["quantized_layers"]["bitsandbytes.nn.modules.Linear4bit"] == 14


def test_two_cpu_processes_train_one_run_with_metrics_from_one_rank(store, cli, replica):
    """--processes 2: the accelerate launch path of --gpus N, with gloo on the CPU, world size 2."""
    base = _home(store, cli, replica, "llama3.1", n_train=8)
    r = cli("train", "--base", base, "--backend", "hf", "--load-in-4bit", "--processes", "2", "--steps", "4",
            "--batch-size", "2", "--grad-accum", "1", "--max-seq-len", "96", "--save-steps", "100")
    assert r.code == 0, r.err + r.out
    show = cli("runs", "show", "1", "--json").json()
    assert show["status"] == "done" and show["world_size"] == 2 and show["setup"]["world_size"] == 2
    steps = [m["step"] for m in show["metrics"] if m["loss"] is not None]
    assert steps == [1, 2, 3, 4]  # one row per step: rank 1 trains but does not report
    epochs = [m["epoch"] for m in show["metrics"] if m["loss"] is not None]
    assert epochs[0] == pytest.approx(2 * 2 / 8)  # two processes × batch 2 of 8 pairs per step
    assert (store.get_run(1).adapter_path or "").endswith("adapter")
