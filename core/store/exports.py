"""Export jobs: exports running in the background, their live state and their outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from core.errors import UserError
from core.store.jobs import JobRows, JobRowsMixin
from core.store.runs import ACTIVE, RUN_STATUSES

EXPORT_STATUSES = RUN_STATUSES  # a job lives and ends like a training run
_JSON_FIELDS = ("quants", "steps", "result", "error_params")
_JSON_EMPTY: dict[str, Any] = {"steps": {}, "quants": [], "error_params": {}}  # what an empty one reads as (else None)
_FIELDS = {
    "status", "source", "run_id", "name", "quants", "parity", "system", "pid", "heartbeat", "stage", "done",
    "total", "message", "steps", "staging", "folder", "log_path", "result", "error", "cancel_requested",
    "started", "finished", "error_code", "error_params", "how",
}
EXPORT_HOWS = ("lora", "merged")  # a run's adapter as a GGUF LoRA on its base GGUF, or the whole model merged


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
    # the export asked for: "lora" or "merged" (``EXPORT_HOWS``); what it became is ``result["how"]``
    how: str = "merged"

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
    row["how"] = row.get("how") or "merged"  # a job from before m051 ran the full merge
    return ExportJob(**row)


def _missing(job_id: object, is_id: bool) -> UserError:
    if not is_id:
        return UserError(f"{job_id!r} is not an export job id", hint="`nastavnik exports list` shows them")
    return UserError(f"there is no export job {job_id}", hint="`nastavnik exports list` shows them",
                     code="export.no_job", params={"id": job_id})


ROWS = JobRows("export_jobs", "export job", frozenset(_FIELDS), tuple(EXPORT_STATUSES), _job, _missing,
               json_fields=_JSON_FIELDS)


class ExportJobsMixin(JobRowsMixin):
    """Rows of ``export_jobs``."""

    def create_export_job(self, *, source: str, quants: list[str], name: str | None = None, run_id: int | None = None,
                          parity: bool = True, system: str | None = None, how: str = "merged") -> ExportJob:
        if how not in EXPORT_HOWS:
            raise ValueError(f"an export is one of {EXPORT_HOWS}, not {how!r}")
        return self._create_job(ROWS, source=str(source), run_id=run_id, name=name, quants=json.dumps(list(quants)),
                                parity=int(bool(parity)), system=system, how=how)

    def get_export_job(self, job_id: int) -> ExportJob:
        return self._get_job(ROWS, job_id)

    def find_export_job(self, job_id: int) -> ExportJob | None:
        try:
            return self.get_export_job(job_id)
        except UserError:
            return None

    def list_export_jobs(self, *, status: str | Iterable[str] | None = None, run_id: int | None = None,
                         limit: int | None = None) -> list[ExportJob]:
        """Newest first."""
        return self._list_jobs(ROWS, status=status, limit=limit, run_id=None if run_id is None else int(run_id))

    def update_export_job(self, job_id: int, **values: Any) -> ExportJob:
        return self._update_job(ROWS, job_id, values)

    def claim_export_job(self, job_id: int, *, expect: Iterable[str], **values: Any) -> bool:
        """Change a job only if its status is one of ``expect`` (an atomic compare-and-set)."""
        return self._write_job(ROWS, job_id, expect, values)

    def heartbeat_export_job(self, job_id: int) -> None:
        self._heartbeat_job(ROWS, job_id)
