"""Blind votes: which of two models' answers to one question the user preferred, not knowing
whose was whose — the evidence Chat's blind comparison ranks models by (``core.eval.ranking``).

A vote names both models and both answers (chat messages) in the order they were shown (A, B),
the seed that order was drawn from, the winner (``a``, ``b`` or ``tie``) and, for an A/B vote,
the preference it recorded. ``core.loop.blind.cast_vote`` writes a vote and its preference as
one action.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import UserError
from core.store.base import StoreBase, inserted_id, now

WINNERS = ("a", "b", "tie")
_COLS = "id, conversation_id, question, model_a, model_b, message_a, message_b, seed, winner, preference_id, created"


@dataclass
class BlindVote:
    id: int
    conversation_id: int | None
    question: str
    model_a: str
    model_b: str
    message_a: int
    message_b: int
    seed: int
    winner: str  # a, b or tie
    preference_id: int | None
    created: str

    @property
    def winner_model(self) -> str | None:
        """The model whose answer won; None for a tie."""
        return {"a": self.model_a, "b": self.model_b}.get(self.winner)

    def to_dict(self) -> dict:
        return {**asdict(self), "winner_model": self.winner_model}


class VotesMixin(StoreBase):
    conn: Any

    def add_blind_vote(
        self,
        *,
        conversation_id: int | None,
        question: str,
        model_a: str,
        model_b: str,
        message_a: int,
        message_b: int,
        seed: int,
        winner: str,
        preference_id: int | None = None,
    ) -> BlindVote:
        """Store one vote; a second vote on the same two answers is refused (``blind.voted``)."""
        if winner not in WINNERS:
            raise UserError(f"unknown winner {winner!r}", hint="vote a, b or tie")
        try:
            with self.transaction():
                cur = self.conn.execute(
                    f"INSERT INTO blind_votes({_COLS.split(', ', 1)[1]}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (conversation_id, question, model_a, model_b, message_a, message_b, seed, winner,
                     preference_id, now()),
                )
        except sqlite3.IntegrityError:
            raise UserError("these two answers have a vote already", hint="ask another question to vote again",
                            code="blind.voted") from None
        return self.get_blind_vote(inserted_id(cur))

    def get_blind_vote(self, vote_id: int) -> BlindVote:
        row = self.conn.execute(f"SELECT {_COLS} FROM blind_votes WHERE id=?", (vote_id,)).fetchone()
        if row is None:
            raise UserError(f"no blind vote with id {vote_id}")
        return BlindVote(*row)

    def blind_votes(self) -> list[BlindVote]:
        """Every vote, oldest first."""
        return [BlindVote(*r) for r in self.conn.execute(f"SELECT {_COLS} FROM blind_votes ORDER BY id")]
