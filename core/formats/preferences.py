"""Preference datasets: TRL's ``prompt``/``chosen``/``rejected`` and LLaMA-Factory's ranking data.

Read (every record a ``PrefRecord`` or a ``BadRecord`` naming file, line and field):

* **TRL**, one JSON object per line (or a JSON array, Parquet, a ``datasets`` folder):
  conversational — ``prompt`` a list of messages ending with the user's turn, ``chosen`` and
  ``rejected`` lists holding the assistant's answer; standard — the three as text (plus an
  optional ``system``); or with an implicit prompt — ``chosen`` and ``rejected`` whole
  conversations that share everything but the last (assistant) turn.
* **LLaMA-Factory** ranking datasets: a ``dataset_info.json`` whose entries say
  ``"ranking": true``, in ``alpaca`` layout (``instruction`` + ``input`` → prompt, ``chosen``
  and ``rejected`` text, ``system``, ``history``) or ``sharegpt`` layout (``conversations``
  ending with the human turn, ``chosen`` and ``rejected`` one ``{"from", "value"}`` turn
  each), with their ``columns`` and ``tags`` mappings; a bare data file in either layout is
  recognised by its keys too.

Write: TRL conversational JSONL (``write_trl``), and a LLaMA-Factory folder — the data as a
sharegpt ranking JSON file plus the ``dataset_info.json`` that names it (``write_llamafactory``).
Both keep the system prompt and the earlier turns, so an export reads back as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.formats import llamafactory as lf
from core.formats.base import BadRecord, Location
from core.formats.records import (
    DEFAULT_ROLES,
    Bad,
    kind_of,
    need,
    read_objects,
    role_of,
    system_of,
    text_of,
    turn_keys,
)

PREF_FORMATS = ("trl", "llamafactory")
LF_DATA_FILE = "preferences.json"
LF_ENTRY = "nastavnik_preferences"


@dataclass(slots=True)
class PrefRecord:
    """One preference as a file holds it, before it reaches the store."""

    prompt: str
    chosen: str
    rejected: str
    system: str | None = None
    context: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------- record shapes


def _turns(value: Any, where: str, *, role_key: str | None = None, content_key: str | None = None,
           roles: dict[str, str] | None = None) -> list[dict]:
    """A list of messages as [{"role", "content"}] with roles user/assistant/system."""
    if not isinstance(value, list):
        raise Bad(where, f"expected a list of messages, found {kind_of(value)}")
    roles = roles or DEFAULT_ROLES
    out = []
    for i, turn in enumerate(value):
        rk, ck = turn_keys(turn, f"{where}[{i}]", role_key, content_key)
        role = role_of(turn.get(rk), roles, f"{where}[{i}].{rk}")
        out.append({"role": role, "content": text_of(turn.get(ck), f"{where}[{i}].{ck}")})
    return out


def _split_prompt(turns: list[dict], where: str, *, system: str | None = None) -> tuple[str | None, list[dict], str]:
    """(system, context, prompt) from a conversation that ends with the user's turn."""
    if turns and turns[0]["role"] == "system":
        system = turns[0]["content"] if turns[0]["content"].strip() else system
        turns = turns[1:]
    if not turns:
        raise Bad(where, "no user turn — the prompt needs the user's question")
    if turns[-1]["role"] != "user":
        raise Bad(f"{where}[{len(turns) - 1}]", f"the prompt ends with a {turns[-1]['role']} turn — it must end with the user's question")
    for i, t in enumerate(turns[:-1]):
        if t["role"] == "system":
            raise Bad(f"{where}[{i}]", "a system turn in the middle of the prompt — put it first")
    return system, turns[:-1], need(turns[-1]["content"], f"{where}[{len(turns) - 1}]", "prompt")


def _answer(value: Any, where: str, **kw) -> str:
    """The assistant's answer: text, one message, or a list holding one assistant message."""
    if isinstance(value, str):
        return need(value, where, "answer")
    if isinstance(value, dict):
        value = [value]
    turns = _turns(value, where, **kw)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise Bad(where, "expected the assistant's answer: one assistant message" + (
            f", found {len(turns)} messages" if len(turns) != 1 else f", found a {turns[0]['role']} turn"))
    return need(turns[0]["content"], f"{where}[0]", "answer")


def trl(obj: dict) -> PrefRecord:
    """A TRL preference record (conversational or standard, explicit or implicit prompt)."""
    for key in ("chosen", "rejected"):
        if key not in obj:
            raise Bad(key, f"missing — every preference needs {key!r}")
    system = system_of(obj.get("system")) if "system" in obj else None
    if "prompt" in obj:
        prompt = obj["prompt"]
        if isinstance(prompt, str):
            context: list[dict] = []
            prompt = need(prompt, "prompt", "prompt")
        else:
            system, context, prompt = _split_prompt(_turns(prompt, "prompt"), "prompt", system=system)
        return PrefRecord(prompt, _answer(obj["chosen"], "chosen"), _answer(obj["rejected"], "rejected"), system, context)
    # implicit prompt: two whole conversations that differ only in the last turn
    chosen, rejected = obj["chosen"], obj["rejected"]
    if isinstance(chosen, str) or isinstance(rejected, str):
        raise Bad("prompt", "missing — text answers need a \"prompt\" (only whole conversations carry their prompt)")
    ct, rt = _turns(chosen, "chosen"), _turns(rejected, "rejected")
    for name, turns in (("chosen", ct), ("rejected", rt)):
        if not turns or turns[-1]["role"] != "assistant":
            raise Bad(name, "an implicit-prompt conversation must end with the assistant's answer")
    if ct[:-1] != rt[:-1]:
        first = next((i for i, (a, b) in enumerate(zip(ct[:-1], rt[:-1])) if a != b), min(len(ct), len(rt)) - 1)
        raise Bad(f"rejected[{first}]", "the chosen and rejected conversations differ before their last turn — "
                  "they must share the prompt")
    system, context, prompt = _split_prompt(ct[:-1], "chosen", system=system)
    return PrefRecord(prompt, need(ct[-1]["content"], f"chosen[{len(ct) - 1}]", "answer"),
                      need(rt[-1]["content"], f"rejected[{len(rt) - 1}]", "answer"), system, context)


class AlpacaRanking:
    """LLaMA-Factory's alpaca ranking layout, with its column names."""

    def __init__(self, columns: dict | None = None) -> None:
        c = lf.columns(columns)
        self.alpaca = lf.alpaca(c)
        self.chosen, self.rejected = c["chosen"], c["rejected"]

    def __call__(self, obj: dict) -> PrefRecord:
        a = self.alpaca
        prompt = a.instruction(obj, f"every alpaca ranking record needs {a.prompt!r}", "prompt")
        for key in (self.chosen, self.rejected):
            if key not in obj:
                raise Bad(key, f"missing — every preference needs {key!r}")
        return PrefRecord(prompt, _answer(obj[self.chosen], self.chosen), _answer(obj[self.rejected], self.rejected),
                          system_of(obj.get(a.system), a.system), a.earlier_turns(obj.get(a.history)))


class SharegptRanking:
    """LLaMA-Factory's sharegpt ranking layout, with its column names and role tags."""

    def __init__(self, columns: dict | None = None, tags: dict | None = None) -> None:
        c = lf.columns(columns)
        self.messages, self.chosen, self.rejected, self.system = c["messages"], c["chosen"], c["rejected"], c["system"]
        self.role_key, self.content_key, self.roles = lf.sharegpt_tags(tags)

    def __call__(self, obj: dict) -> PrefRecord:
        if self.messages not in obj:
            raise Bad(self.messages, f"missing — every sharegpt ranking record needs {self.messages!r}")
        for key in (self.chosen, self.rejected):
            if key not in obj:
                raise Bad(key, f"missing — every preference needs {key!r}")
        kw: dict[str, Any] = {"role_key": self.role_key, "content_key": self.content_key, "roles": self.roles}
        turns = _turns(obj[self.messages], self.messages, **kw)
        system = system_of(obj.get(self.system), self.system) if self.system in obj else None
        system, context, prompt = _split_prompt(turns, self.messages, system=system)
        return PrefRecord(prompt, _answer(obj[self.chosen], self.chosen, **kw),
                          _answer(obj[self.rejected], self.rejected, **kw), system, context)


def guess(obj: Any):
    """The shape of one record from its keys: trl, alpaca or sharegpt ranking; None if none fits."""
    if not isinstance(obj, dict) or not ("chosen" in obj or "rejected" in obj):
        return None
    if "conversations" in obj:
        return SharegptRanking()
    if "instruction" in obj:
        return AlpacaRanking()
    return trl


# --------------------------------------------------------------------------- reading


@dataclass
class PrefSource:
    """One file to read and how: its records' shape (None: from the first record)."""

    path: Path
    name: str
    shape: Any = None
    format: str = "trl"


def _lf_sources(info: Path) -> list[PrefSource]:
    out = []
    for _name, label, spec in lf.specs(info, hint="give the data file itself"):
        if not spec.get("ranking"):
            raise UserError(f"{label} is not a preference dataset (no \"ranking\": true)",
                            hint="import question–answer data with `nastavnik pairs import`, or remove the entry")
        formatting = spec.get("formatting", "alpaca")
        if formatting == "alpaca":
            shape: Any = AlpacaRanking(spec.get("columns"))
        elif formatting in ("sharegpt", "openai"):
            shape = SharegptRanking(spec.get("columns"), spec.get("tags"))
        else:
            raise UserError(f"{label} has formatting {formatting!r}", hint="use alpaca or sharegpt")
        files = lf.entry_files(info, label, spec, kinds=".json or .jsonl")
        out += [PrefSource(f, f.name, shape, f"llamafactory:{formatting}") for f in files]
    return out


def sources(path: str | os.PathLike, fmt: str | None = None) -> list[PrefSource]:
    """How ``path`` will be read: a TRL or LLaMA-Factory data file, or a dataset_info.json
    (or its folder) naming LLaMA-Factory ranking files."""
    p = Path(path)
    if fmt is not None and fmt not in PREF_FORMATS:
        raise UserError(f"unknown preference format {fmt!r}", hint="use one of: " + ", ".join(PREF_FORMATS))
    if not p.exists():
        raise UserError(f"{path}: no such file or folder", hint="check the path")
    if p.is_dir() and (p / "dataset_info.json").is_file():
        return _lf_sources(p / "dataset_info.json")
    if p.is_file() and p.name.lower() == "dataset_info.json":
        return _lf_sources(p)
    if fmt == "llamafactory" and not p.is_dir():
        return [PrefSource(p, p.name, None, "llamafactory")]
    return [PrefSource(p, p.name, trl if fmt == "trl" else None, fmt or "trl")]


def _objects(src: PrefSource, encoding: str | None) -> Iterator[tuple[Location, Any]]:
    from core.formats import _objects as container_objects
    from core.formats import detect

    plan = detect(src.path, None, encoding)
    if plan.container not in ("jsonl", "json", "parquet", "hf"):
        raise UserError(f"{src.name}: preferences are read from JSON, JSONL, Parquet or a `datasets` folder",
                        hint="save the file as JSONL: one {\"prompt\", \"chosen\", \"rejected\"} object a line")
    plan.name = src.name
    return container_objects(plan)


def read(src: PrefSource, encoding: str | None = None) -> Iterator[tuple[Location, PrefRecord | BadRecord]]:
    """Every record of ``src``, or a BadRecord saying what is wrong where."""

    def settle(loc: Location, obj: dict) -> Callable[[dict], list[PrefRecord]]:
        shape = guess(obj) if src.shape is None else src.shape
        if shape is None:
            raise UserError(
                f"{loc}: not a preference record (keys: {', '.join(map(str, obj)) or 'none'})",
                hint="a preference has \"chosen\" and \"rejected\" (and \"prompt\", \"instruction\" or "
                "\"conversations\"); question–answer data goes to `nastavnik pairs import`",
            )
        return lambda obj: [shape(obj)]

    yield from read_objects(_objects(src, encoding), settle)


# --------------------------------------------------------------------------- writing


def to_sharegpt_ranking(pref) -> dict:
    turns = [{"from": "system", "value": pref.system}] if pref.system else []
    turns += [{"from": "human" if t["role"] == "user" else "gpt", "value": t["content"]} for t in pref.context]
    turns.append({"from": "human", "value": pref.prompt})
    return {"conversations": turns, "chosen": {"from": "gpt", "value": pref.chosen},
            "rejected": {"from": "gpt", "value": pref.rejected}}


def _atomic_file(path: Path, write) -> int:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{parent}: no such folder", hint="create it first, or write somewhere else")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=parent)
    os.close(fd)
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            n = write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def write_trl(prefs: Iterable, out: str | os.PathLike) -> int:
    """TRL conversational JSONL: one {"prompt", "chosen", "rejected"} object a line."""
    from core.formats.jsonfmt import write_jsonl

    path = Path(out)
    if path.is_dir():
        raise UserError(f"{path}: is a folder", hint="give a .jsonl file name, or --format llamafactory for a folder")
    return _atomic_file(path, lambda f: write_jsonl((p.to_trl() for p in prefs), f))


def write_llamafactory(prefs: Iterable, out: str | os.PathLike) -> int:
    """A folder LLaMA-Factory reads: ``preferences.json`` (sharegpt ranking) and its
    ``dataset_info.json`` entry ``nastavnik_preferences`` (use ``dataset: nastavnik_preferences``)."""
    from core.formats.jsonfmt import write_json_array

    folder = Path(out)
    if folder.name.lower() == "dataset_info.json":
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder}: is a file", hint="give a folder for a LLaMA-Factory dataset")
    folder.mkdir(parents=True, exist_ok=True)
    info_path = folder / "dataset_info.json"
    info: dict = {}
    if info_path.is_file():  # keep the other entries of an existing LLaMA-Factory data folder
        try:
            info = json.loads(info_path.read_text("utf-8-sig"))
        except ValueError:
            raise UserError(f"{info_path}: invalid JSON", hint="fix or remove it, or export to another folder") from None
    n = _atomic_file(folder / LF_DATA_FILE, lambda f: write_json_array((to_sharegpt_ranking(p) for p in prefs), f))
    info[LF_ENTRY] = {
        "file_name": LF_DATA_FILE,
        "formatting": "sharegpt",
        "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "system_tag": "system"},
    }
    _atomic_file(info_path, lambda f: f.write(json.dumps(info, ensure_ascii=False, indent=2) + "\n"))
    return n


def export_format(out: str | os.PathLike, fmt: str | None = None) -> str:
    """trl for a .jsonl name, llamafactory for a folder or a dataset_info.json; ``fmt`` wins."""
    if fmt:
        if fmt not in PREF_FORMATS:
            raise UserError(f"cannot export preferences as {fmt!r}", hint="use one of: " + ", ".join(PREF_FORMATS))
        return fmt
    p = Path(out)
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        return "trl"
    if p.name.lower() == "dataset_info.json" or p.is_dir() or not p.suffix:
        return "llamafactory"
    raise UserError(f"{p.name}: cannot tell the preference format from the name",
                    hint="name it .jsonl for TRL, give a folder for LLaMA-Factory, or use --format trl|llamafactory")


def write(prefs: Iterable, out: str | os.PathLike, fmt: str | None = None) -> int:
    kind = export_format(out, fmt)
    return write_trl(prefs, out) if kind == "trl" else write_llamafactory(prefs, out)
