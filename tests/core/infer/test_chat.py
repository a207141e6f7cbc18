"""Chat with the exported demo model: CLI, REPL, streaming, stopping, quiet stderr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("export")]


def _parity_answer(exported, quant="q8_0"):
    return next(a for a in exported["report"]["parity"]["answers"] if a["quant"] == quant)


def test_chat_prompt_json_side_by_side_and_grade(exported, exported_copy):
    expected = _parity_answer(exported)
    code, out, err = run_cli(exported_copy, "chat", "demo-q8_0", "demo-f16", "-p", expected["question"],
                             "--grade", "4", "--comment", "годится", "--json")
    assert code == 0, err
    from json import loads

    data = loads(out)
    assert [a["model"] for a in data["answers"]] == ["demo-q8_0", "demo-f16"]
    for a in data["answers"]:
        assert a["text"].strip() == expected["hf_answer"].strip()
        assert a["reason"] == "stop" and a["tokens"] > 0 and a["tokens_per_s"] > 0
    from core.workspace import Workspace

    with Workspace.open(exported_copy).store() as store:
        conv = store.get_conversation(data["conversation_id"])
        assert [m.role for m in conv.messages] == ["user", "assistant", "assistant"]
        grades = {g.model: g for g in store.list_grades()}
        assert grades["demo-q8_0"].score == 4 and grades["demo-q8_0"].comment == "годится"
        assert grades["demo-f16"].question == expected["question"]


def test_chat_repl_on_stdin(exported_copy):
    code, out, err = run_cli(exported_copy, "chat", "demo-q8_0", stdin="Что такое эпоха?\n/grade 2 слабо\nЧто такое LoRA?\n/exit\n")
    assert code == 0, err
    assert "tokens/s" in err and "graded 2" in err
    from core.workspace import Workspace

    with Workspace.open(exported_copy).store() as store:
        conv = store.list_conversations()[0]
        assert [m.role for m in conv.messages] == ["user", "assistant", "user", "assistant"]
        assert conv.messages[1].content.strip() in out
        assert store.get_grade("demo-q8_0", "Что такое эпоха?").comment == "слабо"


def test_chat_unknown_model_is_a_user_error(exported_copy):
    code, _, err = run_cli(exported_copy, "chat", "nope", "-p", "Привет")
    assert code == 2 and "no GGUF model called 'nope'" in err


def test_chat_turn_continues_the_conversation_and_stop_cuts_only_the_answer_being_written(exported, exported_copy):
    """The chat turn the room and the CLI share: one conversation across questions, each model
    with its own history, every answer stored; ``stop()`` cuts the answer being written and the
    next model still answers; ``new()`` starts another conversation with the models loaded."""
    from core.loop.chat_turn import Chat
    from core.workspace import Workspace

    expected = _parity_answer(exported)
    ws = Workspace.open(exported_copy)
    with Chat(ws) as chat:
        first = chat.ask(expected["question"], ["demo-q8_0", "demo-f16"])
        assert [a.reply.text.strip() for a in first] == [expected["hf_answer"].strip()] * 2
        conv = chat.conversation_id
        runner = chat.runners["demo-q8_0"]
        cut = chat.ask("Что такое LoRA?", ["demo-q8_0", "demo-f16"],
                       on_piece=lambda i, piece: i == 0 and chat.stop())
        assert chat.conversation_id == conv and chat.runners["demo-q8_0"] is runner
        assert cut[0].reply.reason == "cancelled" and cut[1].reply.reason == "stop"
        assert len(cut[0].reply.text) < len(cut[1].reply.text)
        assert [m["role"] for m in chat.history["demo-q8_0"]] == ["user", "assistant"] * 2
        chat.new()
        again = chat.ask(expected["question"], ["demo-q8_0"])
        other = chat.conversation_id
        assert other != conv and chat.runners["demo-q8_0"] is runner
    with ws.store() as store:
        stored = store.get_conversation(conv)
        assert stored.models == ["demo-q8_0", "demo-f16"]
        assert [(m.role, m.model) for m in stored.messages] == [("user", None), ("assistant", "demo-q8_0"),
                                                                ("assistant", "demo-f16")] * 2
        assert [m.id for m in stored.messages if m.role == "assistant"] == [a.message_id for a in first + cut]
        assert [m.id for m in store.get_conversation(other).messages if m.role == "assistant"] == [again[0].message_id]


# any Russian letter or space, forever: no point at which the answer is complete
NEVER_ENDS = 'root ::= [а-яё ] root'
RUSSIAN_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"


@pytest.mark.parametrize("kind", ["local", "worker"])
def test_stop_mid_stream(exported, tmp_path, kind):
    from core.infer.runner import LocalRunner, ModelRef, ChildRunner

    q8 = Path(next(f["path"] for f in exported["report"]["files"] if f["quant"] == "q8_0"))
    cls = LocalRunner if kind == "local" else ChildRunner
    full = _parity_answer(exported)
    with cls(ModelRef("q8", q8, "q8"), log_file=tmp_path / "llama.log") as model:
        # a grammar with no end (every letter is followed by another) keeps the model from
        # ending its turn, so the only ways out are the stop and max_tokens: the test cannot
        # lose a race against the model finishing first
        seen: list[str] = []
        # the child process sends the first piece at once, then in 50 ms batches: stop on the
        # first piece there, on the second in-process
        enough = 2 if kind == "local" else 1
        for piece in model.stream([{"role": "user", "content": full["question"]}], max_tokens=400, temperature=1.0,
                                  grammar=NEVER_ENDS, cancel=lambda: len(seen) >= enough):
            seen.append(piece)
        assert model.last.reason == "cancelled"
        assert model.last.text == "".join(seen) and set(model.last.text) <= set(RUSSIAN_LETTERS + " ")
        if kind == "local":  # in-process the stop is seen before the next token: two pieces, each
            # at most two tokens (a Cyrillic letter the tokenizer spells in two byte tokens), plus one
            assert model.last.tokens <= 2 * enough + 1
        else:  # the child process hears it a few tokens later
            assert model.last.tokens < 200
        # the model is still usable after a stop, and answers in full
        again = model.reply([{"role": "user", "content": full["question"]}], max_tokens=64)
        assert again.reason == "stop" and again.text.strip() == full["hf_answer"].strip()


def test_llama_output_goes_to_the_log_not_fd2(exported, tmp_path, capsys):
    """Loading and generating in-process writes nothing to fd 2 nor to Python's sys.stderr."""
    from core.infer.runner import LocalRunner, ModelRef

    q8 = Path(next(f["path"] for f in exported["report"]["files"] if f["quant"] == "q8_0"))
    captured = tmp_path / "fd2.txt"
    log = tmp_path / "llama.log"
    fd = os.open(captured, os.O_WRONLY | os.O_CREAT)
    saved = os.dup(2)
    os.dup2(fd, 2)
    try:
        with LocalRunner(ModelRef("q8", q8, "q8"), log_file=log) as model:
            model.reply([{"role": "user", "content": "Что такое LoRA?"}], max_tokens=8)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    assert captured.read_text() == ""
    assert capsys.readouterr().err == ""
    assert "llama" in log.read_text(errors="replace")


def test_lean_loop_answers_exactly_like_create_chat_completion(exported, tmp_path):
    """Same GGUF, same seed sequence: our streaming loop and llama-cpp-python's own chat
    completion give the same text and the same reason to stop, greedy and sampled."""
    from core.infer.runner import LocalRunner, ModelRef
    from core.infer.generation import ChatStream
    from core.infer.llamacpp import load_llama

    q8 = Path(next(f["path"] for f in exported["report"]["files"] if f["quant"] == "q8_0"))
    raw = load_llama(q8, log_file=tmp_path / "llama.log", n_ctx=2048, seed=0, n_threads=1)
    ours = LocalRunner(ModelRef("q8", q8, "q8"), log_file=tmp_path / "llama.log", n_threads=1)
    ours.load()
    assert ChatStream.supported(ours.llm)  # the lean loop is the one under test
    try:
        questions = ["Что такое LoRA?", "Зачем нужна «оценочная» выборка? <b>", "Привет 😀"]
        for temperature, max_tokens in ((0.0, 48), (1.0, 48), (3.0, 120), (1.5, 5)):
            for q in questions:
                messages = [{"role": "user", "content": q}]
                chunks = list(raw.create_chat_completion(messages=messages, stream=True, temperature=temperature,
                                                         max_tokens=max_tokens, **({"top_k": 1} if temperature <= 0 else {})))
                want = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
                reason = next(c["choices"][0]["finish_reason"] for c in reversed(chunks) if c["choices"][0]["finish_reason"])
                got = ours.reply(messages, temperature=temperature, max_tokens=max_tokens)
                assert (got.text, got.reason) == (want, reason), (temperature, max_tokens, q)
    finally:
        raw.close()
        ours.close()
