"""Set up a workspace to try the whole loop: sample pairs approved, demo model built."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError
from core.progress import OnProgress, ProgressEvent

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace
    from core.store import Store


def demo_model_dir(ws: Workspace) -> Path:
    return ws.models_dir / "demo"


def ensure_demo_model(ws: Workspace, store: Store, *, force: bool = False, steps: int | None = None, progress: OnProgress | None = None):
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


def replica_dir(ws: Workspace, arch: str, *, prequantized: bool = False) -> Path:
    return ws.models_dir / (f"demo-{arch}" + ("-bnb-4bit" if prequantized else ""))


def ensure_replica(ws: Workspace, store: Store, arch: str, *, force: bool = False, prequantize: bool = False, steps: int | None = None, progress: OnProgress | None = None):
    """Build ``models/demo-<arch>`` (unless it is there, built by this code) and register it as
    base ``demo-<arch>``; with ``prequantize`` also ``demo-<arch>-bnb-4bit``. Returns the models."""
    import json

    from core.train.replicas import build_replica, fingerprint, get_arch
    from core.train.replicas import prequantize as quantize

    spec = get_arch(arch)
    out = replica_dir(ws, arch)
    info_file = out / "nastavnik_replica.json"
    key = fingerprint(spec, seed=0, steps=steps if steps is not None else spec.steps)
    built = False
    if force or not info_file.is_file() or json.loads(info_file.read_text(encoding="utf-8")).get("fingerprint") != key:
        build_replica(arch, out, steps=steps, progress=progress)
        built = True
    models = [store.add_model("base", out.name, str(out), size_bytes=_size(out), meta={"replica": arch}, replace=True)]
    if prequantize:
        q = replica_dir(ws, arch, prequantized=True)
        if built or force or not (q / "config.json").is_file():
            if progress:
                progress(ProgressEvent("prequantize", 0, 1))
            quantize(out, q)
            if progress:
                progress(ProgressEvent("prequantize", 1, 1))
        models.append(store.add_model("base", q.name, str(q), size_bytes=_size(q), meta={"replica": arch, "bnb_4bit": True}, replace=True))
    return models, built


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def import_sample(store: Store) -> int:
    """Import the sample pairs, approved, into an empty store; 0 when it already has pairs."""
    from core.train.demo_model import SAMPLE

    if store.count_pairs() > 0:
        return 0
    if not SAMPLE.exists():
        raise UserError(f"the sample data {SAMPLE} is missing", hint="restore datasets/sample_ru.jsonl from git")
    from core.formats.pairs_io import import_files

    counts = import_files(store, [SAMPLE], status="approved")
    return counts.imported
