"""LLaMA-Factory's ``dataset_info.json``: a list of named datasets, each a local file (or folder)
in ``alpaca`` or ``sharegpt`` layout, with optional column and role-name mappings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.formats.records import Alpaca, Conversation, DEFAULT_ROLES, Shape

FILE_EXTS = (".json", ".jsonl", ".csv", ".tsv", ".parquet", ".arrow")


@dataclass
class Entry:
    name: str
    files: list[Path]
    formatting: str
    shape: Shape

# LLaMA-Factory's column names where an entry's ``columns`` does not name its own
DEFAULT_COLUMNS = {
    "prompt": "instruction",
    "query": "input",
    "response": "output",
    "system": "system",
    "history": "history",
    "messages": "conversations",
    "chosen": "chosen",
    "rejected": "rejected",
}


def columns(given: dict | None) -> dict[str, str]:
    """An entry's column names: its ``columns``, LLaMA-Factory's defaults for the rest."""
    return {**DEFAULT_COLUMNS, **(given or {})}


def alpaca(cols: dict[str, str]) -> Alpaca:
    """The alpaca shape over an entry's columns (as ``columns`` gives them)."""
    return Alpaca(cols["prompt"], cols["query"], cols["response"], cols["system"], cols["history"])


def sharegpt_tags(tags: dict | None) -> tuple[str, str, dict[str, str]]:
    """(role key, content key, role names → user/assistant/system) of a sharegpt entry's ``tags``;
    tool turns (observation, function call) map to nothing, so a record with one is refused."""
    t = tags or {}
    roles = dict(DEFAULT_ROLES)
    roles[t.get("user_tag", "human")] = "user"
    roles[t.get("assistant_tag", "gpt")] = "assistant"
    roles[t.get("system_tag", "system")] = "system"
    for tool_tag in (t.get("observation_tag", "observation"), t.get("function_tag", "function_call")):
        roles.pop(tool_tag, None)
    return t.get("role_tag", "from"), t.get("content_tag", "value"), roles


def looks_like_dataset_info(data) -> bool:
    """A LLaMA-Factory file: an object of objects, each naming a file or a hub dataset."""
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(v, dict) for v in data.values())
        and any(k in v for v in data.values() for k in ("file_name", "hf_hub_url", "ms_hub_url", "script_url", "om_hub_url", "cloud_file_name"))
    )


def specs(path: Path, *, hint: str) -> Iterator[tuple[str, str, dict]]:
    """(name, label for messages, spec) of each entry of a ``dataset_info.json``, each naming a local
    file; a UserError where the file is no dataset_info.json (``hint`` says what to do instead)."""
    where = path.name
    try:
        data = json.loads(path.read_text("utf-8-sig"))
    except ValueError as exc:
        from core.formats.jsonfmt import json_problem

        decoded = exc if isinstance(exc, json.JSONDecodeError) else None
        raise UserError(f"{where}: invalid JSON ({exc})", hint="fix the file", code="import.lf_invalid_json",
                        params={"file": where, "problem": json_problem(decoded.msg) if decoded else "other",
                                "column": decoded.colno if decoded else None,
                                "line": decoded.lineno if decoded else None}) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})", code="import.cannot_read",
                        params={"path": str(path), "why": str(exc.strerror or exc)}) from None
    if not looks_like_dataset_info(data):
        raise UserError(f"{where}: not a LLaMA-Factory dataset_info.json (no entries with file_name)", hint=hint,
                        code="import.lf_not_dataset_info", params={"file": where})
    for name, spec in data.items():
        label = f"{where}: entry {name!r}"
        if "file_name" not in spec:
            remote = [k for k in spec if k.endswith(("_url", "cloud_file_name"))]
            raise UserError(
                f"{label} " + (f"points elsewhere ({', '.join(remote)}); nastavnik reads local files only" if remote else "has no file_name"),
                hint="download the data, set file_name to the local file, or remove the entry",
                code="import.lf_remote" if remote else "import.lf_no_file_name",
                params={"file": where, "entry": name, "keys": ", ".join(remote)},
            )
        yield name, label, spec


def entry_files(path: Path, label: str, spec: dict, *, kinds: str, entry: str = "") -> list[Path]:
    """The data files an entry names: its file, or those of its folder (``kinds`` names them for the
    hint), relative to the ``dataset_info.json`` at ``path``; ``entry``: its name, for the app's words."""
    target = (path.parent / spec["file_name"]).resolve()
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise UserError(
            f"{label}: file {spec['file_name']!r} not found next to {path.name}", hint="file_name is relative to dataset_info.json's folder",
            code="import.lf_file_not_found", params={"entry": entry, "name": str(spec["file_name"]), "file": path.name},
        )
    files = sorted(p for p in target.iterdir() if p.is_file() and p.suffix.lower() in FILE_EXTS)
    if not files:
        raise UserError(f"{label}: folder {spec['file_name']} has no data files", hint=f"put {kinds} files there",
                        code="import.lf_empty_folder",
                        params={"entry": entry, "name": str(spec["file_name"]), "file": path.name, "kinds": kinds})
    return files


def load(path: Path) -> list[Entry]:
    entries = []
    for name, label, spec in specs(path, hint="give the data file itself, or force a format with --format"):
        if spec.get("ranking"):
            raise UserError(f"{label} is a ranking (preference) dataset",
                            hint="import it with `nastavnik prefs import`, or remove the entry to import the pairs",
                            code="import.lf_ranking", params={"file": path.name, "entry": name})
        formatting = spec.get("formatting", "alpaca")
        cols = columns(spec.get("columns"))
        if formatting == "alpaca":
            shape: Shape = alpaca(cols)
        elif formatting in ("sharegpt", "openai"):
            role_key, content_key, roles = sharegpt_tags(spec.get("tags"))
            shape = Conversation(cols["messages"], role_key=role_key, content_key=content_key, roles=roles,
                                 system_key=cols["system"])
        else:
            raise UserError(f"{label} has formatting {formatting!r}", hint="use alpaca or sharegpt",
                            code="import.lf_formatting", params={"file": path.name, "entry": name, "formatting": str(formatting)})
        files = entry_files(path, label, spec, kinds=".json/.jsonl/.csv/.parquet", entry=name)
        entries.append(Entry(name, files, formatting, shape))
    return entries
