"""Close the loop: a corrected model answer becomes a new training pair with its provenance.

Two places a model answers: a chat (a stored assistant message) and an evaluation (a stored
answer of one model to one eval pair). A correction of either is saved as a new pair in the
train split, its ``source`` telling where it came from:

* ``chat:<conversation id>`` for a chat answer,
* ``eval:<eval pair id>:<model>`` for an evaluation answer.

When a train pair already asks the question, the correction may *replace* its answer instead
(``replace=ID``: one revision of that pair, undoable) — two pairs with one question and two
answers would teach both.

Every correction also records a *preference* in the same action (one undo takes both
back): the prompt as the model saw it (system prompt and earlier turns), ``rejected`` = the
model's answer, ``chosen`` = the correction, with the model and the run it came from. A
correction that leaves the answer as it was records no preference (there is nothing to
prefer). In a side-by-side chat, ``prefer_answer`` records a preference between two
models' answers to the same question (source ``compare:<conversation id>``).

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
    from core.store.preferences import Preference


def chat_source(conversation_id: int) -> str:
    return f"chat:{conversation_id}"


def eval_source(pair_id: int, model: str) -> str:
    return f"eval:{pair_id}:{model}"


def compare_source(conversation_id: int) -> str:
    return f"compare:{conversation_id}"


def run_of(store: "Store", model: str | None) -> int | None:
    """The training run a model key came from (a registered model's run), if any."""
    if not model:
        return None
    found = store.find_model(model)
    return found.run_id if found is not None else None


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def answer_message(store: "Store", message_id: int) -> "Message":
    """The stored assistant message ``message_id``; a UserError for anything else."""
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise UserError(f"{message_id!r} is not a message id", hint="`nastavnik chats show ID` lists message ids",
                        code="correct.bad_message_id", params={"id": str(message_id)}) from None
    try:
        msg = store.get_message(message_id)
    except UserError:
        raise UserError(
            f"no message with id {message_id}", hint="`nastavnik chats list` and `nastavnik chats show ID` list them",
            code="correct.no_message", params={"id": message_id},
        ) from None
    if msg.role != "assistant":
        raise UserError(
            f"message {message_id} is a {msg.role} turn, not a model's answer",
            hint="give the id of an assistant message (`nastavnik chats show "
            f"{msg.conversation_id}` shows the roles)",
            code="correct.not_an_answer", params={"id": message_id, "role": msg.role},
        )
    return msg


def eval_answer(store: "Store", pair_id: int, model: str) -> "EvalResult":
    """The stored answer of ``model`` to eval pair ``pair_id``; a UserError when there is none."""
    try:
        pair_id = int(pair_id)
    except (TypeError, ValueError):
        raise UserError(f"{pair_id!r} is not a pair id", hint="`nastavnik eval MODEL --json` shows the eval pair ids",
                        code="correct.bad_pair_id", params={"id": str(pair_id)}) from None
    if not model or not str(model).strip():
        raise UserError("no model given", hint="name the model whose evaluation answer you correct (--model)",
                        code="correct.no_model")
    found = [r for r in store.eval_results([model]) if r.pair_id == pair_id]
    if found:
        return found[0]
    others = [r.model for r in store.eval_results() if r.pair_id == pair_id]
    if others:
        hint = "models with an answer to it: " + ", ".join(sorted(set(others)))
    else:
        hint = "run `nastavnik eval MODEL` first; `nastavnik eval MODEL --json` shows the pair ids"
    raise UserError(f"no evaluation answer of {model} to eval pair {pair_id}", hint=hint,
                    code="correct.no_eval_answer_others" if others else "correct.no_eval_answer",
                    params={"model": str(model), "id": pair_id, "models": ", ".join(sorted(set(others)))})


def _clean(text: str | None, what: str) -> str:
    if text is None or not str(text).strip():
        raise UserError(f"the corrected {what} is empty", hint=f"write the {what} the model should have given",
                        code=f"correct.empty_{what}" if what in ("question", "answer") else "correct.empty",
                        params={"what": what})
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
    rejected: str | None = None,
    model: str | None = None,
    prompt_context: list[dict] | None = None,
    message_id: int | None = None,
    replace: int | None = None,
) -> "Pair":
    """The corrected pair, and (when the answer changed) its preference, as one action.

    ``replace``: the id of the pair that already asks this question; its answer (and question,
    status) become the correction — one revision, undone with the preference by one undo —
    instead of a second pair with the same question and another answer (a conflict)."""
    with store.transaction():
        dup = store.find_duplicate(question, answer)
        if dup is not None:
            raise UserError(f"this corrected pair is already in the store as pair {dup}",
                            hint=f"`nastavnik pairs show {dup}` shows it", code="correct.duplicate", params={"id": dup})
        if replace is not None:
            old = store.get_pair(int(replace))
            pair = store.update_pair(old.id, question=question, answer=answer, status=status)
            changed = (pair.question, pair.answer, pair.status) != (old.question, old.answer, old.status)  # else no action to join
        else:
            pair = store.add_pair(question, answer, system=system, context=context or None, tags=tags, status=status,
                                  split="train", source=source)
            changed = True
        if rejected and rejected.strip() and not _same(answer, rejected):
            store.add_preference(
                pair.question, pair.answer, rejected, with_last_action=changed, system=pair.system,
                context=prompt_context, model=model, run_id=run_of(store, model), source=source, pair_id=pair.id,
                message_id=message_id,
            )
        return pair


def pair_to_replace(store: "Store", question: str) -> "Pair | None":
    """The live train pair that already asks ``question`` (whitespace, case and ё aside), which
    a correction of an answer to it should replace rather than join as a conflicting pair."""
    found = store.find_question(question)
    if found is None:
        return None
    pair = store.get_pair(found)
    return pair if pair.split == "train" else None


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
    replace: int | None = None,
) -> "Pair":
    """Save a corrected chat answer as a new train pair with source ``chat:<conversation id>``
    (``replace=ID``: as the new answer of pair ID, which asks the same question).

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
                            hint="give the question with --question", code="correct.no_question", params={"id": msg.id})
    question = _clean(question, "question")
    if system is None:
        system = store.get_conversation(msg.conversation_id).system
    seen = store.context_for(msg.id)  # what the model saw: the preference keeps it either way
    return _save(store, question, answer, system=system, status=status, tags=tags,
                 source=chat_source(msg.conversation_id), context=seen if with_context else None,
                 rejected=msg.content, model=msg.model, prompt_context=seen, message_id=msg.id, replace=replace)


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
    replace: int | None = None,
) -> "Pair":
    """Save a corrected evaluation answer as a new train pair with source ``eval:<pair id>:<model>``
    (``replace=ID``: as the new answer of train pair ID — an answer to a train-split question).

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
                 source=eval_source(result.pair_id, result.model), rejected=result.answer, model=result.model,
                 prompt_context=pair.context if pair is not None else None, replace=replace)


def prefer_answer(store: "Store", chosen_id: int, rejected_id: int) -> "Preference":
    """Record that one model's answer (``chosen_id``, a chat message) beats another's
    (``rejected_id``) to the same question of a side-by-side chat. The prompt keeps the
    system prompt and the turns before the question as the chosen model saw them. Nothing
    is written on an error."""
    chosen = answer_message(store, chosen_id)
    rejected = answer_message(store, rejected_id)
    if chosen.id == rejected.id:
        raise UserError("an answer cannot be preferred to itself", hint="pick two answers to the same question",
                        code="prefer.itself")
    question = store.question_for(chosen.id)
    if chosen.conversation_id != rejected.conversation_id or question is None or \
            _question_id(store, chosen) != _question_id(store, rejected):
        raise UserError(f"messages {chosen.id} and {rejected.id} do not answer the same question",
                        hint="pick two models' answers to one question of a side-by-side chat",
                        code="prefer.not_same_question", params={"chosen": chosen.id, "rejected": rejected.id})
    if _same(chosen.content, rejected.content):
        raise UserError("the two answers are the same: there is nothing to prefer",
                        hint="a preference needs two different answers", code="prefer.same")
    conv = store.get_conversation(chosen.conversation_id)
    with store.transaction():
        source = compare_source(conv.id)
        dup = store.find_duplicate_preference(question, chosen.content, rejected.content, conv.system,
                                              store.context_for(chosen.id))
        if dup is not None:
            raise UserError(f"this preference is already in the store as preference {dup}",
                            hint=f"`nastavnik prefs show {dup}` shows it", code="prefer.duplicate", params={"id": dup})
        return store.add_preference(
            question, chosen.content, rejected.content, system=conv.system, context=store.context_for(chosen.id),
            model=rejected.model, run_id=run_of(store, rejected.model), chosen_model=chosen.model,
            chosen_run_id=run_of(store, chosen.model), source=source, message_id=rejected.id,
        )


def _question_id(store: "Store", msg: "Message") -> int | None:
    """The id of the user turn an assistant message answered."""
    turns = [m for m in store.get_conversation(msg.conversation_id).messages if m.role == "user" and m.id < msg.id]
    return turns[-1].id if turns else None
