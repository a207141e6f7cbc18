"""Parquet files and ``datasets`` ``save_to_disk`` folders (read with pyarrow, loaded lazily).

Both are written in the ``messages`` shape plus ``tags``, ``status`` and ``split`` columns,
which is what TRL and LLaMA-Factory read and what our reader brings back exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.errors import UserError
from core.formats.base import Location
from core.formats.records import to_messages

BATCH = 10_000
HF_SPLITS = {"train": "train", "test": "eval", "validation": "eval", "valid": "eval", "eval": "eval", "dev": "eval"}


def _arrow_error(path: Path, what: str, exc: Exception) -> UserError:
    why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return UserError(f"{path.name}: not a readable {what} ({why})", hint="check the file, or force another --format",
                     code="import.unreadable_arrow", params={"file": path.name, "kind": what.split()[0], "why": why})


def parquet_rows(path: Path, name: str) -> tuple[int, Iterator[tuple[Location, dict]]]:
    """(number of rows, iterator of (location, row dict))."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise _arrow_error(path, "Parquet file", exc) from None

    def rows() -> Iterator[tuple[Location, dict]]:
        i = 0
        try:
            for batch in pf.iter_batches(batch_size=BATCH):
                for row in batch.to_pylist():
                    i += 1
                    yield Location(name, row=i), row
        except (pa.ArrowException, OSError) as exc:
            raise _arrow_error(path, "Parquet file", exc) from None

    return pf.metadata.num_rows, rows()


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def _hf_split_files(folder: Path) -> list[tuple[str | None, Path]]:
    """[(split name or None, arrow file)] of a Dataset or DatasetDict folder."""
    if (folder / "dataset_dict.json").is_file():
        try:
            splits = json.loads((folder / "dataset_dict.json").read_text("utf-8"))["splits"]
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise UserError(f"{folder.name}/dataset_dict.json: cannot read it ({exc})", hint="save the dataset again with save_to_disk",
                            code="import.bad_hf_folder", params={"file": f"{folder.name}/dataset_dict.json", "why": str(exc)}) from None
        out = []
        for split in splits:
            out += [(split, f) for _, f in _hf_split_files(folder / split)]
        return out
    state_path = folder / "state.json"
    try:
        state = json.loads(state_path.read_text("utf-8"))
        files = [folder / d["filename"] for d in state["_data_files"]]
    except FileNotFoundError:
        raise UserError(f"{folder}: not a `datasets` folder (no state.json)", hint="give a folder written by save_to_disk",
                        code="import.not_dataset_folder", params={"path": str(folder)}) from None
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise UserError(f"{state_path}: cannot read it ({exc})", hint="save the dataset again with save_to_disk",
                        code="import.bad_hf_folder", params={"file": str(state_path), "why": str(exc)}) from None
    for f in files:
        if not f.is_file():
            raise UserError(f"{folder.name}: the data file {f.name} is missing", hint="copy the whole folder written by save_to_disk",
                            code="import.hf_file_missing", params={"folder": folder.name, "file": f.name})
    return [(None, f) for f in files]


def hf_rows(folder: Path, name: str) -> tuple[int, Iterator[tuple[Location, dict]]]:
    import pyarrow as pa

    parts = _hf_split_files(folder)
    readers = []
    total = 0
    for split, f in parts:
        try:
            table = pa.ipc.open_stream(pa.memory_map(str(f))).read_all()
        except (pa.ArrowException, OSError):
            try:
                table = pa.ipc.open_file(pa.memory_map(str(f))).read_all()
            except (pa.ArrowException, OSError) as exc:
                raise _arrow_error(f, "Arrow file", exc) from None
        total += table.num_rows
        readers.append((split, table))

    def rows() -> Iterator[tuple[Location, dict]]:
        for split, table in readers:
            where = f"{name}/{split}" if split else name
            default_split = HF_SPLITS.get((split or "").lower())
            i = 0
            for batch in table.to_batches(max_chunksize=BATCH):
                for row in batch.to_pylist():
                    i += 1
                    if default_split and not row.get("split"):
                        row["split"] = default_split
                    yield Location(where, row=i), row

    return total, rows()


def _arrow_table(pairs: Iterable):
    import pyarrow as pa

    msg = pa.struct([("role", pa.string()), ("content", pa.string()), ("weight", pa.int64())])
    schema = pa.schema(
        [("messages", pa.list_(msg)), ("tags", pa.list_(pa.string())), ("status", pa.string()), ("split", pa.string())]
    )
    cols: dict[str, list[Any]] = {"messages": [], "tags": [], "status": [], "split": []}
    for p in pairs:
        rec = to_messages(p)
        cols["messages"].append([{"role": m["role"], "content": m["content"], "weight": m.get("weight")} for m in rec["messages"]])
        cols["tags"].append(rec["tags"])
        cols["status"].append(rec["status"])
        cols["split"].append(rec["split"])
    return pa.table(cols, schema=schema)


def write_parquet(pairs: Iterable, out: Path) -> int:
    import pyarrow.parquet as pq

    table = _arrow_table(pairs)
    pq.write_table(table, out, row_group_size=50_000)
    return table.num_rows


def write_hf(pairs: Iterable, out: Path) -> int:
    try:
        import datasets
    except ImportError:
        raise UserError(
            "writing a `datasets` folder needs the datasets library", hint="pip install 'nastavnik[train]', or export to parquet"
        ) from None
    table = _arrow_table(pairs)
    datasets.disable_progress_bars()
    try:
        ds = datasets.Dataset(table)
    except TypeError:  # older datasets want their own table type
        from datasets.table import InMemoryTable

        ds = datasets.Dataset(InMemoryTable(table))
    ds.save_to_disk(str(out))
    return table.num_rows
