"""Preference pairs in the store: add, read as the trainer will, filter, trash, undo, history,
import batches, the stable order a snapshot hashes — and teacher drafts beside the pairs."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from core.errors import UserError
from core.store import PreferenceFilter, Store
from core.store import migrations

PROMPT = "Что такое эпоха обучения?"
GOOD = "Один полный проход по всем обучающим данным."
BAD = "Эпоха — это когда модель отдыхает."


def _add(store, n: int = 3):
    out = []
    for i in range(n):
        out.append(store.add_preference(f"{PROMPT} ({i})", GOOD, f"{BAD} {i}", model=f"m{i % 2}", source=f"chat:{i}"))
    return out


def test_a_preference_reads_as_the_trainer_sees_it(store):
    pref = store.add_preference(
        "А сколько их нужно?", "Обычно от одной до трёх.", "Сто.", system="Отвечай кратко.",
        context=[{"role": "user", "content": PROMPT}, {"role": "assistant", "content": GOOD}],
        model="run-1-q8_0", run_id=1, source="chat:7", message_id=12,
    )
    got = store.get_preference(pref.id)
    assert got == pref and got.kind == "chat" and got.deleted is None
    assert got.to_trl() == {
        "prompt": [
            {"role": "system", "content": "Отвечай кратко."},
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": GOOD},
            {"role": "user", "content": "А сколько их нужно?"},
        ],
        "chosen": [{"role": "assistant", "content": "Обычно от одной до трёх."}],
        "rejected": [{"role": "assistant", "content": "Сто."}],
    }
    d = got.to_dict()
    assert (d["model"], d["run_id"], d["chosen_model"], d["message_id"]) == ("run-1-q8_0", 1, None, 12)


@pytest.mark.parametrize(
    "args, match",
    [
        (("", GOOD, BAD), "the prompt is empty"),
        ((PROMPT, "  ", BAD), "the chosen answer is empty"),
        ((PROMPT, GOOD, None), "the rejected answer is empty"),
        ((PROMPT, GOOD, f"  {GOOD}\n"), "the chosen and the rejected answer are the same"),
    ],
)
def test_bad_preferences_are_refused_and_nothing_is_written(store, args, match):
    with pytest.raises(UserError, match=match):
        store.add_preference(*args)
    assert store.count_preferences() == 0 and store.last_action() is None


def test_line_ends_are_made_plain(store):
    pref = store.add_preference("Вопрос\r\nвторая строка", "Да\r\n", "Нет", system="Кратко\r")
    assert (pref.prompt, pref.chosen, pref.system) == ("Вопрос\nвторая строка", "Да\n", "Кратко\n")


def test_filters_narrow_the_list(store):
    prefs = _add(store, 4)
    store.add_preference("Что лучше?", "Это.", "То.", model="m1", chosen_model="big", chosen_run_id=5, source="compare:3")
    store.add_preference("Из файла?", "Да.", "Нет.", source="data.jsonl:4")
    assert store.count_preferences() == 6
    assert [p.id for p in store.list_preferences(PreferenceFilter(model="m0"))] == [prefs[0].id, prefs[2].id]
    assert len(store.list_preferences(PreferenceFilter(model="big"))) == 1  # the chosen model counts too
    assert [p.kind for p in store.list_preferences(PreferenceFilter(kind="compare"))] == ["compare"]
    assert [p.prompt for p in store.list_preferences(PreferenceFilter(kind="import"))] == ["Из файла?"]
    assert [p.prompt for p in store.list_preferences(PreferenceFilter(run_id=5))] == ["Что лучше?"]
    # a search is case- and ё-blind and looks into all three texts
    assert len(store.list_preferences(PreferenceFilter(query="ОТДЫХАЕТ"))) == 4
    assert len(store.list_preferences(PreferenceFilter(query="эпоха (2)"))) == 1
    assert [p.id for p in store.list_preferences(desc=True, limit=2, offset=1)] == [prefs[3].id + 1, prefs[3].id]
    with pytest.raises(UserError, match="unknown kind"):
        store.list_preferences(PreferenceFilter(kind="mystery"))
    assert store.preference_models() == ["big", "m0", "m1"]


def test_trash_restore_undo_and_history(store):
    a, b, c = _add(store)
    assert store.delete_preferences([a.id, c.id]) == 2
    assert [p.id for p in store.live_preferences()] == [b.id]
    assert [p.id for p in store.list_preferences(PreferenceFilter(trash=True))] == [a.id, c.id]
    assert store.delete_preferences([a.id]) == 0  # already in the trash: nothing to do, no action
    action = store.last_action()
    assert action.kind == "delete" and "2 preferences" in action.summary

    assert store.undo().id == action.id
    assert [p.id for p in store.live_preferences()] == [a.id, b.id, c.id]
    assert store.restore_preferences([a.id]) == 0

    store.delete_preferences([b.id])
    assert store.restore_preferences([b.id]) == 1 and store.get_preference(b.id).deleted is None
    kinds = [(r.action, r.existed, r.deleted is not None) for r in store.preference_history(b.id)]
    assert kinds == [("add", False, False), ("delete", True, False), ("restore", True, True)]

    # undo walks back over the adds as well: the newest preference goes to the trash
    store.undo()  # the restore
    store.undo()  # the delete
    store.undo()  # the undo of the first delete is not undoable: the next is the add of c
    assert store.get_preference(c.id).deleted is not None
    with pytest.raises(UserError, match="no preference with id 999"):
        store.delete_preferences([999])
    with pytest.raises(UserError, match="no preference with id 999"):
        store.preference_history(999)


def test_pairs_and_preferences_share_one_undo_stack(store):
    pair = store.add_pair("Вопрос?", "Ответ.")
    pref = store.add_preference(PROMPT, GOOD, BAD)
    store.update_pair(pair.id, answer="Другой ответ.")
    assert store.undo().kind == "edit" and store.get_pair(pair.id).answer == "Ответ."
    assert store.undo().summary == f"add preference {pref.id}"
    assert store.get_preference(pref.id).deleted is not None and store.get_pair(pair.id).deleted is None


def test_a_correction_is_one_action_for_its_pair_and_its_preference(store):
    with store.transaction():
        pair = store.add_pair(PROMPT, GOOD, source="chat:1")
        pref = store.add_preference(PROMPT, GOOD, BAD, with_last_action=True, pair_id=pair.id, source="chat:1")
    action = store.last_action()
    assert action.summary == f"add pair {pair.id} + preference {pref.id}"
    store.undo()
    assert store.get_pair(pair.id).deleted is not None and store.get_preference(pref.id).deleted is not None
    assert store.last_action() is None
    with pytest.raises(RuntimeError):
        store.add_preference(PROMPT, GOOD, BAD, with_last_action=True)  # only inside a transaction


def test_an_import_batch_skips_duplicates_and_undoes_as_one(store):
    old = store.add_preference(PROMPT, GOOD, BAD)
    rows = [
        store.prepare_preference(PROMPT.upper(), GOOD, BAD),  # the stored one, in other case: a duplicate
        store.prepare_preference("Новый вопрос?", "Да.", "Нет."),
        store.prepare_preference("Новый  вопрос?", "да.", "нет."),  # a duplicate of the row before
        store.prepare_preference("Ещё вопрос?", "Да.", "Нет.", source="f.jsonl:4"),
    ]
    counts = store.add_preferences(rows, files=["f.jsonl"], format="trl")
    assert (counts.imported, counts.duplicates) == (2, 2)
    assert store.count_preferences() == 3
    assert store.last_action().summary == "import 2 preferences"
    store.undo()
    assert [p.id for p in store.live_preferences()] == [old.id]
    assert store.add_preferences(rows, skip_duplicates=False).imported == 4


def test_live_preferences_are_in_a_stable_order(store):
    prefs = _add(store, 5)
    store.delete_preferences([prefs[1].id])
    first = [p.to_dict() for p in store.live_preferences()]
    assert [p["id"] for p in first] == [prefs[0].id, prefs[2].id, prefs[3].id, prefs[4].id]
    store.add_preference("Последний?", "Да.", "Нет.")
    again = [p.to_dict() for p in store.live_preferences()]
    assert again[:4] == first and again[4]["prompt"] == "Последний?"


def test_purging_the_preference_trash(store):
    a, b, _ = _add(store)
    store.delete_preferences([a.id])
    assert store.purge_preference_trash() == 1
    with pytest.raises(UserError):
        store.get_preference(a.id)
    assert store.count_preferences() == 2 and store.get_preference(b.id).deleted is None


# ---------------------------------------------------------------------------- teacher drafts


def test_a_drafted_pair_keeps_its_teacher_and_whether_it_was_edited(store):
    as_is = store.add_drafted_pair("Что такое LoRA?", "Низкоранговая добавка.", teacher="big-q8_0",
                                   draft="Низкоранговая добавка.")
    edited = store.add_drafted_pair("Что такое GGUF?", "Формат файлов llama.cpp.", teacher="big-q8_0",
                                    draft="Формат.")
    assert as_is.source == "teacher:big-q8_0" and as_is.status == "draft" and as_is.teacher == "big-q8_0"
    assert (as_is.edited, edited.edited) == (False, True)
    plain = store.add_pair("Вопрос?", "Ответ.")
    assert plain.draft is None and plain.edited is None and plain.to_dict()["edited"] is None
    assert store.draft_stats() == {"total": 2, "waiting": 2, "accepted_unchanged": 0, "accepted_edited": 0,
                                   "rejected": 0, "edited": 1}
    store.set_status([as_is.id, edited.id], "approved")
    stats = store.draft_stats()
    assert (stats["waiting"], stats["accepted_unchanged"], stats["accepted_edited"]) == (0, 1, 1)
    # an edit after approval makes an unchanged draft an edited one
    store.update_pair(as_is.id, answer="Низкоранговая добавка к весам.")
    assert store.get_pair(as_is.id).edited is True and store.draft_stats()["accepted_edited"] == 2
    store.delete_pairs([edited.id])
    assert store.draft_stats()["total"] == 1  # the trash does not count


def test_drafting_an_existing_pair_undoes_with_its_edit(store):
    pair = store.add_pair("Что такое эпоха?", "Старый ответ человека.")
    drafted = store.update_drafted_pair(pair.id, teacher="big", draft="Проход по данным.",
                                        answer="Один проход по данным.", expected=pair)
    assert (drafted.teacher, drafted.draft, drafted.edited) == ("big", "Проход по данным.", True)
    assert drafted.source is None  # an existing pair keeps where it came from
    store.undo()
    back = store.get_pair(pair.id)
    assert back.answer == "Старый ответ человека." and back.draft is None and back.teacher is None
    # a draft the person saved without a change is still recorded (an action of its own)
    same = store.update_drafted_pair(pair.id, teacher="big", draft=back.answer, answer=back.answer)
    assert same.draft == back.answer and same.edited is False and store.last_action().kind == "draft"
    store.undo()
    assert store.get_pair(pair.id).draft is None


def test_an_undone_add_keeps_the_draft_with_the_trashed_pair(store):
    pair = store.add_drafted_pair("Вопрос?", "Ответ.", teacher="t", draft="Ответ.")
    store.undo()
    assert store.get_pair(pair.id).deleted is not None
    store.restore_pairs([pair.id])
    assert store.get_pair(pair.id).teacher == "t"
    store.delete_pairs([pair.id])
    assert store.purge_trash() == 1
    assert store.draft_stats()["total"] == 0


def test_drafts_from_a_document_are_one_batch(store):
    rows = [store.prepare_row(f"Вопрос {i}?", f"Ответ {i}.", source=f"notes.txt#{i}") for i in range(3)]
    rows.append(store.prepare_row("Вопрос 0?", "Ответ 0.", source="notes.txt#3"))
    counts = store.add_draft_rows(rows, teacher="big", files=["notes.txt"])
    assert (counts.imported, counts.duplicates) == (3, 1)
    pairs = store.list_pairs(limit=None)
    assert all(p.teacher == "big" and p.draft == p.answer and p.status == "draft" for p in pairs)
    store.undo()
    assert store.count_pairs() == 0


# ---------------------------------------------------------------------------- migration


def test_a_store_from_before_preferences_gets_them(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    names = [name for name, _ in migrations.MIGRATIONS]
    migrations.migrate(db, upto=names[names.index("m042_preferences_and_drafts") - 1])
    db.conn.execute(
        "INSERT INTO pairs(id, question, answer, status, split, created, updated) VALUES (1, 'В?', 'О.', 'draft', 'train', 'x', 'x')"
    )
    db.conn.commit()
    db.conn.close()
    with Store(path) as store:
        assert migrations.applied(store.db) == names
        pair = store.get_pair(1)
        assert pair.draft is None and pair.teacher is None
        assert store.add_preference(PROMPT, GOOD, BAD).id == 1
