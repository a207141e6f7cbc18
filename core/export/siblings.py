"""The 16-bit checkpoint a 4-bit one was made from, when it is on this disk.

A run on ``unsloth/gemma-3-12b-it-bnb-4bit`` trains LoRA over nf4 weights; merging into those
and exporting would give a GGUF of 4-bit-rounded weights — and llama.cpp's converter has no
bitsandbytes dequantizer anyway. The best base to merge into is the original 16-bit
checkpoint. Names are matched as Unsloth maps them (``INT_TO_FLOAT_MAPPER`` in the pinned
Unsloth's ``models/mapper.py``, read as data — Unsloth itself is not imported), else by
dropping the ``-bnb-4bit`` / ``-unsloth-bnb-4bit`` suffix; the sibling is looked for among the
registered models, next to the 4-bit folder and in the Hugging Face cache (offline).
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path

from core.workspace import Workspace

_SUFFIX = re.compile(r"(-unsloth)?-bnb-4bit$", re.IGNORECASE)


def is_4bit(folder: Path) -> bool:
    from core.train.device import prequantized

    return prequantized(str(folder))


@lru_cache(maxsize=1)
def unsloth_mapping() -> dict[str, tuple[str, ...]]:
    """Unsloth's 4-bit repo → its 16-bit names (empty when Unsloth is not installed)."""
    spec = importlib.util.find_spec("unsloth")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "mapper.py"
    if not path.is_file():
        return {}
    loader = importlib.util.spec_from_file_location("nastavnik_unsloth_mapper", path)
    if loader is None or loader.loader is None:
        return {}
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)  # plain data and a function building lookup tables; no imports
    out: dict[str, tuple[str, ...]] = {}
    raw = getattr(module, "__INT_TO_FLOAT_MAPPER", None) or getattr(module, "INT_TO_FLOAT_MAPPER", {})
    for key, value in raw.items():
        if isinstance(value, dict):  # {"16": [...], "8": [...]}: the 16-bit names
            value = value.get("16", ())
        names = [n for n in (value if isinstance(value, (list, tuple)) else [value]) if isinstance(n, str)]
        floats = tuple(n for n in names if not _SUFFIX.search(n))
        # the key is the -unsloth-bnb-4bit repo; the plain -bnb-4bit one is listed among its values
        for four in (key, *(n for n in names if _SUFFIX.search(n))):
            out.setdefault(four.lower(), floats)
    return out


def hub_id(folder: Path) -> str | None:
    """``org/name`` of a folder in the HF cache (``…/models--org--name/snapshots/<rev>``)."""
    for part in folder.resolve().parts:
        if part.startswith("models--"):
            return part[len("models--"):].replace("--", "/", 1)
    return None


def sibling_names(folder: Path, hub: str | None = None) -> list[str]:
    """The names the 16-bit checkpoint may go by: Unsloth's mapping first, then the plain suffix rule."""
    names: list[str] = []
    for ref in (hub, hub_id(folder), folder.name):
        if not ref:
            continue
        names.extend(unsloth_mapping().get(ref.lower(), ()))
        if _SUFFIX.search(ref):
            names.append(_SUFFIX.sub("", ref))
    return list(dict.fromkeys(names))


def sixteen_bit_sibling(folder: Path, ws: Workspace | None = None) -> Path | None:
    """The 16-bit checkpoint ``folder`` (a 4-bit one) was made from, if it is on this disk."""
    folder = Path(folder)
    if not is_4bit(folder):
        return None
    hub = None
    models = []
    if ws is not None:
        with ws.store() as store:
            models = store.list_models(kind="base")
        for m in models:
            if Path(m.path).resolve() == folder.resolve():
                hub = (m.meta or {}).get("hub_id")
    names = sibling_names(folder, hub)
    found: list[Path] = []
    for name in names:
        short = name.rsplit("/", 1)[-1]
        for m in models:  # a registered base with that name (or hub id)
            if m.name in (name, short) or (m.meta or {}).get("hub_id") == name:
                found.append(Path(m.path))
        found.append(folder.parent / short)  # next to the 4-bit folder
        if "/" in name:
            found.extend(_cached(name))
    for candidate in found:
        if (candidate / "config.json").is_file() and not is_4bit(candidate) and list(candidate.glob("*.safetensors")):
            return candidate.resolve()
    return None


def _cached(repo_id: str) -> list[Path]:
    try:
        from huggingface_hub import snapshot_download

        return [Path(snapshot_download(repo_id, local_files_only=True))]
    except Exception:  # not in the cache (or no huggingface_hub): nothing to find there
        return []


def describe_merge(folder: Path) -> dict:
    """What the merge of ``folder`` recorded (``nastavnik_merge.json``), or {}."""
    try:
        return json.loads((folder / "nastavnik_merge.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
