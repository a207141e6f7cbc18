"""A corrected answer becomes a new training pair: the core functions and the commands.

No model runs here: conversations, messages and evaluation answers are written straight
into the store, the way a chat or an evaluation leaves them.
"""

from __future__ import annotations

import pytest

from core.errors import UserError
from tests.support.cli import run_cli

QUESTION = "Что такое эпоха обучения?"
MODEL_ANSWER = "Эпоха — это когда модель отдыхает."
FIXED = "Эпоха — один полный проход по всем обучающим данным."
TYPED = "Один полный проход по данным."


@pytest.fixture
def chat(store):
    """One conversation: a system prompt, a question, an answer from each of two models, graded."""
    conv = store.add_conversation(["demo-q8_0", "demo-f16"], system="Отвечай кратко.")
    user = store.add_message(conv.id, "user", QUESTION)
    first = store.add_message(conv.id, "assistant", MODEL_ANSWER, model="demo-q8_0", tokens=9, seconds=0.2)
    second = store.add_message(conv.id, "assistant", "Не знаю.", model="demo-f16", tokens=3, seconds=0.1)
    store.grade("demo-f16", QUESTION, 2, comment="мало", answer="Не знаю.", message_id=second.id)
    return {"conv": conv, "user": user, "first": first, "second": second}


@pytest.fixture
def evaluated(store):
    """An eval pair and one model's stored answer to it."""
    from core.store.chats import EvalResult

    p = store.add_pair("Зачем нужна проверочная выборка?", "Чтобы заметить переобучение.", split="eval",
                       system="Ты наставник.")
    store.save_eval_result(EvalResult("run-1-q8_0", p.id, p.question, p.answer, "Для красоты.", 12.5, False, 4, 0.1, ""))
    return p


def _pairs(store):
    return store.list_pairs(limit=None)


# ---------------------------------------------------------------------------- core


def test_correct_message_saves_a_pair_with_its_provenance(store, chat):
    from core.loop.corrections import correct_message

    pair = correct_message(store, chat["first"].id, f"  {FIXED}\n", tags=["исправлено"])
    stored = store.get_pair(pair.id)
    assert (stored.question, stored.answer) == (QUESTION, FIXED)
    assert stored.source == f"chat:{chat['conv'].id}" and stored.status == "draft" and stored.split == "train"
    assert stored.system == "Отвечай кратко." and stored.tags == ["исправлено"]


def test_correct_message_takes_another_question_status_and_system(store, chat):
    from core.loop.corrections import correct_message

    pair = correct_message(store, chat["second"].id, FIXED, question="Что такое эпоха?", status="approved", system="")
    assert pair.question == "Что такое эпоха?" and pair.status == "approved" and pair.system is None
    assert pair.source == f"chat:{chat['conv'].id}"


def test_correct_message_answers_the_question_before_it(store, chat):
    """In a longer chat the pair gets the question the chosen answer replied to, not the first."""
    from core.loop.corrections import correct_message

    conv = chat["conv"].id
    store.add_message(conv, "user", "А сколько эпох нужно?")
    later = store.add_message(conv, "assistant", "Сто.", model="demo-q8_0")
    assert correct_message(store, later.id, "Обычно от одной до трёх.").question == "А сколько эпох нужно?"
    assert correct_message(store, chat["first"].id, FIXED).question == QUESTION


def test_a_later_answer_keeps_the_turns_before_it_as_context(store, chat, home):
    """Correcting "and how many?" keeps what it follows: the earlier question and the same
    model's earlier answer (not the other model's), unless asked for a single-turn pair."""
    from core.loop.corrections import correct_message

    conv = chat["conv"].id
    store.add_message(conv, "user", "А сколько эпох нужно?")
    later = store.add_message(conv, "assistant", "Сто.", model="demo-f16")
    pair = correct_message(store, later.id, "Обычно от одной до трёх.")
    assert pair.question == "А сколько эпох нужно?"
    assert store.get_pair(pair.id).context == [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Не знаю."}]
    assert store.get_pair(correct_message(store, chat["first"].id, FIXED).id).context == []  # the first turn has none
    code, out, err = run_cli(home, "correct", str(later.id), "--answer", "От одной до пяти.", "--no-context", "--json")
    assert code == 0, err
    assert store.get_pair(__import__("json").loads(out)["id"]).context == []


@pytest.mark.parametrize(
    "case, match",
    [
        ("unknown", "no message with id 999"),
        ("user turn", "is a user turn, not a model's answer"),
        ("empty", "the corrected answer is empty"),
        ("empty question", "the corrected question is empty"),
        ("bad status", "status"),
        ("duplicate", "already in the store as pair"),
    ],
)
def test_correct_message_errors_change_nothing(store, chat, case, match):
    from core.loop.corrections import correct_message

    if case == "duplicate":
        first = correct_message(store, chat["first"].id, FIXED)
    before = _pairs(store)
    args = {
        "unknown": (999, FIXED, {}),
        "user turn": (chat["user"].id, FIXED, {}),
        "empty": (chat["first"].id, " \n ", {}),
        "empty question": (chat["first"].id, FIXED, {"question": "  "}),
        "bad status": (chat["first"].id, FIXED, {"status": "maybe"}),
        "duplicate": (chat["second"].id, FIXED, {}),
    }[case]
    with pytest.raises(UserError, match=match) as err:
        correct_message(store, args[0], args[1], **args[2])
    assert _pairs(store) == before
    if case == "duplicate":
        assert f"as pair {first.id}" in str(err.value)


def test_an_answer_without_a_question_needs_one(store):
    from core.loop.corrections import correct_message

    conv = store.add_conversation(["demo-q8_0"])
    lone = store.add_message(conv.id, "assistant", "Привет.", model="demo-q8_0")
    with pytest.raises(UserError, match="answers no question") as err:
        correct_message(store, lone.id, "Здравствуйте.")
    assert "--question" in str(err.value)
    assert correct_message(store, lone.id, "Здравствуйте.", question="Поздоровайся.").question == "Поздоровайся."


def test_a_correction_replaces_the_answer_of_the_pair_that_asks_the_question(store, chat):
    """Two pairs with one question and two answers would teach both: the correction goes into
    the train pair asking it — one revision; one undo brings the old answer back and takes the
    preference away with it. An eval pair is never offered (its answer is a reference)."""
    from core.loop.corrections import correct_message, pair_to_replace

    old = store.add_pair(QUESTION.upper() + "  ", "Старый ответ.", status="draft")  # case and spaces aside
    store.add_pair("Что такое батч?", "Порция примеров.", split="eval")
    found = pair_to_replace(store, QUESTION)
    assert found is not None and found.id == old.id
    assert pair_to_replace(store, "Что такое батч?") is None and pair_to_replace(store, "Нет такого?") is None

    pair = correct_message(store, chat["first"].id, FIXED, status="approved", replace=old.id)
    assert pair.id == old.id and (pair.question, pair.answer, pair.status) == (QUESTION, FIXED, "approved")
    assert len(_pairs(store)) == 2  # no second pair
    (pref,) = store.preferences_of_pair(old.id)
    assert (pref.chosen, pref.rejected, pref.source) == (FIXED, MODEL_ANSWER, f"chat:{chat['conv'].id}")
    assert store.corrected_pair_ids() == [old.id]

    store.undo()
    back = store.get_pair(old.id)
    assert (back.answer, back.status) == ("Старый ответ.", "draft") and store.preferences_of_pair(old.id) == []
    assert store.corrected_pair_ids() == []


def test_cli_correct_replace(cli, store, chat):
    old = store.add_pair(QUESTION, "Старый ответ.")
    done = cli("correct", chat["first"].id, "--answer", FIXED, "--replace", old.id, "--approve", "--json")
    assert done.code == 0, done.err
    assert done.json()["id"] == old.id and store.get_pair(old.id).answer == FIXED
    assert store.count_pairs() == 1


def test_eval_pairs_of_the_corrected_split(store, chat, evaluated):
    """``eval --split corrected``: only the pairs corrections wrote, whatever their split."""
    from core.loop.corrections import correct_eval, correct_message
    from core.eval.evaluate import eval_pairs

    assert eval_pairs(store, "corrected") == ([], "all")
    fixed = correct_message(store, chat["first"].id, FIXED)
    from_eval = correct_eval(store, evaluated.id, "run-1-q8_0", "Чтобы вовремя остановиться.", status="approved")
    pairs, used = eval_pairs(store, "corrected")
    assert [p.id for p in pairs] == [from_eval.id] and used == "approved"  # approved ones first, as for a split
    store.set_status([fixed.id], "approved")
    assert [p.id for p in eval_pairs(store, "corrected")[0]] == [fixed.id, from_eval.id]
    with pytest.raises(UserError, match="unknown split"):
        eval_pairs(store, "test")


def test_correct_eval_saves_a_pair_from_the_eval_question(store, evaluated):
    from core.loop.corrections import correct_eval

    pair = correct_eval(store, evaluated.id, "run-1-q8_0", FIXED, status="approved", tags=["оценка"])
    assert pair.question == evaluated.question and pair.answer == FIXED
    assert pair.source == f"eval:{evaluated.id}:run-1-q8_0" and pair.status == "approved" and pair.split == "train"
    assert pair.system == "Ты наставник." and pair.tags == ["оценка"]


def test_correct_eval_errors_change_nothing(store, evaluated):
    from core.loop.corrections import correct_eval

    before = _pairs(store)
    with pytest.raises(UserError, match="no evaluation answer of other-q8_0") as err:
        correct_eval(store, evaluated.id, "other-q8_0", FIXED)
    assert "run-1-q8_0" in str(err.value)  # the hint names the models that did answer
    with pytest.raises(UserError, match=f"no evaluation answer of run-1-q8_0 to eval pair {evaluated.id + 50}"):
        correct_eval(store, evaluated.id + 50, "run-1-q8_0", FIXED)
    with pytest.raises(UserError, match="answer is empty"):
        correct_eval(store, evaluated.id, "run-1-q8_0", "")
    assert _pairs(store) == before


# ---------------------------------------------------------------------------- CLI


def test_cli_correct_with_answer_prints_the_pair(cli, store, chat):
    r = cli("correct", chat["first"].id, "--answer", FIXED, "--approve", "--tag", "a", "--tag", "b", "--json")
    assert r.code == 0, r.err
    pair = r.json()
    assert pair["answer"] == FIXED and pair["question"] == QUESTION and pair["status"] == "approved"
    assert pair["source"] == f"chat:{chat['conv'].id}" and pair["tags"] == ["a", "b"]
    assert store.get_pair(pair["id"]).answer == FIXED

    r = cli("correct", chat["second"].id, "-a", "Другой ответ.", "-q", "Что такое эпоха?")
    assert r.code == 0 and r.out.startswith("saved pair ") and "(draft)" in r.out
    new_id = int(r.out.split()[2])
    assert store.get_pair(new_id).question == "Что такое эпоха?"


def test_cli_correct_reads_the_answer_from_stdin_and_files(home, store, chat, tmp_path):
    code, out, err = run_cli(home, "correct", chat["first"].id, "--answer-file", "-", "--json", stdin=FIXED + "\n")
    assert code == 0, err
    import json

    assert json.loads(out)["answer"] == FIXED
    f = tmp_path / "fix.md"
    f.write_text("Ответ из файла.\n", encoding="utf-8")
    code, out, err = run_cli(home, "correct", chat["second"].id, "--answer-file", f)
    assert code == 0, err
    assert _pairs(store)[-1].answer == "Ответ из файла."


def test_cli_correct_in_the_editor(cli, store, chat, monkeypatch):
    import click

    seen = []

    def fake_edit(text, **kw):
        seen.append(text)
        return text.replace("когда модель отдыхает", "один полный проход по данным") + "\n"

    monkeypatch.setattr(click, "edit", fake_edit)
    r = cli("correct", chat["first"].id)
    assert r.code == 0, r.err
    assert seen == [MODEL_ANSWER]  # the editor opens on the model's answer
    assert _pairs(store)[-1].answer == "Эпоха — это один полный проход по данным."


@pytest.mark.parametrize("returned", [None, "", MODEL_ANSWER + "\n"])
def test_cli_correct_editor_closed_unchanged_saves_nothing(cli, store, chat, monkeypatch, returned):
    import click

    monkeypatch.setattr(click, "edit", lambda text, **kw: returned)
    r = cli("correct", chat["first"].id)
    assert r.code == 1 and "nothing saved" in r.err
    assert _pairs(store) == []


def test_cli_correct_eval_answer(cli, store, evaluated, monkeypatch):
    r = cli("correct", "--eval", evaluated.id, "--model", "run-1-q8_0", "--answer", FIXED, "--json")
    assert r.code == 0, r.err
    assert r.json()["source"] == f"eval:{evaluated.id}:run-1-q8_0" and r.json()["question"] == evaluated.question

    import click

    seen = []
    monkeypatch.setattr(click, "edit", lambda text, **kw: seen.append(text) or "Чтобы вовремя остановить обучение.")
    r = cli("correct", "--eval", evaluated.id, "--model", "run-1-q8_0")
    assert r.code == 0, r.err
    assert seen == ["Для красоты."]
    assert _pairs(store)[-1].answer == "Чтобы вовремя остановить обучение."


@pytest.mark.parametrize(
    "args, message",
    [
        (("999", "-a", FIXED), "no message with id 999"),
        (("USER", "-a", FIXED), "not a model's answer"),
        (("FIRST", "-a", "   "), "answer is empty"),
        (("FIRST", "-a", FIXED, "--answer-file", "-"), "not both"),
        (("FIRST", "--eval", "1", "--model", "m", "-a", FIXED), "not both"),
        (("-a", FIXED), "what to correct"),
        (("--eval", "1", "-a", FIXED), "--eval needs --model"),
        (("FIRST", "--model", "m", "-a", FIXED), "--model goes with --eval"),
        (("--eval", "1", "--model", "nobody", "-a", FIXED), "no evaluation answer of nobody"),
        (("FIRST", "--answer-file", "/nonexistent/fix.md"), "cannot read /nonexistent/fix.md"),
    ],
)
def test_cli_correct_errors_are_one_line_and_change_nothing(cli, store, chat, args, message):
    ids = {"FIRST": str(chat["first"].id), "USER": str(chat["user"].id)}
    r = cli("correct", *[ids.get(a, a) for a in args])
    assert r.code == 2, (r.out, r.err)
    assert message in r.err and "Traceback" not in r.err and r.err.count("\n") == 1
    assert _pairs(store) == []


def test_cli_chats_list_and_show(cli, store, chat):
    other = store.add_conversation(["run-1-q8_0"])
    store.add_message(other.id, "user", "Что такое LoRA?")

    r = cli("chats", "list", "--json")
    assert r.code == 0, r.err
    rows = r.json()
    assert [c["id"] for c in rows] == [other.id, chat["conv"].id]  # the most recent first
    mine = rows[1]
    assert mine["title"] == QUESTION and mine["models"] == ["demo-q8_0", "demo-f16"]
    assert mine["message_count"] == 3 and mine["answers"] == 2 and "messages" not in mine
    text = cli("chats", "list").out
    assert f"#{chat['conv'].id}" in text and QUESTION in text and "3 messages" in text

    r = cli("chats", "show", chat["conv"].id, "--json")
    assert r.code == 0, r.err
    conv = r.json()
    assert conv["system"] == "Отвечай кратко."
    msgs = {m["id"]: m for m in conv["messages"]}
    assert msgs[chat["first"].id]["role"] == "assistant" and msgs[chat["first"].id]["model"] == "demo-q8_0"
    assert msgs[chat["first"].id]["tokens"] == 9 and msgs[chat["first"].id]["grade"] is None
    assert msgs[chat["second"].id]["grade"] == {"score": 2, "comment": "мало"}
    assert msgs[chat["user"].id]["role"] == "user"

    text = cli("chats", "show", chat["conv"].id).out
    assert f"[{chat['first'].id}] assistant, demo-q8_0, 9 tokens" in text
    assert f"[{chat['second'].id}] assistant, demo-f16, 3 tokens, grade 2 (мало)" in text
    assert MODEL_ANSWER in text

    r = cli("chats", "show", 999)
    assert r.code == 2 and "no conversation with id 999" in r.err and "nastavnik chats list" in r.err


def test_cli_chats_list_empty(cli):
    r = cli("chats", "list")
    assert r.code == 0 and r.out == "" and "no conversations yet" in r.err
    assert cli("chats", "list", "--json").json() == []


def test_repl_correct_saves_the_last_answer(home, store, chat, monkeypatch):
    """``/correct`` in the chat REPL: the editor on the last answer, the pair saved, its id shown."""
    import click

    from tui.cli import chat as chat_cli

    monkeypatch.setattr(click, "edit", lambda text, **kw: FIXED if text == MODEL_ANSWER else None)
    answer = {"model": "demo-q8_0", "message_id": chat["first"].id, "text": MODEL_ANSWER}
    import io
    from contextlib import redirect_stderr

    err = io.StringIO()
    with redirect_stderr(err):
        chat_cli._repl_correct(store, answer)
        chat_cli._repl_correct(store, {**answer, "message_id": chat["second"].id, "text": "Не знаю."})
    pairs = _pairs(store)
    assert len(pairs) == 1 and pairs[0].answer == FIXED and pairs[0].source == f"chat:{chat['conv'].id}"
    lines = err.getvalue().splitlines()
    assert lines[0] == f"saved pair {pairs[0].id} (draft) from chat:{chat['conv'].id}"
    assert lines[1].startswith("nothing saved")


# ---------------------------------------------------------------------------- the rooms


def _fake_generate(room, ws):
    """Stand-in for the model worker: stores the question and a fixed answer per model."""

    def generate(question, answers, system):
        with ws.store() as s:
            if room.conversation_id is None:
                room.conversation_id = s.add_conversation([a.model for a in answers], system=system).id
            s.add_message(room.conversation_id, "user", question)
            for a in answers:
                a.text = MODEL_ANSWER
                a.message_id = s.add_message(room.conversation_id, "assistant", a.text, model=a.model).id
                a.widget.update(a.text)
        room._done()

    return generate


def test_chat_room_lists_models_and_saves_a_correction_in_workers(home):
    from tests.support.rooms import RoomApp
    from tests.support.waits import async_test, settle
    from core.workspace import Workspace
    from tui.dialogs.correct import CorrectAnswerScreen
    from tui.rooms.chat import ChatRoom

    ws = Workspace.open(home)
    with ws.store() as s:
        s.add_model("gguf", "demo-q8_0", str(home / "demo.gguf"))
        s.add_model("gguf", "run-1-q8_0", str(home / "run1.gguf"))

    @async_test
    async def body():
        app = RoomApp(ChatRoom, ws)
        async with app.run_test(size=(110, 36)) as pilot:
            room = app.query_one(ChatRoom)
            await settle(pilot)  # the model list is read in a worker
            first = room.query_one("#chat-model-0")
            assert [o[1] for o in first._options if isinstance(o[1], str)] == ["demo-q8_0", "run-1-q8_0"]
            assert first.value == "run-1-q8_0"  # the newest model is chosen
            room._generate = _fake_generate(room, ws)
            room.query_one("#chat-system").value = "Отвечай кратко."
            room.ask(QUESTION, room.chosen())
            await settle(pilot)
            room.query_one("#chat-log").focus()
            await pilot.press("3")
            await pilot.pause()
            await pilot.press(*"слабо", "enter")
            await settle(pilot)  # the grade is written by a worker too
            assert any("Grade 3 for run-1-q8_0" in str(n.message) for n in app._notifications)
            await pilot.press("e")
            await pilot.pause()
            assert isinstance(app.screen, CorrectAnswerScreen)
            app.screen.query_one("#fix-answer").text = FIXED
            await pilot.press("ctrl+s")
            await settle(pilot)  # saved by a worker, the room told the app
            assert app.pairs_changed == 1
            assert any("Saved as pair" in str(n.message) for n in app._notifications)

            # the same correction again: refused with a notification, nothing posted
            await pilot.press("у")
            await pilot.pause()
            app.screen.query_one("#fix-answer").text = FIXED
            await pilot.press("ctrl+a")
            await settle(pilot)
            assert app.pairs_changed == 1
            assert any("already in the store" in str(n.message) for n in app._notifications)
            return room.conversation_id

    conv_id = body()
    with ws.store() as s:
        pairs = s.list_pairs(limit=None)
        assert len(pairs) == 1
        assert (pairs[0].question, pairs[0].answer, pairs[0].status) == (QUESTION, FIXED, "draft")
        assert pairs[0].source == f"chat:{conv_id}" and pairs[0].system == "Отвечай кратко."
        grade = s.get_grade("run-1-q8_0", QUESTION)
        assert grade.score == 3 and grade.comment == "слабо" and grade.message_id is not None


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "keep-both"])
def test_the_correction_dialog_offers_to_replace_the_pair_asking_the_question(home, replace):
    """The question already has a train pair: the dialog names it and, ticked, the correction
    becomes its answer (one pair, undoable); unticked, a second pair is added (a conflict)."""
    from textual.widgets import Checkbox, Static

    from tests.support.rooms import RoomApp
    from tests.support.waits import async_test, settle
    from core.workspace import Workspace
    from tui.dialogs.correct import CorrectAnswerScreen
    from tui.rooms.chat import ChatRoom

    ws = Workspace.open(home)
    with ws.store() as s:
        s.add_model("gguf", "run-1-q8_0", str(home / "run1.gguf"))
        old = s.add_pair(QUESTION, "Старый ответ.", status="approved")

    @async_test
    async def body():
        app = RoomApp(ChatRoom, ws)
        async with app.run_test(size=(80, 24)) as pilot:
            room = app.query_one(ChatRoom)
            await settle(pilot)
            room._generate = _fake_generate(room, ws)
            room.ask(QUESTION, room.chosen())
            await settle(pilot)
            await pilot.press("e")
            await settle(pilot)  # the pair asking the question is looked up in a worker
            dialog = app.screen
            assert isinstance(dialog, CorrectAnswerScreen) and "run-1-q8_0" in str(dialog.query_one("#fix-title").render())
            assert f"#{old.id}" in str(dialog.query_one("#fix-existing", Static).render())
            assert "Старый ответ." in str(dialog.query_one("#fix-existing", Static).render())
            box = dialog.query_one("#fix-replace", Checkbox)
            assert box.display and box.value  # replacing is the default
            for button in dialog.query("#fix-buttons Button"):  # every button in view at 80x24
                assert app.screen.region.contains_region(button.region), button
            if not replace:
                box.value = False
            await pilot.press(*TYPED, "ctrl+a")
            await settle(pilot)
            return [str(n.message) for n in app._notifications]

    notes = body()
    with ws.store() as s:
        pairs = s.list_pairs(limit=None)
        if replace:
            assert [(p.id, p.answer) for p in pairs] == [(old.id, TYPED)]
            assert any(f"Pair #{old.id} has the new answer" in n for n in notes), notes
        else:
            assert sorted(p.answer for p in pairs) == sorted(["Старый ответ.", TYPED])
            assert any("Saved as pair" in n for n in notes), notes


def test_evaluate_room_saves_a_correction_in_a_worker(home):
    from tests.support.rooms import RoomApp, correct_in_compare, stored_grid
    from tests.support.waits import async_test, settle
    from tui.rooms.evaluate import EvaluateRoom

    ws = stored_grid(home)

    @async_test
    async def body():
        app = RoomApp(EvaluateRoom, ws)
        async with app.run_test(size=(120, 36)) as pilot:
            room = app.query_one(EvaluateRoom)
            await settle(pilot)
            dialog = await correct_in_compare(pilot, room, 1, right=1, key="у")  # the second model's answer, e on ЙЦУКЕН
            assert dialog.query_one("#fix-answer").text == "ответ run-1-q8_0"
            await pilot.press(*TYPED)  # the model's answer is selected: typing replaces it
            assert app.screen.query_one("#fix-answer").text == TYPED
            await pilot.press("ctrl+a")
            await pilot.pause()
            await pilot.press("escape")  # closing the question view at once loses nothing
            await settle(pilot)
            assert app.pairs_changed == 1
            return room.rows_shown[1].pair_id

    pair_id = body()
    with ws.store() as s:
        (pair,) = s.list_pairs(limit=None, order="id", desc=True)[:1]
        assert pair.source == f"eval:{pair_id}:run-1-q8_0" and pair.status == "approved"
        assert pair.question == "Зачем нужна проверочная выборка?" and pair.answer == TYPED and pair.split == "train"


@pytest.mark.slow
@pytest.mark.xdist_group("export")
def test_repl_shows_message_ids_and_corrects_with_a_real_model(exported_copy, monkeypatch):
    """The chat REPL names each answer's message id, and /correct saves the edited answer."""
    import re

    import click

    from core.workspace import Workspace

    seen = []
    monkeypatch.setattr(click, "edit", lambda text, **kw: seen.append(text) or FIXED)
    code, out, err = run_cli(exported_copy, "chat", "demo-q8_0", stdin=f"{QUESTION}\n/correct\n/correct 2\n/exit\n")
    assert code == 0, err
    ids = [int(m) for m in re.findall(r"tokens/s, \w+, message (\d+)", err)]
    assert len(ids) == 1
    assert "usage: /correct [N]" in err  # there is no second model
    with Workspace.open(exported_copy).store() as store:
        msg = store.get_message(ids[0])
        assert msg.role == "assistant" and msg.model == "demo-q8_0" and seen == [msg.content]
        pair = store.list_pairs(limit=None)[-1]
        assert (pair.question, pair.answer, pair.source) == (QUESTION, FIXED, f"chat:{msg.conversation_id}")
    assert f"saved pair {pair.id} (draft) from chat:{msg.conversation_id}" in err
