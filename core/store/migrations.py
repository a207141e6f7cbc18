"""The store's schema and its migrations — the only place the schema is written down.

Migrations run in order, each once, recorded in ``_migrations`` (as ``llm`` does with
sqlite-utils). Never edit a migration that has shipped: append a new one. Tests migrate a
blank database and a database left at the oldest schema.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Callable

from core.text import fold, normalize

if TYPE_CHECKING:  # sqlite-utils pulls in pandas: import it only when a migration runs
    import sqlite_utils

Migration = Callable[["sqlite_utils.Database"], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def pending(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations this database still needs (plain sqlite3, no sqlite-utils)."""
    has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='_migrations'").fetchone()
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")} if has_table else set()
    return [name for name, _ in MIGRATIONS if name not in done]


def applied(db: "sqlite_utils.Database") -> list[str]:
    if "_migrations" not in db.table_names():
        return []
    return [row["name"] for row in db["_migrations"].rows_where(order_by="rowid")]


def migrate(db: "sqlite_utils.Database", *, upto: str | None = None) -> list[str]:
    """Apply every pending migration (or those up to and including ``upto``)."""
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    done = set(applied(db))
    ran = []
    for name, fn in MIGRATIONS:
        if name not in done:
            with db.conn:
                fn(db)
                db["_migrations"].insert({"name": name, "applied_at": _now()})
            ran.append(name)
        if upto and name == upto:
            break
    return ran


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------------- table shapes shared by migrations
# Migrations call these, so what they build is frozen like the migrations themselves: change one
# only by adding a new helper for a new migration.


def _revisions_table(db: sqlite_utils.Database, table: str, subject: str, columns: tuple[str, ...]) -> None:
    """A subject's revision history: one row per change of one ``<subject>_id`` under one action.

    ``existed`` is 0 where the subject did not exist before the action; ``columns`` (text) are
    the subject's fields as they were, then its ``deleted`` stamp.
    """
    key = f"{subject}_id"
    db[table].create(
        {"id": int, key: int, "action_id": int, "existed": int, **dict.fromkeys(columns, str), "deleted": str, "created": str},
        pk="id",
        foreign_keys=[(key, subject + "s", "id")],
    )
    db[table].create_index([key])


def _jobs_table(
    db: sqlite_utils.Database, table: str, request: dict, progress: dict, *, required: str, defaults: dict
) -> None:
    """A background job's row: what was asked (``request``), the worker's pid and heartbeat, how
    far it got (``progress``), and how it ended. ``status`` is queued|running|done|failed|
    cancelled|interrupted for every kind of job."""
    db[table].create(
        {
            "id": int,
            "status": str,
            **request,
            "pid": int,
            "heartbeat": str,
            **progress,
            "error": str,
            "cancel_requested": int,
            "created": str,
            "started": str,
            "finished": str,
        },
        pk="id",
        not_null={"status", required, "created"},
        defaults={"status": "queued", **defaults, "cancel_requested": 0},
    )
    db[table].create_index(["status"])


# ---------------------------------------------------------------------------- pairs


@migration
def m001_pairs(db: "sqlite_utils.Database") -> None:
    """The first schema: pairs, their tags and the revision history."""
    db["pairs"].create(
        {
            "id": int,
            "question": str,
            "answer": str,
            "system": str,
            "context": str,  # JSON list of {"role", "content"} turns before the question
            "status": str,
            "split": str,
            "source": str,
            "created": str,
            "updated": str,
            "deleted": str,  # set when moved to the trash
        },
        pk="id",
        not_null={"question", "answer", "status", "split", "created", "updated"},
        defaults={"status": "draft", "split": "train"},
    )
    db["pair_tags"].create(
        {"pair_id": int, "tag": str}, pk=("pair_id", "tag"), foreign_keys=[("pair_id", "pairs", "id")]
    )
    db["pair_tags"].create_index(["tag"])
    # tags: a JSON list
    _revisions_table(db, "revisions", "pair", ("question", "answer", "system", "context", "tags", "status", "split"))
    db["pairs"].create_index(["updated"])
    db["pairs"].create_index(["status"])
    db["pairs"].create_index(["split"])


@migration
def m002_actions_and_batches(db: "sqlite_utils.Database") -> None:
    """Undoable actions group revisions; import batches record where pairs came from."""
    db["actions"].create(
        {"id": int, "kind": str, "summary": str, "batch_id": int, "created": str, "undone": int},
        pk="id",
        defaults={"undone": 0},
    )
    db["revisions"].create_index(["action_id"])
    db["import_batches"].create(
        {
            "id": int,
            "created": str,
            "files": str,  # JSON list of paths
            "format": str,
            "imported": int,
            "duplicates": int,
            "rejected": int,
        },
        pk="id",
    )
    db["pairs"].add_column("batch_id", int)
    db["pairs"].create_index(["batch_id"])


@migration
def m003_search_and_dedup(db: "sqlite_utils.Database") -> None:
    """Trigram full-text search over folded text, and normalised keys for duplicates.

    Trigram (not unicode61) because users search Cyrillic substrings and stems; the text
    is folded in Python (case-fold, ё→е) on both sides, since SQLite folds neither ё nor,
    in ``lower()``, Cyrillic. Contentless: the index holds no second copy of the text.
    """
    db.execute(
        "CREATE VIRTUAL TABLE pairs_fts USING fts5(question, answer, content='', tokenize='trigram')"
    )
    db["pairs"].add_column("dup_key", str)
    db["pairs"].add_column("question_key", str)
    rows = db.execute("SELECT id, question, answer, deleted FROM pairs").fetchall()
    for pid, q, a, deleted in rows:
        dkey, qkey = dedup_keys(q, a)
        db.execute("UPDATE pairs SET dup_key=?, question_key=? WHERE id=?", (dkey, qkey, pid))
        if deleted is None:  # the index holds live pairs only
            db.execute("INSERT INTO pairs_fts(rowid, question, answer) VALUES (?, ?, ?)", (pid, fold(q), fold(a)))
    db["pairs"].create_index(["dup_key"])


def dedup_keys(question: str, answer: str) -> tuple[str, str]:
    """(pair key, question key): equal keys mean equal text after normalisation."""
    import hashlib

    qn = normalize(question)
    an = normalize(answer)
    qkey = hashlib.blake2b(qn.encode(), digest_size=12).hexdigest()
    dkey = hashlib.blake2b((qn + "\x1f" + an).encode(), digest_size=12).hexdigest()
    return dkey, qkey


# ---------------------------------------------------------------------------- chats, grades, evaluation


@migration
def m010_chats_grades_eval(db: "sqlite_utils.Database") -> None:
    """Conversations with models, 1–5 grades per model and question, evaluation answers."""
    db["conversations"].create(
        {"id": int, "title": str, "models": str, "system": str, "created": str, "updated": str}, pk="id"
    )
    db["messages"].create(
        {
            "id": int,
            "conversation_id": int,
            "role": str,
            "content": str,
            "model": str,
            "tokens": int,
            "seconds": float,
            "created": str,
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
        not_null={"role", "content"},
    )
    db["messages"].create_index(["conversation_id"])
    db["grades"].create(
        {
            "id": int,
            "model": str,
            "question_key": str,
            "question": str,
            "score": int,
            "comment": str,
            "answer": str,
            "message_id": int,
            "pair_id": int,
            "created": str,
        },
        pk="id",
        not_null={"model", "question_key", "score"},
    )
    db["grades"].create_index(["model", "question_key"], unique=True)
    db["eval_results"].create(
        {
            "id": int,
            "model": str,
            "pair_id": int,
            "question": str,
            "reference": str,
            "answer": str,
            "chrf": float,
            "exact": int,
            "tokens": int,
            "seconds": float,
            "created": str,
        },
        pk="id",
        not_null={"model", "pair_id"},
    )
    db["eval_results"].create_index(["model", "pair_id"], unique=True)
    db["eval_judgements"].create(
        {"id": int, "model": str, "pair_id": int, "judge": str, "score": int, "raw": str, "created": str},
        pk="id",
        not_null={"model", "pair_id", "judge"},
    )
    db["eval_judgements"].create_index(["model", "pair_id", "judge"], unique=True)


# ---------------------------------------------------------------------------- runs and models


@migration
def m020_runs_models(db: "sqlite_utils.Database") -> None:
    """Training runs, their per-step metrics, and every model the app knows.

    A run's live state (pid, heartbeat) sits in its row so a restarted CLI or TUI can tell
    a running worker from one that died (``interrupted``). Models are bases, adapters,
    merged checkpoints and GGUF files alike, told apart by ``kind``.
    """
    _jobs_table(
        db,
        "runs",
        {
            "base": str,
            "preset": str,
            "backend": str,
            "config": str,  # JSON of the TrainConfig
            "dataset_sha256": str,
            "train_pairs": int,
            "eval_pairs": int,
            "run_dir": str,
        },
        {"step": int, "max_steps": int, "epoch": float, "loss": float, "eval_loss": float, "adapter_path": str},
        required="base",
        defaults={"step": 0},
    )
    db["run_metrics"].create(
        {
            "run_id": int,
            "step": int,
            "loss": float,
            "lr": float,
            "grad_norm": float,
            "tokens_per_s": float,
            "eval_loss": float,
            "epoch": float,
            "time": str,
        },
        pk=("run_id", "step"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["models"].create(
        {
            "id": int,
            "kind": str,  # base|adapter|merged|gguf
            "name": str,
            "path": str,
            "run_id": int,
            "base": str,
            "quant": str,
            "sha256": str,
            "size_bytes": int,
            "dataset_sha256": str,
            "created": str,
            "meta": str,  # JSON
        },
        pk="id",
        not_null={"kind", "name", "path", "created"},
    )
    db["models"].create_index(["name"], unique=True)
    db["models"].create_index(["kind"])


@migration
def m030_live_pair_indexes(db: "sqlite_utils.Database") -> None:
    """Counts of live pairs (by status, by split, in all) read small covering indexes.

    Without them ``count(*) … WHERE deleted IS NULL`` reads every row's text: a third of a
    second at a million pairs, several times over for the status bar.
    """
    db["pairs"].create_index(["deleted", "status"], index_name="idx_pairs_live_status")
    db["pairs"].create_index(["deleted", "split"], index_name="idx_pairs_live_split")
    db.execute("DROP INDEX IF EXISTS idx_pairs_status")
    db.execute("DROP INDEX IF EXISTS idx_pairs_split")
    # Without statistics SQLite takes ``deleted IS NULL`` for a selective condition and
    # sorts a million rows instead of walking the ORDER BY index; the store re-analyzes
    # after bulk imports (PairsMixin.add_pairs).
    db.execute("ANALYZE pairs")


# ---------------------------------------------------------------------------- export jobs


@migration
def m040_export_jobs(db: "sqlite_utils.Database") -> None:
    """Exports run in the background like training runs: one row per job.

    The worker's pid and heartbeat say whether it lives (as for runs); ``stage``, ``done``,
    ``total`` and ``message`` are the last progress event, ``steps`` (JSON) when each step
    began and how long it took. ``staging`` is the folder the job builds in and ``folder``
    the one it publishes to, so whoever finds the worker dead can remove what it left.
    ``result`` is the export report (JSON, with the parity check) once it is done.
    """
    _jobs_table(
        db,
        "export_jobs",
        {
            "source": str,  # what was asked for: a run id, a model name or a folder
            "run_id": int,
            "name": str,
            "quants": str,  # JSON list
            "parity": int,
            "system": str,
        },
        {
            "stage": str,
            "done": int,
            "total": int,
            "message": str,
            "steps": str,  # JSON {stage: {"started": iso, "seconds": float}}
            "staging": str,
            "folder": str,
            "log_path": str,
            "result": str,  # JSON of ExportResult.to_dict()
        },
        required="source",
        defaults={"done": 0, "total": 0, "parity": 1},
    )



@migration
def m041_run_setup(db: "sqlite_utils.Database") -> None:
    """What a run really trains with (backend, device, 4-bit layers, trainer, where LoRA went), and
    how many processes train it (``--gpus``/``--processes``)."""
    db["runs"].add_column("setup", str)  # JSON, written by the worker once the trainer exists
    db["runs"].add_column("world_size", int)


# ---------------------------------------------------------------------------- preferences and teacher drafts


@migration
def m042_preferences_and_drafts(db: "sqlite_utils.Database") -> None:
    """Preference pairs (a prompt, a chosen and a rejected answer) with their own revisions,
    and the teacher drafts pairs were written from.

    A preference lives beside the pairs under the same rules: the trash (``deleted``), one
    revision per change kept under the shared ``actions`` (so one undo takes back a
    correction's pair and its preference together), import batches. A teacher draft is one
    row per drafting, under the action that saved it: undoing that action removes the row,
    and a pair's draft is its newest row.
    """
    db["preferences"].create(
        {
            "id": int,
            "prompt": str,  # the last user turn
            "system": str,
            "context": str,  # JSON list of {"role", "content"} turns before the prompt
            "chosen": str,
            "rejected": str,
            "model": str,  # the model whose answer was rejected (its store key)
            "run_id": int,  # the training run that model came from
            "chosen_model": str,  # None: a person wrote `chosen`; else the model whose answer won
            "chosen_run_id": int,
            "source": str,  # chat:<conversation>, eval:<pair>:<model>, compare:<conversation>, file:line
            "pair_id": int,  # the pair a correction saved along with it
            "message_id": int,  # the rejected chat message
            "dup_key": str,
            "batch_id": int,
            "created": str,
            "updated": str,
            "deleted": str,
        },
        pk="id",
        not_null={"prompt", "chosen", "rejected", "created", "updated"},
    )
    db["preferences"].create_index(["deleted", "id"], index_name="idx_preferences_live")
    db["preferences"].create_index(["dup_key"])
    db["preferences"].create_index(["batch_id"])
    _revisions_table(db, "preference_revisions", "preference", ("prompt", "system", "context", "chosen", "rejected"))
    db["preference_revisions"].create_index(["action_id"])
    db["pair_drafts"].create(
        {"id": int, "pair_id": int, "teacher": str, "draft": str, "action_id": int, "created": str},
        pk="id",
        not_null={"pair_id", "teacher", "draft", "created"},
    )
    db["pair_drafts"].create_index(["pair_id", "id"])
    db["pair_drafts"].create_index(["action_id"])
    # a teacher's question is a duplicate when a live pair asks it already: look it up, not scan
    db["pairs"].create_index(["question_key"], if_not_exists=True)


# ---------------------------------------------------------------------------- preference training


@migration
def m043_preference_metrics(db: "sqlite_utils.Database") -> None:
    """What a DPO/ORPO run logs at each step besides its loss: TRL's mean rewards of the chosen
    and the rejected answers, their margin (chosen − rejected) and the share of pairs whose
    chosen answer is rewarded more (accuracy). Empty for SFT runs."""
    for column in ("reward_chosen", "reward_rejected", "margin", "accuracy"):
        db["run_metrics"].add_column(column, float)


# ---------------------------------------------------------------------------- conflict stamps


@migration
def m044_pair_stamps_move_forward(db: "sqlite_utils.Database") -> None:
    """Every change to a pair moves its ``updated`` stamp forward, also two changes within one
    millisecond (the stamp's resolution): an editor or a script that saw a stamp is told of any
    change since (``PairChanged``), where an equal stamp let a second change through. A write that
    would leave the stamp where it was, or move it back, sets it one millisecond past the old one."""
    db.execute(
        """CREATE TRIGGER IF NOT EXISTS pairs_updated_moves_forward
        AFTER UPDATE OF updated ON pairs FOR EACH ROW WHEN NEW.updated <= OLD.updated
        BEGIN
            UPDATE pairs SET updated = strftime('%Y-%m-%dT%H:%M:%f', OLD.updated, '+0.001 seconds') || '+00:00'
            WHERE id = NEW.id;
        END"""
    )


# ---------------------------------------------------------------------------- the judge's rubric


@migration
def m045_judgement_rubric(db: "sqlite_utils.Database") -> None:
    """Each judgement names the rubric it was made with (a short hash of its text, see
    ``core.eval.rubric``): the rubric is a workspace file the user edits, and scores from two
    rubrics must not be averaged as one. Judgements made before are the default rubric's, the
    one the code held then."""
    from core.eval.rubric import DEFAULT_RUBRIC, rubric_hash

    db["eval_judgements"].add_column("rubric", str)
    db.execute("UPDATE eval_judgements SET rubric = ?", [rubric_hash(DEFAULT_RUBRIC)])
# ---------------------------------------------------------------------------- checkpoints chosen by their answers


@migration
def m046_answer_scores(db: "sqlite_utils.Database") -> None:
    """What an SFT run with evaluation steps records (core/train/answer_eval.py): per evaluation,
    the mean chrF of the model's greedy answers to a few eval questions, beside its eval loss; per
    run, its best evaluation's step and value by the metric it picked (``config.best_metric``), so
    export can take that checkpoint."""
    db["run_metrics"].add_column("chrf", float)
    db["runs"].add_column("best_step", int)
    db["runs"].add_column("best_value", float)


# ---------------------------------------------------------------------------- blind comparison


@migration
def m047_blind_votes(db: "sqlite_utils.Database") -> None:
    """Votes of Chat's blind comparison: two models' answers to one question, shown as A and B in
    an order drawn from ``seed``; ``winner`` is a, b or tie; an A/B vote's preference (chosen: the
    winner's answer) is ``preference_id``. One vote per pair of answers."""
    db["blind_votes"].create(
        {
            "id": int,
            "conversation_id": int,
            "question": str,
            "model_a": str,
            "model_b": str,
            "message_a": int,
            "message_b": int,
            "seed": int,
            "winner": str,
            "preference_id": int,
            "created": str,
        },
        pk="id",
        not_null={"question", "model_a", "model_b", "message_a", "message_b", "seed", "winner", "created"},
    )
    db["blind_votes"].create_index(["message_a", "message_b"], unique=True)


# ---------------------------------------------------------------------------- a judge at evaluations


@migration
def m048_judge_at_evaluations(db: "sqlite_utils.Database") -> None:
    """An SFT run with a judge (``config.judge``) stores, per evaluation, the judge's mean 1–5
    score of the answers beside their chrF (core/train/answer_eval.py)."""
    db["run_metrics"].add_column("judge", float)


# ---------------------------------------------------------------------------- hub downloads


@migration
def m049_downloads(db: "sqlite_utils.Database") -> None:
    """A hub id is downloaded in the background like runs and exports: one row per download job.

    ``hub_id`` and ``revision`` are what was asked, ``commit`` what the revision resolved to;
    ``done``/``total`` the bytes fetched of the bytes to fetch, ``files_done``/``files_total``
    the files, ``file`` the one being fetched, ``speed`` its bytes per second. ``folder`` is the
    snapshot in the Hugging Face cache and ``model_id`` the base model registered from it once
    done. An error a user can fix keeps its ``error_code`` and ``error_params`` (JSON) so the
    app says it in its own language.
    """
    _jobs_table(
        db,
        "download_jobs",
        {"hub_id": str, "revision": str, "name": str},
        {
            "commit_sha": str,
            "stage": str,
            "done": int,
            "total": int,
            "files_done": int,
            "files_total": int,
            "file": str,
            "speed": float,
            "message": str,
            "folder": str,
            "model_id": int,
            "log_path": str,
            "error_code": str,
            "error_params": str,
        },
        required="hub_id",
        defaults={"done": 0, "total": 0, "files_done": 0, "files_total": 0},
    )


# ---------------------------------------------------------------------------- why a job failed, in any language


@migration
def m050_job_error_codes(db: "sqlite_utils.Database") -> None:
    """A failed run's or export job's error as its ``UserError`` gave it: the stable ``code``
    (``model.no_config``) and its ``params`` (JSON) beside the English ``error`` line, so the app
    says why in its own language while the CLI prints the English. Rows from before have no code:
    their English line is shown as it is."""
    for table in ("runs", "export_jobs"):
        db[table].add_column("error_code", str)
        db[table].add_column("error_params", str)  # JSON object


# ---------------------------------------------------------------------------- which export a job was asked for


@migration
def m051_export_how(db: "sqlite_utils.Database") -> None:
    """Which export a background job was asked for: ``lora`` (a run's adapter as a GGUF LoRA on its
    base GGUF, the default for a run) or ``merged`` (the whole model: ``export --merged``, a model
    folder). Jobs from before ran the full merge: they read as ``merged``. What the export became
    (a run that cannot be a LoRA falls back, saying why) is in the job's result."""
    db["export_jobs"].add_column("how", str)
