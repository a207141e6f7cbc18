"""Step 5 of an export: the files move into ``exports/<name>/``, then each GGUF is registered.

Everything is built in a temporary folder next to the final one; ``publish`` moves it into
place with one rename and registers every GGUF in one transaction (sha256, size, quant, run
id, base, dataset hash). If registering fails the folder is removed again: an export is
either in ``exports/`` and in the store, or in neither.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.export.common import sha256_file
from core.export.parity import ParityReport
from core.export.source import Source
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.export.lora import Refusal


@dataclass
class ExportedFile:
    quant: str
    path: Path
    sha256: str
    size_bytes: int
    model_id: int | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def _merge_info(merged_dir: Path) -> dict:
    from core.export.siblings import describe_merge

    return describe_merge(Path(merged_dir))


@dataclass
class ExportResult:
    name: str
    folder: Path
    source: str
    run_id: int | str | None
    base: str | None
    files: list[ExportedFile]
    modelfile: Path
    merged_dir: Path
    parity: ParityReport | None
    seconds: dict[str, float]
    registered: bool
    parity_skipped: str | None = None  # why the parity check did not run (no room for the HF model), and how to run it
    # a LoRA export asked for and refused (core.export.lora.Refusal): why this one is a full merge
    fallback: Refusal | None = None
    how: str = "merged"  # or "lora": the run's adapter as a GGUF LoRA on a base GGUF (core.export.lora)

    def file(self, quant: str) -> ExportedFile:
        for f in self.files:
            if f.quant == quant:
                return f
        raise KeyError(quant)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "folder": str(self.folder),
            "source": self.source,
            "run_id": self.run_id,
            "base": self.base,
            "files": [f.to_dict() for f in self.files],
            "modelfile": str(self.modelfile),
            "merged_dir": str(self.merged_dir),
            "parity": self.parity.to_dict() if self.parity else None,
            "parity_skipped": self.parity_skipped,
            "seconds": self.seconds,
            "merge": _merge_info(self.merged_dir),
            "registered": self.registered,
            "how": self.how,
            **({"lora_refused": {"code": self.fallback.code, "params": self.fallback.params,
                                 "reason": self.fallback.english}} if self.fallback is not None else {}),
        }


def unique_folder(root: Path, name: str) -> tuple[str, Path]:
    """``name`` (or ``name-2``, ``name-3``, …) free under ``root``: the export's name and folder."""
    candidate, n = name, 1
    while (root / candidate).exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate, root / candidate


def work_folder(root: Path, name: str, staging: Path | None) -> Path:
    """Where an export named ``name`` is built before ``publish`` moves it: ``staging`` (a job's, made
    here and new), or a fresh hidden folder under ``root``."""
    if staging is None:
        return Path(tempfile.mkdtemp(prefix=f".{name}.part-", dir=root))
    staging.mkdir(parents=True)
    return staging


def publish(ws: Workspace, tmp: Path, final_dir: Path, *, ref: str, source: Source, quants: list[str], files: dict[str, Path],
            parity: ParityReport | None, seconds: dict[str, float], parity_skipped: str | None = None,
            fallback: Refusal | None = None) -> ExportResult:
    """Move ``tmp`` to ``final_dir`` and register its GGUF files, all or nothing."""
    os.replace(tmp, final_dir)
    try:
        exported: list[ExportedFile] = []
        for q in quants:
            path = final_dir / files[q].name
            exported.append(ExportedFile(q, path, sha256_file(path), path.stat().st_size))
        result = ExportResult(
            name=final_dir.name, folder=final_dir, source=ref, run_id=source.run_id, base=source.base,
            files=exported, modelfile=final_dir / "Modelfile", merged_dir=final_dir / "merged",
            parity=parity, seconds=seconds, registered=False, parity_skipped=parity_skipped, fallback=fallback,
        )
        result.registered = register(ws, result, source)
    except BaseException:
        shutil.rmtree(final_dir, ignore_errors=True)
        raise
    (final_dir / "export.json").write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    return result


def register(ws: Workspace, result: ExportResult, source: Source) -> bool:
    """Each GGUF into the models table, all or none, with what it was made from and where the export lies."""
    meta = {
        "export": result.name,
        "modelfile": str(result.modelfile),
        "merged_dir": str(result.merged_dir),
        "parity_ok": result.parity.ok if result.parity else None,
        # a checkpoint's export (``RUN@N``): the run's model is its own export, never this one
        **({"checkpoint": source.checkpoint} if source.checkpoint is not None else {}),
    }
    with ws.store() as store, store.transaction():
        for f in result.files:
            model = store.add_model(
                "gguf", f"{result.name}-{f.quant}", str(f.path), quant=f.quant, sha256=f.sha256, size_bytes=f.size_bytes,
                run_id=source.run_id, base=source.base, dataset_sha256=source.dataset_sha256, meta=meta,
            )
            f.model_id = model.id
    return True
