"""Blind comparison: two models answer one question as «A» and «B» in an order the user cannot
guess, the user votes A, B or a tie, and the vote becomes data.

``blind_order`` draws which model is A from a seed (one seed per question, kept with the vote, so
the order shown can be told again); ``cast_vote`` stores the vote and, for an A/B vote, the
preference it means — the winner's answer chosen over the loser's, recorded exactly as Chat's
``p`` records one (``core.loop.corrections.prefer_answer``). A tie records no preference; two
answers alike word for word take a tie only. Vote and preference are written together or not at
all; a preference already in the store (the same question and answers voted again) is linked
to, not doubled.
"""

from __future__ import annotations

import random
import secrets
from typing import TYPE_CHECKING

from core.errors import UserError
from core.loop.corrections import _same, answer_message, prefer_answer
from core.store.votes import WINNERS

if TYPE_CHECKING:
    from core.store import BlindVote, Store


def new_seed() -> int:
    """A fresh seed for one question's order (not reproducible on purpose: it is stored instead)."""
    return secrets.randbits(31)


def blind_order(models: list[str], seed: int) -> list[str]:
    """``models`` (two) in the order shown as A, B, drawn from ``seed``: the same seed, the same order."""
    if len(models) != 2 or models[0] == models[1]:
        raise UserError("a blind comparison needs two different models", hint="choose two models side by side",
                        code="blind.two")
    order = list(models)
    random.Random(seed).shuffle(order)
    return order


def cast_vote(store: "Store", message_a: int, message_b: int, seed: int, winner: str) -> "BlindVote":
    """Store the vote on two answers (chat messages, in the order shown); an A/B vote also stores
    its preference. ``winner``: ``a``, ``b`` or ``tie``."""
    if winner not in WINNERS:
        raise UserError(f"unknown winner {winner!r}", hint="vote a, b or tie")
    a, b = answer_message(store, message_a), answer_message(store, message_b)
    question = store.question_for(a.id) or ""
    if a.id == b.id or a.conversation_id != b.conversation_id or store.question_for(b.id) != question:
        raise UserError(f"messages {a.id} and {b.id} are not two answers to one question",
                        hint="vote on the two answers of one blind question")
    if winner != "tie" and _same(a.content, b.content):
        raise UserError("the two answers are the same: neither is better", hint="vote a tie", code="blind.same")
    with store.transaction():  # the vote and its preference, or neither
        preference_id = None
        if winner != "tie":
            chosen, rejected = (a, b) if winner == "a" else (b, a)
            try:
                preference_id = prefer_answer(store, chosen.id, rejected.id).id
            except UserError as exc:
                if exc.code != "prefer.duplicate":
                    raise
                preference_id = int(exc.params["id"])  # the same answers voted again: the one already kept
        return store.add_blind_vote(
            conversation_id=a.conversation_id, question=question, model_a=a.model or "", model_b=b.model or "",
            message_a=a.id, message_b=b.id, seed=seed, winner=winner, preference_id=preference_id,
        )
