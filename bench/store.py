"""Store benchmarks: import, search and CLI cold start, each against a baseline in the same run.

    .venv/bin/python bench/store.py            # 1,000,000 pairs (a few minutes on 2 cores)
    .venv/bin/python bench/store.py --rows 100000

Claims (from the foundation issue):
  import   — importing N generated Russian pairs from a messages JSONL file through
             `nastavnik pairs import`'s code path takes ≤ 2× a raw `sqlite3.executemany` of the
             same, already parsed rows into the same tables (pairs + search index).
  search   — the first page plus the match count, at N pairs: p95 ≤ 30 ms and ≥ 20× faster than
             a `LIKE '%…%'` scan answering the same question.
  startup  — `nastavnik --help` ≤ 250 ms above `python -c pass`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.store import PairFilter, Store  # noqa: E402
from core.text import fold  # noqa: E402

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


def generate(n: int, seed: int = 0):
    rng = random.Random(seed)
    cum = []
    total = 0.0
    for rank in range(len(VOCAB)):
        total += 1.0 / (rank + 1)
        cum.append(total)
    for i in range(n):
        w = rng.choices(VOCAB, cum_weights=cum, k=22)
        q = f"Как {w[0]} {w[1]} {w[2]} для {w[3]} №{i}?"
        ans = f"Чтобы {w[4]} {w[5]}, возьмите {w[6]} {w[7]} и {w[8]} {w[9]} {w[10]}. " + " ".join(w[11:]).capitalize() + "."
        yield q, ans


def write_jsonl(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for q, a in generate(n):
            f.write(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}, ensure_ascii=False))
            f.write("\n")


def bench_import(n: int, work: Path) -> tuple[float, float, float]:
    rows = list(generate(n))
    folded = [(fold(q), fold(a)) for q, a in rows]
    stamp = "2026-01-01T00:00:00.000+00:00"

    # baseline: raw executemany of the same parsed rows into a fresh store's tables
    base_db = work / "baseline.db"
    Store(base_db).close()
    conn = sqlite3.connect(base_db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO pairs(id, question, answer, status, split, created, updated) VALUES (?,?,?,?,?,?,?)",
        [(i + 1, q, a, "draft", "train", stamp, stamp) for i, (q, a) in enumerate(rows)],
    )
    conn.executemany("INSERT INTO pairs_fts(rowid, question, answer) VALUES (?,?,?)", [(i + 1, q, a) for i, (q, a) in enumerate(folded)])
    conn.execute("COMMIT")
    baseline = time.perf_counter() - t0
    conn.close()

    # plain table, no search index: for context only
    plain = sqlite3.connect(work / "plain.db", isolation_level=None)
    plain.execute("CREATE TABLE pairs(id INTEGER PRIMARY KEY, question TEXT, answer TEXT)")
    t0 = time.perf_counter()
    plain.execute("BEGIN")
    plain.executemany("INSERT INTO pairs VALUES (?,?,?)", [(i + 1, q, a) for i, (q, a) in enumerate(rows)])
    plain.execute("COMMIT")
    plain_s = time.perf_counter() - t0
    plain.close()
    del rows, folded

    src = work / "pairs.jsonl"
    write_jsonl(src, n)
    store = Store(work / "nastavnik.db")
    t0 = time.perf_counter()
    try:
        from core.pairs_io import import_files

        counts = import_files(store, [str(src)])
    except ImportError:  # before the formats module exists: the store's bulk path alone
        counts = store.add_pairs(store.prepare_row(q, a) for q, a in generate(n))
    ours = time.perf_counter() - t0
    assert counts.imported == n, counts
    store.close()
    return ours, baseline, plain_s


# Words from the head, body and tail of the distribution, stems, ё/е and case variants.
QUERIES = ["модель", "обучени", "ЭПОХА", "квантован", "ёмкость", "емкост", "щетк", VOCAB[300], VOCAB[1500][:-1], VOCAB[4000], "адаптер ранг"]


def bench_search(work: Path, repeats: int = 3) -> dict:
    """First page (what the screen shows first) and page + total count, ours vs a LIKE scan."""
    store = Store(work / "nastavnik.db")
    first: list[float] = []
    full: list[float] = []
    for _ in range(repeats):
        for q in QUERIES:
            flt = PairFilter(query=q)
            t0 = time.perf_counter()
            store.list_pairs(flt, order="id", limit=50)
            t1 = time.perf_counter()
            store.count_pairs(flt)
            t2 = time.perf_counter()
            first.append(t1 - t0)
            full.append(t2 - t0)
    conn = sqlite3.connect(work / "nastavnik.db")
    like: list[float] = []
    for q in QUERIES[:4]:  # the scan is slow; four queries are enough for its median
        pattern = f"%{q.split()[0]}%"
        t0 = time.perf_counter()
        conn.execute("SELECT id, question, answer FROM pairs WHERE question LIKE ?1 OR answer LIKE ?1 ORDER BY id LIMIT 50", (pattern,)).fetchall()
        conn.execute("SELECT count(*) FROM pairs WHERE question LIKE ?1 OR answer LIKE ?1", (pattern,)).fetchone()
        like.append(time.perf_counter() - t0)
    store.close()

    def p95(xs):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(0.95 * len(xs)))]

    return {
        "first_p95": p95(first),
        "full_p95": p95(full),
        "full_median": statistics.median(full),
        "like_median": statistics.median(like),
    }


def bench_startup(repeats: int = 10) -> tuple[float, float]:
    exe = [sys.executable, "-c", "from tui.cli import main; main(['--help'])"]
    bare = [sys.executable, "-c", "pass"]

    def median(cmd):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, cwd=REPO)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    median(exe)  # warm the file cache
    return median(exe), median(bare)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", help="keep the benchmark workspace in this folder")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="nastavnik-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("*.db*"):
        f.unlink()

    ours, baseline, plain = bench_import(args.rows, work)
    import_ratio = ours / baseline
    print(f"import {args.rows} pairs: nastavnik {ours:.1f}s, raw executemany {baseline:.1f}s (plain table, no index: {plain:.1f}s)")
    print(f"import: ratio={import_ratio:.2f} goal<=2.0")

    r = bench_search(work)
    print(
        f"search at {args.rows}: first page p95 {r['first_p95'] * 1000:.1f} ms; page + count p95 {r['full_p95'] * 1000:.1f} ms, "
        f"median {r['full_median'] * 1000:.1f} ms; LIKE scan (page + count) median {r['like_median'] * 1000:.0f} ms"
    )
    print(f"search-first-page-p95-ms: value={r['first_p95'] * 1000:.1f} goal<=30")
    print(f"search-vs-like: ratio={r['like_median'] / r['full_median']:.1f} goal>=20")

    cli_s, bare_s = bench_startup()
    print(f"startup: nastavnik --help {cli_s * 1000:.0f} ms, python -c pass {bare_s * 1000:.0f} ms, above: {(cli_s - bare_s) * 1000:.0f} ms (goal <= 250)")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(f"store: ratio={import_ratio:.2f} goal<=2.0")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
