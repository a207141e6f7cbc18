"""Import pairs from files into the store, and export them from it.

Import is all or nothing: every file is read and every record checked first; one bad
record stops the whole import (naming file, line or row, field, and what to do) unless
``skip_bad`` names a file to write the bad records to. The good rows then go to the store
in one transaction, as one import batch that ``pairs undo`` can take back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from core.errors import UserError
from core.formats import BadRecord, detect, export_format, read, write
from core.progress import OnProgress, ProgressEvent

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.store import Store

PROGRESS_EVERY = 10_000  # records between two progress events


def _field_from_error(message: str) -> str | None:
    for name in ("question", "answer", "status", "split"):
        if name in message:
            return name
    return None


def checked_inputs(files: Sequence[str | os.PathLike], skip_bad: str | os.PathLike | None, *,
                   example: str) -> tuple[list[str], Path | None]:
    """The files to import and where bad records go (``--skip-bad``), refused before anything is
    read: no file, or a rejects file that is one of the inputs, a folder, or in no folder."""
    names = [str(f) for f in files]
    if not names:
        raise UserError("no file to import", hint=f"give one or more files, e.g. {example}")
    rejects = Path(skip_bad) if skip_bad else None
    if rejects is None:
        return names, None
    for f in names:
        if Path(f).exists() and rejects.exists() and rejects.resolve() == Path(f).resolve():
            raise UserError(f"--skip-bad {skip_bad} is one of the files to import", hint="write the bad rows to a new file",
                            code="import.rejects_is_input", params={"path": str(skip_bad)})
    if rejects.is_dir():
        raise UserError(f"--skip-bad {skip_bad} is a folder", hint="give a file name, e.g. rejects.jsonl",
                        code="import.rejects_is_folder", params={"path": str(skip_bad)})
    parent = rejects.parent if str(rejects.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"--skip-bad {skip_bad}: no folder {parent}", hint="create it first, or write somewhere else",
                        code="import.rejects_no_folder", params={"path": str(skip_bad), "folder": str(parent)})
    return names, rejects


def import_files(
    store: Store,
    files: Sequence[str | os.PathLike],
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    skip_bad: str | os.PathLike | None = None,
    tags: Iterable[str] = (),
    status: str | None = None,
    split: str | None = None,
    skip_duplicates: bool = True,
    progress: OnProgress | None = None,
):
    """Read ``files`` (formats detected unless ``fmt``) and add their pairs; returns ImportCounts.

    ``tags`` are added to every pair; ``status`` and ``split``, when given, replace the
    files' own values. Raises UserError, changing nothing, on any bad record unless
    ``skip_bad`` is a path: then the bad records go there as JSONL with their reasons.
    """
    from core.store import SPLITS, STATUSES

    names, rejects_path = checked_inputs(files, skip_bad, example="nastavnik pairs import data.jsonl")
    if status is not None and status not in STATUSES:
        raise UserError(f"unknown status {status!r}", hint="use one of: " + ", ".join(STATUSES))
    if split is not None and split not in SPLITS:
        raise UserError(f"unknown split {split!r}", hint="use one of: " + ", ".join(SPLITS))
    plans = [detect(f, fmt, encoding) for f in names]  # every file must be readable before any is read
    extra_tags = [t for t in tags if str(t).strip()]
    prepare = store.prepare_row
    rows: list[dict] = []
    bad: list[BadRecord] = []
    good = 0
    for plan in plans:
        seen = len(bad) + good
        for loc, rec in read(plan):
            if isinstance(rec, BadRecord):
                bad.append(rec)
                continue
            good += 1
            if progress is not None and good % PROGRESS_EVERY == 0:
                progress(ProgressEvent("import", good, plan.total if len(plans) == 1 else None))
            if bad and rejects_path is None:
                continue  # the import will stop; only count what is left
            try:
                rows.append(
                    prepare(
                        rec.question,
                        rec.answer,
                        rec.system,
                        rec.context,
                        rec.tags + extra_tags if extra_tags else rec.tags,
                        status or rec.status or "draft",
                        split or rec.split or "train",
                        str(loc),
                    )
                )
            except UserError as exc:
                good -= 1
                reason = exc.code.rpartition(".")[2] if exc.code else None  # pair.empty_answer: empty_answer
                bad.append(BadRecord(loc, str(exc), _field_from_error(exc.message), None, code=reason, params=exc.params))
        if len(bad) + good == seen:
            raise UserError(f"{plan.name}: the file has no records; nothing was imported",
                            hint="check that it is the file you meant", code="import.empty", params={"file": plan.name})
    refuse_or_set_aside(bad, rejects_path, good)
    if progress is not None and good:
        progress(ProgressEvent("import", good, good))
    return store.add_pairs(
        rows,
        skip_duplicates=skip_duplicates,
        files=names,
        format=",".join(dict.fromkeys(p.format for p in plans)),
        rejected=len(bad),
    )


def refuse_or_set_aside(bad: list[BadRecord], rejects: Path | None, good: int) -> None:
    """Bad records refuse the whole import (naming the first), unless ``rejects`` (``--skip-bad``)
    is given: then they are written there and the ``good`` ones go on."""
    if rejects is not None:
        _write_rejects(rejects, bad)
        return
    if bad:
        more = len(bad) - 1
        message = bad[0].message() + (f" (and {more} more bad record{'s' if more != 1 else ''})" if more else "")
        raise UserError(
            message + "; nothing was imported",
            hint=f"fix {'it' if not more else 'them'} or use --skip-bad FILE to import the other {good} "
            f"record{'s' if good != 1 else ''} and write the bad ones to FILE",
            code="import.bad_json" if bad[0].json_error else "import.bad_record",
            params={"where": str(bad[0].location), "location": bad[0].location._asdict(), "field": bad[0].field or "",
                    "reason": bad[0].reason,
                    "json": bad[0].json_error or "", "more": more, "good": good,
                    # the reason by name, for the app to say in its language; a JSON error's problem and column
                    "reason_code": bad[0].code, "reason_params": bad[0].params, **_json_params(bad[0])},
        )


def _json_params(bad: BadRecord) -> dict:
    """A line that is not JSON: the decoder's problem by name and its column (``json.<problem>``)."""
    if bad.code != "invalid_json":
        return {}
    return {"problem": bad.params.get("problem", "other"), "column": bad.params.get("column")}


def _write_rejects(path: Path, bad: list[BadRecord]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for b in bad:
                f.write(json.dumps(b.to_dict(), ensure_ascii=False, default=str))
                f.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"--skip-bad {path}: cannot write it ({exc.strerror or exc})", hint="write the bad rows somewhere else",
                        code="import.rejects_unwritable", params={"path": str(path), "why": str(exc.strerror or exc)}) from None


def export_pairs(store: Store, out: str | os.PathLike, *, fmt: str | None = None, flt=None) -> int:
    """Write the pairs matching ``flt`` to ``out``; the format comes from ``fmt`` or the name.

    Returns how many pairs were written.
    """
    kind = export_format(out, fmt)
    return write(store.iter_pairs(flt), out, kind)
