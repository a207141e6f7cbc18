"""The real tokenizers rebuilt from llama.cpp's vocab-only GGUFs agree with the real ones on
llama.cpp's own test strings (the .inp/.out files of the sdist: ids the real tokenizer gave)."""

from __future__ import annotations

import pytest

from core.train.vocab import FAMILIES, build_tokenizer, check_against_tests, load_tests, read_gguf_vocab, vocab_path


@pytest.mark.parametrize("family", list(FAMILIES))
def test_rebuilt_tokenizer_gives_the_real_ids_on_llama_cpps_tests(family):
    tests = load_tests(family)
    assert len(tests) > 20 and any(any("\u0400" <= ch <= "\u04ff" for ch in text) for text, _ in tests)  # Cyrillic among them
    assert check_against_tests(build_tokenizer(family), family) == []


def test_our_gguf_reader_reads_what_gguf_py_reads():
    from gguf import GGUFReader

    path = vocab_path("qwen2")
    ours = read_gguf_vocab(path)
    theirs = GGUFReader(str(path))
    tokens = theirs.fields["tokenizer.ggml.tokens"]
    assert len(ours.tokens) == len(tokens.data) == 151936
    for i in (0, 1000, 151643, 151645, 151935):
        assert ours.tokens[i] == bytes(tokens.parts[tokens.data[i]]).decode()
    assert ours.meta["pre"] == "qwen2" and ours.meta["eos_token_id"] == 151643
    assert len(ours.merges) == len(theirs.fields["tokenizer.ggml.merges"].data)


def test_renamed_slots_land_on_their_ids_and_are_single_tokens():
    from core.train.replicas import QWEN3_ADDED, QWEN3_NOT_SPECIAL

    names = {151646 + i: name for i, name in enumerate(QWEN3_ADDED)}
    tok = build_tokenizer("qwen2", rename=names, special={i: n not in QWEN3_NOT_SPECIAL for i, n in names.items()}, keep=range(151669))
    assert tok.token_to_id("<think>") == 151667 and tok.token_to_id("</think>") == 151668 and tok.token_to_id("<|im_end|>") == 151645
    assert tok.encode("<think>\n\n</think>", add_special_tokens=False).ids[0] == 151667
    assert tok.get_vocab_size() == 151669  # Qwen 3's tokenizer; the embedding's 151936 rows include padding
