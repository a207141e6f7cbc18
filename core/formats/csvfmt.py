"""CSV and TSV as Excel writes them: a BOM, ``;`` or ``,`` or tab, CRLF, quoted multi-line
cells, Russian headers, cp1251. Rows are numbered the way Excel numbers them (header = 1)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import IO, Iterable, Iterator

from core.errors import UserError
from core.formats.base import Location
from core.formats.records import TABLE_COLUMNS, to_row
from core.formats.textio import read_text

DELIMITERS = (";", ",", "\t")
_SEP = re.compile(r"\ufeff?sep=(.)[ \t]*\r?\n", re.IGNORECASE)


def sniff_delimiter(text: str, default: str = ",") -> str:
    """The delimiter the header line uses most, counting only outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in text[:65536]:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            if ch in counts:
                counts[ch] += 1
            elif ch == "\n" or ch == "\r":
                break
    best = max(DELIMITERS, key=lambda d: (counts[d], d == "\t", d == ";"))
    return best if counts[best] else default


def iter_csv(
    path: Path, name: str, encoding: str | None = None, delimiter: str | None = None
) -> Iterator[tuple[Location, dict]]:
    """(location, {header: cell}) per data row; blank rows are skipped but keep their number."""
    text, _ = read_text(path, encoding)
    first_row = 1
    hint = _SEP.match(text)
    if hint:  # Excel's "sep=;" line names the delimiter
        delimiter = delimiter or hint.group(1)
        text = text[hint.end() :]
        first_row = 2
    delim = delimiter or sniff_delimiter(text, "\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    csv.field_size_limit(2**31 - 1)  # a long answer is not an error
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=False)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.replace("\ufeff", "").strip() for h in header]
        width = len(header)
        for row_no, row in enumerate(reader, first_row + 1):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < width:
                row = row + [""] * (width - len(row))
            elif len(row) > width and any(c.strip() for c in row[width:]):
                # more cells than headers: keep them visible under numbered names
                header = header + [f"column {i + 1}" for i in range(width, len(row))]
                width = len(header)
            yield Location(name, row=row_no), dict(zip(header, row))
    except csv.Error as exc:
        raise UserError(
            f"{name}:{reader.line_num}: the CSV cannot be read ({exc})", hint="check the quotes on that line",
            code="import.bad_csv", params={"where": f"{name}:{reader.line_num}", "why": str(exc)},
        ) from None


def write_csv(pairs: Iterable, f: IO[str], delimiter: str = ";") -> int:
    """Write with the header ``question;answer;system;context;tags;status;split`` and CRLF."""
    w = csv.writer(f, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(TABLE_COLUMNS)
    n = 0
    for p in pairs:
        w.writerow(to_row(p))
        n += 1
    return n
