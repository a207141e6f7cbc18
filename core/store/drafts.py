"""Teacher drafts: the answer a teacher model wrote for a pair, kept beside the pair.

A pair drafted by a teacher has a row here (``teacher``, the model's key, and ``draft``, its
text) under the action that saved it; undoing that action removes the row. ``Pair.teacher``
and ``Pair.draft`` are the newest row, ``Pair.edited`` whether the saved answer differs from
the draft. Drafts are saved as status ``draft`` and are never approved by themselves.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from core.store.base import now
from core.store.pairs import PairsMixin

TEACHER_PREFIX = "teacher:"


def teacher_source(teacher: str) -> str:
    return TEACHER_PREFIX + teacher


class DraftsMixin(PairsMixin):
    conn: Any

    def _record_draft(self, pair_id: int, teacher: str, draft: str, action_id: int | None) -> None:
        self.conn.execute(
            "INSERT INTO pair_drafts(pair_id, teacher, draft, action_id, created) VALUES (?,?,?,?,?)",
            (int(pair_id), teacher, draft, action_id, now()),
        )

    def add_drafted_pair(
        self,
        question: str,
        answer: str,
        *,
        teacher: str,
        draft: str,
        system: str | None = None,
        context: list[dict] | None = None,
        tags: Iterable[str] = (),
        split: str = "train",
    ):
        """A new pair whose answer started as ``teacher``'s ``draft`` (``answer`` is what the
        person saved: the draft itself, or their edit of it). Status draft, source
        ``teacher:<teacher>``; one undoable action."""
        with self.transaction():
            pair = self.add_pair(question, answer, system=system, context=context, tags=tags, status="draft",
                                 split=split, source=teacher_source(teacher))
            self._record_draft(pair.id, teacher, draft, self._latest_action_id())
        return self.get_pair(pair.id)

    def update_drafted_pair(self, pair_id: int, *, teacher: str, draft: str, expected=None, **fields):
        """Save an edit of an existing pair whose answer a teacher drafted just now, recording
        the draft under the same action (``fields``: those of ``update_pair``)."""
        with self.transaction():
            before = self._latest_action_id()
            pair = self.update_pair(pair_id, expected=expected, **fields)
            action = self._latest_action_id()
            if action == before:  # the text did not change: the drafting is an action of its own
                action = self._action("draft", f"teacher draft for pair {pair_id}")
            self._record_draft(pair_id, teacher, draft, action)
        return self.get_pair(pair.id)

    def add_draft_rows(self, rows: Sequence[dict], *, teacher: str, files: Sequence[str] = (), format: str = "teacher"):
        """Drafts a teacher wrote from a document, saved as one import batch (one undo
        removes them all): ``rows`` are ``prepare_row`` dicts whose answer is the draft.
        Duplicates of live pairs or of each other are skipped and counted."""
        with self.transaction():
            counts = self.add_pairs(rows, files=files, format=format)
            if counts.imported:
                self.conn.execute(
                    "INSERT INTO pair_drafts(pair_id, teacher, draft, action_id, created) "
                    "SELECT id, ?, answer, ?, ? FROM pairs WHERE batch_id=? ORDER BY id",
                    (teacher, self._latest_action_id(), now(), counts.batch_id),
                )
        return counts

    def find_question(self, question: str) -> int | None:
        """A live pair asking ``question`` (after normalising whitespace, case and ё), if any."""
        from core.store.migrations import dedup_keys

        _, qkey = dedup_keys(question, "")
        row = self.conn.execute("SELECT id FROM pairs WHERE question_key=? AND deleted IS NULL LIMIT 1", (qkey,)).fetchone()
        return row[0] if row else None

    def pairs_of_batch(self, batch_id: int) -> list:
        """The live pairs an import batch brought in, in id order."""
        ids = [r[0] for r in self.conn.execute(
            "SELECT id FROM pairs WHERE batch_id=? AND deleted IS NULL ORDER BY id", (batch_id,))]
        return self.get_pairs(ids)

    def draft_stats(self) -> dict:
        """Live pairs that came from a teacher draft: how many wait for review, and how many
        were approved as drafted vs after a person edited them (or were rejected)."""
        rows = self.conn.execute(
            "SELECT p.status, p.answer, (SELECT d.draft FROM pair_drafts d WHERE d.pair_id = p.id ORDER BY d.id DESC LIMIT 1) "
            "FROM pairs p WHERE p.deleted IS NULL AND p.id IN (SELECT pair_id FROM pair_drafts)"
        ).fetchall()
        out = {"total": len(rows), "waiting": 0, "accepted_unchanged": 0, "accepted_edited": 0, "rejected": 0, "edited": 0}
        for status, answer, draft in rows:
            edited = " ".join(answer.split()) != " ".join(draft.split())
            out["edited"] += edited
            if status == "draft":
                out["waiting"] += 1
            elif status == "approved":
                out["accepted_edited" if edited else "accepted_unchanged"] += 1
            else:
                out["rejected"] += 1
        return out

    def _undo_more(self, action_id: int, undo_id: int) -> None:
        """An undone edit forgets the draft it recorded; an undone add or import only moves
        the pairs to the trash, and they keep their drafts there (a restore brings both)."""
        super()._undo_more(action_id, undo_id)
        (kind,) = self.conn.execute("SELECT kind FROM actions WHERE id=?", (action_id,)).fetchone()
        if kind not in ("add", "import"):
            self.conn.execute("DELETE FROM pair_drafts WHERE action_id=?", (action_id,))

    def purge_trash(self) -> int:
        with self.transaction():
            self.conn.execute("DELETE FROM pair_drafts WHERE pair_id IN (SELECT id FROM pairs WHERE deleted IS NOT NULL)")
            return super().purge_trash()
