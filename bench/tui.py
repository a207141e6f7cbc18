"""TUI benchmarks: the Pairs room must not slow down as the store grows.

    .venv/bin/python bench/tui.py                 # 1,000,000 pairs vs 100 (first run builds them, ~5 min)
    .venv/bin/python bench/tui.py --quick         # 50,000 pairs vs 100, the same code
    .venv/bin/python bench/tui.py --smoke         # 500 pairs: only that it runs
    .venv/bin/python bench/tui.py --rows 200000   # a smaller big store

Claims, one ``name: ratio=… goal=…`` line each:
  startup   time from process start to the pairs table having painted its first rows, at N
            pairs, ≤ 1.2× the same at 100 pairs (the table pages from SQLite). ratio = N / 100.
  pagedown  "a million pairs scroll like a hundred": from a page-down key to the table
            having painted every row of the new screen, p95 per key at N pairs ≤ 1.2× the p95
            at 100 pairs. At N the keys are pressed from positions spread over the whole
            table (start, middle, end), so pages far from the start are read too.
            ratio = p95 at N / p95 at 100.
  search    at N pairs, from a keystroke in the search box to the table showing the first
            page of the new results: p95 ≤ 100 ms. ratio = p95 / 100 ms. Printed both from the
            keystroke (what a person waits for, including the room's typing debounce) and
            from the moment the room applies the query (the store + table part alone).

Workspaces are built once with the store's bulk path (``prepare_row`` + ``add_pairs``) and
cached under bench/out/ (gitignored; --smoke builds in a temporary folder). Each startup
sample is a fresh process; keys are delivered the way the terminal driver delivers them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

T_START = time.perf_counter()
REPO = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("NASTAVNIK_BENCH_OUT") or REPO / "bench" / "out")  # as benchlib.OUT
sys.path.insert(0, str(REPO))

WORDS = (
    "модель обучение эпоха адаптер матрица токен словарь шаблон ответ вопрос датасет выборка "
    "оптимизатор градиент память видеокарта квантование формат терминал команда ошибка метрика "
    "оценка контекст промпт пример слой вес нормализация внимание последовательность длина "
    "температура генерация ранг дообучение проверка разметка дубликат история корзина поиск "
    "фильтр статус чекпоинт запуск журнал скорость точность ёмкость объём ёлка щётка"
).split()
STARTERS = ("Как", "Зачем", "Почему", "Когда", "Что даёт", "Нужно ли")
TAGS = ("основы", "lora", "данные", "gguf", "чат", "оценка")


def generate(n: int, seed: int = 7):
    rng = random.Random(seed)
    for i in range(n):
        w = rng.sample(WORDS, 6)
        q = f"{rng.choice(STARTERS)} {w[0]} влияет на {w[1]} при {w[2]} (случай {i})?"
        a = (
            f"Коротко: {w[3]} зависит от {w[0]}. Если {w[4]} растёт, {w[5]} стоит проверить на выборке eval; "
            f"пример {i} показывает, что {w[1]} и {w[2]} связаны."
        )
        yield q, a, [rng.choice(TAGS)], ("eval" if i % 10 == 0 else "train")


def build(rows: int, out: Path = OUT) -> Path:
    """A workspace with ``rows`` generated pairs, built once and cached."""
    from core.workspace import Workspace

    home = out / f"tui-{rows}"
    marker = home / "built.json"
    if marker.exists() and json.loads(marker.read_text()).get("rows") == rows:
        return home
    if home.exists():
        import shutil

        shutil.rmtree(home)
    ws = Workspace.open(home)
    t0 = time.perf_counter()
    with ws.store() as store:
        chunk: list[dict] = []
        for q, a, tags, split in generate(rows):
            chunk.append(store.prepare_row(q, a, tags=tags, split=split, source="bench"))
            if len(chunk) == 50_000:
                store.add_pairs(chunk, skip_duplicates=False)
                chunk = []
                print(f"  built {store.count_pairs():,} / {rows:,}", file=sys.stderr, flush=True)
        if chunk:
            store.add_pairs(chunk, skip_duplicates=False)
    marker.write_text(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - t0, 1)}))
    return home


# ------------------------------------------------------------------ children


async def _first_rows(home: str) -> float:
    """Seconds from process start until the pairs table has painted its first rows."""
    from core.workspace import Workspace
    from tui.app import NastavnikApp
    from tui.widgets.pair_table import PairTable

    app = NastavnikApp(Workspace.open(home), "en")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(PairTable)
        while not (table._loaded_once and table.pair_at(0) is not None):
            await asyncio.sleep(0.001)
        await pilot.pause()  # the refresh the loaded page asked for is painted
        elapsed = time.perf_counter() - T_START
        first = table.pair_at(0)
        line = "".join(seg.text for seg in table.render_line(1))  # row 0, under the header
        assert first.question.split()[0] in line, f"first row not painted: {line!r}"
    return elapsed


def _send_key(app, key: str, char: str | None) -> None:
    """Deliver a key the way the terminal driver does, without Pilot's wait-for-idle
    (which waits for the CPU to go quiet, i.e. for background counts to finish)."""
    from textual import events

    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


async def _search(home: str, queries: list[str]) -> dict:
    """Per keystroke: ms until the table has painted the first page for the new text."""
    from core.workspace import Workspace
    from tui.app import NastavnikApp
    from tui.widgets.pair_table import PairTable

    app = NastavnikApp(Workspace.open(home), "en")
    from_key: list[float] = []
    from_apply: list[float] = []
    detail: list[str] = []
    state: dict = {"want": None, "applied": None, "painted": None}
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(PairTable)
        original_set_query, original_render_line = table.set_query, table.render_line

        def timed_set_query(*args, **kwargs):
            state["applied"] = time.perf_counter()
            return original_set_query(*args, **kwargs)

        def timed_render_line(y):
            strip = original_render_line(y)
            if (
                state["painted"] is None
                and state["want"] is not None
                and table.flt.query == state["want"]
                and table._loaded_once
                and y >= 1
            ):
                state["painted"] = time.perf_counter()
            return strip

        table.set_query = timed_set_query
        table.render_line = timed_render_line
        while not table.loaded:
            await asyncio.sleep(0.005)
        async def until(condition, what: str, timeout: float = 120) -> None:
            deadline = time.perf_counter() + timeout
            while not condition():
                if time.perf_counter() > deadline:
                    raise SystemExit(f"timed out waiting for {what}")
                await asyncio.sleep(0.005)

        for query in queries:
            table.focus()
            await pilot.press("escape")  # clear the previous search (not timed)
            await until(lambda: table.flt.query is None and table.loaded, "the search to clear")
            await pilot.press("slash")
            await until(lambda: getattr(app.focused, "id", None) == "search", "the search box")
            await asyncio.sleep(0.3)
            typed = ""
            for ch in query:
                before = typed.strip()
                typed += ch
                if typed.strip() == before:  # a space between words: the query is the same, nothing to paint
                    _send_key(app, ch if ch != " " else "space", ch)
                    await asyncio.sleep(0.25)
                    continue
                state.update(want=typed.strip() or None, applied=None, painted=None)
                t0 = time.perf_counter()
                _send_key(app, ch if ch != " " else "space", ch)
                deadline = t0 + 60
                while state["painted"] is None:
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"search for {typed!r} did not paint in 60 s")
                    await asyncio.sleep(0.001)
                t1 = state["painted"]
                from_key.append((t1 - t0) * 1000)
                if state["applied"]:
                    from_apply.append((t1 - state["applied"]) * 1000)
                detail.append(f"{typed}:{from_key[-1]:.0f}")
                await asyncio.sleep(0.25)  # the pace of typing; counts may still be running
            await pilot.press("enter")
    return {"from_key": from_key, "from_apply": from_apply, "detail": detail}


async def _pagedown(home: str, starts: list[int], presses: int) -> dict:
    """Per page-down key: ms until every row of the new screen is painted with its pair.

    From each start row (reached first, untimed) the key is pressed ``presses`` times; at the
    end of the table the direction turns (page-up), so a small table is paged through again
    and again. Each key is sent as soon as the previous screen is painted, as a held key would.
    """
    from core.workspace import Workspace
    from tui.app import NastavnikApp
    from tui.widgets.pair_table import PairTable

    app = NastavnikApp(Workspace.open(home), "en")
    times: list[float] = []
    state: dict = {"want": None, "painted": None}
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(PairTable)
        original_render_line = table.render_line

        def screen_loaded() -> bool:
            top = int(table.scroll_y)
            last = min(table.row_count, top + table.body_height)
            return all(table.pair_at(r) is not None for r in range(top, last))

        def timed_render_line(y):
            strip = original_render_line(y)
            want = state["want"]
            if (state["painted"] is None and want is not None and table.cursor == want
                    and y == min(table.body_height, table.row_count - int(table.scroll_y)) and screen_loaded()):
                state["painted"] = time.perf_counter()
            return strip

        table.render_line = timed_render_line

        async def until(condition, what: str, timeout: float = 120) -> None:
            deadline = time.perf_counter() + timeout
            while not condition():
                if time.perf_counter() > deadline:
                    raise SystemExit(f"timed out waiting for {what}")
                await asyncio.sleep(0.002)

        await until(lambda: table.loaded, "the table to load")
        table.focus()
        await pilot.pause()
        n = table.row_count
        for start in starts:
            table.set_cursor(min(start, n - 1))
            await until(screen_loaded, f"row {start}")
            await pilot.pause()
            direction = 1
            for _ in range(presses):
                if direction > 0 and table.cursor >= n - 1:
                    direction = -1
                elif direction < 0 and table.cursor <= 0:
                    direction = 1
                want = max(0, min(n - 1, table.cursor + direction * table.body_height))
                state.update(want=want, painted=None)
                t0 = time.perf_counter()
                _send_key(app, "pagedown" if direction > 0 else "pageup", None)
                await until(lambda: state["painted"] is not None, f"page at row {want}", timeout=60)
                times.append((state["painted"] - t0) * 1000)
                state["want"] = None
    return {"ms": times, "rows": n}


def child(argv: list[str]) -> None:
    mode, home = argv[0], argv[1]
    if mode == "startup":
        print(json.dumps({"seconds": asyncio.run(_first_rows(home))}))
    elif mode == "pagedown":
        presses, starts = int(argv[2]), [int(x) for x in argv[3:]]
        print(json.dumps(asyncio.run(_pagedown(home, starts, presses))))
    else:
        print(json.dumps(asyncio.run(_search(home, argv[2:]))))


def run_child(*args: str, timeout: int = 600) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TEXTUAL": "", "NASTAVNIK_HOME": ""},
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import tempfile

    import benchlib
    from benchlib import claim, pct, pick, say

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_mode_args(parser)
    parser.add_argument("--rows", type=int, help="pairs in the big store (default 1,000,000; --quick 50,000)")
    parser.add_argument("--repeat", type=int, help="startup samples per size (default 5; --quick 3)")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    mode = benchlib.mode_of(args)
    rows = args.rows or pick(mode, 1_000_000, 50_000, 500)
    repeat = args.repeat or pick(mode, 5, 3, 1)
    out = Path(tempfile.mkdtemp(prefix="nastavnik-tui-bench-")) if mode == "smoke" else OUT

    print(f"building workspaces (cached in {out})…", file=sys.stderr)
    small, big = build(100, out), build(rows, out)
    if args.build_only:
        return

    if mode != "smoke":  # warm the OS file cache and Python's bytecode cache once per size
        run_child("startup", str(small))
        run_child("startup", str(big))
    small_t, big_t = [], []
    for _ in range(repeat):  # interleaved, so drift in machine load hits both
        small_t.append(run_child("startup", str(small))["seconds"])
        big_t.append(run_child("startup", str(big))["seconds"])
    s_med, b_med = pct(small_t, 0.5), pct(big_t, 0.5)
    say(f"startup to first painted rows: 100 pairs median {s_med * 1000:.0f} ms, {rows:,} pairs median {b_med * 1000:.0f} ms")
    lines = [claim("startup", b_med / s_med, "<=1.2", f"{b_med * 1000:.0f} vs {s_med * 1000:.0f} ms")]

    spots, presses = pick(mode, (20, 5), (10, 5), (2, 3))
    big_starts = [int(k * (rows - 1) / max(1, spots - 1)) for k in range(spots)]
    small_res = run_child("pagedown", str(small), str(spots * presses), "0")
    big_res = run_child("pagedown", str(big), str(presses), *map(str, big_starts), timeout=1200)
    s95, b95 = pct(small_res["ms"], 0.95), pct(big_res["ms"], 0.95)
    say(f"page-down to a painted screen: 100 pairs p50 {pct(small_res['ms'], 0.5):.1f} ms p95 {s95:.1f} ms "
        f"({len(small_res['ms'])} keys); {rows:,} pairs p50 {pct(big_res['ms'], 0.5):.1f} ms p95 {b95:.1f} ms "
        f"max {max(big_res['ms']):.1f} ms ({len(big_res['ms'])} keys from {spots} places)")
    lines.append(claim("pagedown", b95 / s95, "<=1.2", f"p95 {b95:.1f} vs {s95:.1f} ms"))

    queries = pick(mode, ["обучение", "ёмкость", "градиент", "случай 4242"], ["обучение", "ёмкость", "случай 4242"], ["ёмк"])
    res = run_child("search", str(big), *queries, timeout=1200)
    k95, a95 = pct(res["from_key"], 0.95), pct(res["from_apply"], 0.95)
    say(f"search at {rows:,} pairs, {len(res['from_key'])} keystrokes: "
        f"keystroke→results p50 {pct(res['from_key'], 0.5):.0f} ms p95 {k95:.0f} ms max {max(res['from_key']):.0f} ms; "
        f"query applied→results p50 {pct(res['from_apply'], 0.5):.0f} ms p95 {a95:.0f} ms")
    say("  per keystroke (text typed so far: ms): " + "  ".join(res["detail"]))
    lines.append(claim("search", k95 / 100, "<=1", f"keystroke→results p95 {k95:.0f} ms against 100 ms"))
    if mode == "smoke":
        import shutil

        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
