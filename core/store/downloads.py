"""Download jobs: hub checkpoints fetched in the background, their live state and their outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from core.errors import UserError
from core.store.base import StoreBase, inserted_id, now
from core.store.runs import ACTIVE, RUN_STATUSES

DOWNLOAD_STATUSES = RUN_STATUSES  # a download lives and ends like a training run
_FIELDS = {
    "status", "hub_id", "revision", "name", "pid", "heartbeat", "commit_sha", "stage", "done", "total", "files_done",
    "files_total", "file", "speed", "message", "folder", "model_id", "log_path", "error", "error_code",
    "error_params", "cancel_requested", "started", "finished",
}


@dataclass
class DownloadJob:
    id: int
    status: str
    hub_id: str
    revision: str | None = None
    name: str | None = None
    pid: int | None = None
    heartbeat: str | None = None
    commit_sha: str | None = None
    stage: str | None = None
    done: int = 0  # bytes
    total: int = 0  # bytes
    files_done: int = 0
    files_total: int = 0
    file: str | None = None
    speed: float | None = None  # bytes per second, lately
    message: str | None = None
    folder: str | None = None
    model_id: int | None = None
    log_path: str | None = None
    error: str | None = None
    error_code: str | None = None
    error_params: dict | None = None
    cancel_requested: bool = False
    created: str = ""
    started: str | None = None
    finished: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _job(row: dict) -> DownloadJob:
    row = dict(row)
    row["error_params"] = json.loads(row["error_params"]) if row.get("error_params") else None
    row["cancel_requested"] = bool(row.get("cancel_requested"))
    for key in ("done", "total", "files_done", "files_total"):
        row[key] = row.get(key) or 0
    return DownloadJob(**row)


class DownloadJobsMixin(StoreBase):
    """Rows of ``download_jobs``."""

    def create_download_job(self, *, hub_id: str, revision: str | None = None, name: str | None = None) -> DownloadJob:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO download_jobs (status, hub_id, revision, name, created, done, total, files_done, files_total,"
                " cancel_requested) VALUES ('queued',?,?,?,?,0,0,0,0,0)",
                (str(hub_id), revision, name, now()),
            )
            return self.get_download_job(inserted_id(cur))

    def get_download_job(self, job_id: int) -> DownloadJob:
        try:
            key = int(job_id)
        except (TypeError, ValueError):
            raise UserError(f"{job_id!r} is not a download job id", hint="`nastavnik downloads list` shows them",
                            code="download.no_job", params={"id": job_id}) from None
        cur = self.conn.execute("SELECT * FROM download_jobs WHERE id=?", (key,))
        row = cur.fetchone()
        if row is None:
            raise UserError(f"there is no download job {job_id}", hint="`nastavnik downloads list` shows them",
                            code="download.no_job", params={"id": job_id})
        return _job(dict(zip([d[0] for d in cur.description], row)))

    def list_download_jobs(self, *, status: str | Iterable[str] | None = None, hub_id: str | None = None,
                           limit: int | None = None) -> list[DownloadJob]:
        """Newest first."""
        sql, args, where = "SELECT * FROM download_jobs", list[Any](), list[str]()
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if hub_id is not None:
            where.append("hub_id=?")
            args.append(str(hub_id))
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        cur = self.conn.execute(sql, args)
        cols = [d[0] for d in cur.description]
        return [_job(dict(zip(cols, row))) for row in cur.fetchall()]

    def update_download_job(self, job_id: int, **values: Any) -> DownloadJob:
        self._write_download_job(job_id, None, values)
        return self.get_download_job(job_id)

    def claim_download_job(self, job_id: int, *, expect: Iterable[str], **values: Any) -> bool:
        """Change a job only if its status is one of ``expect`` (an atomic compare-and-set)."""
        return self._write_download_job(job_id, list(expect), values)

    def heartbeat_download_job(self, job_id: int) -> None:
        self._write_download_job(job_id, None, {"heartbeat": now()})

    def _write_download_job(self, job_id: int, expect: list[str] | None, values: dict) -> bool:
        unknown = set(values) - _FIELDS
        if unknown:
            raise ValueError(f"unknown download job fields: {sorted(unknown)}")
        if "status" in values and values["status"] not in DOWNLOAD_STATUSES:
            raise ValueError(f"bad download job status {values['status']!r}")
        if "error_params" in values and values["error_params"] is not None and not isinstance(values["error_params"], str):
            values["error_params"] = json.dumps(values["error_params"], ensure_ascii=False, default=str)
        if not values:
            return True
        cols = ", ".join(f"{k}=?" for k in values)
        sql, args = f"UPDATE download_jobs SET {cols} WHERE id=?", [*values.values(), int(job_id)]
        if expect is not None:
            sql += f" AND status IN ({','.join('?' * len(expect))})"
            args.extend(expect)
        with self.transaction():
            return self.conn.execute(sql, args).rowcount == 1
