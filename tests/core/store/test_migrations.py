"""Migrations: a blank database and one left at the oldest schema both reach today's schema,
and the old data survives (searchable, de-duplicable)."""

from __future__ import annotations

import sqlite3

import sqlite_utils

from core.store import PairFilter, Store
from core.store import migrations


def test_blank_database_gets_every_migration(tmp_path):
    path = tmp_path / "blank.db"
    store = Store(path)
    names = [name for name, _ in migrations.MIGRATIONS]
    assert migrations.applied(store.db) == names
    assert {"pairs", "pair_tags", "revisions", "actions", "import_batches", "pairs_fts"} <= set(store.db.table_names())
    # opening again applies nothing twice
    assert migrations.migrate(store.db) == []
    store.close()


def test_oldest_schema_is_migrated_with_its_data(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    first = migrations.MIGRATIONS[0][0]
    migrations.migrate(db, upto=first)
    assert migrations.applied(db) == [first]
    db["pairs"].insert(
        {
            "id": 1,
            "question": "Что такое ЁЛКА?",
            "answer": "Дерево.",
            "status": "approved",
            "split": "train",
            "created": "2025-01-01T00:00:00.000+00:00",
            "updated": "2025-01-01T00:00:00.000+00:00",
        }
    )
    db["pairs"].insert(
        {
            "id": 2,
            "question": "что такое елка?",
            "answer": "дерево.",
            "status": "draft",
            "split": "train",
            "created": "2025-01-01T00:00:00.000+00:00",
            "updated": "2025-01-01T00:00:00.000+00:00",
        }
    )
    db["pair_tags"].insert({"pair_id": 1, "tag": "природа"})
    db.conn.commit()
    db.conn.close()

    store = Store(path)
    assert migrations.applied(store.db) == [name for name, _ in migrations.MIGRATIONS]
    p = store.get_pair(1)
    assert (p.question, p.status, p.tags) == ("Что такое ЁЛКА?", "approved", ["природа"])
    assert [x.id for x in store.list_pairs(PairFilter(query="елк"))] == [1, 2]
    assert [[x.id for x in g] for g in store.dedup().duplicates] == [[1, 2]]
    # and the migrated store is fully usable
    store.update_pair(1, answer="Хвойное дерево.")
    assert store.undo().kind == "edit"
    assert store.get_pair(1).answer == "Дерево."
    store.close()


def test_not_a_store_is_a_clear_error(tmp_path):
    import pytest

    from core.errors import UserError

    bad = tmp_path / "nastavnik.db"
    bad.write_bytes(b"this is not sqlite at all, just text" * 100)
    with pytest.raises(UserError, match="not a Nastavnik store"):
        Store(bad)


def test_judgements_made_before_rubrics_were_kept_are_the_default_rubrics(tmp_path):
    """The judge read the rubric the code held until the rubric became a workspace file: a
    migrated store names that rubric on its old judgements, so they stay shown."""
    from core.eval.rubric import DEFAULT_RUBRIC, rubric_hash

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    migrations.migrate(db, upto="m044_pair_stamps_move_forward")
    db["eval_results"].insert({"model": "run-1", "pair_id": 1, "question": "Что такое эпоха?", "reference": "Проход.",
                               "answer": "Проход.", "chrf": 100.0, "exact": 1, "tokens": 2, "seconds": 0.1, "created": ""})
    db["eval_judgements"].insert({"model": "run-1", "pair_id": 1, "judge": "big", "score": 5, "raw": "Оценка: 5", "created": ""})
    db.conn.commit()
    db.conn.close()

    store = Store(path)
    (j,) = store.judgements(rubric=rubric_hash(DEFAULT_RUBRIC))
    assert (j.model, j.judge, j.score, j.answer) == ("run-1", "big", 5, "Проход.")
    (r,) = store.eval_results(["run-1"], rubric=rubric_hash(DEFAULT_RUBRIC))
    assert r.judge_score == 5 and store.eval_results(["run-1"], rubric="0" * 12)[0].judge_score is None
    store.close()
