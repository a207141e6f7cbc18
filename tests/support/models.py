"""The models the tests train and export: the tiny demo model and the replicas of real families,
each built once per cache key and kept on disk across sessions, under a lock (two xdist workers
never build one twice). The fixtures in tests/conftest.py hand them out."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.paths import REPO

DEMO_TEST_STEPS = 250  # cheaper than the workspace demo model; still answers in words


def cached_demo(steps: int) -> Path:
    """The demo model built with ``steps`` of pretraining, once, cached on disk under a lock."""
    import fcntl
    import hashlib

    from core.train.demo_model import SAMPLE, build_demo_model, builder_fingerprint

    data_hash = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()[:12] if SAMPLE.exists() else "missing"
    key = builder_fingerprint(seed=0, steps=steps, data=data_hash)
    root = Path(os.environ.get("NASTAVNIK_TEST_CACHE", REPO / ".cache" / "test-demo-model"))
    root.mkdir(parents=True, exist_ok=True)
    target = root / key
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / "model.safetensors").exists():
                build_demo_model(target, seed=0, steps=steps)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


REPLICA_TEST_STEPS = 150  # enough pretraining for words; the replicas' own default is 300


def cached_build(name: str, key: str, build) -> Path:
    """``build(target)`` once per cache key, under an fcntl lock (two xdist workers never both build)."""
    import fcntl

    root = Path(os.environ.get("NASTAVNIK_TEST_CACHE", REPO / ".cache" / "test-demo-model")).parent / "test-replicas"
    root.mkdir(parents=True, exist_ok=True)
    target = root / key / name  # the folder keeps the model's own name (-bnb-4bit means something to Unsloth)
    target.parent.mkdir(exist_ok=True)
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / "config.json").exists():
                build(target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def broken_template_parity(report: dict, folder: Path):
    """A real parity check of an export's Q8_0 GGUF against a copy (under ``folder``) of its
    merged model whose chat template was changed after the export: the HF side now calls the
    assistant "assistant" while the GGUF still says "model"."""
    import json
    import shutil

    from core.export import parity_check

    broken = folder / "broken"
    shutil.copytree(report["merged_dir"], broken)
    cfg_path = broken / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["chat_template"] = cfg["chat_template"].replace("<start_of_turn>model", "<start_of_turn>assistant")
    cfg_path.write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    q8 = Path(next(f["path"] for f in report["files"] if f["quant"] == "q8_0"))
    return parity_check(broken, {"q8_0": q8}, ["Что такое эпоха?"], max_new_tokens=8)
