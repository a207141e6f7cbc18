"""Tiny replicas of the real families: their classes, real tokenizers, ids and official templates."""

from __future__ import annotations

import json
import re

import pytest

from core.train.replicas import ARCHES, template_text

RUSSIAN = "Что такое эпоха обучения? Один полный проход по всему обучающему датасету."
# the real tokenizers' special tokens at their real ids (from the families' tokenizer configs)
SPECIAL_IDS = {
    "llama3.1": {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|finetune_right_pad_id|>": 128004,
                 "<|start_header_id|>": 128006, "<|end_header_id|>": 128007, "<|eom_id|>": 128008, "<|eot_id|>": 128009},
    "qwen3": {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<think>": 151667, "</think>": 151668},
    "gemma3": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<start_of_turn>": 105, "<end_of_turn>": 106},
    "gemma4": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<|turn>": 105, "<turn|>": 106, "<|image>": 255999, "<|image|>": 258880},
    "qwen3.5": {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|image_pad|>": 151655, "<think>": 151667},
}
VOCAB_FAMILY = {"llama3.1": "llama-bpe", "qwen3": "qwen2", "gemma4": "gemma-4", "qwen3.5": "qwen35"}
CHARS_PER_TOKEN = {"llama3.1": (2.4, 3.4), "qwen3": (2.4, 3.4), "qwen3.5": (2.4, 3.4), "gemma4": (2.4, 5.0)}


@pytest.mark.learning
@pytest.mark.parametrize("arch", list(ARCHES))
def test_a_replica_is_its_family_with_the_real_tokenizer_and_template(replica, arch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = ARCHES[arch]
    folder = replica(arch)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"] == [spec.model_class]
    tok = AutoTokenizer.from_pretrained(str(folder))
    assert tok.chat_template == template_text(spec.template)  # the official text, byte for byte
    for name, token_id in SPECIAL_IDS[arch].items():
        assert tok.convert_tokens_to_ids(name) == token_id, name
        assert tok(name, add_special_tokens=False)["input_ids"] == [token_id], name
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == (spec.bos, spec.eos, spec.pad)
    if arch in VOCAB_FAMILY:  # the saved tokenizer, as transformers loads it, still gives the real ids
        from core.train.vocab import check_against_tests

        assert check_against_tests(tok, VOCAB_FAMILY[arch]) == []
        per_token = len(RUSSIAN) / len(tok(RUSSIAN, add_special_tokens=False)["input_ids"])
        low, high = CHARS_PER_TOKEN[arch]
        assert low < per_token < high, per_token  # as the real model counts Russian (demo tokenizer: 3.9)

    model = AutoModelForCausalLM.from_pretrained(str(folder))
    # transformers maps Qwen 3.5's config to its text-only class (the vision tower's weights are left
    # unused), as it does for the real checkpoint; Gemma keeps the conditional-generation class
    loaded = {"qwen3.5": "Qwen3_5ForCausalLM"}.get(arch, spec.model_class)
    assert type(model).__name__ == loaded
    prompt = tok.apply_chat_template([{"role": "user", "content": "Что такое LoRA?"}], tokenize=False, add_generation_prompt=True,
                                     enable_thinking=False)
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=24, do_sample=False)
    answer = tok.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)
    # clean text of its vocabulary: no broken bytes (but the last character, which 24 tokens may cut) and no markup
    assert "\ufffd" not in answer.rstrip("\ufffd") and not re.search(r"<\|?[a-z_]+\|?>|<[a-z_]+\|>", answer), answer
    # and its pretraining took: its loss ended well below what word frequencies alone give (the sample's
    # unigram entropy under its tokenizer: 5.9–6.3 nats). Whether its greedy answer to one question is
    # words is not asked: the Gemma replicas end at 5.2–5.4 and answer «?» on some CPU kernel paths and
    # a word on others, the Llama and Qwen ones at 3.5–4.0 (docs/numerics.md)
    final_loss = json.loads((folder / "nastavnik_replica.json").read_text(encoding="utf-8"))["final_loss"]
    assert final_loss < unigram_entropy(tok) - 0.5, (final_loss, unigram_entropy(tok))


def unigram_entropy(tok) -> float:
    """Nats per token of the sample conversations, rendered as the replicas are pretrained on them,
    if each token were guessed from the corpus's token frequencies alone."""
    import math
    from collections import Counter

    from core.train.demo_model import load_corpus

    stream = [i for conv in load_corpus()
              for i in tok(tok.apply_chat_template(conv, tokenize=False, enable_thinking=False), add_special_tokens=False)["input_ids"]]
    counts = Counter(stream)
    return -sum(n / len(stream) * math.log(n / len(stream)) for n in counts.values())


def test_the_gemma3_replica_ships_like_the_4b_and_12b_checkpoints(replica):
    """Gemma3ForConditionalGeneration with a SigLIP tower, Gemma's 5:1 local/global layers, a processor."""
    from transformers import AutoProcessor

    folder = replica("gemma3")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "gemma3" and config["vision_config"]["model_type"] == "siglip_vision_model"
    assert config["text_config"]["layer_types"] == ["sliding_attention"] * 5 + ["full_attention"]
    processor = AutoProcessor.from_pretrained(str(folder))
    assert type(processor).__name__ == "Gemma3Processor"
    assert processor.tokenizer.convert_tokens_to_ids("<image_soft_token>") == config["image_token_index"]
    cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    decoder = {v["content"]: v["special"] for v in cfg["added_tokens_decoder"].values()}
    assert decoder["<start_of_turn>"] and decoder["<end_of_turn>"]  # what makes the converter mark them CONTROL


def test_a_prequantized_replica_loads_in_4bit_by_itself_with_towers_in_16_bits(replica):
    from transformers import AutoModelForCausalLM

    folder = replica("gemma3", prequantized=True)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    q = config["quantization_config"]
    assert q["quant_method"] == "bitsandbytes" and q["bnb_4bit_quant_type"] == "nf4" and q["bnb_4bit_use_double_quant"]
    model = AutoModelForCausalLM.from_pretrained(str(folder), device_map={"": "cpu"})  # no BitsAndBytesConfig given
    four_bit = {name for name, m in model.named_modules() if type(m).__name__ == "Linear4bit"}
    assert four_bit and all("language_model" in name for name in four_bit)
    assert not any("vision_tower" in name or "lm_head" in name for name in four_bit)


def test_demo_model_arch_builds_registers_and_reuses_a_replica(cli, home, monkeypatch):
    """`nastavnik demo-model --arch qwen3 --prequantize`: demo-qwen3 and demo-qwen3-bnb-4bit, built once."""
    import core.train.demo as demo

    calls = []
    real = demo.ensure_replica

    def counting(*a, **kw):
        calls.append(kw.get("steps"))
        return real(*a, **kw)

    monkeypatch.setattr(demo, "ensure_replica", counting)
    r = cli("demo-model", "--arch", "qwen3", "--prequantize", "--steps", "5", "--json")
    assert r.code == 0, r.err
    made = r.json()
    assert [m["name"] for m in made] == ["demo-qwen3", "demo-qwen3-bnb-4bit"] and all(m["built"] for m in made)
    again = cli("demo-model", "--arch", "qwen3", "--steps", "5", "--json")
    assert again.code == 0 and again.json()[0]["built"] is False  # same builder, same steps: reused
    names = {m["name"] for m in cli("models", "list", "--json").json()}
    assert {"demo-qwen3", "demo-qwen3-bnb-4bit"} <= names
    assert cli("demo-model", "--prequantize").code == 2  # the demo model has no 4-bit copy
