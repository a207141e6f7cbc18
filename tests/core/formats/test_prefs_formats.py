"""Preference files in and out: TRL (conversational, standard, implicit prompt) and
LLaMA-Factory ranking datasets (alpaca and sharegpt), round trips, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UserError

SYSTEM = "Отвечай кратко."
CONTEXT = [{"role": "user", "content": "Что такое эпоха?"}, {"role": "assistant", "content": "Проход по данным."}]


def _jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _seed(store):
    a = store.add_preference("А сколько эпох нужно?", "Обычно от одной до трёх.", "Сто.", system=SYSTEM,
                             context=CONTEXT, model="run-1-q8_0", source="chat:1")
    b = store.add_preference("Что такое LoRA?", "Низкоранговая добавка к весам.", "Lora is a radio protocol.",
                             model="demo-q8_0", source="eval:3:demo-q8_0")
    c = store.add_preference("Кто выше?", "Жираф.", "Мышь.", model="m", chosen_model="big", source="compare:2")
    return [a, b, c]


def _texts(prefs):
    return [(p.prompt, p.chosen, p.rejected, p.system, p.context) for p in prefs]


@pytest.mark.parametrize("fmt, out", [("trl", "prefs.jsonl"), ("llamafactory", "lf_data")])
def test_export_and_import_round_trip(store, tmp_path, fmt, out):
    from core.formats.prefs_io import export_preferences, import_preferences
    from core.store import Store

    prefs = _seed(store)
    target = tmp_path / out
    assert export_preferences(store, target) == 3  # the format comes from the name
    fresh = Store(tmp_path / "fresh.db")
    counts = import_preferences(fresh, [target])
    assert (counts.imported, counts.duplicates, counts.rejected) == (3, 0, 0)
    back = fresh.live_preferences()
    assert _texts(back) == _texts(prefs)
    assert back[0].source == {"trl": "prefs.jsonl:1", "llamafactory": "preferences.json:2"}[fmt]  # file and line
    # importing the same file again only finds duplicates
    assert import_preferences(fresh, [target]).duplicates == 3
    fresh.close()


def test_trl_export_is_conversational(store, tmp_path):
    from core.formats.prefs_io import export_preferences

    _seed(store)
    out = tmp_path / "prefs.jsonl"
    export_preferences(store, out)
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first == {
        "prompt": [{"role": "system", "content": SYSTEM}, *CONTEXT, {"role": "user", "content": "А сколько эпох нужно?"}],
        "chosen": [{"role": "assistant", "content": "Обычно от одной до трёх."}],
        "rejected": [{"role": "assistant", "content": "Сто."}],
    }


def test_llamafactory_export_is_a_ranking_dataset(store, tmp_path):
    from core.formats.prefs_io import export_preferences

    _seed(store)
    folder = tmp_path / "lf"
    folder.mkdir()
    (folder / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "mine.json"}}), encoding="utf-8")
    export_preferences(store, folder, fmt="llamafactory")
    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["mine"] == {"file_name": "mine.json"}  # the folder's other entries are kept
    entry = info["nastavnik_preferences"]
    assert entry["ranking"] is True and entry["formatting"] == "sharegpt" and entry["file_name"] == "preferences.json"
    data = json.loads((folder / "preferences.json").read_text(encoding="utf-8"))
    assert data[0]["conversations"] == [
        {"from": "system", "value": SYSTEM},
        {"from": "human", "value": "Что такое эпоха?"},
        {"from": "gpt", "value": "Проход по данным."},
        {"from": "human", "value": "А сколько эпох нужно?"},
    ]
    assert data[0]["chosen"] == {"from": "gpt", "value": "Обычно от одной до трёх."}
    assert len(data[0]["conversations"]) % 2 == 0  # system + an odd number of turns, as LLaMA-Factory checks


def test_trl_standard_and_implicit_prompt_forms(store, tmp_path):
    from core.formats.prefs_io import import_preferences

    f = _jsonl(tmp_path / "mixed.jsonl", [
        {"prompt": "Что такое GGUF?", "chosen": "Формат файлов llama.cpp.", "rejected": "Не знаю.", "system": SYSTEM},
        {"chosen": [{"role": "user", "content": "Привет!"}, {"role": "assistant", "content": "Здравствуйте!"}],
         "rejected": [{"role": "user", "content": "Привет!"}, {"role": "assistant", "content": "Hello!"}]},
        {"prompt": [{"role": "user", "content": [{"type": "text", "text": "Части"}, {"type": "text", "text": " текста"}]}],
         "chosen": [{"role": "assistant", "content": "Да."}], "rejected": [{"role": "assistant", "content": "Нет."}]},
    ])
    assert import_preferences(store, [f]).imported == 3
    a, b, c = store.live_preferences()
    assert (a.prompt, a.system, a.chosen) == ("Что такое GGUF?", SYSTEM, "Формат файлов llama.cpp.")
    assert (b.prompt, b.chosen, b.rejected, b.context) == ("Привет!", "Здравствуйте!", "Hello!", [])
    assert c.prompt == "Части текста" and a.source == "mixed.jsonl:1" and a.kind == "import"


def test_llamafactory_alpaca_and_sharegpt_ranking_entries(store, tmp_path):
    from core.formats.prefs_io import import_preferences

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "alpaca_rank.json").write_text(json.dumps([
        {"q": "Переведи", "extra": "cat", "good": "кошка", "bad": "собака", "sys": SYSTEM,
         "hist": [["Привет", "Здравствуйте"]]},
    ], ensure_ascii=False), encoding="utf-8")
    _jsonl(folder / "share_rank.jsonl", [
        {"messages": [{"role": "system", "content": SYSTEM}, {"role": "human", "content": "Сколько будет 2+2?"}],
         "better": {"role": "bot", "content": "4"}, "worse": {"role": "bot", "content": "5"}},
    ])
    (folder / "dataset_info.json").write_text(json.dumps({
        "rank_a": {"file_name": "alpaca_rank.json", "ranking": True,
                   "columns": {"prompt": "q", "query": "extra", "chosen": "good", "rejected": "bad", "system": "sys",
                               "history": "hist"}},
        "rank_s": {"file_name": "share_rank.jsonl", "ranking": True, "formatting": "sharegpt",
                   "columns": {"messages": "messages", "chosen": "better", "rejected": "worse"},
                   "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "human", "assistant_tag": "bot"}},
    }), encoding="utf-8")
    counts = import_preferences(store, [folder])  # the folder holding dataset_info.json
    assert counts.imported == 2
    a, s = store.live_preferences()
    assert (a.prompt, a.chosen, a.rejected, a.system) == ("Переведи\ncat", "кошка", "собака", SYSTEM)
    assert a.context == [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуйте"}]
    assert (s.prompt, s.chosen, s.rejected, s.system) == ("Сколько будет 2+2?", "4", "5", SYSTEM)


def test_bare_llamafactory_files_are_recognised_by_their_keys(store, tmp_path):
    from core.formats.prefs_io import import_preferences

    f = _jsonl(tmp_path / "dpo.jsonl", [
        {"conversations": [{"from": "human", "value": "Вопрос?"}], "chosen": {"from": "gpt", "value": "Да."},
         "rejected": {"from": "gpt", "value": "Нет."}},
    ])
    g = _jsonl(tmp_path / "dpo_alpaca.jsonl", [{"instruction": "Вопрос 2?", "input": "", "chosen": "Да.", "rejected": "Нет."}])
    assert import_preferences(store, [f, g]).imported == 2
    assert [p.prompt for p in store.live_preferences()] == ["Вопрос?", "Вопрос 2?"]


@pytest.mark.parametrize(
    "record, message",
    [
        ({"prompt": "Вопрос?", "chosen": "Да."}, "bad.jsonl:2, field 'rejected': missing"),
        ({"prompt": "", "chosen": "Да.", "rejected": "Нет."}, "bad.jsonl:2, field 'prompt': the prompt is empty"),
        ({"prompt": [{"role": "user", "content": "Вопрос?"}, {"role": "assistant", "content": "Да."}],
          "chosen": "Да.", "rejected": "Нет."}, "field 'prompt[1]': the prompt ends with a assistant turn"),
        ({"prompt": [{"role": "tool", "content": "x"}], "chosen": "Да.", "rejected": "Нет."},
         "field 'prompt[0].role': role 'tool' is not supported"),
        ({"prompt": "Вопрос?", "chosen": [{"role": "user", "content": "Да."}], "rejected": "Нет."},
         "field 'chosen': expected the assistant's answer"),
        ({"prompt": "Вопрос?", "chosen": "Да.", "rejected": "  Да. "}, "the chosen and the rejected answer are the same"),
        ({"chosen": "Да.", "rejected": "Нет."}, "field 'prompt': missing — text answers need a \"prompt\""),
        ({"chosen": [{"role": "user", "content": "А"}, {"role": "assistant", "content": "1"}],
          "rejected": [{"role": "user", "content": "Б"}, {"role": "assistant", "content": "2"}]},
         "field 'rejected[0]': the chosen and rejected conversations differ"),
    ],
)
def test_bad_records_name_line_and_field_and_import_nothing(store, tmp_path, record, message):
    from core.formats.prefs_io import import_preferences

    good = {"prompt": "Хороший вопрос?", "chosen": "Да.", "rejected": "Нет."}
    f = _jsonl(tmp_path / "bad.jsonl", [good, record, good | {"prompt": "Ещё?"}])
    with pytest.raises(UserError) as err:
        import_preferences(store, [f])
    assert message in str(err.value) and "nothing was imported" in str(err.value)
    assert "--skip-bad" in str(err.value)
    assert store.count_preferences() == 0 and store.last_action() is None


def test_skip_bad_imports_the_rest_and_writes_the_reasons(store, tmp_path):
    from core.formats.prefs_io import import_preferences

    f = tmp_path / "some.jsonl"
    f.write_text('{"prompt": "Да?", "chosen": "Да.", "rejected": "Нет."}\n{not json\n', encoding="utf-8")
    rejects = tmp_path / "rejects.jsonl"
    counts = import_preferences(store, [f], skip_bad=rejects)
    assert (counts.imported, counts.rejected) == (1, 1)
    bad = json.loads(rejects.read_text(encoding="utf-8"))
    assert bad["location"] == "some.jsonl:2" and "invalid JSON" in bad["reason"]


def test_files_that_are_not_preferences_are_refused(store, tmp_path):
    from core.formats.prefs_io import import_preferences

    pairs = _jsonl(tmp_path / "pairs.jsonl", [{"question": "Вопрос?", "answer": "Ответ."}])
    with pytest.raises(UserError, match=r"pairs.jsonl:1: not a preference record .*nastavnik pairs import"):
        import_preferences(store, [pairs])
    info = tmp_path / "lf" / "dataset_info.json"
    info.parent.mkdir()
    (info.parent / "sft.json").write_text("[]", encoding="utf-8")
    info.write_text(json.dumps({"sft": {"file_name": "sft.json"}}), encoding="utf-8")
    with pytest.raises(UserError, match="entry 'sft' is not a preference dataset"):
        import_preferences(store, [info])
    csv = tmp_path / "prefs.csv"
    csv.write_text("prompt;chosen;rejected\nа;б;в\n", encoding="utf-8")
    with pytest.raises(UserError, match="preferences are read from JSON, JSONL, Parquet"):
        import_preferences(store, [csv])
    with pytest.raises(UserError, match="no such file"):
        import_preferences(store, [tmp_path / "missing.jsonl"])
    assert store.count_preferences() == 0


def test_the_pairs_importer_points_ranking_data_to_prefs_import(store, tmp_path):
    from core.formats.pairs_io import import_files

    folder = tmp_path / "lf"
    folder.mkdir()
    (folder / "rank.json").write_text("[]", encoding="utf-8")
    (folder / "dataset_info.json").write_text(json.dumps({"r": {"file_name": "rank.json", "ranking": True}}), encoding="utf-8")
    with pytest.raises(UserError, match="ranking .*nastavnik prefs import"):
        import_files(store, [folder / "dataset_info.json"])


def test_export_names_and_errors(store, tmp_path):
    from core.formats.preferences import export_format

    assert export_format(tmp_path / "a.jsonl") == "trl"
    assert export_format(tmp_path / "folder") == "llamafactory"
    assert export_format(tmp_path / "dataset_info.json") == "llamafactory"
    with pytest.raises(UserError, match="cannot tell the preference format"):
        export_format(tmp_path / "a.csv")
    from core.formats.prefs_io import export_preferences

    with pytest.raises(UserError, match="no such folder"):
        export_preferences(store, tmp_path / "nope" / "a.jsonl")


def test_a_parquet_file_as_the_hub_serves_trl_datasets(store, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.formats.prefs_io import import_preferences

    table = pa.Table.from_pylist([
        {"prompt": [{"role": "user", "content": "Что такое GGUF?"}],
         "chosen": [{"role": "assistant", "content": "Формат llama.cpp."}],
         "rejected": [{"role": "assistant", "content": "Не знаю."}]},
        {"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "А LoRA?"}],
         "chosen": [{"role": "assistant", "content": "Низкоранговая добавка."}],
         "rejected": [{"role": "assistant", "content": "Радио."}]},
    ])
    pq.write_table(table, tmp_path / "train-00000.parquet")
    assert import_preferences(store, [tmp_path / "train-00000.parquet"]).imported == 2
    a, b = store.live_preferences()
    assert (a.prompt, a.chosen, b.system, b.prompt) == ("Что такое GGUF?", "Формат llama.cpp.", SYSTEM, "А LoRA?")
    assert a.source == "train-00000.parquet row 1"


def test_an_empty_preferences_file_is_refused_as_empty(store, tmp_path):
    from core.formats.prefs_io import import_preferences

    empty = tmp_path / "prefs.jsonl"
    empty.write_text("", "utf-8")
    with pytest.raises(UserError) as err:
        import_preferences(store, [empty])
    assert err.value.code == "import.empty" and "prefs.jsonl: the file has no records" in str(err.value)
