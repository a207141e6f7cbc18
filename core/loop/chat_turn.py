"""The chat turn: a question to one or more models side by side, in a conversation kept in the store.

The Chat room and ``nastavnik chat`` both talk to models through ``Chat``, so a conversation
is created, asked and saved one way: ``ask(question, models)`` creates the conversation on the
first question, stores the question, asks each model in turn with its own history of this
conversation (streaming each piece to ``on_piece``), and stores each answer with its tokens and
seconds before the next model starts. Runners (``core.infer.runner``) are opened and loaded on
first use and kept across conversations until ``close``; ``new()`` starts another
conversation with the same runners. ``stop()`` (from any thread) cuts the answer being
written; ``cancel`` (checked between tokens and between models) ends the turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.infer.runner import ChildRunner, LocalRunner, Reply, open_model, resolve_model

Runner = LocalRunner | ChildRunner


@dataclass
class ChatAnswer:
    """One model's answer to one question, as stored: ``message_id`` is its assistant message."""

    model: str  # the store's key of the model
    label: str
    reply: Reply
    message_id: int

    def to_dict(self) -> dict:
        return {"model": self.model, "message_id": self.message_id, **self.reply.to_dict()}


def messages_for(history: list[dict], question: str, system: str | None = None) -> list[dict]:
    """The prompt for ``question``: the system prompt, the earlier turns, the question."""
    out = [{"role": "system", "content": system}] if system else []
    out += [m for m in history if m.get("role") in ("user", "assistant")]
    out.append({"role": "user", "content": question})
    return out


class Chat:
    """Conversations with models, side by side; one object per chat window or CLI session.

    ``in_process=False`` runs each model in a child process (the TUI: llama.cpp must not write
    on the terminal Textual draws on); ``gpu_layers`` is passed to ``open_model``.
    """

    def __init__(self, ws, *, in_process: bool = True, gpu_layers: int | None = None) -> None:
        self.ws = ws
        self.in_process = in_process
        self.gpu_layers = gpu_layers
        self.runners: dict[str, Runner] = {}  # by the name the model was asked for
        self.conversation_id: int | None = None
        self.history: dict[str, list[dict]] = {}  # this conversation's turns, by model name
        self.answering: Runner | None = None  # the runner writing an answer now

    def runner(self, name: str) -> Runner:
        """The loaded runner for ``name`` (a registered name, a path, an export, a run id)."""
        runner = self.runners.get(name)
        if runner is None:
            runner = open_model(self.ws, name, in_process=self.in_process, gpu_layers=self.gpu_layers)
            runner.load()
            self.runners[name] = runner
        return runner

    def open(self, names: list[str]) -> list[Runner]:
        """Load these models now, one after the other (each GPU plan sees the memory the ones
        before took); a wrong name fails before any model loads."""
        for name in names:
            resolve_model(self.ws, name)
        return [self.runner(name) for name in names]

    def ask(
        self,
        question: str,
        names: list[str],
        *,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cancel: Callable[[], bool] | None = None,
        on_loading: Callable[[str], None] | None = None,
        on_start: Callable[[int, Runner], None] | None = None,
        on_piece: Callable[[int, str], None] | None = None,
        on_answer: Callable[[int, ChatAnswer], None] | None = None,
    ) -> list[ChatAnswer]:
        """Ask each model in ``names`` (in order) and store the question and the answers.

        ``on_loading(name)`` before a model loads, ``on_start(i, runner)`` before the i-th
        model answers, ``on_piece(i, text)`` for each piece, ``on_answer(i, answer)`` once its
        answer is stored. Returns the stored answers (fewer when ``cancel`` ended the turn)."""
        names = list(dict.fromkeys(names))
        keys = [resolve_model(self.ws, name).key for name in names]
        options = {k: v for k, v in (("temperature", temperature), ("max_tokens", max_tokens)) if v is not None}
        answers: list[ChatAnswer] = []
        with self.ws.store() as store:
            if self.conversation_id is None:
                self.conversation_id = store.add_conversation(keys, system=system).id
            store.add_message(self.conversation_id, "user", question)
            for i, name in enumerate(names):
                if cancel is not None and cancel():
                    break
                if name not in self.runners and on_loading is not None:
                    on_loading(name)
                runner = self.runner(name)
                if on_start is not None:
                    on_start(i, runner)
                reply = self._stream(i, runner, messages_for(self.history.get(name, []), question, system),
                                     cancel, on_piece, options)
                msg = store.add_message(self.conversation_id, "assistant", reply.text, model=runner.ref.key,
                                        tokens=reply.tokens, seconds=round(reply.seconds, 4))
                self.history.setdefault(name, []).extend(
                    [{"role": "user", "content": question}, {"role": "assistant", "content": reply.text}])
                answers.append(ChatAnswer(runner.ref.key, runner.ref.label, reply, msg.id))
                if on_answer is not None:
                    on_answer(i, answers[-1])
        return answers

    def _stream(self, i: int, runner: Runner, messages: list[dict], cancel, on_piece, options: dict) -> Reply:
        self.answering = runner
        try:
            for piece in runner.stream(messages, cancel=cancel, **options):
                if on_piece is not None:
                    on_piece(i, piece)
        finally:
            self.answering = None
        assert runner.last is not None
        return runner.last

    def stop(self) -> None:
        """Stop the answer being written now, from any thread (the next model still answers
        unless ``cancel`` says otherwise)."""
        runner = self.answering
        if runner is not None:
            runner.stop()

    def new(self) -> None:
        """Start another conversation; the loaded models stay."""
        self.conversation_id = None
        self.history.clear()

    def close(self) -> None:
        """Close every runner (their child processes end)."""
        for runner in self.runners.values():
            runner.close()
        self.runners.clear()

    def __enter__(self) -> Chat:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
