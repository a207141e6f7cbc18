"""Pairs: the curated question–answer data, with revisions, trash, undo, search and dedup."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence, TypedDict, Unpack

from core.errors import UserError
from core.store.base import StoreBase, now
from core.store.migrations import dedup_keys
from core.text import estimate_tokens_sql, fold, normalize_context, normalize_newlines

STATUSES = ("draft", "approved", "rejected")
SPLITS = ("train", "eval")
ORDERABLE = {"id", "updated", "created", "status", "split", "question", "answer"}
_UNSET: Any = object()
_CHUNK = 900  # stays under SQLite's limit on bound parameters


class PairFields(TypedDict, total=False):
    """A pair's fields besides its question and answer, as ``prepare_row`` and ``add_pair`` take them."""

    system: str | None
    context: list[dict] | None
    tags: Iterable[str]
    status: str
    split: str
    source: str | None


@dataclass
class Pair:
    id: int
    question: str
    answer: str
    system: str | None = None
    context: list[dict] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    status: str = "draft"
    split: str = "train"
    source: str | None = None
    created: str = ""
    updated: str = ""
    deleted: str | None = None
    batch_id: int | None = None
    teacher: str | None = None  # the model whose draft the answer started from (core.store.drafts)
    draft: str | None = None  # that draft as the teacher wrote it

    @property
    def edited(self) -> bool | None:
        """Whether a person changed the teacher's draft (None: the pair has no draft)."""
        if self.draft is None:
            return None
        return " ".join(self.answer.split()) != " ".join(self.draft.split())

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "system": self.system,
            "context": self.context,
            "tags": self.tags,
            "status": self.status,
            "split": self.split,
            "source": self.source,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "teacher": self.teacher,
            "draft": self.draft,
            "edited": self.edited,
        }


@dataclass
class PairFilter:
    """What to show: every field narrows; ``trash`` shows only deleted pairs."""

    status: str | None = None
    split: str | None = None
    tag: str | None = None
    query: str | None = None
    trash: bool = False
    ids: Sequence[int] | None = None


@dataclass
class Revision:
    """The state of a pair *before* an action changed it."""

    id: int
    pair_id: int
    action_id: int | None
    action: str
    existed: bool
    question: str | None
    answer: str | None
    system: str | None
    context: list[dict]
    tags: list[str]
    status: str | None
    split: str | None
    deleted: str | None
    created: str


@dataclass
class Action:
    id: int
    kind: str
    summary: str
    created: str
    undone: bool


@dataclass
class ImportCounts:
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    batch_id: int | None = None
    duplicate_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"imported": self.imported, "duplicates": self.duplicates, "rejected": self.rejected}


@dataclass
class DedupReport:
    duplicates: list[list[Pair]]  # groups of pairs equal after normalisation
    conflicts: list[list[Pair]]  # same question, different answers


_PAIR_COLS = (
    "p.id, p.question, p.answer, p.system, p.context, p.status, p.split, p.source, p.created, p.updated, p.deleted, "
    "p.batch_id, "
    # the newest teacher draft of the pair, if any (read per returned row through an index)
    "(SELECT d.teacher FROM pair_drafts d WHERE d.pair_id = p.id ORDER BY d.id DESC LIMIT 1), "
    "(SELECT d.draft FROM pair_drafts d WHERE d.pair_id = p.id ORDER BY d.id DESC LIMIT 1)"
)


def _check_text(name: str, value: str | None) -> str:
    if value is None or not str(value).strip():
        raise UserError(f"the {name} is empty", hint=f"write a {name}: a pair needs both a question and an answer",
                        code=f"pair.empty_{name}")
    return str(value)


def _new_text(value, stored):
    r"""Text about to be written: line ends made ``\n`` unless it is the text already stored.

    New text (an added pair, an edited field) never carries ``\r``; a field an edit passes
    through unchanged is left exactly as stored, so old pairs keep their content hashes.
    """
    if value is None or value == stored:
        return value
    return normalize_context(value) if isinstance(value, list) else normalize_newlines(value)


def _check_status(status: str) -> str:
    if status not in STATUSES:
        raise UserError(f"unknown status {status!r}", hint="use one of: " + ", ".join(STATUSES),
                        code="pair.unknown_status", params={"value": str(status)})
    return status


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}", hint="use one of: " + ", ".join(SPLITS),
                        code="pair.unknown_split", params={"value": str(split)})
    return split


def _clean_tags(tags: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for tag in tags or ():
        tag = str(tag).strip()
        if tag and tag not in out:
            out.append(tag)
    return out


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _chunks(seq: Sequence, size: int = _CHUNK):
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


_EDITABLE = ("question", "answer", "system", "context", "tags", "status", "split")


class PairChanged(UserError):
    """The pair changed (or went to the trash) since the caller loaded it; nothing was written.

    ``expected`` is the pair as the caller loaded it, or None when the caller gave only the
    ``updated`` stamp it saw (``since``); ``current`` is the pair as it is now
    (``current.deleted`` is set when it sits in the trash), or None when it is gone for good.
    """

    def __init__(self, pair_id: int, expected: Pair | None, current: Pair | None, *, since: str | None = None) -> None:
        self.pair_id = pair_id
        self.expected = expected
        self.current = current
        self.since = since
        pid = pair_id
        if current is None:
            message = f"pair {pid} was deleted for good while you were editing it"
            hint = "save your text as a new pair"
        elif self.gone:
            message = f"pair {pid} was moved to the trash while you were editing it"
            hint = f"save your text as a new pair, or restore the pair first (`nastavnik pairs restore {pid}`)"
        elif expected is None:
            message = f"pair {pid} was changed elsewhere after {since} (last change {current.updated})"
            hint = f"look at it with `nastavnik pairs show {pid}`, or overwrite it with yours"
        else:
            fields = [k for k in _EDITABLE + ("deleted",) if getattr(current, k) != getattr(expected, k)]
            what = ", ".join(fields) if fields else "its state"
            message = f"pair {pid} was changed elsewhere while you were editing it ({what})"
            hint = "look at the new version, or overwrite it with yours"
        super().__init__(message, hint=hint)

    @property
    def gone(self) -> bool:
        """True when the pair is in the trash or deleted for good: there is nothing to overwrite."""
        if self.current is None:
            return True
        was_live = self.expected is None or self.expected.deleted is None
        return self.current.deleted is not None and was_live


_TERM_SEP = "\x1f"  # joins the short terms of one search into one SQL parameter (no term holds it)


def _has_all(terms: str, question: str | None, answer: str | None) -> int:
    """1 if every folded term of ``terms`` is in the folded question or the folded answer: the
    scan for terms too short for the trigram index, one Python call per row, each text folded
    once (two ``instr(nfold(…))`` calls per term and row took twice as long)."""
    q, a = fold(question or ""), fold(answer or "")
    return int(all(t in q or t in a for t in terms.split(_TERM_SEP)))


class PairsMixin(StoreBase):
    conn: Any

    # ------------------------------------------------------------------ reading

    def _row_to_pair(self, row: tuple, tags: list[str]) -> Pair:
        return Pair(
            id=row[0],
            question=row[1],
            answer=row[2],
            system=row[3],
            context=json.loads(row[4]) if row[4] else [],
            status=row[5],
            split=row[6],
            source=row[7],
            created=row[8],
            updated=row[9],
            deleted=row[10],
            batch_id=row[11],
            teacher=row[12],
            draft=row[13],
            tags=tags,
        )

    def _tags_for(self, ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {i: [] for i in ids}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for pid, tag in self.conn.execute(
                f"SELECT pair_id, tag FROM pair_tags WHERE pair_id IN ({marks}) ORDER BY rowid", chunk
            ):
                out[pid].append(tag)
        return out

    def _pairs_by_rows(self, rows: list[tuple]) -> list[Pair]:
        tags = self._tags_for([r[0] for r in rows])
        return [self._row_to_pair(r, tags[r[0]]) for r in rows]

    def get_pair(self, pair_id: int) -> Pair:
        row = self.conn.execute(f"SELECT {_PAIR_COLS} FROM pairs p WHERE p.id=?", (pair_id,)).fetchone()
        if row is None:
            raise UserError(f"no pair with id {pair_id}", hint="`nastavnik pairs list` shows the ids", code="pair.no_pair",
                            params={"id": pair_id})
        return self._pairs_by_rows([row])[0]

    def get_pairs(self, ids: Sequence[int]) -> list[Pair]:
        rows: list[tuple] = []
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            rows += self.conn.execute(f"SELECT {_PAIR_COLS} FROM pairs p WHERE p.id IN ({marks})", chunk).fetchall()
        by_id = {p.id: p for p in self._pairs_by_rows(rows)}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise UserError(f"no pair with id {missing[0]}", hint="`nastavnik pairs list` shows the ids", code="pair.no_pair",
                            params={"id": missing[0]})
        return [by_id[i] for i in ids]

    def _where(self, flt: PairFilter | None) -> tuple[str, list]:
        """(FROM … WHERE … clause, params) selecting the pairs ``flt`` asks for.

        A search drives the query from the trigram index (``f.rowid`` order), so the first
        page of a common word at a million pairs costs a millisecond, not a scan.
        """
        flt = flt or PairFilter()
        source = "pairs p"
        clauses = ["p.deleted IS NOT NULL" if flt.trash else "p.deleted IS NULL"]
        params: list = []
        if flt.query and flt.query.strip():
            terms = fold(flt.query).split()
            long_terms = [t for t in terms if len(t) >= 3]
            short_terms = [t for t in terms if len(t) < 3]
            if flt.trash:  # the index holds live pairs only: scan the trash
                short_terms, long_terms = terms, []
            if long_terms:
                source = "pairs_fts f JOIN pairs p ON p.id = f.rowid"
                clauses.insert(0, "pairs_fts MATCH ?")
                params.append(" AND ".join(_fts_phrase(t) for t in long_terms))
            if short_terms:
                # trigram needs three characters; shorter terms scan the text, folded once per row
                self._ensure_fold_function()
                clauses.append("nhas(?, p.question, p.answer)")
                params.append(_TERM_SEP.join(short_terms))
        if flt.status:
            clauses.append("p.status = ?")
            params.append(_check_status(flt.status))
        if flt.split:
            clauses.append("p.split = ?")
            params.append(_check_split(flt.split))
        if flt.tag:
            clauses.append("p.id IN (SELECT pair_id FROM pair_tags WHERE tag = ?)")
            params.append(flt.tag)
        if flt.ids is not None:
            ids = list(flt.ids) or [-1]
            clauses.append(f"p.id IN ({','.join(str(int(i)) for i in ids)})")
        return f"{source} WHERE " + " AND ".join(clauses), params

    def _ensure_fold_function(self) -> None:
        if not getattr(self, "_fold_registered", False):
            self.conn.create_function("nhas", 3, _has_all, deterministic=True)
            self._fold_registered = True

    def list_pairs(
        self,
        flt: PairFilter | None = None,
        *,
        order: str = "id",
        desc: bool = False,
        offset: int = 0,
        limit: int | None = 100,
        after: Pair | None = None,
    ) -> list[Pair]:
        """A page of the pairs ``flt`` selects, sorted by ``order`` (ties by id). ``after``: start
        right after this pair in that order (keyset paging: SQLite seeks to it in the index
        instead of walking past ``offset`` rows), ``offset`` then counting from there."""
        if order not in ORDERABLE:
            raise UserError(f"cannot sort by {order!r}", hint="sort by one of: " + ", ".join(sorted(ORDERABLE)))
        where, params = self._where(flt)
        direction = "DESC" if desc else "ASC"
        key = "f.rowid" if order == "id" and where.startswith("pairs_fts") else f"p.{order}"
        if after is not None:
            op = "<" if desc else ">"
            if order == "id":
                where += f" AND {key} {op} ?"
                params = params + [after.id]
            else:
                value = getattr(after, order)
                where += f" AND ({key} {op} ? OR ({key} = ? AND p.id {op} ?))"
                params = params + [value, value, after.id]
        tie = "" if order == "id" else f", p.id {direction}"
        sql = f"SELECT {_PAIR_COLS} FROM {where} ORDER BY {key} {direction}{tie}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = params + [limit, offset]
        return self._pairs_by_rows(self.conn.execute(sql, params).fetchall())

    def pair_row(self, pair_id: int, flt: PairFilter | None = None, *, order: str = "id", desc: bool = False) -> int | None:
        """Where a pair stands in ``list_pairs(flt, order=order, desc=desc)``: its row from 0, or
        None where ``flt`` does not select it (a table shows a pair saved elsewhere by this)."""
        if order not in ORDERABLE:
            raise UserError(f"cannot sort by {order!r}", hint="sort by one of: " + ", ".join(sorted(ORDERABLE)))
        where, params = self._where(flt)
        key = "f.rowid" if order == "id" and where.startswith("pairs_fts") else f"p.{order}"
        found = self.conn.execute(f"SELECT {key} FROM {where} AND p.id = ?", params + [pair_id]).fetchone()
        if found is None:
            return None
        op = ">" if desc else "<"  # the rows shown before it
        if order == "id":
            before, extra = f"{key} {op} ?", [found[0]]
        else:
            before, extra = f"({key} {op} ? OR ({key} = ? AND p.id {op} ?))", [found[0], found[0], pair_id]
        return self.conn.execute(f"SELECT count(*) FROM {where} AND {before}", params + extra).fetchone()[0]

    def iter_pairs(self, flt: PairFilter | None = None, *, batch: int = 1000):
        """Every matching pair in id order, read a page at a time."""
        where, params = self._where(flt)
        last = 0
        while True:
            rows = self.conn.execute(
                f"SELECT {_PAIR_COLS} FROM {where} AND p.id > ? ORDER BY p.id LIMIT ?",
                params + [last, batch],
            ).fetchall()
            if not rows:
                return
            yield from self._pairs_by_rows(rows)
            last = rows[-1][0]

    def count_pairs(self, flt: PairFilter | None = None) -> int:
        flt = flt or PairFilter()
        only_search = flt.query and not (flt.trash or flt.status or flt.split or flt.tag or flt.ids is not None)
        words = fold(flt.query).split() if flt.query else []
        if only_search and all(len(t) >= 3 for t in words):
            # every live pair is in the index and nothing else is: count there, no join
            match = " AND ".join(_fts_phrase(t) for t in words)
            return self.conn.execute("SELECT count(*) FROM pairs_fts WHERE pairs_fts MATCH ?", (match,)).fetchone()[0]
        where, params = self._where(flt)
        return self.conn.execute(f"SELECT count(*) FROM {where}", params).fetchone()[0]

    def pair_ids(self, flt: PairFilter | None = None) -> list[int]:
        where, params = self._where(flt)
        return [r[0] for r in self.conn.execute(f"SELECT p.id FROM {where} ORDER BY p.id", params)]

    def tags(self) -> list[tuple[str, int]]:
        """Every tag on a live pair with its count, most used first."""
        return [
            (tag, n)
            for tag, n in self.conn.execute(
                "SELECT t.tag, count(*) FROM pair_tags t JOIN pairs p ON p.id = t.pair_id "
                "WHERE p.deleted IS NULL GROUP BY t.tag ORDER BY count(*) DESC, t.tag"
            )
        ]

    def stats(self, flt: PairFilter | None = None) -> dict:
        where, params = self._where(flt)
        total = self.conn.execute(f"SELECT count(*) FROM {where}", params).fetchone()[0]
        by_status = {s: 0 for s in STATUSES}
        by_status.update(
            dict(self.conn.execute(f"SELECT p.status, count(*) FROM {where} GROUP BY p.status", params))
        )
        by_split = {s: 0 for s in SPLITS}
        by_split.update(
            dict(self.conn.execute(f"SELECT p.split, count(*) FROM {where} GROUP BY p.split", params))
        )
        by_tag = dict(
            self.conn.execute(
                f"SELECT t.tag, count(*) FROM {where.replace(' WHERE ', ' JOIN pair_tags t ON t.pair_id = p.id WHERE ', 1)} "
                "GROUP BY t.tag ORDER BY count(*) DESC, t.tag",
                params,
            )
        )
        tok = estimate_tokens_sql
        rows = self.conn.execute(
            f"SELECT length(p.question), length(p.answer), {tok('p.question')}, {tok('p.answer')} FROM {where}", params
        ).fetchall()
        q_chars, a_chars, q_tok, a_tok = (list(col) for col in zip(*rows)) if rows else ([], [], [], [])
        return {
            "total": total,
            "status": by_status,
            "split": by_split,
            "tags": by_tag,
            "trash": self.conn.execute("SELECT count(*) FROM pairs WHERE deleted IS NOT NULL").fetchone()[0],
            "length": {
                "question_chars": _percentiles(q_chars),
                "answer_chars": _percentiles(a_chars),
                "question_tokens": _percentiles(q_tok),
                "answer_tokens": _percentiles(a_tok),
            },
        }

    def answer_token_lengths(self, flt: PairFilter | None = None) -> list[int]:
        """Estimated tokens of each question + answer, for histograms and length warnings."""
        where, params = self._where(flt)
        tok = estimate_tokens_sql
        sql = f"SELECT {tok('p.question')} + {tok('p.answer')} + {tok('p.system')} FROM {where}"
        return [n for (n,) in self.conn.execute(sql, params)]

    def history(self, pair_id: int) -> list[Revision]:
        self.get_pair(pair_id)
        rows = self.conn.execute(
            "SELECT r.id, r.pair_id, r.action_id, coalesce(a.kind, ''), r.existed, r.question, r.answer, r.system, "
            "r.context, r.tags, r.status, r.split, r.deleted, r.created FROM revisions r "
            "LEFT JOIN actions a ON a.id = r.action_id WHERE r.pair_id = ? ORDER BY r.id",
            (pair_id,),
        ).fetchall()
        return [
            Revision(
                id=r[0],
                pair_id=r[1],
                action_id=r[2],
                action=r[3],
                existed=bool(r[4]),
                question=r[5],
                answer=r[6],
                system=r[7],
                context=json.loads(r[8]) if r[8] else [],
                tags=json.loads(r[9]) if r[9] else [],
                status=r[10],
                split=r[11],
                deleted=r[12],
                created=r[13],
            )
            for r in rows
        ]

    def dedup(self) -> DedupReport:
        dup_groups = [
            [int(i) for i in ids.split(",")]
            for (ids,) in self.conn.execute(
                "SELECT group_concat(id) FROM pairs WHERE deleted IS NULL GROUP BY dup_key HAVING count(*) > 1 "
                "ORDER BY min(id)"
            )
        ]
        conflict_groups = [
            [int(i) for i in ids.split(",")]
            for (ids,) in self.conn.execute(
                "SELECT group_concat(id) FROM pairs WHERE deleted IS NULL GROUP BY question_key "
                "HAVING count(DISTINCT dup_key) > 1 ORDER BY min(id)"
            )
        ]
        wanted = sorted({i for g in dup_groups + conflict_groups for i in g})
        by_id = {p.id: p for p in self.get_pairs(wanted)} if wanted else {}
        return DedupReport(
            duplicates=[[by_id[i] for i in sorted(g)] for g in dup_groups],
            conflicts=[[by_id[i] for i in sorted(g)] for g in conflict_groups],
        )

    def last_action(self) -> Action | None:
        row = self.conn.execute(
            "SELECT id, kind, summary, created, undone FROM actions WHERE undone = 0 AND kind != 'undo' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return Action(row[0], row[1], row[2] or "", row[3], bool(row[4])) if row else None

    # ------------------------------------------------------------------ writing

    def _latest_action_id(self) -> int | None:
        return self.conn.execute("SELECT max(id) FROM actions").fetchone()[0]

    def _action(self, kind: str, summary: str, batch_id: int | None = None) -> int:
        cur = self.conn.execute(
            "INSERT INTO actions(kind, summary, batch_id, created, undone) VALUES (?, ?, ?, ?, 0)",
            (kind, summary, batch_id, now()),
        )
        return cur.lastrowid

    def _snapshot(self, ids: Sequence[int], action_id: int) -> None:
        """Keep the current state of these pairs as revisions of ``action_id``."""
        stamp = now()
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(
                "INSERT INTO revisions(pair_id, action_id, existed, question, answer, system, context, tags, "
                "status, split, deleted, created) "
                "SELECT p.id, ?, 1, p.question, p.answer, p.system, p.context, "
                "(SELECT json_group_array(tag) FROM (SELECT tag FROM pair_tags WHERE pair_id = p.id ORDER BY rowid)), "
                f"p.status, p.split, p.deleted, ? FROM pairs p WHERE p.id IN ({marks})",
                [action_id, stamp, *chunk],
            )

    def _insert_pair_rows(self, rows: list[dict], *, batch_id: int | None, stamp: str) -> list[int]:
        """Insert validated rows (pairs, tags, search index); returns their ids."""
        cur = self.conn.cursor()
        first = (cur.execute("SELECT coalesce(max(id), 0) FROM pairs").fetchone()[0]) + 1
        ids = list(range(first, first + len(rows)))
        cur.executemany(
            "INSERT INTO pairs(id, question, answer, system, context, status, split, source, created, updated, "
            "batch_id, dup_key, question_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    pid,
                    r["question"],
                    r["answer"],
                    r.get("system") or None,
                    json.dumps(r["context"], ensure_ascii=False) if r.get("context") else None,
                    r.get("status") or "draft",
                    r.get("split") or "train",
                    r.get("source"),
                    stamp,
                    stamp,
                    batch_id,
                    r["_dkey"],
                    r["_qkey"],
                )
                for pid, r in zip(ids, rows)
            ],
        )
        cur.executemany(
            "INSERT OR IGNORE INTO pair_tags(pair_id, tag) VALUES (?, ?)",
            [(pid, t) for pid, r in zip(ids, rows) for t in r.get("tags") or ()],
        )
        cur.executemany(
            "INSERT INTO pairs_fts(rowid, question, answer) VALUES (?, ?, ?)",
            [(pid, fold(r["question"]), fold(r["answer"])) for pid, r in zip(ids, rows)],
        )
        return ids

    def _fts_remove(self, pair_id: int, q: str, a: str) -> None:
        self.conn.execute(
            "INSERT INTO pairs_fts(pairs_fts, rowid, question, answer) VALUES ('delete', ?, ?, ?)", (pair_id, fold(q), fold(a))
        )

    def _fts_add(self, pair_id: int, q: str, a: str) -> None:
        self.conn.execute("INSERT INTO pairs_fts(rowid, question, answer) VALUES (?, ?, ?)", (pair_id, fold(q), fold(a)))

    def _fts_replace(self, pair_id: int, old_q: str, old_a: str, new_q: str, new_a: str) -> None:
        self._fts_remove(pair_id, old_q, old_a)
        self._fts_add(pair_id, new_q, new_a)

    def _set_deleted(self, ids: Sequence[int], deleted: bool) -> None:
        """Move pairs to or from the trash, keeping the search index to live pairs."""
        stamp = now()
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            want = "deleted IS NULL" if deleted else "deleted IS NOT NULL"
            rows = self.conn.execute(f"SELECT id, question, answer FROM pairs WHERE id IN ({marks}) AND {want}", chunk).fetchall()
            for pid, q, a in rows:
                (self._fts_remove if deleted else self._fts_add)(pid, q, a)
            changed = [r[0] for r in rows]
            if changed:
                marks = ",".join("?" * len(changed))
                self.conn.execute(
                    f"UPDATE pairs SET deleted=?, updated=? WHERE id IN ({marks})", [stamp if deleted else None, stamp, *changed]
                )

    def prepare_row(
        self,
        question: str,
        answer: str,
        system: str | None = None,
        context: list[dict] | None = None,
        tags: Iterable[str] = (),
        status: str = "draft",
        split: str = "train",
        source: str | None = None,
    ) -> dict:
        """Validate one pair's fields; raises UserError naming the bad field."""
        row = {
            "question": (question_text := normalize_newlines(_check_text("question", question))),
            "answer": (answer_text := normalize_newlines(_check_text("answer", answer))),
            "system": normalize_newlines(system) if system and system.strip() else None,
            "context": normalize_context(list(context or [])),
            "tags": _clean_tags(tags),
            "status": _check_status(status or "draft"),
            "split": _check_split(split or "train"),
            "source": source,
        }
        row["_dkey"], row["_qkey"] = dedup_keys(question_text, answer_text)
        return row

    def add_pair(self, question: str, answer: str, **fields: Unpack[PairFields]) -> Pair:
        """Add one pair (its other fields as ``prepare_row`` takes them) as one undoable action."""
        row = self.prepare_row(question, answer, **fields)
        with self.transaction():
            (pid,) = self._insert_pair_rows([row], batch_id=None, stamp=now())
            action = self._action("add", f"add pair {pid}")
            self.conn.execute(
                "INSERT INTO revisions(pair_id, action_id, existed, created) VALUES (?, ?, 0, ?)", (pid, action, now())
            )
        return self.get_pair(pid)

    def find_duplicate(self, question: str, answer: str) -> int | None:
        dkey, _ = dedup_keys(question, answer)
        row = self.conn.execute("SELECT id FROM pairs WHERE dup_key = ? AND deleted IS NULL LIMIT 1", (dkey,)).fetchone()
        return row[0] if row else None

    def add_pairs(
        self,
        rows: Iterable[dict],
        *,
        skip_duplicates: bool = True,
        files: Sequence[str] = (),
        format: str | None = None,
        rejected: int = 0,
    ) -> ImportCounts:
        """Insert rows made by ``prepare_row`` in one transaction, as one import batch.

        Duplicates (of live pairs, or earlier in the same rows) are skipped and counted
        unless ``skip_duplicates`` is False.
        """
        rows = list(rows)
        counts = ImportCounts(rejected=rejected)
        keep: list[dict] = []
        seen: set[str] = set()
        existing: set[str] = set()
        if skip_duplicates and rows and self.conn.execute("SELECT 1 FROM pairs WHERE deleted IS NULL LIMIT 1").fetchone():
            keys = list({r["_dkey"] for r in rows})
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                existing.update(
                    k
                    for (k,) in self.conn.execute(
                        f"SELECT dup_key FROM pairs WHERE deleted IS NULL AND dup_key IN ({marks})", chunk
                    )
                )
        for r in rows:
            key = r["_dkey"]
            if skip_duplicates and (key in seen or key in existing):
                counts.duplicates += 1
                if len(counts.duplicate_examples) < 20:
                    counts.duplicate_examples.append(f"{r.get('source') or '?'}: {r['question'][:60]}")
                continue
            seen.add(key)
            keep.append(r)
        stamp = now()
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO import_batches(created, files, format, imported, duplicates, rejected) VALUES (?,?,?,?,?,?)",
                (stamp, json.dumps(list(files), ensure_ascii=False), format, len(keep), counts.duplicates, rejected),
            )
            batch_id = cur.lastrowid
            self._insert_pair_rows(keep, batch_id=batch_id, stamp=stamp)
            if keep:
                self._action("import", f"import {len(keep)} pairs", batch_id=batch_id)
        counts.imported = len(keep)
        counts.batch_id = batch_id
        if len(keep) >= 1000 and len(keep) * 10 >= self.count_pairs():
            self.conn.execute("ANALYZE pairs")  # keep the query planner's picture of the table true
        return counts

    def update_pair(
        self,
        pair_id: int,
        *,
        question: str = _UNSET,
        answer: str = _UNSET,
        system: str | None = _UNSET,
        context: list[dict] | None = _UNSET,
        tags: Iterable[str] = _UNSET,
        status: str = _UNSET,
        split: str = _UNSET,
        expected: Pair | str | None = None,
    ) -> Pair:
        """Change some fields of one pair; the old state is kept as one revision.

        ``expected`` is the pair as the caller loaded it (an editor, say). If, since then,
        someone else changed a field this call writes, or moved the pair to or from the
        trash (or purged it), ``PairChanged`` is raised and nothing is written. The check
        and the write share one transaction, so no other writer slips in between. Changes
        elsewhere to fields this call does not write (status, split…) are kept, not a
        conflict; an edit that already matches the stored pair writes nothing.

        ``expected`` may also be the ``updated`` stamp the caller saw (a script that read
        ``pairs show --json``): then any change at all since, or a trashed pair, is a
        conflict. Without ``expected`` the last writer wins.
        """
        given = {
            "question": question if question is _UNSET else _check_text("question", question),
            "answer": answer if answer is _UNSET else _check_text("answer", answer),
            "system": system if system is _UNSET else (system if system and system.strip() else None),
            "context": context if context is _UNSET else list(context or []),
            "tags": tags if tags is _UNSET else _clean_tags(tags),
            "status": status if status is _UNSET else _check_status(status),
            "split": split if split is _UNSET else _check_split(split),
        }
        given = {k: v for k, v in given.items() if v is not _UNSET}
        with self.transaction():
            since = expected if isinstance(expected, str) else None
            loaded = expected if isinstance(expected, Pair) else None
            try:
                old = self.get_pair(pair_id)
            except UserError:
                if expected is None:
                    raise
                raise PairChanged(pair_id, loaded, None, since=since) from None
            for k in ("question", "answer", "system", "context"):
                if k in given:
                    given[k] = _new_text(given[k], getattr(old, k))
            new = {k: given.get(k, getattr(old, k)) for k in _EDITABLE}
            if since is not None and (old.updated != since or old.deleted is not None):
                raise PairChanged(pair_id, None, old, since=since)
            if loaded is not None:
                if (loaded.deleted is None) != (old.deleted is None):
                    raise PairChanged(pair_id, loaded, old)
                if new != {k: getattr(old, k) for k in _EDITABLE} and any(
                    getattr(old, k) != getattr(loaded, k) for k in given
                ):
                    raise PairChanged(pair_id, loaded, old)
            if new == {k: getattr(old, k) for k in _EDITABLE}:
                return old
            self._snapshot([pair_id], self._action("edit", f"edit pair {pair_id}"))
            self._write_state(
                old, new["question"], new["answer"], new["system"], new["context"], new["tags"], new["status"],
                new["split"], old.deleted,
            )
        return self.get_pair(pair_id)

    def _write_state(self, old: Pair, q, a, system, context, tags, status, split, deleted) -> None:
        dkey, qkey = dedup_keys(q, a)
        self.conn.execute(
            "UPDATE pairs SET question=?, answer=?, system=?, context=?, status=?, split=?, deleted=?, "
            "dup_key=?, question_key=?, updated=? WHERE id=?",
            (
                q,
                a,
                system,
                json.dumps(context, ensure_ascii=False) if context else None,
                status,
                split,
                deleted,
                dkey,
                qkey,
                now(),
                old.id,
            ),
        )
        # the search index holds live pairs only
        if old.deleted is None and deleted is None:
            if (q, a) != (old.question, old.answer):
                self._fts_replace(old.id, old.question, old.answer, q, a)
        elif old.deleted is None:
            self._fts_remove(old.id, old.question, old.answer)
        elif deleted is None:
            self._fts_add(old.id, q, a)
        if list(tags) != old.tags:
            self.conn.execute("DELETE FROM pair_tags WHERE pair_id = ?", (old.id,))
            self.conn.executemany("INSERT INTO pair_tags(pair_id, tag) VALUES (?, ?)", [(old.id, t) for t in tags])

    def merge_pairs(
        self,
        keep_id: int | None,
        trash_ids: Sequence[int],
        *,
        answer: str | None = None,
        tags: Iterable[str] | None = None,
        expected: Mapping[int, Pair | str] | None = None,
    ) -> Pair | None:
        """Settle a group of duplicates in one step: the kept pair may take a new ``answer``
        and ``tags``, the pairs of ``trash_ids`` go to the trash.

        Everything happens in one transaction and is ONE undoable action, so one undo brings
        back the kept pair's answer and tags and every trashed pair. ``expected`` maps pair
        ids to the pair as the caller loaded it (or the ``updated`` stamp it saw): if any of
        those pairs changed in any field, went to the trash or is gone since, ``PairChanged``
        is raised for the first of them (kept pair first) and nothing is written. Returns the
        kept pair as stored now (None when ``keep_id`` is None: only trashing).
        """
        trash = list(dict.fromkeys(int(i) for i in trash_ids))
        if keep_id is not None and keep_id in trash:
            raise UserError(f"pair {keep_id} cannot be both kept and moved to the trash", hint="keep one pair of the group",
                            code="pair.keep_and_trash", params={"id": keep_id})
        new_answer = None if answer is None else _check_text("answer", answer)
        new_tags = None if tags is None else _clean_tags(tags)
        expected = dict(expected or {})
        involved = ([keep_id] if keep_id is not None else []) + trash
        with self.transaction():
            current: dict[int, Pair] = {}
            for pid in involved:
                want = expected.get(pid)
                try:
                    current[pid] = self.get_pair(pid)
                except UserError:
                    if want is None:
                        raise
                    raise PairChanged(
                        pid, want if isinstance(want, Pair) else None, None, since=want if isinstance(want, str) else None
                    ) from None
                now_pair = current[pid]
                if isinstance(want, str):
                    if now_pair.updated != want or now_pair.deleted is not None:
                        raise PairChanged(pid, None, now_pair, since=want)
                elif want is not None:
                    if any(getattr(now_pair, k) != getattr(want, k) for k in _EDITABLE + ("deleted",)):
                        raise PairChanged(pid, want, now_pair)
            kept = current.get(keep_id) if keep_id is not None else None
            if kept is not None and kept.deleted is not None:
                raise UserError(
                    f"pair {keep_id} is in the trash", hint=f"restore it first (`nastavnik pairs restore {keep_id}`)"
                )
            keep_changes = False
            if kept is not None:
                answer_after = kept.answer if new_answer is None else _new_text(new_answer, kept.answer)
                tags_after = kept.tags if new_tags is None else new_tags
                keep_changes = (answer_after, tags_after) != (kept.answer, kept.tags)
            to_trash = [pid for pid in trash if current[pid].deleted is None]
            if not keep_changes and not to_trash:
                return kept
            if keep_id is None:
                summary = f"trash {len(to_trash)}: " + ", ".join(f"#{i}" for i in to_trash)
            else:
                verb = "merge into" if keep_changes else "keep"
                summary = f"{verb} pair {keep_id}, trash {len(to_trash)}"
                if to_trash:
                    summary += ": " + ", ".join(f"#{i}" for i in to_trash)
            action = self._action("merge" if keep_id is not None else "delete", summary)
            self._snapshot(([kept.id] if kept is not None and keep_changes else []) + to_trash, action)
            if kept is not None and keep_changes:
                self._write_state(
                    kept, kept.question, answer_after, kept.system, kept.context, tags_after, kept.status, kept.split, None
                )
            self._set_deleted(to_trash, True)
        return self.get_pair(keep_id) if keep_id is not None else None

    def _bulk(self, ids: Sequence[int], kind: str, summary: str, sql: str, params: Sequence = ()) -> int:
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not ids:
            return 0
        self.get_pairs(ids)  # every id must exist
        with self.transaction():
            self._snapshot(ids, self._action(kind, summary))
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(sql.format(ids=marks), [*params, now(), *chunk])
        return len(ids)

    def set_status(self, ids: Sequence[int], status: str) -> int:
        _check_status(status)
        return self._bulk(ids, "status", f"mark {len(ids)} as {status}", "UPDATE pairs SET status=?, updated=? WHERE id IN ({ids})", [status])

    def set_split(self, ids: Sequence[int], split: str) -> int:
        _check_split(split)
        return self._bulk(ids, "split", f"move {len(ids)} to {split}", "UPDATE pairs SET split=?, updated=? WHERE id IN ({ids})", [split])

    def toggle_split(self, ids: Sequence[int]) -> int:
        return self._bulk(
            ids,
            "split",
            f"toggle split of {len(ids)}",
            "UPDATE pairs SET split = CASE split WHEN 'train' THEN 'eval' ELSE 'train' END, updated=? WHERE id IN ({ids})",
        )

    def delete_pairs(self, ids: Sequence[int]) -> int:
        """Move pairs to the trash (reversible with ``restore_pairs`` or undo)."""
        return self._trash(ids, True)

    def restore_pairs(self, ids: Sequence[int]) -> int:
        return self._trash(ids, False)

    def _trash(self, ids: Sequence[int], deleted: bool) -> int:
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not ids:
            return 0
        self.get_pairs(ids)
        kind = "delete" if deleted else "restore"
        with self.transaction():
            self._snapshot(ids, self._action(kind, f"{kind} {len(ids)}"))
            self._set_deleted(ids, deleted)
        return len(ids)

    def _retag(self, ids: Sequence[int], kind: str, add: list[str], remove: list[str]) -> int:
        """Add ``add`` to and remove ``remove`` from every pair of ``ids`` as one undoable action;
        every other tag of each pair stays as it was."""
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not ids:
            return 0
        self.get_pairs(ids)
        named = [f"+{t}" for t in add] + [f"-{t}" for t in remove] if kind == "tags" else add or remove
        with self.transaction():
            self._snapshot(ids, self._action(kind, f"{kind} {', '.join(named)} on {len(ids)}"))
            stamp = now()
            for pid in ids:
                self.conn.executemany("DELETE FROM pair_tags WHERE pair_id=? AND tag=?", [(pid, t) for t in remove])
                self.conn.executemany("INSERT OR IGNORE INTO pair_tags(pair_id, tag) VALUES (?, ?)", [(pid, t) for t in add])
                self.conn.execute("UPDATE pairs SET updated=? WHERE id=?", (stamp, pid))
        return len(ids)

    def add_tags(self, ids: Sequence[int], tags: Iterable[str]) -> int:
        tags = _clean_tags(tags)
        if not tags:
            raise UserError("no tag given", hint="name at least one tag", code="pair.no_tag")
        return self._retag(ids, "tag", tags, [])

    def remove_tags(self, ids: Sequence[int], tags: Iterable[str]) -> int:
        return self._retag(ids, "untag", [], _clean_tags(tags))

    def change_tags(self, ids: Sequence[int], add: Iterable[str] = (), remove: Iterable[str] = ()) -> int:
        """Add some tags to and remove others from every pair of ``ids`` in one undoable step
        (what the Tags dialog does to marked pairs); a tag named in neither list is left alone
        on each pair. A tag in both is removed. Nothing to do changes nothing and returns 0."""
        drop = _clean_tags(remove)
        put = [tag for tag in _clean_tags(add) if tag not in drop]
        if not put and not drop:
            return 0
        return self._retag(ids, "tags", put, drop)

    def revert(self, pair_id: int, revision_id: int) -> Pair:
        """Bring back the text, tags, status and split a pair had at a revision."""
        rev = next((r for r in self.history(pair_id) if r.id == revision_id), None)
        if rev is None:
            raise UserError(
                f"pair {pair_id} has no revision {revision_id}", hint=f"`nastavnik pairs history {pair_id}` lists them",
                code="pair.no_revision", params={"id": pair_id, "rev": revision_id},
            )
        if not rev.existed:
            raise UserError(f"revision {revision_id} is from before pair {pair_id} existed", hint="pick a later revision",
                            code="pair.revision_before", params={"id": pair_id, "rev": revision_id})
        old = self.get_pair(pair_id)
        with self.transaction():
            self._snapshot([pair_id], self._action("revert", f"revert pair {pair_id} to revision {revision_id}"))
            self._write_state(old, rev.question, rev.answer, rev.system, rev.context, rev.tags, rev.status, rev.split, old.deleted)
        return self.get_pair(pair_id)

    def undo(self) -> Action | None:
        """Undo the last action that is not undone yet; returns it, or None if nothing is left."""
        action = self.last_action()
        if action is None:
            return None
        with self.transaction():
            undo_id = self._action("undo", f"undo: {action.summary}")
            if action.kind == "import":
                (batch,) = self.conn.execute("SELECT batch_id FROM actions WHERE id=?", (action.id,)).fetchone()
                ids = [r[0] for r in self.conn.execute("SELECT id FROM pairs WHERE batch_id=? AND deleted IS NULL", (batch,))]
                self._set_deleted(ids, True)
            else:
                revs = [r for r in self._revisions_of_action(action.id)]
                self._snapshot([r.pair_id for r in revs if r.existed] or [], undo_id)
                for rev in revs:
                    current = self.get_pair(rev.pair_id)
                    if not rev.existed:
                        self._set_deleted([rev.pair_id], True)
                        continue
                    self._write_state(
                        current, rev.question, rev.answer, rev.system, rev.context, rev.tags, rev.status, rev.split, rev.deleted
                    )
            self._undo_more(action.id, undo_id)
            self.conn.execute("UPDATE actions SET undone=1 WHERE id=?", (action.id,))
        return action

    def _undo_more(self, action_id: int, undo_id: int) -> None:
        """Take back what other subjects (preferences, teacher drafts) wrote under ``action_id``.

        Their mixins extend this (calling ``super()``), so one undo stack covers them all.
        """

    def _revisions_of_action(self, action_id: int) -> list[Revision]:
        pair_ids = [r[0] for r in self.conn.execute("SELECT DISTINCT pair_id FROM revisions WHERE action_id=?", (action_id,))]
        out = []
        for pid in pair_ids:
            out += [r for r in self.history(pid) if r.action_id == action_id]
        return out

    def split_random(self, eval_fraction: float, seed: int = 0, flt: PairFilter | None = None) -> dict:
        """Assign a random ``eval_fraction`` of the matching pairs to eval, the rest to train."""
        if not 0 <= eval_fraction < 1:
            raise UserError(f"eval fraction {eval_fraction} is out of range", hint="give a number from 0 to 0.99, e.g. 0.1",
                            code="pair.bad_fraction", params={"value": eval_fraction})
        ids = self.pair_ids(flt)
        rng = random.Random(seed)
        shuffled = ids[:]
        rng.shuffle(shuffled)
        n_eval = round(len(ids) * eval_fraction)
        eval_ids = set(shuffled[:n_eval])
        if ids:
            with self.transaction():
                self._snapshot(ids, self._action("split", f"split {len(ids)}: {n_eval} to eval"))
                stamp = now()
                self.conn.executemany(
                    "UPDATE pairs SET split=?, updated=? WHERE id=?",
                    [("eval" if i in eval_ids else "train", stamp, i) for i in ids],
                )
        return {"train": len(ids) - n_eval, "eval": n_eval}

    def purge_trash(self) -> int:
        """Delete trashed pairs for good (their history goes with them)."""
        ids = [r[0] for r in self.conn.execute("SELECT id FROM pairs WHERE deleted IS NOT NULL")]
        with self.transaction():
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                for table, col in (("revisions", "pair_id"), ("pair_tags", "pair_id"), ("pairs", "id")):
                    self.conn.execute(f"DELETE FROM {table} WHERE {col} IN ({marks})", chunk)
        return len(ids)


def _percentiles(values: list[int]) -> dict:
    if not values:
        return {"min": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0, "mean": 0}
    values = sorted(values)

    def pct(p: float) -> int:
        return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]

    return {
        "min": values[0],
        "p50": pct(0.5),
        "p90": pct(0.9),
        "p99": pct(0.99),
        "max": values[-1],
        "mean": round(sum(values) / len(values), 1),
    }
