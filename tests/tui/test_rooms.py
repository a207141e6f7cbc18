"""The Chat and Evaluate rooms, mounted in a small app and driven with Pilot."""

from __future__ import annotations

import asyncio
import functools
import os

import pytest

from core.workspace import Workspace
from tests.support.rooms import TWO_ANSWERS, RoomApp, add_two_models, grid_loaded, open_chat_comparing_two, stored_grid
from tests.support.waits import async_test, settle


def sync(fn):
    """Run an async test body in its own event loop (no pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def wait_idle(pilot, room, limit: float = 120) -> None:
    steps = int(limit / 0.1)
    for _ in range(steps):
        await pilot.pause(0.1)
        if not room.busy:
            break
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.slow
@pytest.mark.xdist_group("export")
@sync
async def test_chat_room_answers_grades_and_corrects(exported, exported_copy, tmp_path):
    from tui.dialogs.correct import CorrectAnswerScreen
    from tui.rooms.chat import ChatRoom

    ws = Workspace.open(exported_copy)
    expected = next(a for a in exported["report"]["parity"]["answers"] if a["quant"] == "q8_0")
    captured = tmp_path / "fd2.txt"
    fd = os.open(captured, os.O_WRONLY | os.O_CREAT)
    saved = os.dup(2)
    os.dup2(fd, 2)  # whatever reaches fd 2 would reach a real terminal's screen
    try:
        app = RoomApp(ChatRoom, ws)
        async with app.run_test(size=(110, 36)) as pilot:
            room = app.query_one(ChatRoom)
            await settle(pilot)  # the model lists are filled by a worker
            assert room.query_one("#chat-model-0").value in ("demo-q8_0", "demo-f16")  # one chosen already
            room.query_one("#chat-model-0").value = "demo-q8_0"
            room.query_one("#chat-model-1").value = "demo-f16"
            room.query_one("#chat-input").focus()
            await pilot.press(*expected["question"], "enter")
            await wait_idle(pilot, room)
            assert [a.model for a in room.answers] == ["demo-q8_0", "demo-f16"]
            for a in room.answers:
                assert a.text.strip() == expected["hf_answer"].strip() and a.message_id
            assert "tokens/s" in str(room.query_one("#chat-status").render())

            room.query_one("#chat-log").focus()
            await pilot.press("right", "5")  # the second model's answer, grade 5
            await pilot.pause()
            await pilot.press(*"точно", "enter")
            await pilot.pause()
            await pilot.press("у")  # Russian layout e: open the answer in the editor
            await pilot.pause()
            assert isinstance(app.screen, CorrectAnswerScreen)
            editor = app.screen.query_one("#fix-answer")
            editor.text = "Исправленный ответ наставника."
            await pilot.press("ctrl+a")
            await settle(pilot)  # the pair is saved by a worker
            assert app.pairs_changed == 1
            conv_id = room.conversation_id
        room.close_models()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    assert captured.read_text() == "", "llama.cpp wrote to the terminal"
    assert "llama" in (ws.logs_dir / "llama.log").read_text(errors="replace")
    with ws.store() as store:
        grade = store.get_grade("demo-f16", expected["question"])
        assert grade.score == 5 and grade.comment == "точно"
        pair = store.list_pairs(limit=None)[-1]
        assert pair.answer == "Исправленный ответ наставника." and pair.question == expected["question"]
        assert pair.status == "approved" and pair.source == f"chat:{conv_id}"
        assert [m.role for m in store.get_conversation(conv_id).messages] == ["user", "assistant", "assistant"]


@pytest.mark.slow
@pytest.mark.xdist_group("export")
@sync
async def test_evaluate_room_runs_opens_and_grades(exported_copy):
    from tui.dialogs.compare import CompareScreen
    from tui.rooms.evaluate import EvaluateRoom

    ws = Workspace.open(exported_copy)
    with ws.store() as store:
        p1 = store.add_pair("Что такое эпоха?", "Один проход по данным.", split="eval")
        store.add_pair("Что такое LoRA?", "Низкоранговая добавка к весам.", split="eval")
    app = RoomApp(EvaluateRoom, ws)
    async with app.run_test(size=(120, 36)) as pilot:
        room = app.query_one(EvaluateRoom)
        await grid_loaded(pilot)  # the model list is read in a worker
        models = room.query_one("#ev-models")
        models.select("demo-q8_0")
        await pilot.pause()
        await pilot.press("к")  # Russian layout r: run
        await pilot.pause()
        await wait_idle(pilot, room, 240)
        await grid_loaded(pilot)
        grid = room.query_one("#ev-grid")
        assert grid.row_count == 2 and room.report.models == ["demo-q8_0"]
        grid.focus()
        grid.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("escape")
        await grid_loaded(pilot)
        assert room.report.rows[0].cells["demo-q8_0"].grade == 2
    with ws.store() as store:
        assert store.get_grade("demo-q8_0", "Что такое эпоха?").pair_id == p1.id
        assert len(store.eval_results(["demo-q8_0"])) == 2


@sync
async def test_evaluate_grid_deltas_and_worse_filter(home):
    from tui.rooms.evaluate import EvaluateRoom

    ws = stored_grid(home)
    app = RoomApp(EvaluateRoom, ws)
    async with app.run_test(size=(120, 30)) as pilot:
        room = app.query_one(EvaluateRoom)
        grid = room.query_one("#ev-grid")
        await grid_loaded(pilot)
        assert grid.row_count == 3
        second = grid.get_row_at(1)  # question, then per model its scores and its Russian check
        assert "▼-5.4" in second[3] and second[2] == second[4] == "✓"
        assert "▲+44.2" in grid.get_row_at(0)[3] and " 4 " in grid.get_row_at(0)[3]
        await pilot.press("w")
        await pilot.pause()
        assert grid.row_count == 1 and grid.get_row_at(0)[0].startswith("Зачем")
        await pilot.press("ц")
        await pilot.pause()
        assert grid.row_count == 3


@sync
async def test_evaluate_room_chooses_the_pairs_train_split_or_corrected(home):
    """The grid (and r) take the pairs of the split chosen: the eval split by default, the
    train split, or the pairs a correction wrote — "did it learn what I corrected?"."""
    from textual.widgets import Select, Static

    from core.loop.corrections import correct_message
    from core.store.chats import EvalResult
    from tui.rooms.evaluate import EvaluateRoom

    ws = stored_grid(home)
    with ws.store() as store:
        taught = store.add_pair("Что такое токен?", "Кусочек текста.", status="approved")
        other = store.add_pair("Что такое батч?", "Порция примеров.", status="approved")
        conv = store.add_conversation(["run-1-q8_0"])
        store.add_message(conv.id, "user", taught.question)
        msg = store.add_message(conv.id, "assistant", "Не знаю.", model="run-1-q8_0")
        correct_message(store, msg.id, "Единица текста для модели.", status="approved", replace=taught.id)
        for p in store.get_pairs([taught.id, other.id]):
            store.save_eval_result(EvalResult("run-1-q8_0", p.id, p.question, p.answer, "ответ", 50.0, False, 3, 0.1, ""))
    app = RoomApp(EvaluateRoom, ws)
    async with app.run_test(size=(80, 24)) as pilot:
        room = app.query_one(EvaluateRoom)
        grid = room.query_one("#ev-grid")
        await grid_loaded(pilot)
        assert grid.row_count == 3 and room.split == "eval"
        split = room.query_one("#ev-split", Select)
        assert app.screen.region.contains_region(split.region)  # in view at 80x24
        split.value = "train"
        await grid_loaded(pilot)
        assert sorted(str(grid.get_row_at(i)[0]) for i in range(grid.row_count)) == ["Что такое батч?", "Что такое токен?"]
        split.value = "corrected"
        await grid_loaded(pilot)
        assert [str(grid.get_row_at(i)[0]) for i in range(grid.row_count)] == ["Что такое токен?"]
        assert "run-1-q8_0: chrF" in str(room.query_one("#ev-summary", Static).render())
        assert "base-q8_0: chrF" not in str(room.query_one("#ev-summary", Static).render())  # no answers here: no line


async def _grid_ready_and_focused(pilot) -> None:
    await grid_loaded(pilot)
    pilot.app.query_one("#ev-grid").focus()  # focus lands wherever loading left it otherwise
    await pilot.pause()


def test_evaluate_grid_snapshot(home, snap_compare):
    from tui.i18n import set_lang
    from tui.rooms.evaluate import EvaluateRoom

    set_lang("ru")
    try:
        assert snap_compare(RoomApp(EvaluateRoom, stored_grid(home)), terminal_size=(120, 24), run_before=_grid_ready_and_focused)
    finally:
        set_lang("en")


@sync
async def test_chat_room_typing_goes_to_the_question_box(home):
    """Typing right after opening the room asks a question (letters are keys elsewhere), and
    Esc, when nothing is generating, leaves the box so the answer keys work."""
    from tui.rooms.chat import ChatRoom

    app = RoomApp(ChatRoom, Workspace.open(home))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"тест")
        await pilot.pause()
        assert app.query_one("#chat-input").value == "тест"
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is app.query_one("#chat-log")


def _unread(model) -> int:
    """Bytes the model's child process has not read from its stdin yet."""
    import fcntl
    import struct
    import termios

    return struct.unpack("i", fcntl.ioctl(model.proc.stdin.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


async def _until(pilot, predicate, what: str, timeout: float = 120.0):
    import time

    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.05)
    return value


@pytest.mark.slow
@pytest.mark.xdist_group("export")
@sync
async def test_chat_room_escape_stops_the_answer_and_n_starts_a_new_chat(exported, exported_copy):
    """A full answer; n: a new conversation; the same question again with the model's process
    paused until the question and Escape's stop request both wait in its input: the answer
    stops at its first piece, says so, and the room takes the next question."""
    import signal

    from textual.containers import VerticalScroll

    from tui.rooms.chat import ChatRoom

    ws = Workspace.open(exported_copy)
    question = next(a for a in exported["report"]["parity"]["answers"] if a["quant"] == "q8_0")["question"]
    app = RoomApp(ChatRoom, ws)
    async with app.run_test(size=(110, 36)) as pilot:
        room = app.query_one(ChatRoom)
        await settle(pilot)
        room.query_one("#chat-model-0").value = "demo-q8_0"
        await pilot.pause()
        room.query_one("#chat-input").focus()
        await pilot.press(*question, "enter")
        await wait_idle(pilot, room)
        full = room.answers[0].text
        first_conv = room.conversation_id
        assert len(full) > 10 and first_conv is not None

        log = room.query_one("#chat-log", VerticalScroll)
        assert app.focused is log  # after an answer the answer keys work
        await pilot.press("т")  # n on the Russian layout: a new chat
        await pilot.pause()
        assert room.conversation_id is None and room.answers == [] and not log.children

        model = room.models["demo-q8_0"]
        os.kill(model.proc.pid, signal.SIGSTOP)
        try:
            room.query_one("#chat-input").focus()
            await pilot.press(*question, "enter")
            await _until(pilot, lambda: _unread(model) > 0, "the question in the model's input")
            sent = _unread(model)
            await pilot.press("escape")  # from the question box, while the answer is being written
            assert room.busy and _unread(model) > sent  # the stop request waits behind the question
        finally:
            os.kill(model.proc.pid, signal.SIGCONT)
        await wait_idle(pilot, room)
        partial = room.answers[0].text
        # cut at its first piece: a few characters, or none when that piece was a control token
        # (the demo base starts its answers with one) — never the whole answer
        assert len(partial) < len(full) and full.startswith(partial), (partial, full)
        status = str(room.query_one("#chat-status").render())
        assert status.endswith("stopped"), status
        second_conv = room.conversation_id
        assert second_conv not in (None, first_conv)

        await pilot.press("enter")  # back to the question box: the room is not stuck
        await pilot.press(*"Что такое LoRA?", "enter")
        await wait_idle(pilot, room)
        assert len(room.answers) == 2 and room.answers[1].text and not room.busy
        room.close_models()
    with ws.store() as store:
        first = store.get_conversation(first_conv).messages
        second = store.get_conversation(second_conv).messages
    assert [m.role for m in first] == ["user", "assistant"] and first[1].content == full  # the old chat is kept
    assert [(m.role, m.content) for m in second[:2]] == [("user", question), ("assistant", partial)]
    assert [m.role for m in second] == ["user", "assistant", "user", "assistant"]


@async_test
async def test_a_click_or_arrows_choose_the_answer_e_corrects_and_the_new_pair_is_shown_in_pairs(home):
    from textual.widgets import TabbedContent

    from tui.app import NastavnikApp
    from tui.dialogs.correct import CorrectAnswerScreen
    from tui.widgets.pair_table import PairTable

    ws = Workspace.open(home)
    with ws.store() as s:
        for n in range(80):  # more than a screen: the new pair lands below the last row shown
            s.add_pair(f"Вопрос {n}?", f"Ответ {n}.")
    add_two_models(ws)
    texts = TWO_ANSWERS
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(110, 30)) as pilot:
        room = await open_chat_comparing_two(app, pilot, ws)
        room.ask("Что такое эпоха?", room.chosen())
        await settle(pilot)
        status = room.query_one("#chat-status")
        second = room.answers[1].widget.parent
        await pilot.click(second)  # a click on the second answer chooses it
        await pilot.pause()
        assert room.selected == 1 and second.has_class("selected")
        assert "run-1-q8_0 (2/2)" in str(status.render())
        await pilot.press("left")  # the arrows work at once after the click, and say which
        await pilot.pause()
        assert room.selected == 0 and "demo-q8_0 (1/2)" in str(status.render())
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, CorrectAnswerScreen) and app.screen.model == "demo-q8_0"
        await pilot.press(*"Эпоха: один полный проход.", "ctrl+s")
        await settle(pilot)
        await pilot.press("alt+1")
        await settle(pilot)
        assert app.query_one(TabbedContent).active == "pairs"
        table = app.query_one(PairTable)
        assert table.cursor_pair is not None and table.cursor_pair.answer == "Эпоха: один полный проход."
        top = int(table.scroll_y)
        assert top <= table.cursor < top + table.body_height  # on the screen, not below its last row
    with ws.store() as s:
        (pref,) = s.live_preferences()
        assert pref.rejected == texts["demo-q8_0"]  # the answer chosen with ← was the one corrected
