"""Import preference pairs from TRL or LLaMA-Factory files into the store, and export them.

The rules of ``core.formats.pairs_io``: every file is read and every record checked first; one bad
record stops the whole import, naming file, line or row, field and what to do, unless
``skip_bad`` names a file for the bad records. The good ones go to the store in one
transaction, as one import batch one undo takes back; duplicates are skipped and counted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from core.errors import UserError
from core.formats.base import BadRecord
from core.formats.preferences import read, sources, write

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.store import Store


def import_preferences(store: Store, files: Sequence[str | os.PathLike], *, fmt: str | None = None,
                       encoding: str | None = None, skip_bad: str | os.PathLike | None = None, skip_duplicates: bool = True):
    """Read ``files`` and add their preferences; returns ImportCounts (``rejected``: bad records skipped)."""
    from core.formats.pairs_io import checked_inputs, refuse_or_set_aside

    names, rejects = checked_inputs(files, skip_bad, example="nastavnik prefs import prefs.jsonl")
    plans = [s for f in names for s in sources(f, fmt)]  # every file must be readable before any is read
    rows: list[dict] = []
    bad: list[BadRecord] = []
    for src in plans:
        for loc, rec in read(src, encoding):
            if isinstance(rec, BadRecord):
                bad.append(rec)
                continue
            try:
                rows.append(store.prepare_preference(rec.prompt, rec.chosen, rec.rejected, system=rec.system,
                                                     context=rec.context, source=str(loc)))
            except UserError as exc:
                field = next((f for f in ("prompt", "chosen", "rejected") if f in exc.message), None)
                bad.append(BadRecord(loc, exc.message, field, None))
    if not rows and not bad:
        shown = ", ".join(Path(n).name for n in names)
        raise UserError(f"{shown}: the file has no records; nothing was imported",
                        hint="check that it is the file you meant", code="import.empty", params={"file": shown})
    refuse_or_set_aside(bad, rejects, len(rows))
    counts = store.add_preferences(rows, skip_duplicates=skip_duplicates, files=names,
                                   format=",".join(dict.fromkeys(s.format for s in plans)))
    counts.rejected = len(bad)
    return counts


def export_preferences(store: Store, out: str | os.PathLike, *, fmt: str | None = None, flt=None) -> int:
    """Write the live preferences matching ``flt`` to ``out`` (TRL JSONL or a LLaMA-Factory
    folder, by ``fmt`` or the name); returns how many were written."""
    return write(store.iter_preferences(flt), out, fmt)
