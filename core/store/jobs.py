"""The rows of a background job's table, written once for every kind (runs, export jobs, download jobs).

Each kind keeps its jobs in a table of its own that lives alike: a status from ``RUN_STATUSES``,
a pid, a heartbeat, a cancel flag, some columns kept as JSON. ``JobRows`` says what tells one
table apart (its name, its columns, how a row becomes its dataclass, how a missing job is
told); ``JobRowsMixin`` is the SQL they share: create, get, list, update, compare-and-set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import UserError
from core.store.base import StoreBase, inserted_id, now


@dataclass(frozen=True)
class JobRows:
    """One job table: ``read`` turns a row (a dict) into its dataclass; ``missing(job_id, is_id)``
    is the error for a job that is not there (``is_id`` False when ``job_id`` is no number)."""

    table: str
    noun: str  # in the messages of a bad write: "export job"
    fields: frozenset[str]  # the columns a write may set
    statuses: tuple[str, ...]  # those a write may set
    read: Callable[[dict], Any]
    missing: Callable[[Any, bool], UserError]
    json_fields: tuple[str, ...] = ("error_params",)  # written as JSON text unless given as text
    json_default: Callable[[Any], Any] | None = None  # ``json.dumps``' default for a value JSON cannot hold


class JobRowsMixin(StoreBase):
    """The SQL every job table's mixin calls with its ``JobRows``."""

    def _create_job(self, rows: JobRows, **values: Any) -> Any:
        """A new ``queued`` row with ``values`` (JSON columns encoded); counters and the cancel flag at 0."""
        values = {"status": "queued", "created": now(), "done": 0, "total": 0, "cancel_requested": 0,
                  **self._encoded(rows, values)}
        with self.transaction():
            cur = self.conn.execute(f"INSERT INTO {rows.table} ({', '.join(values)})"
                                    f" VALUES ({','.join('?' * len(values))})", list(values.values()))
            return self._get_job(rows, inserted_id(cur))

    def _get_job(self, rows: JobRows, job_id: Any) -> Any:
        try:
            key = int(job_id)
        except (TypeError, ValueError):
            raise rows.missing(job_id, False) from None
        cur = self.conn.execute(f"SELECT * FROM {rows.table} WHERE id=?", (key,))
        row = cur.fetchone()
        if row is None:
            raise rows.missing(job_id, True)
        return rows.read(dict(zip([d[0] for d in cur.description], row)))

    def _list_jobs(self, rows: JobRows, *, status: str | Iterable[str] | None = None, limit: int | None = None,
                   **equal: Any) -> list[Any]:
        """Newest first; ``equal``: column=value filters, those given as None left out."""
        sql, args, where = f"SELECT * FROM {rows.table}", list[Any](), list[str]()
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        for column, value in equal.items():
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        cur = self.conn.execute(sql, args)
        cols = [d[0] for d in cur.description]
        return [rows.read(dict(zip(cols, row))) for row in cur.fetchall()]

    def _update_job(self, rows: JobRows, job_id: int, values: dict) -> Any:
        self._write_job(rows, job_id, None, values)
        return self._get_job(rows, job_id)

    def _heartbeat_job(self, rows: JobRows, job_id: int) -> None:
        self._write_job(rows, job_id, None, {"heartbeat": now()})

    def _write_job(self, rows: JobRows, job_id: int, expect: Iterable[str] | None, values: dict) -> bool:
        """Set ``values`` on the job — only if its status is one of ``expect`` (an atomic compare-and-set)
        unless that is None; whether the row was written."""
        unknown = set(values) - rows.fields
        if unknown:
            raise ValueError(f"unknown {rows.noun} fields: {sorted(unknown)}")
        if "status" in values and values["status"] not in rows.statuses:
            raise ValueError(f"bad {rows.noun} status {values['status']!r}")
        values = self._encoded(rows, values)
        if not values:
            return True
        cols = ", ".join(f"{k}=?" for k in values)
        sql, args = f"UPDATE {rows.table} SET {cols} WHERE id=?", [*values.values(), int(job_id)]
        if expect is not None:
            expect = list(expect)
            sql += f" AND status IN ({','.join('?' * len(expect))})"
            args.extend(expect)
        with self.transaction():
            return self.conn.execute(sql, args).rowcount == 1

    @staticmethod
    def _encoded(rows: JobRows, values: dict) -> dict:
        """``values`` with its JSON columns as text (None and text left as they are)."""
        return {k: json.dumps(v, ensure_ascii=False, default=rows.json_default)
                if k in rows.json_fields and v is not None and not isinstance(v, str) else v
                for k, v in values.items()}
