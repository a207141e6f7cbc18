"""New text reaches the store with ``\\n`` line ends only; text already stored stays as it is.

A cell Excel (or LibreOffice, or a Windows editor) saves across lines keeps its ``\\r\\n``;
so does text pasted into ``pairs add``. Training text must not carry ``\\r``. Pairs stored
before line ends were normalised keep their exact text: their content hashes (the run
snapshot's sha256, the dedup keys) must not change when something else is edited.
"""

from __future__ import annotations

import json

import pytest

import core.store.pairs as store_pairs
from core.train.dataset import snapshot
from core.formats import read_file
from core.formats.pairs_io import import_files
from core.text import normalize_newlines

CRLF_ANSWER = "Эпоха — один проход по всем данным.\r\nПотом следующая.\r\n\r\nИ так далее."
LF_ANSWER = "Эпоха — один проход по всем данным.\nПотом следующая.\n\nИ так далее."


def stored_before_normalising(store, monkeypatch, *args, **kwargs):
    """Add a pair the way the store did before line ends were normalised (CRLF kept)."""
    with monkeypatch.context() as m:
        m.setattr(store_pairs, "normalize_newlines", lambda text: text)
        m.setattr(store_pairs, "normalize_context", lambda context: context)
        return store.add_pair(*args, **kwargs)


def test_normalize_newlines():
    assert normalize_newlines("a\r\nb\rc\nd\r\n\r\n") == "a\nb\nc\nd\n\n"
    text = "уже\nхорошо"
    assert normalize_newlines(text) is text


def test_excel_csv_multi_line_crlf_cell_imports_with_lf_only(store, tmp_path):
    f = tmp_path / "excel.csv"
    rows = (
        "Вопрос;Ответ;Системный промпт;Контекст\r\n"
        f'"Что такое\r\nэпоха?";"{CRLF_ANSWER}";"Ты наставник.\r\nОтвечай кратко.";'
        '"[{""role"": ""user"", ""content"": ""Привет\\r\\nещё раз""}, {""role"": ""assistant"", ""content"": ""Здравствуй""}]"\r\n'
        "Одна строка?;Да;;\r\n"
    )
    f.write_bytes(b"\xef\xbb\xbf" + rows.encode("utf-8"))
    (_, first), (_, second) = read_file(f)
    assert first.question == "Что такое\nэпоха?"
    assert first.answer == LF_ANSWER
    assert first.system == "Ты наставник.\nОтвечай кратко."
    assert first.context == [{"role": "user", "content": "Привет\nещё раз"}, {"role": "assistant", "content": "Здравствуй"}]
    assert (second.question, second.answer) == ("Одна строка?", "Да")
    import_files(store, [f])
    pair = store.get_pair(1)
    assert (pair.question, pair.answer, pair.system) == ("Что такое\nэпоха?", LF_ANSWER, "Ты наставник.\nОтвечай кратко.")
    assert pair.context[0]["content"] == "Привет\nещё раз"
    store.set_status([1], "approved")
    (trained,) = [ex.messages for ex in snapshot(store).train if ex.pair_id == 1]
    assert LF_ANSWER in [m["content"] for m in trained]
    assert not any("\r" in m["content"] for m in trained)


@pytest.mark.parametrize("name", ["m.jsonl", "alpaca.json", "share.jsonl"])
def test_json_formats_normalise_too(tmp_path, name):
    f = tmp_path / name
    if name == "m.jsonl":
        rec = {"messages": [{"role": "system", "content": "С\r\nистема"}, {"role": "user", "content": "В\rопрос"},
                            {"role": "assistant", "content": [{"type": "text", "value": "От\r\nвет"}]}]}
    elif name == "alpaca.json":
        rec = [{"instruction": "В\r\nопрос", "input": "", "output": "От\r\nвет", "system": "С\r\nистема"}]
    else:
        rec = {"conversations": [{"from": "system", "value": "С\r\nистема"}, {"from": "human", "value": "В\rопрос"},
                                 {"from": "gpt", "value": "От\r\nвет"}]}
    f.write_text(json.dumps(rec, ensure_ascii=False), "utf-8")
    ((_, r),) = read_file(f)
    assert (r.question, r.answer, r.system) == ("В\nопрос", "От\nвет", "С\nистема")


def test_parquet_rows_normalise(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "d.parquet"
    pq.write_table(pa.table({"question": ["Что\r\nэто?"], "answer": [CRLF_ANSWER]}), f)
    ((_, r),) = read_file(f)
    assert (r.question, r.answer) == ("Что\nэто?", LF_ANSWER)


def test_store_writes_new_text_with_lf(store):
    p = store.add_pair("Во\r\nпрос", CRLF_ANSWER, system="Сис\rтема", context=[{"role": "user", "content": "Ра\r\nньше"}])
    assert (p.question, p.answer, p.system, p.context[0]["content"]) == ("Во\nпрос", LF_ANSWER, "Сис\nтема", "Ра\nньше")
    p = store.update_pair(p.id, answer="Новый\r\nответ")
    assert p.answer == "Новый\nответ"
    other = store.add_pair("Другой вопрос", "Ответ")
    kept = store.merge_pairs(p.id, [other.id], answer="Слитый\r\nответ")
    assert kept.answer == "Слитый\nответ"


def test_cli_add_edit_and_correct_normalise(cli, store):
    r = cli("pairs", "add", "-q", "Что такое\r\nбатч?", "-a", "Пачка\r\nпримеров.", "-s", "Кратко.\r\nПо-русски.", "--json")
    assert r.code == 0, r.err
    assert (r.json()["question"], r.json()["answer"], r.json()["system"]) == ("Что такое\nбатч?", "Пачка\nпримеров.", "Кратко.\nПо-русски.")
    r = cli("pairs", "edit", "1", "-a", "Пачка\r\nпримеров\rза шаг.", "--json")
    assert r.code == 0, r.err
    assert r.json()["answer"] == "Пачка\nпримеров\nза шаг."
    conv = store.add_conversation(["demo-q8_0"])
    store.add_message(conv.id, "user", "Что такое\r\nэпоха?")
    msg = store.add_message(conv.id, "assistant", "Не знаю.", model="demo-q8_0")
    r = cli("correct", str(msg.id), "--answer", "Один проход\r\nпо данным.", "--json")
    assert r.code == 0, r.err
    assert (r.json()["question"], r.json()["answer"]) == ("Что такое\nэпоха?", "Один проход\nпо данным.")


def test_a_pair_stored_with_crlf_keeps_its_text_and_snapshot_hash(store, monkeypatch):
    old = stored_before_normalising(store, monkeypatch, "Что такое\r\nэпоха?", CRLF_ANSWER, system="Ты\r\nнаставник.", status="approved")
    store.add_pair("Что такое батч?", "Пачка примеров.", status="approved")
    draft = store.add_pair("Черновик?", "Пока нет.")
    dup_key_before = store.conn.execute("SELECT dup_key, question_key FROM pairs WHERE id=?", (old.id,)).fetchone()
    before = snapshot(store).sha256

    # unrelated edits elsewhere: another pair's text, this pair's tags, a save that passes its text unchanged
    store.update_pair(draft.id, answer="Уже\r\nесть.")
    store.add_tags([old.id], ["эпохи"])
    loaded = store.get_pair(old.id)  # as an editor loads it, then saves with only the tags changed
    store.update_pair(old.id, question=loaded.question, answer=loaded.answer, system=loaded.system, tags=["эпохи", "основы"], expected=loaded)
    store.add_pair("Новый\r\nвопрос", "Новый ответ")

    now = store.get_pair(old.id)
    assert (now.question, now.answer, now.system) == ("Что такое\r\nэпоха?", CRLF_ANSWER, "Ты\r\nнаставник.")
    assert store.conn.execute("SELECT dup_key, question_key FROM pairs WHERE id=?", (old.id,)).fetchone() == dup_key_before
    assert snapshot(store).sha256 == before

    # editing one field writes that field with LF; the untouched fields stay as stored
    now = store.update_pair(old.id, answer=old.answer + "\r\nЕщё строка.")
    assert now.answer == LF_ANSWER + "\nЕщё строка."
    assert now.question == "Что такое\r\nэпоха?" and now.system == "Ты\r\nнаставник."
    # and undo brings back exactly what was stored
    store.undo()
    assert store.get_pair(old.id).answer == CRLF_ANSWER
    assert snapshot(store).sha256 == before
