"""Close the loop: a corrected model answer becomes a new training pair with its provenance.

Two places a model answers: a chat (a stored assistant message) and an evaluation (a stored
answer of one model to one eval pair). A correction of either is saved as a new pair in the
train split, its ``source`` telling where it came from:

* ``chat:<conversation id>`` for a chat answer,
* ``eval:<eval pair id>:<model>`` for an evaluation answer.

The TUI (Chat and Evaluate rooms) and the CLI (``nastavnik correct``) both call these
functions, so the rules live here once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from core.errors import UserError

if TYPE_CHECKING:
    from core.store import Store
    from core.store.chats import EvalResult, Message
    from core.store.pairs import Pair


def chat_source(conversation_id: int) -> str:
    return f"chat:{conversation_id}"


def eval_source(pair_id: int, model: str) -> str:
    return f"eval:{pair_id}:{model}"


def answer_message(store: "Store", message_id: int) -> "Message":
    """The stored assistant message ``message_id``; a UserError for anything else."""
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise UserError(f"{message_id!r} is not a message id", hint="`nastavnik chats show ID` lists message ids") from None
    try:
        msg = store.get_message(message_id)
    except UserError:
        raise UserError(
            f"no message with id {message_id}", hint="`nastavnik chats list` and `nastavnik chats show ID` list them"
        ) from None
    if msg.role != "assistant":
        raise UserError(
            f"message {message_id} is a {msg.role} turn, not a model's answer",
            hint="give the id of an assistant message (`nastavnik chats show "
            f"{msg.conversation_id}` shows the roles)",
        )
    return msg


def eval_answer(store: "Store", pair_id: int, model: str) -> "EvalResult":
    """The stored answer of ``model`` to eval pair ``pair_id``; a UserError when there is none."""
    try:
        pair_id = int(pair_id)
    except (TypeError, ValueError):
        raise UserError(f"{pair_id!r} is not a pair id", hint="`nastavnik eval MODEL --json` shows the eval pair ids") from None
    if not model or not str(model).strip():
        raise UserError("no model given", hint="name the model whose evaluation answer you correct (--model)")
    found = [r for r in store.eval_results([model]) if r.pair_id == pair_id]
    if found:
        return found[0]
    others = [r.model for r in store.eval_results() if r.pair_id == pair_id]
    if others:
        hint = "models with an answer to it: " + ", ".join(sorted(set(others)))
    else:
        hint = "run `nastavnik eval MODEL` first; `nastavnik eval MODEL --json` shows the pair ids"
    raise UserError(f"no evaluation answer of {model} to eval pair {pair_id}", hint=hint)


def _clean(text: str | None, what: str) -> str:
    if text is None or not str(text).strip():
        raise UserError(f"the corrected {what} is empty", hint=f"write the {what} the model should have given")
    return str(text).strip()


def _save(
    store: "Store",
    question: str,
    answer: str,
    *,
    system: str | None,
    status: str,
    tags: Iterable[str],
    source: str,
    context: list[dict] | None = None,
) -> "Pair":
    with store.transaction():
        dup = store.find_duplicate(question, answer)
        if dup is not None:
            raise UserError(f"this corrected pair is already in the store as pair {dup}",
                            hint=f"`nastavnik pairs show {dup}` shows it")
        return store.add_pair(question, answer, system=system, context=context or None, tags=tags, status=status,
                              split="train", source=source)


def correct_message(
    store: "Store",
    message_id: int,
    answer: str,
    *,
    question: str | None = None,
    status: str = "draft",
    tags: Iterable[str] = (),
    system: str | None = None,
    with_context: bool = True,
) -> "Pair":
    """Save a corrected chat answer as a new train pair with source ``chat:<conversation id>``.

    ``question`` defaults to the user turn the message answered; ``system`` to the
    conversation's system prompt (pass ``""`` for none). The turns before the question go
    with the pair as its context (``with_context=False``: a single-turn pair), so an answer
    to "and in more detail?" is trained after what it follows. Nothing is written on an error.
    """
    msg = answer_message(store, message_id)
    answer = _clean(answer, "answer")
    if question is None:
        question = store.question_for(msg.id)
        if question is None:
            raise UserError(f"message {msg.id} answers no question in its conversation",
                            hint="give the question with --question")
    question = _clean(question, "question")
    if system is None:
        system = store.get_conversation(msg.conversation_id).system
    context = store.context_for(msg.id) if with_context else None
    return _save(store, question, answer, system=system, status=status, tags=tags,
                 source=chat_source(msg.conversation_id), context=context)


def correct_eval(
    store: "Store",
    pair_id: int,
    model: str,
    answer: str,
    *,
    question: str | None = None,
    status: str = "draft",
    tags: Iterable[str] = (),
    system: str | None = None,
) -> "Pair":
    """Save a corrected evaluation answer as a new train pair with source ``eval:<pair id>:<model>``.

    ``question`` defaults to the eval pair's question (as it is now), ``system`` to its
    system prompt. Nothing is written on an error.
    """
    result = eval_answer(store, pair_id, model)
    answer = _clean(answer, "answer")
    try:
        pair = store.get_pair(result.pair_id)
    except UserError:  # the eval pair is gone for good: keep the question the model was asked
        pair = None
    if question is None:
        question = pair.question if pair is not None else result.question
    question = _clean(question, "question")
    if system is None and pair is not None:
        system = pair.system
    return _save(store, question, answer, system=system, status=status, tags=tags,
                 source=eval_source(result.pair_id, result.model))
