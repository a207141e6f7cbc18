"""The demo model: HF and SentencePiece agree, the turn markers are special, it answers in words."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.xdist_group("demo_model"), pytest.mark.learning]


def test_tokenizer_files_mark_turn_markers_special(demo_model):
    cfg = json.loads((demo_model / "tokenizer_config.json").read_text())
    assert cfg["tokenizer_class"] == "LlamaTokenizer"
    specials = {v["content"]: v["special"] for v in cfg["added_tokens_decoder"].values()}
    assert specials["<start_of_turn>"] is True and specials["<end_of_turn>"] is True
    assert (demo_model / "tokenizer.model").exists() and (demo_model / "model.safetensors").exists()
    gen = json.loads((demo_model / "generation_config.json").read_text())
    from core.train.demo_model import EOT

    assert EOT in (gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]])


def test_hf_tokenizer_matches_sentencepiece(demo_model):
    import sentencepiece as spm

    from core.train.demo_model import load_tokenizer

    tok = load_tokenizer(demo_model)
    sp = spm.SentencePieceProcessor(model_file=str(demo_model / "tokenizer.model"))
    for text in ["Что такое эпоха обучения?", "  два пробела\nи новая строка 2024", "Ёжик ☃ 😀 test"]:
        assert tok(text, add_special_tokens=False)["input_ids"] == sp.encode(text)
        assert tok.decode(sp.encode(text)) == text
    prompt = tok.apply_chat_template([{"role": "user", "content": "Привет"}], tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    assert ids.count(tok.bos_token_id) == 1  # the template writes BOS once; nothing adds a second
    assert tok.convert_ids_to_tokens(ids[1]) == "<start_of_turn>"  # one token, not split into pieces
    assert tok.eos_token == "<end_of_turn>"


# questions a user asks the demo base first: docs/demo.md's and a few of the sample's
QUESTIONS = ["Что такое эпоха?", "Что такое LoRA?", "Зачем нужна проверочная выборка?", "Как выбрать learning rate?",
             "Что такое квантование?", "Почему loss не падает?", "Сколько пар нужно для дообучения?", "Что делает адаптер?"]


def test_demo_model_answers_in_russian_words(demo_model):
    """What a user sees from the untrained base: Russian words (fragments of the questions it was
    pretrained on), not byte noise. Which words, and how many, vary with the CPU's kernels (one
    answer on an AVX-512 AMD was « отличается от train и eval?»), so the test counts over eight
    questions: at least one Cyrillic word per answer on average, nearly all of them words of
    its corpus, and no broken bytes."""
    import torch
    from transformers import AutoModelForCausalLM

    from core.train.demo_model import load_corpus, load_tokenizer, pretraining_texts

    tok = load_tokenizer(demo_model)
    model = AutoModelForCausalLM.from_pretrained(str(demo_model))
    answers = []
    for question in QUESTIONS:
        prompt = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
        ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=40, do_sample=False)
        answers.append(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
    vocabulary = set(re.findall(r"[а-яё]{3,}", "\n".join(pretraining_texts(tok, load_corpus())).lower()))
    words = [w for a in answers for w in re.findall(r"[а-яё]{3,}", a.lower())]
    known = [w for w in words if w in vocabulary]
    assert len(words) >= len(QUESTIONS), answers
    assert len(known) >= 0.8 * len(words), (sorted(set(words) - vocabulary), answers)  # words, not noise
    assert not any("\ufffd" in a for a in answers), answers


def test_missing_sample_data_is_a_user_error(tmp_path):
    from core.errors import UserError
    from core.train.demo_model import build_demo_model

    with pytest.raises(UserError, match="missing"):
        build_demo_model(tmp_path / "m", corpus=tmp_path / "nope.jsonl")
