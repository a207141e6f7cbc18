"""Preference pairs: one prompt (with its system prompt and earlier turns), a chosen and a
rejected answer, where they came from — kept under the same rules as pairs.

Every change is an action in the shared ``actions`` table with one revision per preference
it touched (the state *before*), so ``Store.undo`` takes preferences back exactly as it
takes pairs back, and a correction that saves a pair and a preference is one action that
one undo reverses. Deleting moves to the trash (``deleted``); ``purge_preference_trash``
deletes for good. Imports are batches, undone as a whole.

A preference reads as the trainer will see it: ``Preference.prompt_messages()`` (system,
context, the prompt as the last user turn) and ``to_trl()`` (TRL's conversational
``prompt``/``chosen``/``rejected``). ``live_preferences()`` lists every live preference in a
stable order (by id) for a run's snapshot hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

from core.errors import UserError
from core.store.base import now
from core.store.pairs import PairsMixin
from core.text import normalize, normalize_context, normalize_newlines

_CHUNK = 900
_COLS = (
    "id, prompt, system, context, chosen, rejected, model, run_id, chosen_model, chosen_run_id, source, pair_id, "
    "message_id, batch_id, created, updated, deleted"
)
#: where a preference came from, by the prefix of its ``source``
SOURCE_KINDS = ("chat", "eval", "compare", "import")


@dataclass
class Preference:
    id: int
    prompt: str
    chosen: str
    rejected: str
    system: str | None = None
    context: list[dict] = field(default_factory=list)
    model: str | None = None  # whose answer was rejected
    run_id: int | None = None
    chosen_model: str | None = None  # None: a person wrote the chosen answer
    chosen_run_id: int | None = None
    source: str | None = None
    pair_id: int | None = None
    message_id: int | None = None
    batch_id: int | None = None
    created: str = ""
    updated: str = ""
    deleted: str | None = None

    @property
    def kind(self) -> str:
        """chat, eval, compare or import: what made this preference."""
        head = (self.source or "").split(":", 1)[0]
        return head if head in ("chat", "eval", "compare") else "import"

    def prompt_messages(self) -> list[dict]:
        """The conversation up to the answer: system, earlier turns, the prompt."""
        out = [{"role": "system", "content": self.system}] if self.system else []
        out += [{"role": t.get("role", "user"), "content": t.get("content", "")} for t in self.context]
        out.append({"role": "user", "content": self.prompt})
        return out

    def to_trl(self) -> dict:
        """TRL's conversational preference record (what DPOTrainer/ORPOTrainer read)."""
        return {
            "prompt": self.prompt_messages(),
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
        }

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "system": self.system,
            "context": self.context,
            "chosen": self.chosen,
            "rejected": self.rejected,
            "model": self.model,
            "run_id": self.run_id,
            "chosen_model": self.chosen_model,
            "chosen_run_id": self.chosen_run_id,
            "source": self.source,
            "kind": self.kind,
            "pair_id": self.pair_id,
            "message_id": self.message_id,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
        }


@dataclass
class PreferenceFilter:
    """What to show: every field narrows; ``trash`` shows only deleted preferences."""

    model: str | None = None  # the rejected or the chosen model
    run_id: int | None = None
    kind: str | None = None  # chat | eval | compare | import
    query: str | None = None  # a substring of the prompt, chosen or rejected answer
    trash: bool = False
    ids: Sequence[int] | None = None


@dataclass
class PreferenceRevision:
    """The state of a preference *before* an action changed it."""

    id: int
    preference_id: int
    action_id: int | None
    action: str
    summary: str
    existed: bool
    prompt: str | None
    system: str | None
    context: list[dict]
    chosen: str | None
    rejected: str | None
    deleted: str | None
    created: str


def preference_key(prompt: str, chosen: str, rejected: str, system: str | None = None, context: list[dict] | None = None) -> str:
    """Equal keys: the same preference after normalising whitespace, case and ё."""
    import hashlib

    ctx = "\x1e".join(f"{t.get('role')}\x1d{normalize(str(t.get('content', '')))}" for t in context or ())
    parts = [normalize(system or ""), ctx, normalize(prompt), normalize(chosen), normalize(rejected)]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _text(name: str, value) -> str:
    if value is None or not str(value).strip():
        raise UserError(f"the {name} is empty", hint="a preference needs a prompt, a chosen and a rejected answer",
                        code=f"prefer.empty_{name.split()[0]}")
    return normalize_newlines(str(value))


def _chunks(seq: Sequence, size: int = _CHUNK):
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _row(r) -> Preference:
    return Preference(
        id=r[0], prompt=r[1], system=r[2], context=json.loads(r[3]) if r[3] else [], chosen=r[4], rejected=r[5],
        model=r[6], run_id=r[7], chosen_model=r[8], chosen_run_id=r[9], source=r[10], pair_id=r[11],
        message_id=r[12], batch_id=r[13], created=r[14], updated=r[15], deleted=r[16],
    )


class PreferencesMixin(PairsMixin):
    conn: Any

    # ------------------------------------------------------------------ reading

    def get_preference(self, preference_id: int) -> Preference:
        row = self.conn.execute(f"SELECT {_COLS} FROM preferences WHERE id=?", (int(preference_id),)).fetchone()
        if row is None:
            raise UserError(f"no preference with id {preference_id}", hint="`nastavnik prefs list` shows the ids",
                            code="prefer.no_preference", params={"id": preference_id})
        return _row(row)

    def get_preferences(self, ids: Sequence[int]) -> list[Preference]:
        ids = [int(i) for i in ids]
        rows: list = []
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows += self.conn.execute(f"SELECT {_COLS} FROM preferences WHERE id IN ({marks})", chunk).fetchall()
        by_id = {r[0]: _row(r) for r in rows}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise UserError(f"no preference with id {missing[0]}", hint="`nastavnik prefs list` shows the ids",
                            code="prefer.no_preference", params={"id": missing[0]})
        return [by_id[i] for i in ids]

    def _pref_where(self, flt: PreferenceFilter | None) -> tuple[str, list]:
        flt = flt or PreferenceFilter()
        clauses = ["deleted IS NOT NULL" if flt.trash else "deleted IS NULL"]
        params: list = []
        if flt.model:
            clauses.append("(model = ? OR chosen_model = ?)")
            params += [flt.model, flt.model]
        if flt.run_id is not None:
            clauses.append("(run_id = ? OR chosen_run_id = ?)")
            params += [int(flt.run_id)] * 2
        if flt.kind:
            if flt.kind not in SOURCE_KINDS:
                raise UserError(f"unknown kind {flt.kind!r}", hint="use one of: " + ", ".join(SOURCE_KINDS))
            if flt.kind == "import":
                clauses.append("(source IS NULL OR NOT (source LIKE 'chat:%' OR source LIKE 'eval:%' OR source LIKE 'compare:%'))")
            else:
                clauses.append("source LIKE ?")
                params.append(flt.kind + ":%")
        if flt.query and flt.query.strip():
            self._ensure_pref_fold()
            for term in normalize(flt.query).split():
                clauses.append("(instr(pfold(prompt), ?) > 0 OR instr(pfold(chosen), ?) > 0 OR instr(pfold(rejected), ?) > 0)")
                params += [term] * 3
        if flt.ids is not None:
            ids = [int(i) for i in flt.ids] or [-1]
            clauses.append(f"id IN ({','.join(map(str, ids))})")
        return " AND ".join(clauses), params

    def _ensure_pref_fold(self) -> None:
        if not getattr(self, "_pfold_registered", False):
            self.conn.create_function("pfold", 1, lambda s: normalize(s) if s else "", deterministic=True)
            self._pfold_registered = True

    def list_preferences(
        self, flt: PreferenceFilter | None = None, *, desc: bool = False, offset: int = 0, limit: int | None = None
    ) -> list[Preference]:
        where, params = self._pref_where(flt)
        sql = f"SELECT {_COLS} FROM preferences WHERE {where} ORDER BY id {'DESC' if desc else 'ASC'}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = params + [int(limit), int(offset)]
        return [_row(r) for r in self.conn.execute(sql, params)]

    def count_preferences(self, flt: PreferenceFilter | None = None) -> int:
        where, params = self._pref_where(flt)
        return self.conn.execute(f"SELECT count(*) FROM preferences WHERE {where}", params).fetchone()[0]

    def iter_preferences(self, flt: PreferenceFilter | None = None, *, batch: int = 1000) -> Iterator[Preference]:
        """Every matching preference in id order, read a page at a time."""
        where, params = self._pref_where(flt)
        last = 0
        while True:
            rows = self.conn.execute(
                f"SELECT {_COLS} FROM preferences WHERE {where} AND id > ? ORDER BY id LIMIT ?", params + [last, batch]
            ).fetchall()
            if not rows:
                return
            yield from (_row(r) for r in rows)
            last = rows[-1][0]

    def live_preferences(self) -> list[Preference]:
        """Every preference not in the trash, in a stable order (by id): what a preference
        run trains on and what its snapshot sha256 covers."""
        return list(self.iter_preferences())

    def preference_models(self) -> list[str]:
        """Every model named by a live preference (rejected or chosen), sorted."""
        rows = self.conn.execute(
            "SELECT model FROM preferences WHERE deleted IS NULL AND model IS NOT NULL "
            "UNION SELECT chosen_model FROM preferences WHERE deleted IS NULL AND chosen_model IS NOT NULL"
        )
        return sorted(r[0] for r in rows)

    def preference_history(self, preference_id: int) -> list[PreferenceRevision]:
        self.get_preference(preference_id)
        rows = self.conn.execute(
            "SELECT r.id, r.preference_id, r.action_id, coalesce(a.kind, ''), coalesce(a.summary, ''), r.existed, "
            "r.prompt, r.system, r.context, r.chosen, r.rejected, r.deleted, r.created FROM preference_revisions r "
            "LEFT JOIN actions a ON a.id = r.action_id WHERE r.preference_id = ? ORDER BY r.id",
            (int(preference_id),),
        ).fetchall()
        return [
            PreferenceRevision(
                id=r[0], preference_id=r[1], action_id=r[2], action=r[3], summary=r[4], existed=bool(r[5]), prompt=r[6],
                system=r[7], context=json.loads(r[8]) if r[8] else [], chosen=r[9], rejected=r[10], deleted=r[11],
                created=r[12],
            )
            for r in rows
        ]

    def corrected_pair_ids(self) -> list[int]:
        """Live pairs a correction wrote (a chat or evaluation answer corrected into them, new or
        replaced): the ids of the pairs of live ``chat:``/``eval:`` preferences, in id order."""
        rows = self.conn.execute(
            "SELECT DISTINCT f.pair_id FROM preferences f JOIN pairs p ON p.id = f.pair_id "
            "WHERE f.deleted IS NULL AND p.deleted IS NULL AND (f.source LIKE 'chat:%' OR f.source LIKE 'eval:%') "
            "ORDER BY f.pair_id")
        return [r[0] for r in rows]

    def preferences_of_pair(self, pair_id: int) -> list[Preference]:
        """The live preferences recorded together with a pair (a correction's)."""
        rows = self.conn.execute(
            f"SELECT {_COLS} FROM preferences WHERE pair_id=? AND deleted IS NULL ORDER BY id", (int(pair_id),))
        return [_row(r) for r in rows]

    def find_duplicate_preference(self, prompt: str, chosen: str, rejected: str, system: str | None = None,
                                  context: list[dict] | None = None) -> int | None:
        key = preference_key(prompt, chosen, rejected, system, context)
        row = self.conn.execute("SELECT id FROM preferences WHERE dup_key=? AND deleted IS NULL LIMIT 1", (key,)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ writing

    def prepare_preference(
        self,
        prompt: str,
        chosen: str,
        rejected: str,
        *,
        system: str | None = None,
        context: list[dict] | None = None,
        model: str | None = None,
        run_id: int | None = None,
        chosen_model: str | None = None,
        chosen_run_id: int | None = None,
        source: str | None = None,
        pair_id: int | None = None,
        message_id: int | None = None,
    ) -> dict:
        """Validate one preference's fields; raises UserError naming the bad field."""
        row: dict[str, Any] = {
            "prompt": _text("prompt", prompt),
            "chosen": _text("chosen answer", chosen),
            "rejected": _text("rejected answer", rejected),
            "system": normalize_newlines(system) if system and str(system).strip() else None,
            "context": normalize_context([{"role": t["role"], "content": t["content"]} for t in context or ()]),
            "model": model or None,
            "run_id": run_id,
            "chosen_model": chosen_model or None,
            "chosen_run_id": chosen_run_id,
            "source": source,
            "pair_id": pair_id,
            "message_id": message_id,
        }
        if " ".join(row["chosen"].split()) == " ".join(row["rejected"].split()):
            raise UserError("the chosen and the rejected answer are the same",
                            hint="a preference needs two different answers; change one of them", code="prefer.same")
        row["_key"] = preference_key(row["prompt"], row["chosen"], row["rejected"], row["system"], row["context"])
        return row

    def _insert_preferences(self, rows: list[dict], *, batch_id: int | None, stamp: str) -> list[int]:
        ids = []
        for r in rows:
            cur = self.conn.execute(
                "INSERT INTO preferences(prompt, system, context, chosen, rejected, model, run_id, chosen_model, "
                "chosen_run_id, source, pair_id, message_id, dup_key, batch_id, created, updated) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    r["prompt"], r["system"], json.dumps(r["context"], ensure_ascii=False) if r["context"] else None,
                    r["chosen"], r["rejected"], r["model"], r["run_id"], r["chosen_model"], r["chosen_run_id"],
                    r["source"], r["pair_id"], r["message_id"], r["_key"], batch_id, stamp, stamp,
                ),
            )
            ids.append(cur.lastrowid)
        return ids

    def add_preference(self, prompt: str, chosen: str, rejected: str, *, with_last_action: bool = False, **fields) -> Preference:
        """Add one preference as one undoable action.

        ``with_last_action=True`` (inside a transaction only) records it under the action
        written just before in the same transaction — a correction's new pair — so one undo
        takes both back. ``fields`` are those of ``prepare_preference``.
        """
        row = self.prepare_preference(prompt, chosen, rejected, **fields)
        with self.transaction():
            if with_last_action:
                if self._depth < 2:
                    raise RuntimeError("with_last_action needs an enclosing transaction")
                action = self._latest_action_id()
            else:
                action = None
            (pid,) = self._insert_preferences([row], batch_id=None, stamp=now())
            if action is None:
                action = self._action("add", f"add preference {pid}")
            else:
                self.conn.execute("UPDATE actions SET summary = summary || ? WHERE id=?", (f" + preference {pid}", action))
            self.conn.execute(
                "INSERT INTO preference_revisions(preference_id, action_id, existed, created) VALUES (?, ?, 0, ?)",
                (pid, action, now()),
            )
        return self.get_preference(pid)

    def add_preferences(self, rows: Iterable[dict], *, skip_duplicates: bool = True, files: Sequence[str] = (),
                        format: str | None = None):
        """Insert rows made by ``prepare_preference`` in one transaction, as one import batch
        (one undo takes it back). Duplicates of live preferences, or earlier in the rows,
        are skipped and counted unless ``skip_duplicates`` is False. Returns ImportCounts."""
        from core.store.pairs import ImportCounts

        rows = list(rows)
        counts = ImportCounts()
        keep: list[dict] = []
        seen: set[str] = set()
        existing: set[str] = set()
        if skip_duplicates and rows:
            keys = list({r["_key"] for r in rows})
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                existing.update(k for (k,) in self.conn.execute(
                    f"SELECT dup_key FROM preferences WHERE deleted IS NULL AND dup_key IN ({marks})", chunk))
        for r in rows:
            if skip_duplicates and (r["_key"] in seen or r["_key"] in existing):
                counts.duplicates += 1
                if len(counts.duplicate_examples) < 20:
                    counts.duplicate_examples.append(f"{r.get('source') or '?'}: {r['prompt'][:60]}")
                continue
            seen.add(r["_key"])
            keep.append(r)
        stamp = now()
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO import_batches(created, files, format, imported, duplicates, rejected) VALUES (?,?,?,?,?,?)",
                (stamp, json.dumps(list(files), ensure_ascii=False), format, len(keep), counts.duplicates, 0),
            )
            batch_id = cur.lastrowid
            self._insert_preferences(keep, batch_id=batch_id, stamp=stamp)
            if keep:
                self._action("import", f"import {len(keep)} preference" + ("s" if len(keep) != 1 else ""), batch_id=batch_id)
        counts.imported = len(keep)
        counts.batch_id = batch_id
        return counts

    def _snapshot_preferences(self, ids: Sequence[int], action_id: int) -> None:
        stamp = now()
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(
                "INSERT INTO preference_revisions(preference_id, action_id, existed, prompt, system, context, chosen, "
                "rejected, deleted, created) SELECT id, ?, 1, prompt, system, context, chosen, rejected, deleted, ? "
                f"FROM preferences WHERE id IN ({marks})",
                [action_id, stamp, *chunk],
            )

    def _set_preferences_deleted(self, ids: Sequence[int], deleted: bool) -> int:
        stamp = now()
        changed = 0
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            want = "deleted IS NULL" if deleted else "deleted IS NOT NULL"
            changed += self.conn.execute(
                f"UPDATE preferences SET deleted=?, updated=? WHERE id IN ({marks}) AND {want}",
                [stamp if deleted else None, stamp, *chunk],
            ).rowcount
        return changed

    def _trash_preferences(self, ids: Sequence[int], deleted: bool) -> int:
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not ids:
            return 0
        current = self.get_preferences(ids)  # every id must exist
        todo = [p.id for p in current if (p.deleted is None) == deleted]
        if not todo:
            return 0
        kind = "delete" if deleted else "restore"
        noun = "preference" + ("s" if len(todo) != 1 else "")
        with self.transaction():
            action = self._action(kind, f"{kind} {len(todo)} {noun}: " + ", ".join(f"#{i}" for i in todo[:10])
                                  + (" …" if len(todo) > 10 else ""))
            self._snapshot_preferences(todo, action)
            self._set_preferences_deleted(todo, deleted)
        return len(todo)

    def delete_preferences(self, ids: Sequence[int]) -> int:
        """Move preferences to the trash (undo, or ``restore_preferences``, brings them back)."""
        return self._trash_preferences(ids, True)

    def restore_preferences(self, ids: Sequence[int]) -> int:
        return self._trash_preferences(ids, False)

    def purge_preference_trash(self) -> int:
        """Delete trashed preferences for good (their history goes with them)."""
        ids = [r[0] for r in self.conn.execute("SELECT id FROM preferences WHERE deleted IS NOT NULL")]
        with self.transaction():
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(f"DELETE FROM preference_revisions WHERE preference_id IN ({marks})", chunk)
                self.conn.execute(f"DELETE FROM preferences WHERE id IN ({marks})", chunk)
        return len(ids)

    def _undo_more(self, action_id: int, undo_id: int) -> None:
        """Undo this action's part in the preferences: its batch, or each revision."""
        super()._undo_more(action_id, undo_id)
        kind, batch = self.conn.execute("SELECT kind, batch_id FROM actions WHERE id=?", (action_id,)).fetchone()
        if kind == "import" and batch is not None:
            ids = [r[0] for r in self.conn.execute(
                "SELECT id FROM preferences WHERE batch_id=? AND deleted IS NULL", (batch,))]
            self._set_preferences_deleted(ids, True)
            return
        revs = self.conn.execute(
            "SELECT preference_id, existed, prompt, system, context, chosen, rejected, deleted FROM preference_revisions "
            "WHERE action_id=? ORDER BY id", (action_id,),
        ).fetchall()
        if not revs:
            return
        self._snapshot_preferences(sorted({r[0] for r in revs}), undo_id)
        stamp = now()
        for pid, existed, prompt, system, context, chosen, rejected, deleted in revs:
            if not existed:
                self._set_preferences_deleted([pid], True)
                continue
            self.conn.execute(
                "UPDATE preferences SET prompt=?, system=?, context=?, chosen=?, rejected=?, deleted=?, updated=?, "
                "dup_key=? WHERE id=?",
                (prompt, system, context, chosen, rejected, deleted, stamp,
                 preference_key(prompt, chosen, rejected, system, json.loads(context) if context else []), pid),
            )
