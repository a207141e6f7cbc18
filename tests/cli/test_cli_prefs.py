"""Preferences from corrections and side-by-side picks, and ``nastavnik prefs`` on them.

No model runs: conversations, messages and evaluation answers are written into the store
the way a chat or an evaluation leaves them.
"""

from __future__ import annotations


import pytest

from core.errors import UserError

QUESTION = "Что такое эпоха обучения?"
MODEL_ANSWER = "Эпоха — это когда модель отдыхает."
OTHER_ANSWER = "Не знаю."
FIXED = "Эпоха — один полный проход по всем обучающим данным."


@pytest.fixture
def chat(store):
    store.add_model("gguf", "run-2-q8_0", "/models/run2.gguf", run_id=2)
    conv = store.add_conversation(["run-2-q8_0", "demo-f16"], system="Отвечай кратко.")
    user = store.add_message(conv.id, "user", QUESTION)
    first = store.add_message(conv.id, "assistant", MODEL_ANSWER, model="run-2-q8_0")
    second = store.add_message(conv.id, "assistant", OTHER_ANSWER, model="demo-f16")
    return {"conv": conv, "user": user, "first": first, "second": second}


# ---------------------------------------------------------------------------- capture


def test_a_chat_correction_records_a_preference_with_its_provenance(store, chat):
    from core.loop.corrections import correct_message

    conv = chat["conv"].id
    store.add_message(conv, "user", "А сколько эпох нужно?")
    later = store.add_message(conv, "assistant", "Сто.", model="run-2-q8_0")
    pair = correct_message(store, later.id, "Обычно от одной до трёх.", with_context=False)
    (pref,) = store.live_preferences()
    assert (pref.prompt, pref.chosen, pref.rejected) == ("А сколько эпох нужно?", "Обычно от одной до трёх.", "Сто.")
    assert pref.system == "Отвечай кратко."
    # the context the model saw goes with the preference even when the pair is single-turn
    assert pref.context == [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": MODEL_ANSWER}]
    assert store.get_pair(pair.id).context == []
    assert (pref.model, pref.run_id, pref.chosen_model) == ("run-2-q8_0", 2, None)
    assert (pref.source, pref.pair_id, pref.message_id, pref.kind) == (f"chat:{conv}", pair.id, later.id, "chat")
    # one undo takes back the pair and its preference
    assert store.undo().summary == f"add pair {pair.id} + preference {pref.id}"
    assert store.count_preferences() == 0 and store.count_pairs() == 0


def test_a_correction_that_changes_nothing_records_no_preference(store, chat):
    from core.loop.corrections import correct_message

    pair = correct_message(store, chat["first"].id, f" {MODEL_ANSWER}\n", status="approved")
    assert pair.answer == MODEL_ANSWER and store.count_preferences() == 0


def test_an_eval_correction_records_a_preference(store):
    from core.loop.corrections import correct_eval
    from core.store.chats import EvalResult

    ctx = [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуйте"}]
    p = store.add_pair("Зачем нужна проверочная выборка?", "Чтобы заметить переобучение.", split="eval",
                       system="Ты наставник.", context=ctx)
    store.save_eval_result(EvalResult("demo-q8_0", p.id, p.question, p.answer, "Для красоты.", 12.5, False, 4, 0.1, ""))
    pair = correct_eval(store, p.id, "demo-q8_0", "Чтобы вовремя заметить переобучение.")
    (pref,) = store.live_preferences()
    assert (pref.prompt, pref.rejected, pref.chosen) == (p.question, "Для красоты.", "Чтобы вовремя заметить переобучение.")
    assert (pref.system, pref.context, pref.model, pref.run_id) == ("Ты наставник.", ctx, "demo-q8_0", None)
    assert pref.source == f"eval:{p.id}:demo-q8_0" and pref.pair_id == pair.id and pref.kind == "eval"


def test_picking_the_better_of_two_answers(store, chat):
    from core.loop.corrections import prefer_answer

    pref = prefer_answer(store, chat["second"].id, chat["first"].id)
    assert (pref.prompt, pref.chosen, pref.rejected) == (QUESTION, OTHER_ANSWER, MODEL_ANSWER)
    assert (pref.model, pref.run_id, pref.chosen_model, pref.chosen_run_id) == ("run-2-q8_0", 2, "demo-f16", None)
    assert pref.source == f"compare:{chat['conv'].id}" and pref.kind == "compare" and pref.system == "Отвечай кратко."
    assert store.count_pairs() == 0  # a pick records a preference only
    with pytest.raises(UserError, match="already in the store as preference"):
        prefer_answer(store, chat["second"].id, chat["first"].id)


@pytest.mark.parametrize("case, match", [
    ("itself", "cannot be preferred to itself"),
    ("user", "is a user turn"),
    ("other question", "do not answer the same question"),
    ("same text", "the two answers are the same"),
])
def test_bad_picks_are_refused(store, chat, case, match):
    from core.loop.corrections import prefer_answer

    conv = chat["conv"].id
    if case == "itself":
        ids = (chat["first"].id, chat["first"].id)
    elif case == "user":
        ids = (chat["user"].id, chat["first"].id)
    elif case == "other question":
        store.add_message(conv, "user", "Второй вопрос?")
        ids = (store.add_message(conv, "assistant", "Второй ответ.", model="demo-f16").id, chat["first"].id)
    else:
        store.add_message(conv, "user", "Второй вопрос?")
        one = store.add_message(conv, "assistant", "Один ответ.", model="run-2-q8_0")
        ids = (store.add_message(conv, "assistant", "Один  ответ.", model="demo-f16").id, one.id)
    with pytest.raises(UserError, match=match):
        prefer_answer(store, *ids)
    assert store.count_preferences() == 0


# ---------------------------------------------------------------------------- the commands


def test_cli_correct_records_a_preference_and_prefs_shows_it(cli, store, chat):
    r = cli("correct", chat["first"].id, "--answer", FIXED, "--json")
    assert r.code == 0, r.err
    pair_id = r.json()["id"]

    r = cli("prefs", "list", "--json")
    assert r.code == 0, r.err
    (pref,) = r.json()
    assert (pref["prompt"], pref["chosen"], pref["rejected"]) == (QUESTION, FIXED, MODEL_ANSWER)
    assert (pref["model"], pref["run_id"], pref["pair_id"], pref["kind"]) == ("run-2-q8_0", 2, pair_id, "chat")

    text = cli("prefs", "list").out
    assert f"#{pref['id']} chat run-2-q8_0 run 2" in text and "rejected: Эпоха — это когда модель отдыхает." in text
    shown = cli("prefs", "show", pref["id"])
    assert "(written by a person)" in shown.out and "system:   Отвечай кратко." in shown.out
    trl = cli("prefs", "show", pref["id"], "--trl").json()
    assert trl[0]["prompt"][-1] == {"role": "user", "content": QUESTION}
    assert trl[0]["rejected"] == [{"role": "assistant", "content": MODEL_ANSWER}]

    # `pairs undo` takes back both the pair and the preference
    assert cli("pairs", "undo").out.startswith(f"undone: add pair {pair_id} + preference {pref['id']}")
    assert cli("prefs", "list", "--json").json() == []


def test_cli_prefs_filters_trash_restore_history(cli, store, chat):
    from core.loop.corrections import prefer_answer

    cli("correct", chat["first"].id, "--answer", FIXED)
    prefer_answer(store, chat["second"].id, chat["first"].id)
    ids = [p["id"] for p in cli("prefs", "list", "--json").json()]
    assert len(ids) == 2
    assert [p["kind"] for p in cli("prefs", "list", "--kind", "compare", "--json").json()] == ["compare"]
    assert len(cli("prefs", "list", "--model", "demo-f16", "--json").json()) == 1
    assert len(cli("prefs", "list", "--run", "2", "--json").json()) == 2
    assert [p["id"] for p in cli("prefs", "list", "--search", "ОТДЫХАЕТ полный", "--json").json()] == [ids[0]]
    assert [p["id"] for p in cli("prefs", "list", "--desc", "--limit", "1", "--json").json()] == [ids[1]]

    r = cli("prefs", "rm", f"{ids[0]}-{ids[1]}")
    assert r.code == 0 and r.out.strip() == "moved to trash: 2 preferences"
    assert cli("prefs", "list", "--json").json() == []
    assert [p["id"] for p in cli("prefs", "list", "--trash", "--json").json()] == ids
    assert "(in trash)" in cli("prefs", "show", ids[0]).out
    assert cli("prefs", "restore", ids[0]).out.strip() == "restored: 1 preference"
    hist = cli("prefs", "history", ids[0], "--json").json()
    assert [r["action"] for r in hist["revisions"]] == ["add", "delete", "restore"]
    assert hist["current"]["deleted"] is None
    assert "before: in trash" in cli("prefs", "history", ids[0]).out
    assert cli("prefs", "undo").out.startswith("undone: restore 1 preference")
    assert cli("prefs", "list", "--json").json() == []


def test_cli_prefs_export_and_import(cli, store, chat, tmp_path):
    cli("correct", chat["first"].id, "--answer", FIXED)
    out = tmp_path / "prefs.jsonl"
    r = cli("prefs", "export", out, "--json")
    assert r.code == 0 and r.json() == {"exported": 1, "path": str(out)}
    lf = tmp_path / "lf"
    assert cli("prefs", "export", lf).out.strip() == f"exported 1 preference to {lf}"
    assert (lf / "dataset_info.json").is_file()

    cli("prefs", "rm", store.live_preferences()[0].id)
    r = cli("prefs", "import", out, "--json")
    assert r.code == 0, r.err
    assert r.json() == {"imported": 1, "duplicates": 0, "rejected": 0}
    r = cli("prefs", "import", lf / "dataset_info.json")
    assert r.out.strip() == "imported 0, skipped 1 duplicate(s), rejected 0"
    assert cli("prefs", "list", "--kind", "import", "--json").json()[0]["source"] == "prefs.jsonl:1"


@pytest.mark.parametrize("args, message", [
    (("prefs", "show", "999"), "no preference with id 999"),
    (("prefs", "rm", "x"), "'x' is not a pair id"),
    (("prefs", "history", "5"), "no preference with id 5"),
    (("prefs", "import", "BAD"), "bad.jsonl:2, field 'chosen': missing"),
    (("prefs", "export", "OUT.csv"), "cannot tell the preference format"),
])
def test_cli_prefs_errors_are_one_line(cli, store, tmp_path, args, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "а", "chosen": "б", "rejected": "в"}\n{"prompt": "а", "rejected": "в"}\n', encoding="utf-8")
    args = [str(bad) if a == "BAD" else str(tmp_path / a) if a == "OUT.csv" else a for a in args]
    r = cli(*args)
    assert r.code == 2, (r.out, r.err)
    assert message in r.err and r.err.count("\n") == 1 and "Traceback" not in r.err
    assert store.count_preferences() == 0


def test_cli_correct_names_the_preference_and_pairs_show_names_the_teacher(cli, store, chat):
    r = cli("correct", chat["first"].id, "--answer", FIXED)
    (pref,) = store.live_preferences()
    assert r.out.strip().endswith(f"and preference {pref.id} (`nastavnik prefs show {pref.id}`)")
    r = cli("correct", chat["second"].id, "--answer", OTHER_ANSWER, "--json")  # unchanged: no preference
    assert r.json()["preference_id"] is None
    drafted = store.add_drafted_pair("Что такое GGUF?", "Формат файлов.", teacher="big-q8_0", draft="Формат.")
    assert "teacher:  big-q8_0, edited by a person" in cli("pairs", "show", drafted.id).out
