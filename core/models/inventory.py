"""Every model the workspace knows, what it takes on disk, what uses it, and whether it fits the GPU.

The Models view of the Train room, ``nastavnik models list`` and ``nastavnik models rm`` read the
same inventory: base checkpoints (registered folders, hub ids with their revision, the demo model and the
replicas), the adapters runs trained, the merged folders and GGUF files exports wrote. For a
base its fit on this machine's GPU per backend comes from the estimate of its own config.json
(core/train/arch.py) at its defaults — "no GPU" on a CPU machine, "unknown" with the reason
where the estimate cannot say. Nothing here downloads.

Deleting a model that something uses is refused with the users named; confirmed, its rows go
first in one transaction, then its files — only files the workspace or the Hugging Face cache
holds: a folder of the user's own that was added is left where it is (``Deleted.kept``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError

#: the kinds an entry can be (the store's): a base checkpoint (a replica too: its origin says
#: so), a run's adapter, a merged folder of an export, a GGUF file
KINDS = ("base", "adapter", "merged", "gguf")
#: a base's fit per backend: fits the card, is too big for it, no GPU here, the estimate cannot say
FIT_STATES = ("fits", "too_big", "no_gpu", "unknown")


@dataclass
class Fit:
    """A base on this machine's GPU with one backend."""

    backend: str
    state: str  # one of FIT_STATES
    need_gib: float | None = None  # the estimate at the base's defaults
    card_gib: float | None = None  # the largest GPU's memory here
    reason: UserError | None = None  # why "unknown"

    def to_dict(self) -> dict:
        return {"backend": self.backend, "state": self.state, "need_gib": self.need_gib, "card_gib": self.card_gib,
                "reason": str(self.reason) if self.reason else None}


@dataclass
class Users:
    """What uses a model: runs trained on it, models made from it, chats and results naming it."""

    runs: list[int] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # adapters, merged folders, GGUFs made from it
    chats: list[int] = field(default_factory=list)
    results: int = 0  # evaluation answers, grades and blind votes naming it

    def __bool__(self) -> bool:
        return bool(self.runs or self.models or self.chats or self.results)

    def to_dict(self) -> dict:
        return {"runs": self.runs, "models": self.models, "chats": self.chats, "results": self.results}


@dataclass
class Entry:
    """One model of the inventory."""

    name: str
    kind: str  # one of KINDS
    path: str
    size_bytes: int | None  # on disk now; None when its files are gone
    origin: str  # "folder", "hub", "replica", "run", "export"
    hub_id: str | None = None
    revision: str | None = None  # a hub snapshot's commit
    run_id: int | None = None
    export: str | None = None
    model_id: int | None = None  # its row in the store; None for a merged folder (an export's file)
    row: dict = field(default_factory=dict)  # that row, as ``nastavnik models list --json`` always gave it
    users: Users = field(default_factory=Users)
    fit: list[Fit] = field(default_factory=list)

    @property
    def on_disk(self) -> bool:
        return self.size_bytes is not None

    @property
    def is_base(self) -> bool:
        return self.kind in ("base", "merged")

    def to_dict(self) -> dict:
        return {**self.row, "name": self.name, "kind": self.kind, "path": self.path, "size_bytes": self.size_bytes,
                "origin": self.origin, "hub_id": self.hub_id, "revision": self.revision, "run_id": self.run_id,
                "export": self.export, "model_id": self.model_id, "users": self.users.to_dict(),
                "fit": [f.to_dict() for f in self.fit]}


@dataclass
class Inventory:
    entries: list[Entry]
    workspace_bytes: int
    hf_cache: str
    hf_cache_bytes: int
    gpu: str | None  # the largest GPU's name, None without one

    def get(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise UserError(f"there is no model {name!r}", hint="`nastavnik models list` shows the models",
                        code="model.missing", params={"name": name})

    def to_dict(self) -> dict:
        return {"models": [e.to_dict() for e in self.entries], "workspace_bytes": self.workspace_bytes,
                "hf_cache": self.hf_cache, "hf_cache_bytes": self.hf_cache_bytes, "gpu": self.gpu}


@dataclass
class Deleted:
    name: str
    removed: list[str]  # files and folders deleted
    kept: list[str]  # files the user owns, left in place


# ---------------------------------------------------------------------------- disk


def disk_bytes(path: str | os.PathLike) -> int | None:
    """Bytes under ``path`` (a file or a folder, links not followed), None when it is not there."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    if not p.is_dir():
        return None
    total = 0
    for root, _dirs, files in os.walk(p):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache (``HF_HUB_CACHE``, as huggingface_hub reads it)."""
    env = os.environ.get("HF_HUB_CACHE")
    if env:
        return Path(env).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _hub_revision(path: str) -> str | None:
    """The commit of a hub snapshot folder (``…/snapshots/<commit>``)."""
    p = Path(path)
    return p.name if p.parent.name == "snapshots" else None


def _hub_repo_folder(path: str) -> Path | None:
    """``models--org--name`` of a snapshot in the HF cache, what deleting a hub model removes."""
    p = Path(path)
    if p.parent.name == "snapshots" and p.parent.parent.name.startswith("models--"):
        return p.parent.parent
    return None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------- fit


def base_fit(folder: str | os.PathLike, found=None) -> list[Fit]:
    """The fit of the checkpoint in ``folder`` per backend on the largest GPU of ``found``
    (``core.train.vram.gpus()``; None: no GPU here), at the architecture's own defaults."""
    from core.train.backends import BY_MEMORY
    from core.train.vram import GiB, estimate_vram, preset_from_checkpoint

    try:
        arch = preset_from_checkpoint(folder)
    except UserError as exc:
        return [Fit(backend, "unknown", reason=exc) for backend in BY_MEMORY]
    card = max((g.total for g in found), default=0) if found else 0
    out = []
    for backend in BY_MEMORY:
        need = estimate_vram(arch, backend=backend, max_seq_len=arch.max_seq_len, batch_size=arch.batch_size,
                             lora_r=arch.lora_r).total
        state = "no_gpu" if not found else ("fits" if need <= card else "too_big")
        out.append(Fit(backend, state, need_gib=round(need / GiB, 1), card_gib=round(card / GiB, 1) if card else None))
    return out


# ---------------------------------------------------------------------------- the inventory


def inventory(ws, store, *, found=None, fit: bool = True, totals: bool = True) -> Inventory:
    """Every model ``ws`` knows. ``found``: the GPUs (default: ``nvidia-smi`` asked once);
    ``fit=False`` leaves the estimates out, ``totals=False`` the walk of the workspace and the
    HF cache (their bytes 0): a quick listing."""
    if fit and found is None:
        from core.train.vram import gpus

        found = gpus()
    rows = store.list_models()
    entries: list[Entry] = []
    merged: dict[str, Entry] = {}
    for m in rows:
        meta = m.meta or {}
        if m.kind == "base":
            origin = "hub" if meta.get("hub_id") else "replica" if meta.get("replica") else "folder"
        elif m.kind == "adapter":
            origin = "run"
        else:
            origin = "export"
        e = Entry(m.name, m.kind, m.path, disk_bytes(m.path), origin, hub_id=meta.get("hub_id"),
                  revision=_hub_revision(m.path) if meta.get("hub_id") else None, run_id=m.run_id,
                  export=meta.get("export"), model_id=m.id, row=m.to_dict())
        entries.append(e)
        folder = meta.get("merged_dir")
        if m.kind == "gguf" and folder and folder not in merged and Path(folder).is_dir():
            merged[folder] = Entry(f"{meta.get('export') or Path(folder).parent.name}-merged", "merged", folder,
                                   disk_bytes(folder), "export", run_id=m.run_id, export=meta.get("export"))
    entries.extend(merged.values())
    for e in entries:
        e.users = _users(store, e, rows)
        if fit and e.is_base and e.on_disk and (Path(e.path) / "config.json").is_file():
            e.fit = base_fit(e.path, found)
    cache = hf_cache_dir()
    gpu = max(found, key=lambda g: g.total).name if found else None
    if not totals:
        return Inventory(entries, 0, str(cache), 0, gpu)
    return Inventory(entries, disk_bytes(ws.home) or 0, str(cache), disk_bytes(cache) or 0, gpu)


def _users(store, e: Entry, rows) -> Users:
    users = Users()
    if e.kind == "base":
        users.runs = store.runs_on_base([e.name], [e.path])
        users.models = [m.name for m in rows if m.kind == "adapter" and m.base == e.name]
    elif e.kind == "adapter":
        users.models = [m.name for m in rows if m.kind == "gguf" and e.run_id is not None and m.run_id == e.run_id]
    elif e.kind == "merged":
        users.runs = store.runs_on_base([e.name], [e.path])
        users.models = [m.name for m in rows if m.kind == "gguf" and (m.meta or {}).get("merged_dir") == e.path]
    if e.kind == "gguf":
        names = [e.name, e.path]
        users.chats = store.chats_naming(names)
        users.results = store.results_naming(names)
    return users


# ---------------------------------------------------------------------------- delete


def delete_model(ws, store, name: str, *, confirm: bool = False) -> Deleted:
    """Delete the model ``name``: refused (``model.in_use``, the users named) while something uses
    it unless ``confirm``; its row goes first (one transaction), then the files the workspace or
    the HF cache hold. A registered folder of the user's own is kept on disk."""
    inv = inventory(ws, store, fit=False, totals=False)
    entry = inv.get(name)
    if entry.users and not confirm:
        raise UserError(f"{name} is used by {users_text(entry.users)}",
                        hint="delete it anyway with --yes (what uses it stays, without it)",
                        code="model.in_use", params={
                            "name": name, "runs": ", ".join(map(str, entry.users.runs)) or "—",
                            "models": ", ".join(entry.users.models) or "—", "chats": len(entry.users.chats),
                            "results": entry.users.results})
    if entry.model_id is not None:
        store.remove_models([entry.model_id])
    removed: list[str] = []
    kept: list[str] = []
    path = Path(entry.path)
    target: Path | None = None
    if _inside(path, ws.home):
        target = path
    elif entry.hub_id and _hub_repo_folder(entry.path) is not None and _inside(path, hf_cache_dir()):
        target = _hub_repo_folder(entry.path)
    if target is None:
        kept.append(str(path))
    elif target.is_dir():
        shutil.rmtree(target)
        removed.append(str(target))
    elif target.exists():
        target.unlink()
        removed.append(str(target))
    return Deleted(name, removed, kept)


def users_text(users: Users) -> str:
    """``runs 3, 4; models demo-run3; 2 chats; 5 results`` — the CLI's (English) list of users."""
    parts = []
    if users.runs:
        parts.append("runs " + ", ".join(map(str, users.runs)))
    if users.models:
        parts.append("models " + ", ".join(users.models))
    if users.chats:
        parts.append(f"{len(users.chats)} chats")
    if users.results:
        parts.append(f"{users.results} results")
    return "; ".join(parts)
