"""Set up a workspace to try the whole loop: sample pairs approved, demo model built."""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError


def demo_model_dir(ws) -> Path:
    return ws.models_dir / "demo"


def ensure_demo_model(ws, store, *, force: bool = False, steps: int | None = None, progress=None):
    """Build ``models/demo`` (unless there and not ``force``) and register it as base ``demo``."""
    from core.train.demo_model import DEFAULT_STEPS, build_demo_model

    out = demo_model_dir(ws)
    built = False
    if force or not (out / "model.safetensors").exists():
        build_demo_model(out, steps=steps or DEFAULT_STEPS, progress=progress)
        built = True
    size = sum(p.stat().st_size for p in out.glob("*.safetensors"))
    model = store.add_model("base", "demo", str(out), size_bytes=size, meta={"demo": True}, replace=True)
    return model, built


def import_sample(store) -> int:
    """Import the sample pairs, approved, into an empty store; 0 when it already has pairs."""
    from core.train.demo_model import SAMPLE

    if store.count_pairs() > 0:
        return 0
    if not SAMPLE.exists():
        raise UserError(f"the sample data {SAMPLE} is missing", hint="restore datasets/sample_ru.jsonl from git")
    from core.pairs_io import import_files

    counts = import_files(store, [SAMPLE], status="approved")
    return counts.imported
