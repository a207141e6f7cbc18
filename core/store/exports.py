"""Export jobs: exports running in the background, their live state and their outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from core.errors import UserError
from core.store.base import StoreBase, inserted_id, now
from core.store.runs import ACTIVE, RUN_STATUSES

EXPORT_STATUSES = RUN_STATUSES  # a job lives and ends like a training run
_JSON_FIELDS = ("quants", "steps", "result", "error_params")
_JSON_EMPTY: dict[str, Any] = {"steps": {}, "quants": [], "error_params": {}}  # what an empty one reads as (else None)
_FIELDS = {
    "status", "source", "run_id", "name", "quants", "parity", "system", "pid", "heartbeat", "stage", "done",
    "total", "message", "steps", "staging", "folder", "log_path", "result", "error", "cancel_requested",
    "started", "finished", "error_code", "error_params",
}


@dataclass
class ExportJob:
    id: int
    status: str
    source: str
    run_id: int | None = None
    name: str | None = None
    quants: list = field(default_factory=list)
    parity: bool = True
    system: str | None = None
    pid: int | None = None
    heartbeat: str | None = None
    stage: str | None = None
    done: int = 0
    total: int = 0
    message: str | None = None
    steps: dict = field(default_factory=dict)
    staging: str | None = None
    folder: str | None = None
    log_path: str | None = None
    result: dict | None = None
    error: str | None = None
    cancel_requested: bool = False
    created: str = ""
    started: str | None = None
    finished: str | None = None
    error_code: str | None = None  # a failed job's UserError: its code and params, for the UI's language
    error_params: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _job(row: dict) -> ExportJob:
    row = dict(row)
    for key in _JSON_FIELDS:
        row[key] = json.loads(row[key]) if row.get(key) else (type(_JSON_EMPTY[key])() if key in _JSON_EMPTY else None)
    row["parity"] = bool(row.get("parity", 1))
    row["cancel_requested"] = bool(row.get("cancel_requested"))
    row["done"] = row.get("done") or 0
    row["total"] = row.get("total") or 0
    return ExportJob(**row)


class ExportJobsMixin(StoreBase):
    """Rows of ``export_jobs``."""

    def create_export_job(self, *, source: str, quants: list[str], name: str | None = None, run_id: int | None = None,
                          parity: bool = True, system: str | None = None) -> ExportJob:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO export_jobs (status, source, run_id, name, quants, parity, system, created, done, total,"
                " cancel_requested) VALUES ('queued',?,?,?,?,?,?,?,0,0,0)",
                (str(source), run_id, name, json.dumps(list(quants)), int(bool(parity)), system, now()),
            )
            return self.get_export_job(inserted_id(cur))

    def get_export_job(self, job_id: int) -> ExportJob:
        try:
            key = int(job_id)
        except (TypeError, ValueError):
            raise UserError(f"{job_id!r} is not an export job id", hint="`nastavnik exports list` shows them") from None
        cur = self.conn.execute("SELECT * FROM export_jobs WHERE id=?", (key,))
        row = cur.fetchone()
        if row is None:
            raise UserError(f"there is no export job {job_id}", hint="`nastavnik exports list` shows them",
                            code="export.no_job", params={"id": job_id})
        return _job(dict(zip([d[0] for d in cur.description], row)))

    def find_export_job(self, job_id: int) -> ExportJob | None:
        try:
            return self.get_export_job(job_id)
        except UserError:
            return None

    def list_export_jobs(self, *, status: str | Iterable[str] | None = None, run_id: int | None = None,
                         limit: int | None = None) -> list[ExportJob]:
        """Newest first."""
        sql, args, where = "SELECT * FROM export_jobs", list[Any](), list[str]()
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if run_id is not None:
            where.append("run_id=?")
            args.append(int(run_id))
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        cur = self.conn.execute(sql, args)
        cols = [d[0] for d in cur.description]
        return [_job(dict(zip(cols, row))) for row in cur.fetchall()]

    def update_export_job(self, job_id: int, **values: Any) -> ExportJob:
        self._write_export_job(job_id, None, values)
        return self.get_export_job(job_id)

    def claim_export_job(self, job_id: int, *, expect: Iterable[str], **values: Any) -> bool:
        """Change a job only if its status is one of ``expect`` (an atomic compare-and-set)."""
        return self._write_export_job(job_id, list(expect), values)

    def heartbeat_export_job(self, job_id: int) -> None:
        self._write_export_job(job_id, None, {"heartbeat": now()})

    def _write_export_job(self, job_id: int, expect: list[str] | None, values: dict) -> bool:
        unknown = set(values) - _FIELDS
        if unknown:
            raise ValueError(f"unknown export job fields: {sorted(unknown)}")
        if "status" in values and values["status"] not in EXPORT_STATUSES:
            raise ValueError(f"bad export job status {values['status']!r}")
        for key in _JSON_FIELDS:
            if key in values and values[key] is not None and not isinstance(values[key], str):
                values[key] = json.dumps(values[key], ensure_ascii=False)
        if not values:
            return True
        cols = ", ".join(f"{k}=?" for k in values)
        sql, args = f"UPDATE export_jobs SET {cols} WHERE id=?", [*values.values(), int(job_id)]
        if expect is not None:
            sql += f" AND status IN ({','.join('?' * len(expect))})"
            args.extend(expect)
        with self.transaction():
            return self.conn.execute(sql, args).rowcount == 1
