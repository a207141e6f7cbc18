"""The Pairs room driven with Pilot: every key, on both keyboard layouts, checked in the store."""

from __future__ import annotations


import pytest
from textual.screen import ModalScreen
from textual.widgets import Input, TextArea

from core.store import PairFilter
from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.i18n import set_lang
from tui.app import NastavnikApp
from tui.dialogs.confirm import ConfirmScreen
from tui.dialogs.edit_pair import EditPairScreen
from tui.widgets.pair_table import PAGE, PairTable, match_spans


@pytest.fixture(autouse=True)
def _english_after():
    """The app sets the process-wide UI language; leave English for the next test."""
    yield
    set_lang("en")


QUESTIONS = [
    ("Что такое ёлка?", "Ёлка — хвойное дерево."),
    ("Сколько эпох нужно?", "Обычно от одной до трёх."),
    ("What is LoRA?", "A low-rank adapter."),
    ("Как выбрать скорость обучения?", "Начните с 2e-4 и следите за потерей."),
    ("Зачем нужна проверочная выборка?", "Чтобы видеть переобучение."),
]


@pytest.fixture
def ws(home):
    ws = Workspace.open(home)
    with ws.store() as store:
        for i, (q, a) in enumerate(QUESTIONS):
            store.add_pair(q, a, tags=["основы"] if i % 2 == 0 else [], system="Ты наставник." if i == 0 else None)
    return ws


def pairs(ws, **flt):
    with ws.store() as store:
        return store.list_pairs(PairFilter(**flt), limit=None)


def by_id(ws, pid):
    with ws.store() as store:
        return store.get_pair(pid)


def app_for(ws, lang="en"):
    return NastavnikApp(ws, lang)


def table(app) -> PairTable:
    return app.query_one(PairTable)


@async_test
async def test_status_and_split_keys_on_both_layouts(ws):
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("a")  # approve row 1
        await settle(pilot)
        await pilot.press("down", "ф")  # approve row 2, Russian layout
        await settle(pilot)
        await pilot.press("down", "x", "down", "ч")  # reject rows 3 and 4
        await settle(pilot)
        await pilot.press("down", "s", "up", "ы")  # rows 5 and 4 to eval
        await settle(pilot)
    assert [p.status for p in pairs(ws)] == ["approved", "approved", "rejected", "rejected", "draft"]
    assert [p.split for p in pairs(ws)] == ["train", "train", "train", "eval", "eval"]


@async_test
async def test_mark_rows_then_bulk_actions_and_undo(ws):
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        # mark rows 1 and 3 (space moves down after marking)
        await pilot.press("space", "down", "space")
        assert table(app).marked == {1, 3}
        # the marked rows are visibly marked
        marked_line = "".join(seg.text for seg in table(app).render_line(1))
        plain_line = "".join(seg.text for seg in table(app).render_line(2))
        assert marked_line.startswith("●") and not plain_line.startswith("●")
        await pilot.press("a")
        await settle(pilot)
        assert [p.id for p in pairs(ws, status="approved")] == [1, 3]
        await pilot.press("ы")  # toggle split on the marked rows, Russian layout
        await settle(pilot)
        assert [p.id for p in pairs(ws, split="eval")] == [1, 3]
        await pilot.press("ctrl+z")  # undo the split
        await settle(pilot)
        assert pairs(ws, split="eval") == []
        assert [p.id for p in pairs(ws, status="approved")] == [1, 3]
        await pilot.press("в")  # delete (Russian d) the marked rows to the trash
        await settle(pilot)
        assert [p.id for p in pairs(ws, trash=True)] == [1, 3]
        assert table(app).marked == set()
        assert table(app).total == 3
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert pairs(ws, trash=True) == []
        assert table(app).total == 5


@async_test
async def test_undo_with_nothing_left_says_so(home):
    ws = Workspace.open(home)
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert any("Nothing to undo" in str(n.message) for n in app._notifications)


@async_test
async def test_letters_typed_in_search_do_not_fire_bindings(ws):
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"фыва")  # a, s, d, f on the Russian layout
        await settle(pilot)
        assert app.focused.value == "фыва"
    assert {p.status for p in pairs(ws)} == {"draft"}
    assert pairs(ws, trash=True) == []


@async_test
async def test_search_as_you_type_cyrillic_case_and_yo_blind(ws):
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        await pilot.press(*"ЕЛК")  # no ё, upper case: still finds «ёлка»
        await settle(pilot)
        t = table(app)
        assert t.total == 1
        assert [p.question for p in t.visible_pairs()] == ["Что такое ёлка?"]
        # the match is highlighted in the question cell
        line = table(app).render_line(1)
        highlighted = [seg.text for seg in line if seg.style and seg.style.underline]
        assert [h.lower() for h in highlighted] == ["ёлк", "ёлк"]  # in the question and the answer
        await pilot.press("escape")
        await settle(pilot)
        assert app.query_one("#search", Input).value == ""
        assert t.total == 5


@async_test
async def test_search_is_debounced_and_latest_wins(ws):
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        t = table(app)
        applied = []
        real = t.set_query

        def spy(flt, *a, **kw):
            applied.append(flt.query)
            return real(flt, *a, **kw)

        t.set_query = spy
        search = app.query_one("#search", Input)
        for text in ("о", "об", "обу", "обуч"):  # four edits faster than the debounce
            search.value = text
        await pilot.pause(0.3)  # past the debounce window
        await settle(pilot)
        # the first keystroke after a pause searches at once; the rest of the burst is one search
        assert applied == ["о", "обуч"]
        assert {p.id for p in t.visible_pairs()} == {4, 5}


def test_match_spans_fold_yo_and_case():
    assert match_spans("Ёлка и ЕЛКА", ["елк"]) == [(0, 3), (7, 10)]
    assert match_spans("без совпадений", ["xyz"]) == []
    assert match_spans("aaa", ["a", "aa"]) == [(0, 3)]


@async_test
async def test_editor_saves_cyrillic_as_one_revision(ws):
    app = app_for(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EditPairScreen)
        q = app.screen.query_one("#question", TextArea)
        assert q.text == "Что такое ёлка?"
        q.focus()
        await pilot.press("end", *" Объясни")
        count = str(app.screen.query_one("#question-count").render())
        assert str(len("Что такое ёлка? Объясни")) in count
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, EditPairScreen)
    pair = by_id(ws, 1)
    assert pair.question == "Что такое ёлка? Объясни"
    with ws.store() as store:
        assert len([r for r in store.history(1) if r.action == "edit"]) == 1


@async_test
async def test_editor_escape_asks_before_discarding(ws):
    app = app_for(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press(*"ещё")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("т")  # "n" on the Russian layout: keep editing
        await pilot.pause()
        assert isinstance(app.screen, EditPairScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert not isinstance(app.screen, (EditPairScreen, ConfirmScreen))
    assert by_id(ws, 1).question == "Что такое ёлка?"


@async_test
async def test_editor_escape_without_edits_closes_at_once(ws):
    app = app_for(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, (EditPairScreen, ConfirmScreen))


@async_test
async def test_editor_rejects_empty_answer_with_a_message(ws):
    app = app_for(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"Вопрос без ответа")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditPairScreen)
        assert any("answer is empty" in str(n.message) for n in app._notifications)
    assert len(pairs(ws)) == 5


@async_test
async def test_new_pair_keeps_last_system_prompt_and_tags(ws):
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("т")  # n on the Russian layout
        await pilot.pause()
        assert isinstance(app.screen, EditPairScreen)
        scr = app.screen
        await pilot.press(*"Пер")  # typed into the question, which has focus
        scr.query_one("#question", TextArea).insert("вый вопрос")
        scr.query_one("#answer", TextArea).text = "Первый ответ"
        scr.query_one("#system", TextArea).text = "Отвечай кратко."
        scr.query_one("#tags", Input).value = "новое, тест"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        scr = app.screen
        assert scr.query_one("#system", TextArea).text == "Отвечай кратко."
        assert scr.query_one("#tags", Input).value == "новое, тест"
        scr.query_one("#question", TextArea).text = "Второй вопрос"
        scr.query_one("#answer", TextArea).text = "Второй ответ"
        await pilot.press("ctrl+s")
        await settle(pilot)
    new = [p for p in pairs(ws) if p.id > 5]
    assert [p.question for p in new] == ["Первый вопрос", "Второй вопрос"]
    assert all(p.system == "Отвечай кратко." and p.tags == ["новое", "тест"] for p in new)


class FakeDialog(ModalScreen):
    """Stands in for a dialog: records how it was opened and dismisses with ``result``."""

    opened: list = []
    result = None

    def __init__(self, *args) -> None:
        super().__init__()
        FakeDialog.opened.append(args)

    def on_mount(self) -> None:
        self.dismiss(self.result)


@pytest.fixture
def fake_dialogs(monkeypatch):
    """Each dialog the Pairs room opens, replaced by a FakeDialog that records its name."""
    asked = []

    def stand_in(name: str) -> type[FakeDialog]:
        def __init__(self, *args) -> None:
            asked.append(name)
            FakeDialog.__init__(self, *args)

        return type(name, (FakeDialog,), {"__init__": __init__})

    FakeDialog.opened = []
    for module, name in (("tags", "TagsScreen"), ("history", "HistoryScreen"), ("import_pairs", "ImportScreen"),
                         ("export_pairs", "ExportScreen"), ("dedup", "DedupScreen")):
        monkeypatch.setattr(f"tui.dialogs.{module}.{name}", stand_in(name))
    return asked


@async_test
async def test_tags_key_applies_returned_tags_to_marked_rows_undoably(ws, fake_dialogs):
    from tui.dialogs.tags import TagChange

    FakeDialog.result = TagChange(add=["урок", "важно"], remove=["основы"])
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("space", "space", "е")  # mark 1 and 2, then t on the Russian layout
        await settle(pilot)
        assert fake_dialogs == ["TagsScreen"]
        assert FakeDialog.opened[0][1] == [1, 2]
        assert by_id(ws, 1).tags == ["урок", "важно"] and by_id(ws, 2).tags == ["урок", "важно"]
        await pilot.press("ctrl+z")
        await settle(pilot)
    assert by_id(ws, 1).tags == ["основы"] and by_id(ws, 2).tags == []


@pytest.fixture
def tagged_ws(home):
    """Three pairs that share one tag and each have others only some of them have."""
    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_pair("Что такое эпоха?", "Один проход по данным.", tags=["основы", "lora"])
        store.add_pair("Что такое батч?", "Пачка примеров.", tags=["основы", "эпохи"])
        store.add_pair("Что такое LoRA?", "Низкоранговый адаптер.", tags=["основы", "lora", "данные"])
    return ws


def tags_of_all(ws) -> list[list[str]]:
    return [p.tags for p in pairs(ws)]


BEFORE = [["основы", "lora"], ["основы", "эпохи"], ["основы", "lora", "данные"]]


async def open_tags_on_all_three(pilot):
    """Mark the three rows and press t; the dialog's field once it is filled."""
    from tui.dialogs.tags import TagsScreen

    await settle(pilot)
    await pilot.press("space", "space", "space", "t")
    await settle(pilot)
    assert isinstance(pilot.app.screen, TagsScreen)
    return pilot.app.screen.query_one("#tags-input", Input)


@async_test
async def test_tags_dialog_on_marked_pairs_adds_a_tag_and_touches_no_other(tagged_ws):
    app = app_for(tagged_ws, "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        field = await open_tags_on_all_three(pilot)
        assert field.value == "основы"  # only the tags all three share
        screen = app.screen
        shown = str(screen.query_one("#tags-current").render())
        assert "У всех 3: основы" in shown
        assert "lora (2/3)" in shown and "эпохи (1/3)" in shown and "данные (1/3)" in shown
        hint = screen.query_one("#tags-hint")
        assert "-тег" in str(hint.render())
        assert screen.query_one("#tags-box").region.bottom <= 24  # the whole dialog fits 80×24
        await pilot.press(*", мои", "enter")
        await settle(pilot)
        assert tags_of_all(tagged_ws) == [old + ["мои"] for old in BEFORE]
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert tags_of_all(tagged_ws) == BEFORE


@async_test
async def test_clearing_the_tags_of_marked_pairs_removes_only_the_shared_ones(tagged_ws):
    app = app_for(tagged_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tags_on_all_three(pilot)
        await pilot.press("ctrl+u", "enter")  # erase the field
        await settle(pilot)
        assert tags_of_all(tagged_ws) == [["lora"], ["эпохи"], ["lora", "данные"]]
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert tags_of_all(tagged_ws) == BEFORE


@async_test
async def test_a_tag_some_pairs_have_goes_on_all_when_typed_and_off_all_with_a_minus(tagged_ws):
    app = app_for(tagged_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tags_on_all_three(pilot)
        await pilot.press(*", эпохи, -lora", "enter")
        await settle(pilot)
        assert tags_of_all(tagged_ws) == [["основы", "эпохи"], ["основы", "эпохи"], ["основы", "данные", "эпохи"]]
        await pilot.press("ctrl+z")  # both changes were one step
        await settle(pilot)
        assert tags_of_all(tagged_ws) == BEFORE


@async_test
async def test_dialog_keys_open_their_dialogs(ws, fake_dialogs):
    cases = [("h", "HistoryScreen", True), ("р", "HistoryScreen", False), ("i", "ImportScreen", None),
             ("ш", "ImportScreen", None), ("e", "ExportScreen", 5), ("у", "ExportScreen", None),
             ("D", "DedupScreen", False), ("В", "DedupScreen", None)]
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for key, dialog, result in cases:
            FakeDialog.result = result
            FakeDialog.opened.clear()
            fake_dialogs.clear()
            app._notifications.clear()
            await pilot.press(key)
            await settle(pilot)
            assert fake_dialogs == [dialog], key
            args = FakeDialog.opened[0]
            assert args[0] is ws
            if dialog == "HistoryScreen":
                assert args[1] == 1
            if dialog == "ExportScreen":
                assert isinstance(args[1], PairFilter)
                assert any("Exported: 5" in str(n.message) for n in app._notifications) == (result == 5)


@async_test
async def test_history_restore_reloads_the_table(ws):
    from tui.dialogs.history import HistoryScreen  # the real dialog

    with ws.store() as store:
        store.update_pair(1, question="Изменённый вопрос")
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert table(app).cursor_pair.question == "Изменённый вопрос"
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)


@async_test
async def test_stats_panel_toggles(ws):
    pytest.importorskip("tui.widgets.stats_panel")
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        pane = app.query_one("#stats-pane")
        assert not pane.display
        await pilot.press("п")  # g on the Russian layout
        await settle(pilot)
        assert pane.display and len(pane.children) == 1
        await pilot.press("f2")
        await pilot.pause()
        assert not pane.display


@async_test
async def test_sort_keys_and_header_click(ws):
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("r")  # reverse: newest id first
        await settle(pilot)
        assert [p.id for p in table(app).visible_pairs()] == [5, 4, 3, 2, 1]
        await pilot.press("щ")  # o: next sort column (status)
        await settle(pilot)
        assert table(app).order == "status" and not table(app).desc
        # click the "question" header: sorted by question
        t = table(app)
        widths = t._widths(t.scrollable_content_region.width)
        x = 1 + sum(w + 1 for w in widths[:3]) + 2
        await pilot.click(PairTable, offset=(x, 0))
        await settle(pilot)
        assert t.order == "question"
        questions = [p.question for p in t.visible_pairs()]
        assert questions == sorted(questions)


@async_test
async def test_filter_dialog_narrows_by_status(ws):
    from textual.widgets import Select

    with ws.store() as store:
        store.set_status([2, 4], "approved")
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("а")  # f on the Russian layout
        await settle(pilot)
        app.screen.query_one("#f-status", Select).value = "approved"
        await pilot.click("#apply")
        await settle(pilot)
        assert table(app).flt.status == "approved"
        assert [p.id for p in table(app).visible_pairs()] == [2, 4]
        assert "approved" in str(app.query_one("#filter-label").render())
        await pilot.press("escape")  # clears the filter
        await settle(pilot)
        assert table(app).total == 5


@async_test
async def test_quit_on_both_layouts(ws):
    for key in ("q", "й"):
        app = app_for(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press(key)
            await pilot.pause()
            assert not app.is_running


@pytest.fixture
def big_ws(tmp_path):
    """A workspace with a few thousand pairs (built once per test, in one transaction)."""
    ws = Workspace.open(tmp_path / "big")
    with ws.store() as store:
        rows = [store.prepare_row(f"Вопрос {i:05d}", f"Ответ {i}") for i in range(3 * PAGE * 10)]
        store.add_pairs(rows, skip_duplicates=False)
    return ws


def test_page_down_and_up_read_next_to_the_rows_held_and_show_the_right_rows(big_ws, monkeypatch):
    """Scrolling page by page seeks from a row the table holds (not an OFFSET walking past
    every row before it: the middle of a million pairs read half a million rows per page), and
    every screen shows exactly the rows the store has there, gaps in the ids included."""
    from core.store import Store

    with big_ws.store() as store:
        store.delete_pairs(list(range(150, 260)) + [777])
        expected = [p.id for p in store.list_pairs(limit=None)]
    reads: list[dict] = []
    original = Store.list_pairs

    def spy(self, flt=None, **kw):
        reads.append(kw)
        return original(self, flt, **kw)

    monkeypatch.setattr(Store, "list_pairs", spy)

    @async_test
    async def body():
        app = app_for(big_ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            t = table(app)
            assert t.total == len(expected)
            for _ in range(60):  # past several pages of 100, down
                await pilot.press("pagedown")
                await settle(pilot, 1)
                top = int(t.scroll_y)
                assert [p.id for p in t.visible_pairs()] == expected[top:top + t.body_height]
            down = [r for r in reads if r.get("after") is not None]
            assert down and all(r["offset"] < PAGE for r in down), reads
            await pilot.press("end")
            await settle(pilot)
            reads.clear()
            for _ in range(30):  # and up from the end
                await pilot.press("pageup")
                await settle(pilot, 1)
                top = int(t.scroll_y)
                assert [p.id for p in t.visible_pairs()] == expected[top:top + t.body_height]
            assert any(r.get("after") is not None for r in reads), reads
            assert all(r.get("after") is not None or r.get("offset", 0) < PAGE for r in reads), reads

    body()


@async_test
async def test_table_pages_rows_in_and_never_holds_them_all(big_ws):
    app = app_for(big_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app)
        assert t.total == 3000
        assert t.cached_rows() <= 2 * PAGE
        await pilot.press("end")
        await settle(pilot)
        assert t.cursor == 2999
        assert t.cursor_pair.question == "Вопрос 02999"
        await pilot.press("pageup")
        await settle(pilot)
        assert t.cursor == 2999 - t.body_height
        await pilot.press("home")
        await settle(pilot)
        assert t.cursor_pair.id == 1
        assert t.cached_rows() < 3000
        # approving at the end reaches the store
        await pilot.press("end", "a")
        await settle(pilot)
    with big_ws.store() as store:
        assert store.get_pair(3000).status == "approved"


@async_test
async def test_down_or_enter_after_a_search_gives_the_keys_back_to_the_table(ws):
    app = app_for(ws, "ru")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        search = app.query_one("#search", Input)
        for leave in ("down", "enter"):
            await pilot.press("ctrl+f", *"что такое", leave)
            await settle(pilot)
            assert app.focused is table(app)
            assert by_id(ws, table(app).cursor_pair.id).status == "draft"
            await pilot.press("ф")  # a on the Russian layout: approves, is not typed into the query
            await settle(pilot)
            assert search.value == "что такое"
            assert [p.question for p in table(app).visible_pairs()] == ["Что такое ёлка?"]
            assert by_id(ws, table(app).cursor_pair.id).status == "approved"
            await pilot.press("escape")  # clears the search
            await settle(pilot)
            await pilot.press("г")  # u: back to draft for the next round
            await settle(pilot)


@async_test
async def test_the_key_of_slash_on_the_russian_layout_opens_the_search(ws):
    app = app_for(ws, "ru")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.focused is table(app)
        await pilot.press("full_stop")  # "/" on ЙЦУКЕН types "."
        assert isinstance(app.focused, Input) and app.focused.id == "search"
        await pilot.press(*"ёлка")
        await settle(pilot)
        assert app.focused.value == "ёлка"  # the key that opened the box is not in it
        assert table(app).total == 1


@async_test
async def test_the_confirmation_buttons_show_the_russian_keys_and_each_key_shown_answers_so(ws):
    import re

    from textual.widgets import Button

    app = app_for(ws, "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter", *"ещё", "escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        labels = {b.id: str(b.label) for b in app.screen.query(Button)}
        assert labels == {"yes": "Да (y/д)", "no": "Нет (n/т)"}, labels
        actions = {key: b.action for key, b in app.screen._bindings}
        for button, action in (("yes", "answer(True)"), ("no", "answer(False)")):
            shown = re.search(r"\((.*)\)", labels[button]).group(1).split("/")
            assert all(actions.get(key) == action for key in shown), (button, shown, actions)
        assert actions.get("н") is None  # the twin of y is the first letter of «нет»
        await pilot.press("т")  # «Нет»: keep editing
        await pilot.pause()
        assert isinstance(app.screen, EditPairScreen)
        await pilot.press("escape", "д")  # «Да»: discard
        await settle(pilot)
        assert not isinstance(app.screen, (EditPairScreen, ConfirmScreen))
    assert by_id(ws, 1).question == "Что такое ёлка?"
