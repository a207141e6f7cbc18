"""Chats, grades and evaluation results: what the models said and what people thought of it.

A *model key* is the string a model is known by in these tables: the registered model's
name when it has one, else the GGUF file's absolute path. Grades are kept per model and
question (the folded question text), the latest grade winning; evaluation answers are kept
per model and eval pair, so re-running an evaluation only fills what is missing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from core.errors import UserError
from core.store.base import StoreBase, now
from core.text import normalize


def question_key(question: str) -> str:
    import hashlib

    return hashlib.blake2b(normalize(question).encode(), digest_size=12).hexdigest()


@dataclass
class Message:
    id: int
    conversation_id: int
    role: str
    content: str
    model: str | None = None
    tokens: int | None = None
    seconds: float | None = None
    created: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Conversation:
    id: int
    title: str
    models: list[str]
    system: str | None
    created: str
    updated: str
    messages: list[Message] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["messages"] = [m.to_dict() for m in self.messages]
        return d


@dataclass
class Grade:
    id: int
    model: str
    question: str
    score: int
    comment: str | None
    answer: str | None
    message_id: int | None
    pair_id: int | None
    created: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EvalResult:
    model: str
    pair_id: int
    question: str
    reference: str
    answer: str
    chrf: float
    exact: bool
    tokens: int
    seconds: float
    created: str
    judge: str | None = None
    judge_score: int | None = None
    judge_raw: str | None = None
    judge_rubric: str | None = None  # the hash of the rubric the judge read (core.eval.rubric)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Judgement:
    """One judge's score for one stored evaluation answer, with the answer it scored."""

    model: str
    pair_id: int
    judge: str
    score: int | None
    rubric: str | None
    question: str
    answer: str

    def to_dict(self) -> dict:
        return asdict(self)


_MSG_COLS = "id, conversation_id, role, content, model, tokens, seconds, created"


class ChatsMixin(StoreBase):
    conn: Any

    # ------------------------------------------------------------ conversations

    def add_conversation(self, models: Sequence[str], *, title: str = "", system: str | None = None) -> Conversation:
        stamp = now()
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO conversations(title, models, system, created, updated) VALUES (?,?,?,?,?)",
                (title, json.dumps(list(models), ensure_ascii=False), system, stamp, stamp),
            )
        return self.get_conversation(cur.lastrowid)

    def get_conversation(self, conversation_id: int) -> Conversation:
        row = self.conn.execute(
            "SELECT id, title, models, system, created, updated FROM conversations WHERE id=?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise UserError(f"no conversation with id {conversation_id}", hint="`nastavnik chats list` shows them",
                            code="chat.no_conversation", params={"id": conversation_id})
        msgs = [
            Message(*r)
            for r in self.conn.execute(
                f"SELECT {_MSG_COLS} FROM messages WHERE conversation_id=? ORDER BY id", (conversation_id,)
            )
        ]
        return Conversation(row[0], row[1] or "", json.loads(row[2] or "[]"), row[3], row[4], row[5], msgs)

    def list_conversations(self, *, limit: int = 50) -> list[Conversation]:
        ids = [r[0] for r in self.conn.execute("SELECT id FROM conversations ORDER BY updated DESC, id DESC LIMIT ?", (limit,))]
        return [self.get_conversation(i) for i in ids]

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        model: str | None = None,
        tokens: int | None = None,
        seconds: float | None = None,
    ) -> Message:
        if role not in ("system", "user", "assistant"):
            raise UserError(f"unknown role {role!r}", hint="use system, user or assistant")
        stamp = now()
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO messages(conversation_id, role, content, model, tokens, seconds, created) VALUES (?,?,?,?,?,?,?)",
                (conversation_id, role, content, model, tokens, seconds, stamp),
            )
            self.conn.execute("UPDATE conversations SET updated=? WHERE id=?", (stamp, conversation_id))
            if role == "user":
                self.conn.execute(
                    "UPDATE conversations SET title=? WHERE id=? AND (title IS NULL OR title='')",
                    (content.strip().splitlines()[0][:80] if content.strip() else "", conversation_id),
                )
        return self.get_message(cur.lastrowid)

    def get_message(self, message_id: int) -> Message:
        row = self.conn.execute(f"SELECT {_MSG_COLS} FROM messages WHERE id=?", (message_id,)).fetchone()
        if row is None:
            raise UserError(f"no message with id {message_id}", code="chat.no_message", params={"id": message_id})
        return Message(*row)

    def question_for(self, message_id: int) -> str | None:
        """The user turn an assistant message answered."""
        msg = self.get_message(message_id)
        row = self.conn.execute(
            "SELECT content FROM messages WHERE conversation_id=? AND role='user' AND id<? ORDER BY id DESC LIMIT 1",
            (msg.conversation_id, message_id),
        ).fetchone()
        return row[0] if row else None

    def context_for(self, message_id: int) -> list[dict]:
        """The turns before the question an assistant message answered, as that model saw
        them: every user turn and this model's own answers (side-by-side chats keep one
        history per model)."""
        msg = self.get_message(message_id)
        question = self.conn.execute(
            "SELECT id FROM messages WHERE conversation_id=? AND role='user' AND id<? ORDER BY id DESC LIMIT 1",
            (msg.conversation_id, message_id),
        ).fetchone()
        if question is None:
            return []
        rows = self.conn.execute(
            "SELECT role, content FROM messages WHERE conversation_id=? AND id<? "
            "AND (role='user' OR (role='assistant' AND model IS ?)) ORDER BY id",
            (msg.conversation_id, question[0], msg.model),
        ).fetchall()
        return [{"role": role, "content": content} for role, content in rows]

    # ------------------------------------------------------------ grades

    def grade(
        self,
        model: str,
        question: str,
        score: int,
        *,
        comment: str | None = None,
        answer: str | None = None,
        message_id: int | None = None,
        pair_id: int | None = None,
    ) -> Grade:
        """Grade a model's answer to a question, 1–5; a new grade replaces the old one."""
        try:
            score = int(score)
        except (TypeError, ValueError):
            raise UserError(f"grade {score!r} is not a number", hint="grade from 1 (bad) to 5 (excellent)",
                            code="chat.bad_grade", params={"score": str(score)}) from None
        if not 1 <= score <= 5:
            raise UserError(f"grade {score} is out of range", hint="grade from 1 (bad) to 5 (excellent)",
                            code="chat.grade_range", params={"score": score})
        key = question_key(question)
        stamp = now()
        with self.transaction():
            self.conn.execute("DELETE FROM grades WHERE model=? AND question_key=?", (model, key))
            cur = self.conn.execute(
                "INSERT INTO grades(model, question_key, question, score, comment, answer, message_id, pair_id, created) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (model, key, question, score, comment or None, answer, message_id, pair_id, stamp),
            )
        return self._grade_row(self.conn.execute(f"SELECT {_GRADE_COLS} FROM grades WHERE id=?", (cur.lastrowid,)).fetchone())

    def get_grade(self, model: str, question: str) -> Grade | None:
        row = self.conn.execute(
            f"SELECT {_GRADE_COLS} FROM grades WHERE model=? AND question_key=?", (model, question_key(question))
        ).fetchone()
        return self._grade_row(row) if row else None

    def list_grades(self, model: str | None = None) -> list[Grade]:
        sql = f"SELECT {_GRADE_COLS} FROM grades"
        params: list = []
        if model:
            sql += " WHERE model=?"
            params.append(model)
        return [self._grade_row(r) for r in self.conn.execute(sql + " ORDER BY id", params)]

    def _grade_row(self, r) -> Grade:
        return Grade(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])

    # ------------------------------------------------------------ evaluation

    def save_eval_result(self, r: EvalResult) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO eval_results(model, pair_id, question, reference, answer, chrf, exact, tokens, seconds, created) "
                "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(model, pair_id) DO UPDATE SET question=excluded.question, "
                "reference=excluded.reference, answer=excluded.answer, chrf=excluded.chrf, exact=excluded.exact, "
                "tokens=excluded.tokens, seconds=excluded.seconds, created=excluded.created",
                (r.model, r.pair_id, r.question, r.reference, r.answer, r.chrf, int(r.exact), r.tokens, r.seconds, r.created or now()),
            )
            # a new answer makes an old judgement meaningless
            self.conn.execute("DELETE FROM eval_judgements WHERE model=? AND pair_id=?", (r.model, r.pair_id))

    def save_judgement(self, model: str, pair_id: int, judge: str, score: int | None, raw: str, *,
                       rubric: str | None = None) -> None:
        """A judge's score for a stored answer, and the hash of the rubric it read (the default
        rubric's when not given); a judge's new judgement of the same answer (after the rubric
        changed) replaces its old one."""
        if rubric is None:
            from core.eval.rubric import DEFAULT_RUBRIC, rubric_hash

            rubric = rubric_hash(DEFAULT_RUBRIC)
        with self.transaction():
            self.conn.execute(
                "INSERT INTO eval_judgements(model, pair_id, judge, score, raw, created, rubric) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT(model, pair_id, judge) DO UPDATE SET score=excluded.score, raw=excluded.raw, "
                "created=excluded.created, rubric=excluded.rubric",
                (model, pair_id, judge, score, raw, now(), rubric),
            )

    def judgements(self, *, rubric: str | None = None) -> list[Judgement]:
        """Every judge's judgements of stored answers (only those made with ``rubric`` when given)."""
        sql = (
            "SELECT j.model, j.pair_id, j.judge, j.score, j.rubric, e.question, e.answer FROM eval_judgements j "
            "JOIN eval_results e ON e.model=j.model AND e.pair_id=j.pair_id"
        )
        params: list = []
        if rubric is not None:
            sql += " WHERE j.rubric=?"
            params.append(rubric)
        return [Judgement(*r) for r in self.conn.execute(sql + " ORDER BY j.judge, j.model, j.pair_id", params)]

    def update_eval_scores(self, model: str, pair_id: int, *, reference: str, chrf: float, exact: bool) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE eval_results SET reference=?, chrf=?, exact=? WHERE model=? AND pair_id=?",
                (reference, chrf, int(exact), model, pair_id),
            )

    def eval_results(self, models: Sequence[str] | None = None, *, judge: str | None = None,
                     rubric: str | None = None) -> list[EvalResult]:
        """Stored answers with the newest judgement of each (by ``judge`` and made with
        ``rubric`` when given: an answer no such judgement exists for comes unjudged)."""
        sql = (
            "SELECT e.model, e.pair_id, e.question, e.reference, e.answer, e.chrf, e.exact, e.tokens, e.seconds, e.created, "
            "j.judge, j.score, j.raw, j.rubric FROM eval_results e "
            "LEFT JOIN eval_judgements j ON j.model=e.model AND j.pair_id=e.pair_id"
        )
        params: list = []
        if judge:
            sql += " AND j.judge=?"
            params.append(judge)
        if rubric is not None:
            sql += " AND j.rubric=?"
            params.append(rubric)
        if models:
            sql += f" WHERE e.model IN ({','.join('?' * len(models))})"
            params += list(models)
        sql += " ORDER BY e.pair_id, e.model, j.created DESC"
        out: dict[tuple[str, int], EvalResult] = {}
        for r in self.conn.execute(sql, params):
            key = (r[0], r[1])
            if key in out:  # several judges: keep the newest
                continue
            out[key] = EvalResult(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9], r[10], r[11], r[12], r[13])
        return list(out.values())

    def eval_models(self) -> list[str]:
        """Every model with stored evaluation answers, in the order first evaluated."""
        return [r[0] for r in self.conn.execute("SELECT model FROM eval_results GROUP BY model ORDER BY min(id)")]


_GRADE_COLS = "id, model, question, score, comment, answer, message_id, pair_id, created"
