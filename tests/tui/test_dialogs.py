"""The dialogs (import, export, history, tags, dedup, help) and the stats panel, driven with Pilot.

Each test mounts one screen in a tiny app over a real workspace and checks what a person
would see and what ends up in the store.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import json
from pathlib import Path

import pytest
from textual.app import ComposeResult
from textual.widgets import Static

from core.workspace import Workspace
from tui.app import ReportingApp


def async_test(fn):
    """Run an async test body in its own event loop (no async pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


class Host(ReportingApp):  # worker errors end as the app's do
    """Pushes one screen and keeps what it dismissed with."""

    def __init__(self, make_screen) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.results: list = []

    def compose(self) -> ComposeResult:
        yield Static("host")

    def on_mount(self) -> None:
        self.push_screen(self.make_screen(), self.results.append)


async def settle(pilot) -> None:
    """Wait for every worker and the messages they post back."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


@pytest.fixture
def ws(home):
    return Workspace.open(home)


@pytest.fixture
def filled(ws):
    """A workspace with a few pairs, one of them edited twice."""
    with ws.store() as s:
        a = s.add_pair("Что такое LoRA?", "Способ дообучать малую часть весов.", tags=["основы"])
        s.add_pair("Что такое эпоха?", "Один проход по всем данным.", tags=["основы", "обучение"])
        s.add_pair("Зачем нужна выборка eval?", "Чтобы проверять модель на невиданных данных.", split="eval")
        s.update_pair(a.id, answer="Способ дообучать небольшую добавку к весам.")
        s.update_pair(a.id, answer="Способ дообучать небольшие матрицы-добавки.", status="approved")
    return ws


# ---------------------------------------------------------------- history


@async_test
async def test_history_lists_revisions_and_restores_the_old_text(filled):
    from tui.dialogs.history import HistoryScreen

    app = Host(lambda: HistoryScreen(filled, 1))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        # newest first: the state before the second edit, then before the first, then creation
        assert [r.answer for r in screen.revisions[:2]] == [
            "Способ дообучать небольшую добавку к весам.",
            "Способ дообучать малую часть весов.",
        ]
        assert not screen.revisions[-1].existed
        diff = text_of(screen, "#history-diff-text")
        assert "небольшую добавку" in diff or "добавку" in diff
        assert "status: draft → approved" in diff
        # pick the oldest real revision, restore it, confirm
        await pilot.press("down")
        await settle(pilot)
        assert "малую" in text_of(screen, "#history-diff-text")
        await pilot.press("к")  # r on the Russian layout
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
    assert app.results == [True]
    with filled.store() as s:
        pair = s.get_pair(1)
        assert pair.answer == "Способ дообучать малую часть весов."
        assert pair.status == "draft"
        # the restore itself is a revision: the text before it is kept
        assert s.history(1)[-1].answer == "Способ дообучать небольшие матрицы-добавки."


@async_test
async def test_history_restore_can_be_refused(filled):
    from tui.dialogs.history import HistoryScreen

    app = Host(lambda: HistoryScreen(filled, 1))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("escape")
        await settle(pilot)
    assert app.results == [False]
    with filled.store() as s:
        assert s.get_pair(1).answer == "Способ дообучать небольшие матрицы-добавки."


def test_word_diff_marks_removed_and_added_words():
    from tui.dialogs.history import NEW_STYLE, OLD_STYLE, word_diff

    diff = word_diff("мама мыла раму", "мама мыла окно")
    assert diff.plain == "мама мыла раму окно"
    styled = {diff.plain[s.start : s.end]: str(s.style) for s in diff.spans}
    assert styled == {"раму": OLD_STYLE, "окно": NEW_STYLE}


# ---------------------------------------------------------------- tags


@async_test
async def test_tags_completion_and_dismiss_value(filled):
    from tui.dialogs.tags import TagChange, TagsScreen

    app = Host(lambda: TagsScreen(filled, [2]))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        field = app.screen.query_one("#tags-input")
        assert field.value == "основы, обучение"
        assert "основы (2)" in text_of(app.screen, "#tags-known")
        field.value = ""
        await pilot.press(*"ос")
        for _ in range(100):  # the suggestion arrives as a message
            if field._suggestion:
                break
            await pilot.pause(0.02)
        await pilot.press("tab")  # accepts the completion
        assert field.value == "основы"
        await pilot.press(*", нов", "enter")
    # one pair: the field is its tags, so what left it comes off and what is new goes on
    assert app.results == [TagChange(add=["нов"], remove=["обучение"], tags=["основы", "нов"])]
    with filled.store() as s:  # the screen itself does not write
        assert s.get_pair(2).tags == ["основы", "обучение"]


@async_test
async def test_tags_of_several_pairs_show_partial_tags_and_escape_cancels(filled):
    from tui.dialogs.tags import TagsScreen

    app = Host(lambda: TagsScreen(filled, [1, 2]))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        current = text_of(app.screen, "#tags-current")
        assert "основы" in current and "обучение (1/2)" in current
        await pilot.press("escape")
    assert app.results == [None]


@async_test
async def test_tags_dialog_splits_on_semicolons_as_the_editor_and_importers_do(filled):
    from tui.dialogs.tags import TagChange, TagsScreen

    app = Host(lambda: TagsScreen(filled, [2]))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#tags-input").value = ""
        await pilot.press(*"a; b, c", "enter")
    assert app.results == [TagChange(add=["a", "b", "c"], remove=["основы", "обучение"], tags=["a", "b", "c"])]


def test_tag_completion_takes_the_part_after_a_semicolon():
    from tui.dialogs.tags import complete_tag

    assert complete_tag("a; осн", ["основы"]) == "a; основы"
    assert complete_tag("основы; осн", ["основы"]) is None  # already there
    assert complete_tag("a, -осн", ["основы"]) == "a, -основы"  # a removal completes too


def test_tag_field_adds_what_is_new_removes_what_was_erased_and_leaves_the_rest():
    from tui.dialogs.tags import TagChange, read_tag_field

    shared = ["основы", "lora"]
    assert read_tag_field("основы, lora", shared) == TagChange(tags=["основы", "lora"])
    assert read_tag_field("основы, lora, мои", shared) == TagChange(add=["мои"], tags=["основы", "lora", "мои"])
    assert read_tag_field("lora", shared) == TagChange(remove=["основы"], tags=["lora"])
    # "-tag" takes a tag off every pair, also one only some have, and wins over the same tag kept
    assert read_tag_field("основы, lora, -эпохи, - данные", shared) == TagChange(
        remove=["эпохи", "данные"], tags=["основы", "lora"]
    )
    assert read_tag_field("основы, lora, -lora", shared) == TagChange(remove=["lora"], tags=["основы"])
    # a lone "-" is no tag
    assert read_tag_field("основы, lora, -", shared) == TagChange(tags=["основы", "lora"])


def test_split_tags_is_the_one_reading_of_a_tags_field():
    from core.formats.records import tags_of
    from core.text import split_tags

    assert split_tags(" a; b,c ;; a ,") == ["a", "b", "c"]
    assert tags_of("a; b, c") == ["a", "b", "c"]


# ---------------------------------------------------------------- dedup


@pytest.fixture
def dupes(ws):
    with ws.store() as s:
        rows = [
            s.prepare_row("Что такое LoRA?", "Низкоранговая добавка к весам.", tags=["a"]),
            s.prepare_row("что такое  LoRA?", "Низкоранговая добавка к весам.", tags=["b"]),
            s.prepare_row("Что такое эпоха?", "Один проход по данным."),
            s.prepare_row("Что такое эпоха?", "Полный проход по всему набору.", tags=["c"]),
            s.prepare_row("Сколько эпох нужно?", "Обычно от одной до трёх."),
        ]
        s.add_pairs(rows, skip_duplicates=False)
    return ws


@async_test
async def test_dedup_keep_moves_the_others_to_trash(dupes):
    from tui.dialogs.dedup import DedupScreen

    app = Host(lambda: DedupScreen(dupes))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert [(kind, [p.id for p in g]) for kind, g in screen.groups] == [("dup", [1, 2]), ("conflict", [3, 4])]
        await pilot.press("tab")  # to the pairs of the first group
        await pilot.press("down")  # pair 2
        await pilot.press("л")  # k on the Russian layout: keep
        await settle(pilot)
        assert [kind for kind, _ in screen.groups] == ["conflict"]
        await pilot.press("escape")
    assert app.results == [True]
    with dupes.store() as s:
        assert s.get_pair(1).deleted and not s.get_pair(2).deleted
        s.undo()
        assert not s.get_pair(1).deleted


@async_test
async def test_dedup_merge_keeps_the_edited_answer(dupes):
    from textual.widgets import TextArea

    from tui.dialogs.dedup import DedupScreen

    app = Host(lambda: DedupScreen(dupes))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down")  # the conflict group
        await pilot.press("tab", "down")  # its second pair: "Полный проход…"
        await pilot.press("m")
        await pilot.pause()
        area = app.screen.query_one(TextArea)
        assert area.text == "Полный проход по всему набору."
        area.text = "Один полный проход по всему набору."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "conflicts: 0" in text_of(app.screen, "#dedup-title")
        await pilot.press("escape")
    with dupes.store() as s:
        kept = s.get_pair(4)
        assert kept.answer == "Один полный проход по всему набору." and kept.deleted is None
        assert kept.tags == ["c"]
        assert s.get_pair(3).deleted
        assert [g[0].id for g in s.dedup().conflicts] == []


# ---------------------------------------------------------------- help


@async_test
async def test_help_search_shows_both_layouts():
    from textual.widgets import DataTable

    from tui.dialogs.help import HelpScreen

    keys = [("q", "Quit"), ("slash", "Search pairs"), ("a,ф", "Approve"), ("ctrl+s", "Save")]
    app = Host(lambda: HelpScreen(keys))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        assert table.row_count == 4
        await pilot.press(*"appr")
        await pilot.pause()
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)] == ["a", "ф", "Approve"]
        await pilot.press("escape")
    assert app.results == [None]


# ---------------------------------------------------------------- stats panel


class StatsHost(ReportingApp):  # worker errors end as the app's do
    def __init__(self, ws, max_tokens):
        super().__init__()
        self.ws, self.max_tokens = ws, max_tokens

    def compose(self) -> ComposeResult:
        from tui.widgets.stats_panel import StatsPanel

        yield StatsPanel(self.ws, max_tokens=self.max_tokens)


@async_test
async def test_stats_panel_counts_and_flags_long_pairs(ws):
    from tui.widgets.stats_panel import StatsPanel

    with ws.store() as s:
        s.add_pair("Короткий вопрос?", "Короткий ответ.", tags=["x"], status="approved")
        s.add_pair("Длинный вопрос?", "слово " * 200, tags=["x", "y"], split="eval")
        s.add_pair("Ещё вопрос?", "Ответ.")
    app = StatsHost(ws, max_tokens=100)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        panel = app.query_one(StatsPanel)
        assert panel.over_limit == 1
        counts = text_of(app, "#stats-counts")
        assert "Pairs: 3" in counts
        assert "approved           1" in counts and "eval               1" in counts
        assert "x                  2" in counts
        assert "Longer than 100 tokens: 1" in counts
        with ws.store() as s:
            s.delete_pairs([2])
        panel.refresh_stats(max_tokens=1000)
        panel.refresh_stats(max_tokens=1000)  # while one count runs, a second only marks it stale
        await settle(pilot)
        counts = text_of(app, "#stats-counts")
        assert "Pairs: 2" in counts and "Longer than 1000 tokens: 0" in counts
        assert panel.over_limit == 0


# ---------------------------------------------------------------- import / export


def messages_line(q: str, a: str, **extra) -> str:
    record = {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}], **extra}
    return json.dumps(record, ensure_ascii=False)


GOOD = [
    messages_line("Что такое токен?", "Кусочек текста, с которым работает модель.", tags=["основы"]),
    messages_line("Что такое шаблон чата?", "Правило, как склеить реплики в одну строку."),
    messages_line("Зачем нужен eval?", "Чтобы видеть переобучение.", split="eval"),
]


@pytest.fixture
def files(tmp_path, monkeypatch):
    """good.jsonl (3 pairs) and bad.jsonl (line 2 is broken JSON) in the current folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "good.jsonl").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    (folder / "bad.jsonl").write_text(GOOD[0] + '\n{"messages": [oops\n' + GOOD[1] + "\n", encoding="utf-8")
    monkeypatch.chdir(folder)
    return folder


async def type_path(pilot, text: str) -> None:
    field = pilot.app.screen.query_one("#imp-path")
    field.value = ""
    await pilot.press(*text)
    await pilot.pause(0.25)
    await settle(pilot)


@async_test
async def test_import_good_file_shows_format_and_counts(ws, files):
    from tui.dialogs.import_pairs import ImportScreen

    app = Host(lambda: ImportScreen(ws))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_path(pilot, "go")
        for _ in range(100):
            if app.screen.query_one("#imp-path")._suggestion:
                break
            await pilot.pause(0.02)
        await pilot.press("tab")  # completes good.jsonl
        assert app.screen.query_one("#imp-path").value == "good.jsonl"
        await pilot.pause(0.25)
        await settle(pilot)
        assert "messages" in text_of(app.screen, "#imp-detected")
        app.screen.query_one("#imp-tags").value = "импорт"
        app.screen.query_one("#imp-path").focus()
        await pilot.press("enter")
        await settle(pilot)
        result = text_of(app.screen, "#imp-result")
        assert "Imported: 3, duplicates skipped: 0, rejected: 0." in result
        assert app.screen.query_one("#imp-progress").percentage == 1.0
        await pilot.press("escape")
    assert app.results[0].imported == 3
    with ws.store() as s:
        pairs = s.list_pairs()
        assert [p.question for p in pairs] == ["Что такое токен?", "Что такое шаблон чата?", "Зачем нужен eval?"]
        assert pairs[0].tags == ["основы", "импорт"] and pairs[2].split == "eval"


@async_test
async def test_import_broken_file_names_the_line_and_imports_nothing(filled, files):
    from tui.dialogs.import_pairs import ImportScreen

    app = Host(lambda: ImportScreen(filled))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_path(pilot, "bad.jsonl")
        await pilot.press("enter")
        await settle(pilot)
        result = text_of(app.screen, "#imp-result")
        assert "bad.jsonl:2" in result and "nothing was imported" in result.casefold()
        assert app.screen.error and "bad.jsonl:2" in app.screen.error
        await pilot.press("escape")
    assert app.results == [None]
    with filled.store() as s:
        assert s.count_pairs() == 3


@async_test
async def test_import_skip_bad_writes_rejects_and_imports_the_rest(ws, files):
    from textual.widgets import Checkbox

    from tui.dialogs.import_pairs import ImportScreen

    app = Host(lambda: ImportScreen(ws, "bad.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#imp-skip-bad", Checkbox).value = True
        app.screen.query_one("#imp-run").press()
        await settle(pilot)
        result = text_of(app.screen, "#imp-result")
        assert "Imported: 2, duplicates skipped: 0, rejected: 1." in result
        rejects = app.screen.rejects
        assert str(rejects) in result.replace("\n", "")
        await pilot.press("escape")
    assert app.results[0].imported == 2 and app.results[0].rejected == 1
    bad = [json.loads(line) for line in Path(rejects).read_text(encoding="utf-8").splitlines()]
    assert len(bad) == 1 and bad[0]["location"] == "bad.jsonl:2"
    with ws.store() as s:
        assert s.count_pairs() == 2


@async_test
async def test_export_csv_and_messages(filled, tmp_path):
    from textual.widgets import Select

    from core.store import PairFilter
    from tui.dialogs.export_pairs import ExportScreen

    out_csv = tmp_path / "out.csv"
    app = Host(lambda: ExportScreen(filled, PairFilter(split="train")))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "Pairs to export: 2" in text_of(app.screen, "#exp-count")
        app.screen.query_one("#exp-format", Select).value = "csv"
        await pilot.pause()
        assert app.screen.query_one("#exp-path").value.endswith("pairs.csv")
        app.screen.query_one("#exp-path").value = str(out_csv)
        app.screen.query_one("#exp-path").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert f"Exported 2 pairs → {out_csv}" in text_of(app.screen, "#exp-result").replace("\n", "")
        await pilot.press("escape")
    assert app.results == [2]
    text = out_csv.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(text.splitlines(), delimiter=";"))
    assert [r["question"] for r in rows] == ["Что такое LoRA?", "Что такое эпоха?"]
    assert rows[0]["answer"] == "Способ дообучать небольшие матрицы-добавки."

    out_jsonl = tmp_path / "all.jsonl"
    app = Host(lambda: ExportScreen(filled, None, str(out_jsonl)))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#exp-run").press()
        await settle(pilot)
        await pilot.press("escape")
    assert app.results == [3]
    records = [json.loads(line) for line in out_jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["messages"][-1]["content"] for r in records][2] == "Чтобы проверять модель на невиданных данных."
    assert records[2]["messages"][0] == {"role": "user", "content": "Зачем нужна выборка eval?"}


@async_test
async def test_gguf_export_keeps_its_words_after_the_pairs_export(filled):
    """Both dialogs once registered ``exp.title`` and ``exp.run``; the last loaded won, so the GGUF
    dialog said "Export pairs" and listed each run as "Export"."""
    from textual.widgets import Label, Select

    from tui.dialogs.export_model import ExportModelScreen
    from tui.dialogs.export_pairs import ExportScreen

    with filled.store() as store:
        run = store.create_run(base="demo", preset="demo", backend="hf", config={})
        store.update_run(run.id, status="done", step=30, max_steps=30)
    app = Host(lambda: ExportScreen(filled, None))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert str(app.screen.query_one("#exp-run").label) == "Export"
        await pilot.press("escape")
        await settle(pilot)
        app.push_screen(ExportModelScreen(filled))
        await settle(pilot)
        assert str(app.screen.query_one("#exp-title", Label).render()) == "Export to GGUF"
        labels = [str(prompt) for prompt, _ in app.screen.query_one("#exp-source", Select)._options]
        assert f"run #{run.id} (demo, 30 steps)" in labels, labels


# ---------------------------------------------------------------- snapshots


def test_snapshot_import_error(ws, files, snap_compare):
    from tui.dialogs.import_pairs import ImportScreen

    async def run_before(pilot):
        pilot.app.screen.query_one("#imp-path").cursor_blink = False  # a blinking cursor makes the picture flaky
        await type_path(pilot, "bad.jsonl")
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(Host(lambda: ImportScreen(ws)), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_history(ws, monkeypatch, snap_compare):
    import core.store.pairs as pairs_mod
    from tui.dialogs.history import HistoryScreen

    clock = iter(f"2026-03-0{d}T1{h}:00:00.000+00:00" for d in range(1, 10) for h in range(10))
    monkeypatch.setattr(pairs_mod, "now", lambda: next(clock))
    with ws.store() as s:
        p = s.add_pair("Что такое LoRA?", "Способ дообучать малую часть весов.", tags=["основы"])
        s.update_pair(p.id, answer="Способ дообучать небольшие матрицы-добавки к весам.", tags=["основы", "lora"])
        s.set_status([p.id], "approved")

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)

    assert snap_compare(Host(lambda: HistoryScreen(ws, 1)), terminal_size=(80, 24), run_before=run_before)


def test_path_completion_stops_at_the_common_part_and_enters_folders(tmp_path):
    from tui.widgets.completing_input import complete_path

    (tmp_path / "pairs-train.jsonl").write_text("")
    (tmp_path / "pairs-eval.jsonl").write_text("")
    (tmp_path / "datasets").mkdir()
    (tmp_path / ".hidden").write_text("")
    base = str(tmp_path) + "/"
    assert complete_path(base + "pa") == base + "pairs-"
    assert complete_path(base + "pairs-t") == base + "pairs-train.jsonl"
    assert complete_path(base + "da") == base + "datasets/"
    assert complete_path(base + "zz") is None
    assert complete_path(base + ".h") == base + ".hidden"


def test_help_layouts_pair_latin_and_russian_keys():
    from tui.dialogs.help import layouts

    assert layouts("D") == ("D", "В")
    assert layouts("й") == ("q", "й")
    assert layouts("ctrl+s") == ("ctrl+s", "ctrl+s")  # control keys are the same on both layouts
    assert layouts("slash,ctrl+f") == ("/, ctrl+f", "/, ctrl+f")
