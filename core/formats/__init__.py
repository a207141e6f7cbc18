"""Reading and writing pairs in the formats other tools use, with auto-detection.

``detect(path)`` decides how a file is read (``--format`` forces it); ``read(plan)`` yields
``(Location, Record | BadRecord)`` so every problem can name its file, line or row, and
field. ``write(pairs, out, fmt)`` writes pairs in one of the export formats.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from core.errors import UserError
from core.formats.base import BadRecord, FormatInfo, Location, Record
from core.formats.records import SHAPES, Bad, Flat, Shape, guess_shape, read_objects, shape_named

FORMATS: tuple[FormatInfo, ...] = (
    FormatInfo(
        "messages",
        "OpenAI chat JSONL: {\"messages\": [{\"role\": …, \"content\": …}, …]}, also LLaMA-Factory's "
        "(content as text parts, loss_weight per turn)",
        "a JSON/JSONL record with a \"messages\" list",
        extensions=(".jsonl", ".json"),
        export_note="the default for .jsonl; context turns carry \"weight\": 0",
    ),
    FormatInfo(
        "sharegpt",
        "ShareGPT: {\"conversations\": [{\"from\": \"human\"|\"gpt\"|\"system\", \"value\": …}]}",
        "a JSON/JSONL record with a \"conversations\" list; one pair per human→gpt exchange",
        extensions=(".jsonl", ".json"),
    ),
    FormatInfo(
        "alpaca",
        "Alpaca: instruction + input (joined with a newline) → question, output → answer",
        "a JSON/JSONL record with \"instruction\" (or \"input\" and \"output\"); optional system, history",
        extensions=(".json", ".jsonl"),
    ),
    FormatInfo(
        "qa",
        "Flat question/answer JSONL (also prompt/completion, query/response, вопрос/ответ)",
        "a JSON/JSONL record with question/answer-like keys",
        extensions=(".jsonl", ".json"),
    ),
    FormatInfo(
        "csv",
        "CSV as Excel saves it: ; or , or tab, BOM, CRLF, quoted multi-line cells",
        ".csv; headers question/answer or Вопрос/Ответ (+ system, context, tags, status, split); "
        "UTF-8, UTF-16 or cp1251 detected",
        extensions=(".csv",),
        export_note="written with ; , a UTF-8 BOM and CRLF so Excel opens it",
    ),
    FormatInfo("tsv", "Tab-separated values (also Excel's \"Unicode text\")", ".tsv or .tab; same headers as CSV", extensions=(".tsv", ".tab")),
    FormatInfo(
        "parquet",
        "Parquet table (any of the record shapes above as columns)",
        ".parquet, or a file starting with PAR1",
        extensions=(".parquet",),
        export_note="columns messages, tags, status, split",
    ),
    FormatInfo(
        "hf",
        "A `datasets` folder written by save_to_disk (Dataset or DatasetDict)",
        "a folder with state.json or dataset_dict.json",
        export_note="the default when the output has no extension; load with datasets.load_from_disk",
    ),
    FormatInfo(
        "llamafactory",
        "LLaMA-Factory dataset_info.json: its local entries (alpaca or sharegpt, columns/tags mappings)",
        "a file named dataset_info.json (or a folder holding one) whose entries have file_name",
        write=False,
    ),
)
READ_FORMATS = tuple(f.name for f in FORMATS if f.read) + ("json", "jsonl")
WRITE_FORMATS = tuple(f.name for f in FORMATS if f.write)

_JSON_EXTS = {".json", ".jsonl", ".ndjson", ".jsonlines"}


@dataclass
class Plan:
    """How one input will be read."""

    path: Path
    name: str  # the file name sources and errors use
    container: str  # jsonl | json | csv | parquet | hf | llamafactory
    format: str  # the name reported to the user
    shape: str | None = None  # messages | sharegpt | alpaca | qa; None: from the first record
    shape_fn: Shape | None = None
    encoding: str | None = None
    delimiter: str | None = None
    parts: list["Plan"] = field(default_factory=list)  # llamafactory entries
    total: int | None = None  # rows, where known up front


def _unknown(path: Path, why: str) -> UserError:
    return UserError(
        f"{path.name}: cannot tell its format ({why})",
        hint="force one with --format " + "|".join(f.name for f in FORMATS if f.read) + " (`nastavnik formats` explains them)",
        code="import.unknown_format", params={"file": path.name, "why": why},
    )


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def detect(path: str | os.PathLike, fmt: str | None = None, encoding: str | None = None) -> Plan:
    """Decide how to read ``path``; ``fmt`` forces a format (or a record shape)."""
    from core.formats import arrowfmt, jsonfmt

    p = Path(path)
    name = p.name
    if fmt is not None:
        fmt = fmt.strip().lower()
        if fmt not in READ_FORMATS:
            raise UserError(f"unknown format {fmt!r}", hint="use one of: " + ", ".join(READ_FORMATS))
    if not p.exists():
        raise UserError(f"{path}: no such file or folder", hint="check the path", code="import.no_such_file", params={"path": str(path)})
    if p.is_dir():
        if fmt in (None, "hf") and arrowfmt.is_hf_folder(p):
            return Plan(p, name, "hf", "hf")
        if fmt in (None, "llamafactory") and (p / "dataset_info.json").is_file() and _is_dataset_info(p / "dataset_info.json"):
            return detect(p / "dataset_info.json", "llamafactory", encoding)
        raise UserError(
            f"{path}: this folder is not a `datasets` folder (no state.json or dataset_dict.json)",
            hint="give a folder written by save_to_disk, a LLaMA-Factory data folder, or the data files themselves",
            code="import.not_dataset_folder", params={"path": str(path)},
        )
    if p.name in ("dataset_info.json", "state.json", "dataset_dict.json") and arrowfmt.is_hf_folder(p.parent) and fmt in (None, "hf"):
        return detect(p.parent, fmt, encoding)  # a file of a `datasets` folder: read the folder
    if fmt == "hf":
        raise UserError(f"{path}: --format hf needs a folder written by save_to_disk", hint="give the folder, not a file",
                        code="import.hf_needs_folder", params={"path": str(path)})
    suffix = p.suffix.lower()
    try:
        head = _head(p)
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})", code="import.cannot_read",
                        params={"path": str(path), "why": str(exc.strerror or exc)}) from None
    if fmt == "llamafactory" or (fmt is None and name.lower() == "dataset_info.json" and _is_dataset_info(p)):
        from core.formats import llamafactory

        parts = []
        for entry in llamafactory.load(p):
            for f in entry.files:
                sub = detect(f, None, encoding)
                sub.shape, sub.shape_fn, sub.format = entry.formatting, entry.shape, f"llamafactory:{entry.formatting}"
                sub.name = f.name
                parts.append(sub)
        return Plan(p, name, "llamafactory", "llamafactory", parts=parts)
    if fmt == "parquet" or (fmt in (None, *SHAPES) and (head.startswith(b"PAR1") or suffix == ".parquet")):
        if not head.startswith(b"PAR1"):
            raise UserError(f"{name}: not a Parquet file (it does not start with PAR1)", hint="check the file, or force another --format",
                            code="import.not_parquet", params={"file": name})
        return Plan(p, name, "parquet", "parquet", shape=fmt if fmt in SHAPES else None)
    if fmt in ("csv", "tsv") or (fmt is None and suffix in (".csv", ".tsv", ".tab")):
        kind = fmt or ("csv" if suffix == ".csv" else "tsv")
        return Plan(p, name, "csv", kind, encoding=encoding, delimiter="\t" if kind == "tsv" else None)
    if suffix == ".arrow" and fmt is None:
        raise UserError(f"{name}: a bare .arrow file", hint="give the whole `datasets` folder it belongs to",
                        code="import.bare_arrow", params={"file": name})
    # JSON family, by content
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        stripped = head.decode("utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-32", "ignore").lstrip().encode()
    if not stripped:
        if fmt is None and suffix not in _JSON_EXTS:
            raise _unknown(p, "the file is empty")
        return Plan(p, name, "jsonl", fmt if fmt in SHAPES else "jsonl", shape=fmt if fmt in SHAPES else None, encoding=encoding)
    first = stripped[:1]
    if first == b"[" or fmt == "json":
        # a JSON array, unless its first line is a whole value with more lines after it (JSONL)
        container = "jsonl" if fmt != "json" and jsonfmt.first_line_parses(p, need_more=True) else "json"
    elif first == b"{" or fmt in (*SHAPES, "jsonl") or suffix in _JSON_EXTS:
        container = "jsonl"
        if first == b"{" and not jsonfmt.first_line_parses(p):
            container = "json" if _whole_json(p) else "jsonl"
    elif fmt is None and any(d in head.split(b"\n", 1)[0] for d in (b";", b",", b"\t")):
        return Plan(p, name, "csv", "csv", encoding=encoding)  # an unnamed table
    else:
        raise _unknown(p, "neither JSON nor a table")
    plan = Plan(p, name, container, fmt if fmt in SHAPES else container, shape=fmt if fmt in SHAPES else None, encoding=encoding)
    if plan.shape is None:
        plan.format = _peek_shape(plan) or plan.format
    return plan


def _is_dataset_info(path: Path) -> bool:
    import json

    from core.formats.llamafactory import looks_like_dataset_info

    try:
        return looks_like_dataset_info(json.loads(path.read_text("utf-8-sig")))
    except (ValueError, OSError):
        return False


def _whole_json(path: Path) -> bool:
    import json

    if path.stat().st_size > 512 << 20:
        return False
    try:
        json.loads(path.read_bytes())
        return True
    except ValueError:
        return False


def _peek_shape(plan: Plan) -> str | None:
    """The shape of the first record that parses (for reporting what was detected)."""
    objects = _objects(plan)
    try:
        for _, obj in objects:
            if not isinstance(obj, BadRecord):
                return guess_shape(obj)
        return None
    finally:
        close = getattr(objects, "close", None)
        if close:
            close()


def _objects(plan: Plan) -> Iterator[tuple[Location, object]]:
    from core.formats import arrowfmt, csvfmt, jsonfmt

    c = plan.container
    if c == "jsonl":
        return jsonfmt.iter_jsonl(plan.path, plan.name, plan.encoding)
    if c == "json":
        return jsonfmt.iter_json(plan.path, plan.name, plan.encoding)
    if c == "csv":
        return csvfmt.iter_csv(plan.path, plan.name, plan.encoding, plan.delimiter)
    if c == "parquet":
        plan.total, rows = arrowfmt.parquet_rows(plan.path, plan.name)
        return rows
    if c == "hf":
        plan.total, rows = arrowfmt.hf_rows(plan.path, plan.name)
        return rows
    raise ValueError(c)


def read(plan: Plan) -> Iterator[tuple[Location, Record | BadRecord]]:
    """Every record of the planned input, or a BadRecord saying what is wrong where."""
    if plan.container == "llamafactory":
        for part in plan.parts:
            yield from read(part)
        return
    given = plan.shape_fn or (shape_named(plan.shape) if plan.shape else None)
    if plan.container == "csv" and given is None:
        given = Flat()

    def settle(loc: Location, obj: dict) -> Shape:
        shape = given
        if shape is None:
            kind = guess_shape(obj)
            if kind is None:
                raise UserError(
                    f"{loc}: cannot tell the record format from its keys ({', '.join(map(str, obj)) or 'none'})",
                    hint="use messages, conversations, instruction/output or question/answer keys, or force --format "
                    + "|".join(SHAPES),
                    code="import.unknown_shape", params={"where": str(loc), "keys": ", ".join(map(str, obj)) or "—"},
                )
            shape = shape_named(kind, detected=True)
        if plan.container in ("csv", "parquet", "hf") and isinstance(shape, Flat):
            # a table has one header for all rows: a missing column is the file's problem, not a row's
            try:
                shape.resolve(tuple(obj), table=True)
            except Bad as exc:
                raise UserError(f"{plan.name}: {exc.reason}", hint="or force another --format",
                                code="import.bad_table", params={"file": plan.name, "reason": exc.reason,
                                                                 "reason_code": exc.code, "reason_params": exc.params}) from None
        return shape

    yield from read_objects(_objects(plan), settle)


def read_file(path: str | os.PathLike, fmt: str | None = None, encoding: str | None = None) -> Iterator[tuple[Location, Record | BadRecord]]:
    """``read(detect(path, fmt, encoding))``."""
    return read(detect(path, fmt, encoding))


# --------------------------------------------------------------------------- writing


def export_format(out: str | os.PathLike, fmt: str | None = None) -> str:
    """The export format for ``out``: ``fmt`` if given, else from the name (.jsonl, .csv, …, folder → hf)."""
    p = Path(out)
    if fmt:
        fmt = fmt.strip().lower()
        if fmt == "jsonl" or fmt == "json":
            fmt = "messages"
        if fmt not in WRITE_FORMATS:
            raise UserError(f"cannot export as {fmt!r}", hint="use one of: " + ", ".join(WRITE_FORMATS))
        return fmt
    suffix = p.suffix.lower()
    by_ext = {".jsonl": "messages", ".json": "messages", ".ndjson": "messages", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet"}
    if suffix in by_ext:
        return by_ext[suffix]
    if p.is_dir() or not suffix:
        return "hf"
    raise UserError(
        f"{p.name}: cannot tell the export format from the name",
        hint="name it .jsonl, .json, .csv, .tsv or .parquet, give a folder for hf, or use --format " + "|".join(WRITE_FORMATS),
        code="export.unknown_name", params={"file": p.name},
    )


def _existing_parent(p: Path) -> Path:
    """The folder ``p`` is written in (the current one for a bare name); a UserError if it does not exist."""
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{parent}: no such folder", hint="create it first, or write somewhere else",
                        code="export.no_folder", params={"path": str(parent)})
    return parent


def write(pairs: Iterable, out: str | os.PathLike, fmt: str | None = None) -> int:
    """Write ``pairs`` (anything with question, answer, system, context, tags, status, split) to ``out``.

    The file appears whole or not at all: it is written next to ``out`` and renamed.
    """
    from core.formats import arrowfmt, csvfmt, jsonfmt
    from core.formats.records import WRITERS

    kind = export_format(out, fmt)
    p = Path(out)
    if kind == "hf":
        return _write_folder(pairs, p, arrowfmt.write_hf)
    if p.is_dir():
        raise UserError(f"{p}: is a folder", hint="give a file name, or --format hf to write a `datasets` folder",
                        code="export.is_folder", params={"path": str(p)})
    parent = _existing_parent(p)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        if kind == "parquet":
            n = arrowfmt.write_parquet(pairs, tmp_path)
        elif kind in ("csv", "tsv"):
            with open(tmp_path, "w", encoding="utf-8-sig", newline="") as f:
                n = csvfmt.write_csv(pairs, f, ";" if kind == "csv" else "\t")
        else:
            to = WRITERS[kind]
            with open(tmp_path, "w", encoding="utf-8", newline="\n") as f:
                records = (to(pair) for pair in pairs)
                if p.suffix.lower() == ".json":
                    n = jsonfmt.write_json_array(records, f)
                else:
                    n = jsonfmt.write_jsonl(records, f)
        os.replace(tmp_path, p)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return n


def _write_folder(pairs: Iterable, p: Path, writer) -> int:
    import shutil

    from core.formats.arrowfmt import is_hf_folder

    if p.exists() and not p.is_dir():
        raise UserError(f"{p}: is a file", hint="give a new folder name for a `datasets` folder",
                        code="export.is_file", params={"path": str(p)})
    if p.is_dir() and any(p.iterdir()) and not is_hf_folder(p):
        raise UserError(f"{p}: the folder is not empty", hint="give a new or empty folder (an earlier export is replaced)",
                        code="export.not_empty", params={"path": str(p)})
    parent = _existing_parent(p)
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".part", dir=parent))
    try:
        n = writer(pairs, tmp / "data")
        if p.exists():
            shutil.rmtree(p)
        os.replace(tmp / "data", p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n


__all__ = [
    "BadRecord",
    "FORMATS",
    "FormatInfo",
    "Location",
    "Plan",
    "READ_FORMATS",
    "Record",
    "WRITE_FORMATS",
    "detect",
    "export_format",
    "read",
    "read_file",
    "write",
]
