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


def import_preferences(
    store: Store,
    files: Sequence[str | os.PathLike],
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    skip_bad: str | os.PathLike | None = None,
    skip_duplicates: bool = True,
):
    """Read ``files`` and add their preferences; returns ImportCounts (``rejected``: bad records skipped)."""
    from core.formats.pairs_io import _write_rejects

    names = [str(f) for f in files]
    if not names:
        raise UserError("no file to import", hint="give one or more files, e.g. nastavnik prefs import prefs.jsonl")
    rejects = Path(skip_bad) if skip_bad else None
    if rejects is not None and rejects.is_dir():
        raise UserError(f"--skip-bad {skip_bad} is a folder", hint="give a file name, e.g. rejects.jsonl")
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
    if bad and rejects is None:
        first, more = bad[0], len(bad) - 1
        message = first.message() + (f" (and {more} more bad record{'s' if more != 1 else ''})" if more else "")
        raise UserError(
            message + "; nothing was imported",
            hint=f"fix {'it' if not more else 'them'} or use --skip-bad FILE to import the other {len(rows)} "
            f"record{'s' if len(rows) != 1 else ''} and write the bad ones to FILE",
        )
    if rejects is not None:
        _write_rejects(rejects, bad)
    counts = store.add_preferences(rows, skip_duplicates=skip_duplicates, files=names,
                                   format=",".join(dict.fromkeys(s.format for s in plans)))
    counts.rejected = len(bad)
    return counts


def export_preferences(store: Store, out: str | os.PathLike, *, fmt: str | None = None, flt=None) -> int:
    """Write the live preferences matching ``flt`` to ``out`` (TRL JSONL or a LLaMA-Factory
    folder, by ``fmt`` or the name); returns how many were written."""
    return write(store.iter_preferences(flt), out, fmt)
