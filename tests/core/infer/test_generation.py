"""The lean chat loop (core/infer/generation.py): stop strings, split characters, limits, cancel.

A scripted stand-in for ``llama_cpp.Llama`` plays back given token pieces, so each rule is
exercised exactly; tests/core/infer/test_chat.py checks the loop against create_chat_completion
on a real GGUF.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from core.infer.generation import ChatStream  # noqa: E402

EOS = 0


class ScriptedLlama:
    """Generates the given byte pieces in order (token i+1 is piece i), then EOS."""

    def __init__(self, pieces: list[bytes], n_ctx: int = 512) -> None:
        self.pieces = pieces
        self._n_ctx = n_ctx
        self._seed = 7
        self.seeds: list[int] = []
        self.sampling: dict = {}
        self.metadata = {"tokenizer.chat_template": "{{ messages }}"}
        self.chat_handler = None
        self.chat_format = "chat_template.default"
        self._model = SimpleNamespace(vocab="vocab")

    def n_ctx(self) -> int:
        return self._n_ctx

    def set_seed(self, seed: int) -> None:
        self.seeds.append(seed)
        self._seed = seed

    def tokenize(self, data: bytes, add_bos: bool, special: bool) -> list[int]:
        return list(range(100, 100 + max(1, len(data) // 4)))

    def generate(self, prompt, **sampling):
        self.sampling = sampling
        yield from range(1, len(self.pieces) + 1)
        while True:
            yield EOS

    def detokenize(self, tokens: list[int]) -> bytes:
        return b"".join(self.pieces[t - 1] for t in tokens)


def formatter(stop: str | None = "<end>"):
    return lambda messages, **_: SimpleNamespace(prompt="вопрос", stop=[stop] if stop else [], added_special=True)


@pytest.fixture(autouse=True)
def eos_is_token_zero(monkeypatch):
    monkeypatch.setattr(llama_cpp, "llama_vocab_is_eog", lambda vocab, token: token == EOS)


def run(pieces, *, stop="<end>", max_tokens=100, temperature=0.0, cancel=None):
    llm = ScriptedLlama(pieces)
    stream = ChatStream(llm, formatter(stop), [{"role": "user", "content": "?"}], temperature=temperature,
                        max_tokens=max_tokens, cancel=cancel)
    shown = list(stream)
    return shown, stream, llm


def test_answer_ends_at_the_end_of_generation_token():
    shown, stream, _ = run(["Эпоха".encode(), " — проход.".encode()])
    assert "".join(shown) == "Эпоха — проход." and stream.reason == "stop" and stream.tokens == 2


def test_a_stop_string_split_across_tokens_is_cut_and_never_shown():
    shown, stream, _ = run([b"Answer <e", b"nd> and more", b" never"])
    assert "".join(shown) == "Answer " and stream.reason == "stop"
    assert not any("<" in piece for piece in shown)  # the held-back start of the stop never leaked


def test_text_that_only_looked_like_a_stop_is_shown_after_all():
    shown, stream, _ = run([b"a <e", b"x> b"])
    assert "".join(shown) == "a <ex> b" and stream.reason == "stop"


def test_a_character_split_across_two_tokens_arrives_whole():
    data = "ёж".encode()  # 4 bytes: split inside the first character
    shown, stream, _ = run([data[:1], data[1:3], data[3:]])
    assert "".join(shown) == "ёж" and all("\ufffd" not in piece for piece in shown)


def test_max_tokens_ends_with_length():
    shown, stream, _ = run([b"one ", b"two ", b"three ", b"four "], max_tokens=2)
    assert "".join(shown) == "one two " and stream.reason == "length" and stream.tokens == 2


def test_cancel_stops_between_tokens():
    seen: list[str] = []
    llm = ScriptedLlama([b"a", b"b", b"c", b"d"])
    stream = ChatStream(llm, formatter(), [], temperature=0.0, max_tokens=100, cancel=lambda: len(seen) >= 2)
    for piece in stream:
        seen.append(piece)
    assert "".join(seen) == "ab" and stream.reason == "cancelled"


def test_sampling_and_seed_follow_create_chat_completion():
    _, _, greedy = run([b"x"], temperature=0.0)
    assert greedy.sampling["top_k"] == 1 and greedy.sampling["temp"] == 0.0
    _, _, hot = run([b"x"], temperature=0.8)
    assert hot.sampling == {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "temp": 0.8, "repeat_penalty": 1.0}
    import random

    assert hot.seeds == [random.Random(7).randint(0, 2**32)]  # a fresh seed per answer, from the last one


def test_a_prompt_longer_than_the_context_is_a_clear_error():
    from core.errors import UserError

    llm = ScriptedLlama([b"x"], n_ctx=4)
    long = lambda messages, **_: SimpleNamespace(prompt="д" * 100, stop=[], added_special=True)  # noqa: E731
    with pytest.raises(UserError, match="more than the model's context"):
        list(ChatStream(llm, long, [], temperature=0.0, max_tokens=10))
