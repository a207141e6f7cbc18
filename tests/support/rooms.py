"""One room mounted alone in a small app, and the Evaluate grid's stored results and its wait:
what the room tests of Chat and Evaluate (and the corrections and preferences made in them) share."""

from __future__ import annotations

from core.workspace import Workspace
from tui.app import ReportingApp


class RoomApp(ReportingApp):  # worker errors end as the app's do
    """``room_cls(ws)`` as the whole screen; counts the PairsChanged messages its rooms post."""

    def __init__(self, room_cls, ws) -> None:
        super().__init__()
        self.room_cls = room_cls
        self.ws = ws
        self.pairs_changed = 0  # how many PairsChanged messages the rooms posted

    def compose(self):
        yield self.room_cls(self.ws)

    def on_pairs_changed(self, message) -> None:
        self.pairs_changed += 1


def stored_grid(home):
    """Two models' stored results for three eval pairs, the second model worse on one."""
    from core.store.chats import EvalResult

    ws = Workspace.open(home)
    with ws.store() as store:
        pairs = [
            store.add_pair("Что такое эпоха обучения?", "Один полный проход по данным.", split="eval"),
            store.add_pair("Зачем нужна проверочная выборка?", "Чтобы заметить переобучение.", split="eval"),
            store.add_pair("Что такое LoRA?", "Низкоранговые матрицы поверх замороженных весов.", split="eval"),
        ]
        scores = {"base-q8_0": [20.0, 35.5, 10.0], "run-1-q8_0": [64.2, 30.1, 100.0]}
        for model, values in scores.items():
            for p, chrf in zip(pairs, values):
                store.save_eval_result(EvalResult(model, p.id, p.question, p.answer, f"ответ {model}", chrf,
                                                  chrf == 100.0, 10, 0.1, "2026-03-01T10:00:00.000+00:00"))
        store.save_judgement("run-1-q8_0", pairs[0].id, "judge", 4, "Оценка: 4")
        store.grade("run-1-q8_0", pairs[2].question, 5)
    return ws


async def grid_loaded(pilot) -> None:
    """The grid is read in workers (models, then results): wait until the Evaluate room has a
    report on screen and no worker is left unfinished. A worker just started is pending, not
    running, so "none running" alone could hold between the models worker and the grid's."""
    from tui.rooms.evaluate import EvaluateRoom

    rooms = pilot.app.query(EvaluateRoom)
    for _ in range(2000):
        await pilot.pause(0.05)
        shown = all(room.report is not None for room in rooms)
        if shown and not any(not w.is_finished for w in pilot.app.workers):
            await pilot.pause()
            return
    raise AssertionError("the evaluate grid never finished loading")


def fixed_answers(room, ws, texts: dict[str, str]):
    """A stand-in for the Chat room's model worker: each model answers its fixed text, stored as
    a real chat stores it (conversation, question, answers), so grading and correcting work."""

    def generate(question, answers, system):
        with ws.store() as s:
            if room.conversation_id is None:
                room.conversation_id = s.add_conversation([a.model for a in answers], system=system).id
            s.add_message(room.conversation_id, "user", question)
            for a in answers:
                a.text = texts[a.model]
                a.message_id = s.add_message(room.conversation_id, "assistant", a.text, model=a.model).id
                # drawn once mounted (an update before the Markdown mounts is undone by its own mount)
                room.call_after_refresh(a.widget.update, a.text)
        room._done()

    return generate


TWO_ANSWERS = {"demo-q8_0": "Эпоха — это отдых.", "run-1-q8_0": "Эпоха — один проход по данным."}


def add_two_models(ws) -> None:
    """The two GGUF models the side-by-side Chat tests compare: ``demo-q8_0`` and run 1's ``run-1-q8_0``
    (their files are never read: ``compare_two`` gives their answers)."""
    with ws.store() as s:
        s.add_model("gguf", "demo-q8_0", str(ws.home / "demo.gguf"))
        s.add_model("gguf", "run-1-q8_0", str(ws.home / "run1.gguf"), run_id=1)


def compare_two(room, ws) -> None:
    """The Chat ``room`` set side by side on the two models of ``add_two_models``, which answer ``TWO_ANSWERS``."""
    room.query_one("#chat-model-0").value = "demo-q8_0"
    room.query_one("#chat-model-1").value = "run-1-q8_0"
    room._generate = fixed_answers(room, ws, TWO_ANSWERS)


async def open_chat_comparing_two(app, pilot, ws):
    """In the whole app: 3 opens Chat, set as ``compare_two`` says; the room."""
    from tests.support.waits import settle
    from tui.rooms.chat import ChatRoom

    await settle(pilot)
    await pilot.press("3")
    await settle(pilot)
    room = app.query_one(ChatRoom)
    compare_two(room, ws)
    return room


def screen_text(app) -> str:
    """What the terminal shows now, as plain text (one line per row): what a user can read."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
async def correct_in_compare(pilot, room, row: int, *, right: int = 0, key: str = "e"):
    """In the Evaluate room: Enter on the grid's ``row`` opens Compare, → ``right`` times moves
    to another model's answer, ``key`` opens the Correct dialog on it; that dialog."""
    from tui.dialogs.compare import CompareScreen
    from tui.dialogs.correct import CorrectAnswerScreen

    grid = room.query_one("#ev-grid")
    grid.focus()
    grid.move_cursor(row=row)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, CompareScreen)
    for _ in range(right):
        await pilot.press("right")
    await pilot.press(key)
    await pilot.pause()
    assert isinstance(pilot.app.screen, CorrectAnswerScreen)
    return pilot.app.screen
