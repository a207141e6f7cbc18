"""Training runs: their rows, live state (pid, heartbeat) and per-step metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from core.errors import UserError
from core.store.base import inserted_id, now
from core.store.jobs import JobRows, JobRowsMixin

RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")  # a run or job in these is still going
TERMINAL = tuple(s for s in RUN_STATUSES if s not in ACTIVE)  # and these are how it ended
_RUN_FIELDS = {
    "status", "base", "preset", "backend", "config", "dataset_sha256", "train_pairs", "eval_pairs",
    "run_dir", "pid", "heartbeat", "step", "max_steps", "epoch", "loss", "eval_loss", "adapter_path",
    "error", "cancel_requested", "started", "finished", "setup", "world_size", "best_step", "best_value",
    "error_code", "error_params",
}
_METRIC_FIELDS = ("loss", "lr", "grad_norm", "tokens_per_s", "eval_loss", "epoch",
                  "reward_chosen", "reward_rejected", "margin", "accuracy",  # these four: DPO/ORPO runs
                  "chrf",  # SFT with evaluation steps: mean chrF of the greedy answers to eval questions
                  "judge")  # … and with a judge: its mean 1–5 score of those answers


@dataclass
class Metric:
    step: int
    loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    eval_loss: float | None = None
    epoch: float | None = None
    time: str = ""
    reward_chosen: float | None = None  # DPO/ORPO: TRL's mean reward of the chosen answers
    reward_rejected: float | None = None
    margin: float | None = None  # chosen − rejected, as TRL logs it
    accuracy: float | None = None  # share of pairs with the chosen answer rewarded more
    chrf: float | None = None  # at an evaluation: the mean chrF of the answers (core/train/answer_eval.py)
    judge: float | None = None  # at an evaluation of a run with a judge: its mean 1–5 score of the answers

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("step", *_METRIC_FIELDS, "time")}


@dataclass
class Run:
    id: int
    status: str
    base: str
    preset: str | None = None
    backend: str | None = None
    config: dict = field(default_factory=dict)
    dataset_sha256: str | None = None
    train_pairs: int | None = None
    eval_pairs: int | None = None
    run_dir: str | None = None
    pid: int | None = None
    heartbeat: str | None = None
    step: int = 0
    max_steps: int | None = None
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    adapter_path: str | None = None
    error: str | None = None
    cancel_requested: bool = False
    created: str = ""
    started: str | None = None
    finished: str | None = None
    setup: dict = field(default_factory=dict)  # what really trained: backend, device, 4-bit layers, trainer…
    world_size: int | None = None
    best_step: int | None = None  # the best evaluation's step, by config["best_metric"]; its checkpoint is kept
    best_value: float | None = None
    error_code: str | None = None  # a failed run's UserError: its code and params, for the UI's language
    error_params: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def method(self) -> str:
        """sft, dpo or orpo (runs from before preference training are SFT)."""
        return (self.config or {}).get("method") or "sft"

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["steps"] = self.step
        d["method"] = self.method
        d["from_run"] = (self.config or {}).get("from_run")
        return d


def _run(row: dict) -> Run:
    row = dict(row)
    row["config"] = json.loads(row.get("config") or "{}")
    row["setup"] = json.loads(row.get("setup") or "{}")
    row["error_params"] = json.loads(row.get("error_params") or "{}")
    row["cancel_requested"] = bool(row.get("cancel_requested"))
    row["step"] = row.get("step") or 0
    return Run(**row)


def _missing(run_id: object, is_id: bool) -> UserError:
    return UserError(f"there is no run {run_id}", hint="`nastavnik runs list` shows the runs", code="run.no_run",
                     params={"id": run_id})


ROWS = JobRows("runs", "run", frozenset(_RUN_FIELDS), RUN_STATUSES, _run, _missing,
               json_fields=("config", "setup", "error_params"))


class RunsMixin(JobRowsMixin):
    """Rows of ``runs`` and ``run_metrics``."""

    def create_run(self, *, base: str, preset: str | None, backend: str | None, config: dict, status: str = "queued") -> Run:
        """A new queued run — refused while another run is queued or running (one at a time)."""
        with self.transaction():
            busy = self.conn.execute("SELECT id, status FROM runs WHERE status IN ('queued','running') ORDER BY id LIMIT 1").fetchone()
            if busy:
                raise UserError(
                    f"run {busy[0]} is still {busy[1]}; one run at a time",
                    hint=f"wait for it (`nastavnik runs logs {busy[0]} --follow`) or stop it (`nastavnik runs cancel {busy[0]}`)",
                    code="run.busy", params={"id": busy[0], "status": busy[1]},
                )
            cur = self.conn.execute(
                "INSERT INTO runs (status, base, preset, backend, config, created, step, cancel_requested) VALUES (?,?,?,?,?,?,0,0)",
                (status, base, preset, backend, json.dumps(config, ensure_ascii=False), now()),
            )
            return self.get_run(inserted_id(cur))

    def get_run(self, run_id: int) -> Run:
        row = self.conn.execute("SELECT * FROM runs WHERE id=?", (int(run_id),)).fetchone()
        if row is None:
            raise UserError(f"there is no run {run_id}", hint="`nastavnik runs list` shows the runs", code="run.no_run",
                            params={"id": run_id})
        cols = [d[0] for d in self.conn.execute("SELECT * FROM runs LIMIT 0").description]
        return _run(dict(zip(cols, row)))

    def find_run(self, run_id: int) -> Run | None:
        try:
            return self.get_run(run_id)
        except UserError:
            return None

    def list_runs(self, *, status: str | Iterable[str] | None = None, limit: int | None = None) -> list[Run]:
        return self._list_jobs(ROWS, status=status, limit=limit)

    def update_run(self, run_id: int, **values: Any) -> Run:
        self._write_job(ROWS, run_id, None, values)
        return self.get_run(run_id)

    def active_run(self) -> Run | None:
        runs = self.list_runs(status=ACTIVE, limit=1)
        return runs[0] if runs else None

    def claim_run(self, run_id: int, *, expect: Iterable[str], **values: Any) -> bool:
        """Change a run only if its status is one of ``expect`` (an atomic compare-and-set)."""
        return self._write_job(ROWS, run_id, expect, values)

    def heartbeat_run(self, run_id: int, **values: Any) -> None:
        self.update_run(run_id, heartbeat=now(), **values)

    def add_metric(self, run_id: int, step: int, **values: Any) -> None:
        """Record (or complete) the metrics of one step; also the run's latest figures."""
        vals = {k: values.get(k) for k in _METRIC_FIELDS}
        with self.transaction():
            self.conn.execute(
                "INSERT INTO run_metrics (run_id, step, time) VALUES (?,?,?) ON CONFLICT(run_id, step) DO NOTHING",
                (int(run_id), int(step), now()),
            )
            sets = {k: v for k, v in vals.items() if v is not None}
            if sets:
                cols = ", ".join(f"{k}=?" for k in sets)
                self.conn.execute(f"UPDATE run_metrics SET {cols} WHERE run_id=? AND step=?", (*sets.values(), int(run_id), int(step)))
            run_sets: dict[str, Any] = {"step": int(step)}
            for key in ("loss", "eval_loss", "epoch"):
                if vals.get(key) is not None:
                    run_sets[key] = vals[key]
            cols = ", ".join(f"{k}=?" for k in run_sets)
            self.conn.execute(f"UPDATE runs SET {cols} WHERE id=? AND step<=?", (*run_sets.values(), int(run_id), int(step)))

    def run_metrics(self, run_id: int, *, after_step: int | None = None) -> list[Metric]:
        sql = ("SELECT step, loss, lr, grad_norm, tokens_per_s, eval_loss, epoch, time, reward_chosen, reward_rejected, margin, "
               "accuracy, chrf, judge FROM run_metrics WHERE run_id=?")
        args: list[Any] = [int(run_id)]
        if after_step is not None:
            sql += " AND step>?"
            args.append(int(after_step))
        sql += " ORDER BY step"
        return [Metric(*row) for row in self.conn.execute(sql, args).fetchall()]

    def clear_metrics_after(self, run_id: int, step: int) -> None:
        """Forget metrics past ``step`` (a resumed run redoes them from its checkpoint)."""
        with self.transaction():
            self.conn.execute("DELETE FROM run_metrics WHERE run_id=? AND step>?", (int(run_id), int(step)))
