"""Download jobs: hub checkpoints fetched in the background, their live state and their outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from core.errors import UserError
from core.store.jobs import JobRows, JobRowsMixin
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


def _missing(job_id: object, is_id: bool) -> UserError:
    what = f"there is no download job {job_id}" if is_id else f"{job_id!r} is not a download job id"
    return UserError(what, hint="`nastavnik downloads list` shows them", code="download.no_job", params={"id": job_id})


ROWS = JobRows("download_jobs", "download job", frozenset(_FIELDS), tuple(DOWNLOAD_STATUSES), _job, _missing,
               json_default=str)


class DownloadJobsMixin(JobRowsMixin):
    """Rows of ``download_jobs``."""

    def create_download_job(self, *, hub_id: str, revision: str | None = None, name: str | None = None) -> DownloadJob:
        return self._create_job(ROWS, hub_id=str(hub_id), revision=revision, name=name, files_done=0, files_total=0)

    def get_download_job(self, job_id: int) -> DownloadJob:
        return self._get_job(ROWS, job_id)

    def list_download_jobs(self, *, status: str | Iterable[str] | None = None, hub_id: str | None = None,
                           limit: int | None = None) -> list[DownloadJob]:
        """Newest first."""
        return self._list_jobs(ROWS, status=status, limit=limit, hub_id=None if hub_id is None else str(hub_id))

    def update_download_job(self, job_id: int, **values: Any) -> DownloadJob:
        return self._update_job(ROWS, job_id, values)

    def claim_download_job(self, job_id: int, *, expect: Iterable[str], **values: Any) -> bool:
        """Change a job only if its status is one of ``expect`` (an atomic compare-and-set)."""
        return self._write_job(ROWS, job_id, expect, values)

    def heartbeat_download_job(self, job_id: int) -> None:
        self._heartbeat_job(ROWS, job_id)
