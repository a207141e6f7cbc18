"""An export job keeps which export it was asked for (``how``: lora or merged, m051_export_how);
a job from before the column ran the full merge and reads so."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from core.store import Store, migrations


def test_an_export_job_keeps_its_choice_and_an_older_one_reads_as_merged(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    migrations.migrate(db, upto="m050_job_error_codes")
    db["export_jobs"].insert({"id": 1, "status": "done", "source": "3", "quants": '["q8_0"]', "parity": 1,
                              "created": "2026-12-01T00:00:00.000+00:00"})
    db.conn.commit()
    db.conn.close()

    with Store(path) as store:
        assert "m051_export_how" in migrations.applied(store.db)
        assert store.get_export_job(1).how == "merged"  # before the LoRA export, every job merged
        lora = store.create_export_job(source="4", quants=["q8_0"], how="lora")
        whole = store.create_export_job(source="demo", quants=["q8_0"], how="merged")
        assert (store.get_export_job(lora.id).how, store.get_export_job(whole.id).how) == ("lora", "merged")
        assert store.get_export_job(lora.id).to_dict()["how"] == "lora"
        with pytest.raises(ValueError):
            store.create_export_job(source="4", quants=["q8_0"], how="gguf")
