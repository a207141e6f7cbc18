"""Store benchmarks at N pairs, each against a baseline doing the same work in the same run.

    .venv/bin/python bench/store.py            # 1,000,000 pairs (18 minutes on 2 cores, 2026-12-02)
    .venv/bin/python bench/store.py --quick    # 50,000 pairs, the same code (about a minute)
    .venv/bin/python bench/store.py --smoke    # 1,500 pairs: only that it runs
    .venv/bin/python bench/store.py --rows 200000

Claims, one ``name: ratio=… goal=…`` line each:
  import         importing N generated Russian pairs from a messages JSONL file through
                 ``nastavnik pairs import``'s code path (parse, validate, dedup keys, index)
                 takes ≤ 2× a raw ``executemany`` of the same, already parsed and folded rows
                 into the same tables. ratio = ours / raw.
  search-<kind>  the first page (the app's page size) plus the match count, for each kind of
                 query (common words, rare words, stems with ё/е and case variants, 1–2 letter
                 terms): our trigram index vs ``LIKE '%…%'`` over the same folded text the
                 index holds, the same queries the same number of times on both sides, and
                 both must return the same page and count (checked). ratio = LIKE median /
                 ours median; goal ≥ 20× (1–2 letter terms scan on both sides: goal ≥ 1×).
                 Medians and p95 of both sides are printed per kind.
  search-first-page-p95   first page alone, p95 over every query: ratio = p95 / 30 ms, goal ≤ 1.
  dedup          ``store.dedup()`` (duplicate groups and conflicts, with their pairs) vs the
                 raw SQL doing the same: GROUP BY the normalised text, the same normalisation
                 (whitespace, case, ё→е) registered as an SQLite function — SQLite's own
                 ``lower()`` folds ASCII only. Same groups (checked). ratio = ours / raw, ≤ 2.
  stats          ``store.stats()`` vs one raw scan computing the same counts and length
                 percentiles. Same numbers (checked). ratio = ours / raw, goal ≤ 2.
  export         ``export_pairs`` to messages JSONL vs one raw SELECT + ``json.dumps`` writing
                 the same file (byte for byte, checked). ratio = ours / raw, goal ≤ 2.
  startup        ``nastavnik --help`` above ``python -c pass``: ratio = extra ms / 250 ms, ≤ 1.

The data has a Zipf-shaped vocabulary (a few words everywhere, most words rare), tags,
statuses and an eval split; 1% of the rows are then added again as case/ё/whitespace variants
(half with the same answer: duplicates; half with another: conflicts).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib
from benchlib import REPO, claim, median, pct, say

from core.store import PairFilter, Store  # noqa: E402
from core.store.migrations import dedup_keys  # noqa: E402
from core.text import estimate_tokens_sql, fold, normalize  # noqa: E402

# Real fine-tuning data has a Zipf-shaped vocabulary: a few words everywhere, most words rare.
# We mimic that with a few real words and thousands of made-up Russian-looking stems.
REAL = (
    "модель обучение эпоха адаптер матрица токен словарь шаблон ответ вопрос датасет выборка шаг "
    "оптимизатор градиент память видеокарта квантование формат файл сервер терминал команда ошибка "
    "метрика оценка контекст промпт пример пакет слой вес нормализация внимание голова длина "
    "температура генерация ранг альфа дообучение проверка разметка дубликат история корзина поиск "
    "фильтр тег статус чекпоинт запуск журнал прогресс скорость точность ёмкость объём ёлка щётка"
).split()
CONSONANTS = "бвгджзклмнпрстфхцчшщ"
VOWELS = "аеёиоуыэюя"
ENDINGS = ["ание", "ость", "ный", "ить", "ка", "ов", "ем", "ами", "ах", "у"]
TAGS = ("основы", "lora", "данные", "gguf", "чат", "оценка")


def vocabulary(size: int = 6000, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    words = list(REAL)
    seen = set(words)
    while len(words) < size:
        stem = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(1, 3)))
        word = stem + rng.choice(ENDINGS)
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


VOCAB = vocabulary()

# the queries, by kind: head words (one in capitals, one two-word query), tail words,
# stems with ё/е and case variants, and terms too short for the trigram index
QUERIES = {
    "common": ["модель", "обучени", "ЭПОХА", "адаптер ранг"],
    "rare": [VOCAB[1500], VOCAB[4000], VOCAB[5500]],
    "stem": ["квантован", "ёмкость", "емкост", "щетк", VOCAB[300][:-2]],
    "short": ["ит", "Я", "ём"],
}
GOALS = {"common": 20.0, "rare": 20.0, "stem": 20.0, "short": 1.0}


def generate(n: int, seed: int = 0):
    """(question, answer, tags, status, split) rows."""
    rng = random.Random(seed)
    cum, total = [], 0.0
    for rank in range(len(VOCAB)):
        total += 1.0 / (rank + 1)
        cum.append(total)
    for i in range(n):
        w = rng.choices(VOCAB, cum_weights=cum, k=22)
        q = f"Как {w[0]} {w[1]} {w[2]} для {w[3]} №{i}?"
        ans = f"Чтобы {w[4]} {w[5]}, возьмите {w[6]} {w[7]} и {w[8]} {w[9]} {w[10]}. " + " ".join(w[11:]).capitalize() + "."
        tags = [rng.choice(TAGS)] + ([rng.choice(TAGS)] if i % 7 == 0 else [])
        tags = list(dict.fromkeys(tags))
        status = "approved" if i % 3 == 0 else "rejected" if i % 17 == 0 else "draft"
        split = "eval" if i % 10 == 0 else "train"
        yield q, ans, tags, status, split


def variants(n: int, seed: int = 5):
    """Rows equal to earlier ones after normalisation (case, ё/е, spaces): duplicates, and
    conflicts (the same question with another answer)."""
    rows = list(generate(n))
    rng = random.Random(seed)
    for k in range(max(2, n // 100)):
        q, a, tags, status, split = rows[rng.randrange(n)]
        q2 = "  " + q.upper().replace("Е", "Ё") + " "
        a2 = a.replace(" ", "  ") if k % 2 == 0 else a + " Другой ответ."
        yield q2, a2, tags, "draft", split


def write_jsonl(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for q, a, tags, status, split in generate(n):
            rec = {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                   "tags": tags, "status": status, "split": split}
            f.write(json.dumps(rec, ensure_ascii=False))
            f.write("\n")


# ---------------------------------------------------------------------------- import


def bench_import(n: int, work: Path) -> tuple[float, float]:
    from core.formats.pairs_io import import_files

    rows = list(generate(n))
    prepared = [(fold(q), fold(a), *dedup_keys(q, a)) for q, a, *_ in rows]
    stamp = "2026-01-01T00:00:00.000+00:00"

    # baseline: raw executemany of the same parsed rows (folded text and dedup keys computed
    # beforehand, untimed) into a fresh store's tables: pairs, tags, search index
    base_db = work / "baseline.db"
    Store(base_db).close()
    conn = sqlite3.connect(base_db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO pairs(id, question, answer, status, split, created, updated, dup_key, question_key) VALUES (?,?,?,?,?,?,?,?,?)",
        [(i + 1, q, a, st, sp, stamp, stamp, p[2], p[3]) for i, ((q, a, _t, st, sp), p) in enumerate(zip(rows, prepared))],
    )
    conn.executemany("INSERT INTO pair_tags(pair_id, tag) VALUES (?,?)", [(i + 1, t) for i, r in enumerate(rows) for t in r[2]])
    conn.executemany("INSERT INTO pairs_fts(rowid, question, answer) VALUES (?,?,?)", [(i + 1, p[0], p[1]) for i, p in enumerate(prepared)])
    conn.execute("COMMIT")
    raw = time.perf_counter() - t0
    conn.close()
    del rows, prepared

    src = work / "pairs.jsonl"
    write_jsonl(src, n)
    store = Store(work / "nastavnik.db")
    t0 = time.perf_counter()
    counts = import_files(store, [str(src)])
    ours = time.perf_counter() - t0
    assert counts.imported == n, counts
    # then the duplicates and conflicts the dedup claim needs (the import would skip them)
    store.add_pairs([store.prepare_row(q, a, tags=t, status=st, split=sp) for q, a, t, st, sp in variants(n)], skip_duplicates=False)
    store.close()
    src.unlink()
    return ours, raw


# ---------------------------------------------------------------------------- search


def like_table(work: Path) -> Path:
    """The baseline's copy of the text: folded exactly as the index holds it, no index."""
    path = work / "like.db"
    path.unlink(missing_ok=True)
    src = sqlite3.connect(work / "nastavnik.db")
    dst = sqlite3.connect(path, isolation_level=None)
    dst.execute("CREATE TABLE folded(id INTEGER PRIMARY KEY, question TEXT, answer TEXT)")
    dst.execute("BEGIN")
    cur = src.execute("SELECT id, question, answer FROM pairs WHERE deleted IS NULL ORDER BY id")
    while batch := cur.fetchmany(50_000):
        dst.executemany("INSERT INTO folded VALUES (?,?,?)", [(i, fold(q), fold(a)) for i, q, a in batch])
    dst.execute("COMMIT")
    src.close()
    dst.close()
    return path


def like_search(conn, query: str, page: int) -> tuple[list[int], int]:
    terms = fold(query).split()
    where = " AND ".join("(question LIKE ? OR answer LIKE ?)" for _ in terms)
    params = [p for t in terms for p in (f"%{t}%", f"%{t}%")]
    ids = [r[0] for r in conn.execute(f"SELECT id FROM folded WHERE {where} ORDER BY id LIMIT ?", [*params, page])]
    (count,) = conn.execute(f"SELECT count(*) FROM folded WHERE {where}", params).fetchone()
    return ids, count


def bench_search(work: Path, repeats: int, page: int) -> dict:
    """Per kind: seconds of (first page + count) for ours and LIKE, and first page alone (ours)."""
    store = Store(work / "nastavnik.db")
    like = sqlite3.connect(like_table(work))
    out = {kind: {"ours": [], "like": [], "first": []} for kind in QUERIES}
    mismatches = []
    for r in range(repeats):
        for kind, queries in QUERIES.items():
            for q in queries:
                flt = PairFilter(query=q)
                t0 = time.perf_counter()
                pairs = store.list_pairs(flt, order="id", limit=page)
                t1 = time.perf_counter()
                count = store.count_pairs(flt)
                t2 = time.perf_counter()
                like_ids, like_count = like_search(like, q, page)
                t3 = time.perf_counter()
                out[kind]["first"].append(t1 - t0)
                out[kind]["ours"].append(t2 - t0)
                out[kind]["like"].append(t3 - t2)
                if r == 0:
                    out[kind].setdefault("counts", []).append(count)
                    if [p.id for p in pairs] != like_ids or count != like_count:
                        mismatches.append(f"{q!r}: ours {count} (page {len(pairs)}), LIKE {like_count} (page {len(like_ids)})")
    store.close()
    like.close()
    out["mismatches"] = mismatches
    return out


# ---------------------------------------------------------------------------- dedup, stats, export


def _nfold_conn(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.create_function("norm", 1, lambda s: normalize(s) if s else "", deterministic=True)
    return conn


COLS = "id, question, answer, system, context, status, split, source, created, updated, deleted, batch_id"


def raw_dedup(conn) -> tuple[list[list[int]], list[list[int]], int]:
    dups = [sorted(int(i) for i in ids.split(",")) for (ids,) in conn.execute(
        "SELECT group_concat(id) FROM pairs WHERE deleted IS NULL GROUP BY norm(question) || char(31) || norm(answer) "
        "HAVING count(*) > 1 ORDER BY min(id)")]
    conflicts = [sorted(int(i) for i in ids.split(",")) for (ids,) in conn.execute(
        "SELECT group_concat(id) FROM pairs WHERE deleted IS NULL GROUP BY norm(question) "
        "HAVING count(DISTINCT norm(answer)) > 1 ORDER BY min(id)")]
    wanted = sorted({i for g in dups + conflicts for i in g})
    rows = {}
    for k in range(0, len(wanted), 900):
        chunk = wanted[k:k + 900]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {COLS} FROM pairs WHERE id IN ({marks})", chunk):
            rows[row[0]] = [row, []]
        for pid, tag in conn.execute(f"SELECT pair_id, tag FROM pair_tags WHERE pair_id IN ({marks}) ORDER BY rowid", chunk):
            rows[pid][1].append(tag)
    return dups, conflicts, len(rows)


def bench_dedup(work: Path) -> tuple[float, float, str]:
    store = Store(work / "nastavnik.db")
    t0 = time.perf_counter()
    report = store.dedup()
    ours = time.perf_counter() - t0
    store.close()
    conn = _nfold_conn(work / "nastavnik.db")
    t0 = time.perf_counter()
    dups, conflicts, _ = raw_dedup(conn)
    raw = time.perf_counter() - t0
    conn.close()
    same = [[p.id for p in g] for g in report.duplicates] == dups and [[p.id for p in g] for g in report.conflicts] == conflicts
    info = f"{len(dups)} duplicate groups, {len(conflicts)} conflicts" + ("" if same else " — GROUPS DIFFER from the raw SQL's")
    return ours, raw, info


def raw_stats(conn) -> dict:
    tok = estimate_tokens_sql
    total, status, split = 0, {"draft": 0, "approved": 0, "rejected": 0}, {"train": 0, "eval": 0}
    qc, ac, qt, at = [], [], [], []
    for st, sp, a, b, c, d in conn.execute(
            f"SELECT status, split, length(question), length(answer), {tok('question')}, {tok('answer')} FROM pairs WHERE deleted IS NULL"):
        total += 1
        status[st] = status.get(st, 0) + 1
        split[sp] = split.get(sp, 0) + 1
        qc.append(a)
        ac.append(b)
        qt.append(c)
        at.append(d)
    tags = dict(conn.execute("SELECT t.tag, count(*) FROM pair_tags t JOIN pairs p ON p.id = t.pair_id WHERE p.deleted IS NULL "
                             "GROUP BY t.tag ORDER BY count(*) DESC, t.tag"))
    (trash,) = conn.execute("SELECT count(*) FROM pairs WHERE deleted IS NOT NULL").fetchone()

    def pcts(values):
        values.sort()
        if not values:
            return {"min": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0, "mean": 0}
        at = lambda p: values[min(len(values) - 1, int(round(p * (len(values) - 1))))]  # noqa: E731
        return {"min": values[0], "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": values[-1],
                "mean": round(sum(values) / len(values), 1)}

    return {"total": total, "status": status, "split": split, "tags": tags, "trash": trash,
            "length": {"question_chars": pcts(qc), "answer_chars": pcts(ac), "question_tokens": pcts(qt), "answer_tokens": pcts(at)}}


def bench_stats(work: Path) -> tuple[float, float, bool]:
    store = Store(work / "nastavnik.db")
    t0 = time.perf_counter()
    ours = store.stats()
    ours_s = time.perf_counter() - t0
    store.close()
    conn = sqlite3.connect(work / "nastavnik.db")
    t0 = time.perf_counter()
    raw = raw_stats(conn)
    raw_s = time.perf_counter() - t0
    conn.close()
    return ours_s, raw_s, ours == raw


def raw_export(conn, out: Path) -> int:
    n = 0
    dumps = json.dumps
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for q, a, system, context, status, split, tags in conn.execute(
                "SELECT p.question, p.answer, p.system, p.context, p.status, p.split, "
                "(SELECT json_group_array(tag) FROM (SELECT tag FROM pair_tags WHERE pair_id = p.id ORDER BY rowid)) "
                "FROM pairs p WHERE p.deleted IS NULL ORDER BY p.id"):
            msgs = [{"role": "system", "content": system}] if system else []
            for turn in json.loads(context) if context else ():
                item = {"role": turn.get("role", "user"), "content": turn.get("content", "")}
                if item["role"] == "assistant":
                    item["weight"] = 0
                msgs.append(item)
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            f.write(dumps({"messages": msgs, "tags": json.loads(tags), "status": status, "split": split}, ensure_ascii=False))
            f.write("\n")
            n += 1
    return n


def bench_export(work: Path) -> tuple[float, float, bool]:
    from core.formats.pairs_io import export_pairs

    store = Store(work / "nastavnik.db")
    t0 = time.perf_counter()
    export_pairs(store, work / "ours.jsonl")
    ours = time.perf_counter() - t0
    store.close()
    conn = sqlite3.connect(work / "nastavnik.db")
    t0 = time.perf_counter()
    raw_export(conn, work / "raw.jsonl")
    raw = time.perf_counter() - t0
    conn.close()
    same = (work / "ours.jsonl").read_bytes() == (work / "raw.jsonl").read_bytes()
    for name in ("ours.jsonl", "raw.jsonl"):
        (work / name).unlink()
    return ours, raw, same


# ---------------------------------------------------------------------------- startup


def bench_startup(repeats: int) -> tuple[float, float]:
    exe = [sys.executable, "-c", "from tui.cli import main; main(['--help'])"]
    bare = [sys.executable, "-c", "pass"]

    def one(cmd):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, cwd=REPO)
        return time.perf_counter() - t0

    one(exe)  # warm the file cache
    cli, base = [], []
    for _ in range(repeats):  # interleaved: drift in the machine's load hits both
        cli.append(one(exe))
        base.append(one(bare))
    return median(cli), median(base)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_mode_args(ap)
    ap.add_argument("--rows", type=int, help="pairs in the store (default: 1,000,000; --quick 50,000)")
    ap.add_argument("--keep", help="keep the benchmark workspace in this folder")
    args = ap.parse_args()
    mode = benchlib.mode_of(args)
    rows = args.rows or benchlib.pick(mode, 1_000_000, 50_000, 1_500)
    repeats = benchlib.pick(mode, 3, 2, 1)
    from tui.widgets.pair_table import PAGE

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="nastavnik-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("*.db*"):
        f.unlink()
    say(f"store bench ({mode}): {rows:,} pairs in {work}")

    ours, raw = bench_import(rows, work)
    say(f"import {rows:,} pairs: nastavnik {ours:.1f} s, raw executemany {raw:.1f} s")
    lines = [claim("import", ours / raw, "<=2.0", f"{ours:.1f} s vs {raw:.1f} s")]

    r = bench_search(work, repeats, PAGE)
    if r["mismatches"]:
        say("WARNING: search and LIKE disagree: " + "; ".join(r["mismatches"]))
    firsts = []
    for kind in QUERIES:
        k = r[kind]
        firsts += k["first"]
        say(f"search {kind} ({', '.join(QUERIES[kind])}; matches {', '.join(f'{c:,}' for c in k['counts'])}), "
            f"first page of {PAGE} + count, {len(k['ours'])} runs: ours median {median(k['ours']) * 1000:.1f} ms "
            f"p95 {pct(k['ours'], 0.95) * 1000:.1f} ms; LIKE median {median(k['like']) * 1000:.1f} ms p95 {pct(k['like'], 0.95) * 1000:.1f} ms")
    for kind in QUERIES:
        k = r[kind]
        lines.append(claim(f"search-{kind}", median(k["like"]) / median(k["ours"]), f">={GOALS[kind]:g}",
                           f"median {median(k['ours']) * 1000:.1f} vs {median(k['like']) * 1000:.1f} ms at {rows:,} pairs"))
    p95 = pct(firsts, 0.95)
    lines.append(claim("search-first-page-p95", p95 * 1000 / 30, "<=1", f"p95 {p95 * 1000:.1f} ms over {len(firsts)} queries, budget 30 ms"))

    ours, raw, info = bench_dedup(work)
    lines.append(claim("dedup", ours / raw, "<=2.0", f"{ours * 1000:.0f} vs {raw * 1000:.0f} ms; {info}"))
    ours, raw, same = bench_stats(work)
    lines.append(claim("stats", ours / raw, "<=2.0", f"{ours * 1000:.0f} vs {raw * 1000:.0f} ms" + ("" if same else " — NUMBERS DIFFER")))
    ours, raw, same = bench_export(work)
    lines.append(claim("export", ours / raw, "<=2.0", f"{ours:.2f} vs {raw:.2f} s" + ("; same bytes" if same else " — FILES DIFFER")))

    cli_s, bare_s = bench_startup(benchlib.pick(mode, 10, 5, 2))
    above = (cli_s - bare_s) * 1000
    lines.append(claim("startup", above / 250, "<=1", f"nastavnik --help {cli_s * 1000:.0f} ms, python -c pass {bare_s * 1000:.0f} ms: +{above:.0f} ms of 250"))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
