"""A background LoRA export converts its run's base GGUF in a folder beside its own staging folder;
a job killed meanwhile leaves neither behind (``core.export.jobs.clean_up``)."""

from __future__ import annotations

from core.workspace import Workspace


def test_a_killed_lora_jobs_base_conversion_is_removed_with_its_staging(home):
    from core.export.jobs import clean_up, staging_dir
    from core.export.lora import base_staging

    ws = Workspace.open(home)
    with ws.store() as store:
        job = store.create_export_job(source="1", quants=["q8_0"], how="lora")
        staging = staging_dir(ws, job.id)
        job = store.update_export_job(job.id, status="interrupted", staging=str(staging))
        base = base_staging(staging)
        assert base.parent == staging.parent and base != staging and base.name.startswith(".")  # hidden, like a staging folder
        for folder in (staging, base):
            folder.mkdir(parents=True)
            (folder / "half.gguf").write_bytes(b"GGUF")
        kept = ws.exports_dir / "demo-base"  # a base GGUF that was published is another job's to keep
        kept.mkdir()
        assert sorted(clean_up(ws, store, job)) == sorted([staging, base])
    assert [p.name for p in ws.exports_dir.iterdir()] == ["demo-base"]
