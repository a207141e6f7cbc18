"""Dataset snapshot hash, presets and their VRAM estimate, config validation."""

from __future__ import annotations

import pytest

from core.train.dataset import snapshot
from core.errors import UserError
from core.train.config import TrainConfig
from core.train.presets import GiB, PRESETS, estimate_vram, fit_advice, get_preset


def test_dataset_hash_is_stable_and_follows_the_approved_pairs(store):
    a = store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    store.add_pair("Что такое батч?", "Группа примеров.", status="approved", split="eval")
    draft = store.add_pair("Черновик?", "Нет.", status="draft")
    first = snapshot(store)
    assert snapshot(store).sha256 == first.sha256
    assert (len(first.train), len(first.eval)) == (1, 1)
    store.update_pair(draft.id, answer="Другой черновик.")  # drafts are not in the run
    assert snapshot(store).sha256 == first.sha256
    store.update_pair(a.id, answer="Один полный проход по всем данным.")
    changed = snapshot(store).sha256
    assert changed != first.sha256
    store.update_pair(a.id, answer="Один проход по данным.")
    assert snapshot(store).sha256 == first.sha256  # content, not history, decides


def test_no_approved_pairs_is_a_user_error(store):
    store.add_pair("Q?", "A.", status="draft")
    with pytest.raises(UserError, match="no approved pairs"):
        snapshot(store)


def test_vram_estimates_grow_with_the_model_and_advise_when_too_big():
    big, small = estimate_vram(PRESETS["gemma3-12b"]), estimate_vram(PRESETS["gemma3-4b"])
    assert 7 * GiB < big.total < 24 * GiB  # a 12B in 4-bit with LoRA fits a 24 GB card, not an 8 GB one
    assert small.total < big.total
    assert estimate_vram(PRESETS["gemma3-12b"], max_seq_len=8192).total > big.total
    advice = fit_advice(PRESETS["gemma3-12b"], big, 6 * GiB, max_seq_len=2048, batch_size=2)
    assert "gemma3-4b" in advice or "qwen3-8b" in advice
    assert "--max-seq-len 1024" in advice and "--batch-size 1" in advice
    assert fit_advice(PRESETS["gemma3-12b"], big, 80 * GiB, max_seq_len=2048, batch_size=2) is None


def test_check_vram_refuses_a_run_that_cannot_fit(tmp_path, monkeypatch):
    from core.train import runs
    from tests.support.nvidia import fake_nvidia_smi

    fake_nvidia_smi(tmp_path, monkeypatch, ["0, GPU-0, NVIDIA T400, 4096, 4096"])
    with pytest.raises(UserError, match="will not fit"):
        runs.check_vram(TrainConfig.from_preset("gemma3-12b"))
    fake_nvidia_smi(tmp_path, monkeypatch, ["0, GPU-0, NVIDIA A100-SXM4-40GB, 40960, 40960"])
    assert runs.check_vram(TrainConfig.from_preset("gemma3-12b"))["total"] > 5


def test_gemma_presets_use_the_gemma_template():
    for name in ("gemma3-12b", "gemma3-4b"):
        assert get_preset(name).template == "gemma"
    assert get_preset("qwen3-8b").template == "qwen3" and get_preset("llama3.1-8b").template == "llama3"


@pytest.mark.parametrize(
    "change, field",
    [({"lr": 5.0}, "lr"), ({"lora_r": 0}, "lora_r"), ({"max_seq_len": 4}, "max_seq_len"), ({"backend": "tpu"}, "backend"), ({"dtype": "fp8"}, "dtype"),
     ({"epochs": 0}, "epochs")],
)
def test_config_validation_names_the_field(change, field):
    with pytest.raises(UserError, match=f"^{field}:"):
        TrainConfig.from_preset("demo").with_(**change).validate()


def test_liveness_uses_the_worker_pid_not_the_age_of_the_run(store):
    import subprocess
    import sys

    from core.train.runs import refresh

    old = "2020-01-01T00:00:00.000+00:00"
    fake_worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "core.train.worker"])
    try:
        resumed = store.create_run(base="demo", preset="demo", backend="hf", config={})
        store.update_run(resumed.id, pid=fake_worker.pid)
        store.conn.execute("UPDATE runs SET created=? WHERE id=?", (old, resumed.id))
        assert refresh(store) == []  # an old run, resumed, whose worker is starting: still queued
        assert store.get_run(resumed.id).status == "queued"
        store.update_run(resumed.id, status="running", heartbeat=store.get_run(resumed.id).created)
        assert refresh(store) == [resumed.id]  # a heartbeat years old: the worker is gone
        assert store.get_run(resumed.id).status == "interrupted"
    finally:
        fake_worker.kill()
        fake_worker.wait()
    orphan = store.create_run(base="demo", preset="demo", backend="hf", config={})
    store.conn.execute("UPDATE runs SET created=? WHERE id=?", (old, orphan.id))
    assert refresh(store) == [orphan.id]  # queued, never started, long ago
