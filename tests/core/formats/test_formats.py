"""Every import format reads into the right records, and detection picks the right format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UserError
from core.formats import BadRecord, Record, detect, export_format, read_file


def records(path, fmt=None, encoding=None) -> list[Record]:
    out = []
    for loc, rec in read_file(path, fmt, encoding):
        assert not isinstance(rec, BadRecord), rec.message()
        out.append(rec)
    return out


def bad_records(path, fmt=None) -> list[BadRecord]:
    return [rec for _, rec in read_file(path, fmt) if isinstance(rec, BadRecord)]


def jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


# ------------------------------------------------------------------ JSON shapes


def test_messages_jsonl_with_system_tags_split(tmp_path):
    f = jsonl(
        tmp_path / "m.jsonl",
        [
            {
                "messages": [
                    {"role": "system", "content": "Ты — наставник."},
                    {"role": "user", "content": "Что такое ёлка?"},
                    {"role": "assistant", "content": "Дерево.\nХвойное."},
                ],
                "split": "eval",
                "tags": ["основы", "лес"],
                "status": "approved",
            },
            {"messages": [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": [{"type": "text", "text": "Здравствуй"}]}]},
            {"messages": [{"role": "developer", "content": "Кратко."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
        ],
    )
    assert detect(f).format == "messages"
    recs = records(f)
    assert recs[0] == Record("Что такое ёлка?", "Дерево.\nХвойное.", "Ты — наставник.", [], ["основы", "лес"], "approved", "eval")
    assert recs[1] == Record("Привет", "Здравствуй")
    assert recs[2] == Record("2+2?", "4", "Кратко.")


def test_sharegpt_multi_turn_gives_one_pair_per_exchange_with_context(tmp_path):
    f = jsonl(
        tmp_path / "s.jsonl",
        [
            {
                "conversations": [
                    {"from": "system", "value": "Отвечай кратко."},
                    {"from": "human", "value": "Что такое LoRA?"},
                    {"from": "gpt", "value": "Низкоранговые адаптеры."},
                    {"from": "human", "value": "А QLoRA?"},
                    {"from": "gpt", "value": "LoRA поверх 4-битной модели."},
                    {"from": "human", "value": "Сколько памяти?"},
                    {"from": "gpt", "value": "Меньше."},
                ]
            }
        ],
    )
    assert detect(f).format == "sharegpt"
    recs = records(f)
    assert [(r.question, r.answer) for r in recs] == [
        ("Что такое LoRA?", "Низкоранговые адаптеры."),
        ("А QLoRA?", "LoRA поверх 4-битной модели."),
        ("Сколько памяти?", "Меньше."),
    ]
    assert all(r.system == "Отвечай кратко." for r in recs)
    assert recs[0].context == []
    assert recs[2].context == [
        {"role": "user", "content": "Что такое LoRA?"},
        {"role": "assistant", "content": "Низкоранговые адаптеры."},
        {"role": "user", "content": "А QLoRA?"},
        {"role": "assistant", "content": "LoRA поверх 4-битной модели."},
    ]


def test_sharegpt_tool_turn_is_refused_with_field(tmp_path):
    f = jsonl(
        tmp_path / "s.jsonl",
        [{"conversations": [{"from": "human", "value": "x"}, {"from": "function_call", "value": "{}"}, {"from": "gpt", "value": "y"}]}],
    )
    (bad,) = bad_records(f)
    assert bad.field == "conversations[1].from" and "not supported" in bad.reason


def test_alpaca_json_array_joins_input_and_keeps_history(tmp_path):
    f = tmp_path / "alpaca.json"
    f.write_text(
        json.dumps(
            [
                {"instruction": "Переведи на английский", "input": "ёжик", "output": "hedgehog"},
                {"instruction": "Сколько будет 2+2?", "input": "", "output": "4", "system": "Ты калькулятор.",
                 "history": [["Привет", "Здравствуй"]]},
            ],
            ensure_ascii=False,
            indent=2,
        ),
        "utf-8",
    )
    assert detect(f).format == "alpaca"
    a, b = records(f)
    assert a.question == "Переведи на английский\nёжик" and a.answer == "hedgehog"
    assert b.question == "Сколько будет 2+2?" and b.system == "Ты калькулятор."
    assert b.context == [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуй"}]
    # locations are the lines the elements start on
    locs = [str(loc) for loc, _ in read_file(f)]
    assert locs == ["alpaca.json:2", "alpaca.json:7"]


@pytest.mark.parametrize("qk,ak", [("question", "answer"), ("prompt", "completion"), ("query", "response"), ("вопрос", "ответ")])
def test_flat_question_answer_keys(tmp_path, qk, ak):
    f = jsonl(tmp_path / "qa.jsonl", [{qk: "Вопрос ё?", ak: "Ответ\n2", "tags": "a, b", "split": "eval"}])
    assert detect(f).format == "qa"
    assert records(f) == [Record("Вопрос ё?", "Ответ\n2", tags=["a", "b"], split="eval")]


def test_forced_format_overrides_detection(tmp_path):
    f = jsonl(tmp_path / "x.jsonl", [{"question": "q", "answer": "a"}])
    (bad,) = bad_records(f, "messages")
    assert bad.field == "messages" and "missing" in bad.reason
    with pytest.raises(UserError, match="unknown format 'yaml'"):
        detect(f, "yaml")


# ------------------------------------------------------------------ tables


def test_excel_csv_bom_semicolon_crlf_multiline_russian_headers(tmp_path):
    f = tmp_path / "вопросы.csv"
    text = (
        "Вопрос;Ответ;Системный промпт;Теги;Статус;Сплит\r\n"
        '"Что такое ""эпоха""?";"Один проход\nпо всем данным; целиком.";;основы, обучение;одобрено;проверка\r\n'
        "Ёлка?;Дерево;Ты ботаник.;;;\r\n"
        ";;;;;\r\n"
        "Третий;Ответ;;\"x; y\";draft;train\r\n"
    )
    f.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert detect(f).format == "csv"
    recs = records(f)
    assert recs[0] == Record('Что такое "эпоха"?', "Один проход\nпо всем данным; целиком.", None, [], ["основы", "обучение"], "approved", "eval")
    assert recs[1] == Record("Ёлка?", "Дерево", "Ты ботаник.")
    assert recs[2] == Record("Третий", "Ответ", None, [], ["x", "y"], "draft", "train")
    assert [str(loc) for loc, _ in read_file(f)] == ["вопросы.csv row 2", "вопросы.csv row 3", "вопросы.csv row 5"]


def test_cp1251_csv_is_detected(tmp_path):
    f = tmp_path / "win.csv"
    f.write_bytes("Вопрос;Ответ\r\nЧто такое ёлка?;Хвойное дерево, растёт в лесу.\r\nКак дела?;Хорошо, спасибо.\r\n".encode("cp1251"))
    recs = records(f)
    assert [(r.question, r.answer) for r in recs] == [("Что такое ёлка?", "Хвойное дерево, растёт в лесу."), ("Как дела?", "Хорошо, спасибо.")]
    # short files too, where a generic detector guesses wrong; and the other Russian code pages
    for enc in ("cp1251", "koi8-r", "cp866"):
        tiny = tmp_path / f"tiny-{enc}.csv"
        tiny.write_bytes("Вопрос;Ответ\r\nЧто?;Щука\r\n".encode(enc))
        assert records(tiny) == [Record("Что?", "Щука")], enc
    # the same file read as UTF-8 on request is refused with the line and a hint
    with pytest.raises(UserError, match=r"win.csv:1: cannot read the text as utf-8.*--encoding"):
        records(f, encoding="utf-8")


def test_tsv_and_utf16_unicode_text(tmp_path):
    f = tmp_path / "t.tsv"
    f.write_text("question\tanswer\r\nq1\t\"a1\ta1\"\r\n", "utf-8")
    assert detect(f).format == "tsv"
    assert records(f) == [Record("q1", "a1\ta1")]
    g = tmp_path / "excel.txt"
    g.write_bytes("Вопрос\tОтвет\r\nВ1\tО1\r\n".encode("utf-16"))
    assert records(g, "tsv") == [Record("В1", "О1")]


def test_csv_without_question_column_names_the_columns(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("id;text\n1;hello\n", "utf-8")
    with pytest.raises(UserError, match=r"bad.csv: no question column \(found: id, text\)"):
        records(f)


def test_parquet_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "d.parquet"
    pq.write_table(pa.table({"question": ["Что?", "Где?"], "answer": ["Это.", "Там."], "tags": [["x"], []]}), f)
    assert detect(f).container == "parquet"
    assert records(f) == [Record("Что?", "Это.", tags=["x"]), Record("Где?", "Там.")]


def test_hf_folder_dataset_and_datasetdict(tmp_path):
    import pyarrow as pa

    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    rows = {"messages": [[{"role": "user", "content": "Вопрос"}, {"role": "assistant", "content": "Ответ"}]]}
    datasets.Dataset(pa.table(rows)).save_to_disk(str(tmp_path / "one"))
    assert detect(tmp_path / "one").format == "hf"
    assert records(tmp_path / "one") == [Record("Вопрос", "Ответ")]
    assert records(tmp_path / "one" / "dataset_info.json") == [Record("Вопрос", "Ответ")]
    dd = datasets.DatasetDict(
        {"train": datasets.Dataset(pa.table({"question": ["q1"], "answer": ["a1"]})), "test": datasets.Dataset(pa.table({"question": ["q2"], "answer": ["a2"]}))}
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    assert [(r.question, r.split) for r in records(tmp_path / "dd")] == [("q1", "train"), ("q2", "eval")]


def test_folder_that_is_not_a_dataset_is_refused(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("x")
    with pytest.raises(UserError, match="not a `datasets` folder"):
        detect(tmp_path / "junk")


def test_llamafactory_dataset_info(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "alp.json").write_text(json.dumps([{"instr": "Что?", "inp": "контекст", "out": "Ответ"}], ensure_ascii=False), "utf-8")
    jsonl(
        d / "chat.jsonl",
        [{"dialog": [{"speaker": "sys", "text": "Будь краток."}, {"speaker": "me", "text": "Привет"}, {"speaker": "bot", "text": "Здравствуй"}]}],
    )
    (d / "dataset_info.json").write_text(
        json.dumps(
            {
                "my_alpaca": {"file_name": "alp.json", "columns": {"prompt": "instr", "query": "inp", "response": "out"}},
                "my_chat": {
                    "file_name": "chat.jsonl",
                    "formatting": "sharegpt",
                    "columns": {"messages": "dialog"},
                    "tags": {"role_tag": "speaker", "content_tag": "text", "user_tag": "me", "assistant_tag": "bot", "system_tag": "sys"},
                },
            }
        ),
        "utf-8",
    )
    for target in (d / "dataset_info.json", d):
        assert detect(target).format == "llamafactory"
        assert records(target) == [Record("Что?\nконтекст", "Ответ"), Record("Привет", "Здравствуй", "Будь краток.")]
    (d / "dataset_info.json").write_text(json.dumps({"x": {"hf_hub_url": "org/ds"}}))
    with pytest.raises(UserError, match=r"points elsewhere \(hf_hub_url\)"):
        detect(d / "dataset_info.json")


# ------------------------------------------------------------------ detection and errors


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("a.json", '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n', "messages"),
        ("a.txt", '{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}\n', "sharegpt"),
        ("a.jsonl", '{"instruction": "q", "output": "a"}\n', "alpaca"),
        ("a.data", '[{"prompt": "q", "completion": "a"}]', "qa"),
        ("a.json", '{\n  "question": "q",\n  "answer": "a"\n}\n', "qa"),
        ("noext", "question;answer\nq;a\n", "csv"),
    ],
)
def test_detection(tmp_path, name, content, expected):
    f = tmp_path / name
    f.write_text(content, "utf-8")
    assert detect(f).format == expected
    assert [(r.question, r.answer) for r in records(f)] == [("q", "a")]


def test_unknown_format_lists_formats_and_suggests_format_option(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("just some words\n", "utf-8")
    with pytest.raises(UserError) as err:
        detect(f)
    assert "--format" in str(err.value) and "sharegpt" in str(err.value) and "csv" in str(err.value)
    g = jsonl(tmp_path / "odd.jsonl", [{"foo": 1}])
    with pytest.raises(UserError, match=r"odd.jsonl:1: cannot tell the record format.*foo.*--format"):
        records(g)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        detect(tmp_path / "nope.jsonl")


def test_broken_json_line_and_empty_answer_are_bad_records_with_location_and_field(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"question": "q1", "answer": "a1"}\n{"question": "q2", "answer": \n{"question": "q3", "answer": "  "}\n', "utf-8")
    b1, b2 = bad_records(f)
    assert str(b1.location) == "d.jsonl:2" and b1.reason.startswith("invalid JSON") and b1.raw == '{"question": "q2", "answer": '
    assert str(b2.location) == "d.jsonl:3" and b2.field == "answer" and "empty" in b2.reason


def test_export_format_from_name(tmp_path):
    assert export_format(tmp_path / "x.jsonl") == "messages"
    assert export_format(tmp_path / "x.csv") == "csv"
    assert export_format(tmp_path / "x.tsv") == "tsv"
    assert export_format(tmp_path / "x.parquet") == "parquet"
    assert export_format(tmp_path / "folder") == "hf"
    assert export_format(tmp_path / "x.jsonl", "sharegpt") == "sharegpt"
    with pytest.raises(UserError, match="--format"):
        export_format(tmp_path / "x.xlsx")


def test_cp1251_jsonl_is_detected_and_unknown_encoding_refused(tmp_path):
    f = tmp_path / "win.jsonl"
    rows = [{"question": f"Что такое ёлка номер {i}?", "answer": "Хвойное дерево, растёт в лесу."} for i in range(3)]
    f.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("cp1251"))
    assert [r.question for r in records(f)] == [r["question"] for r in rows]
    assert [r.question for r in records(f, encoding="cp1251")] == [r["question"] for r in rows]
    with pytest.raises(UserError, match="unknown encoding 'klingon'"):
        records(f, encoding="klingon")


def test_excel_sep_line_names_the_delimiter(tmp_path):
    f = tmp_path / "sep.csv"
    f.write_text("sep=,\r\nВопрос,Ответ\r\nА;Б,В;Г\r\n", "utf-8")
    assert records(f) == [Record("А;Б", "В;Г")]
    assert [str(loc) for loc, _ in read_file(f)] == ["sep.csv row 3"]


def test_jsonl_whose_first_line_is_an_array_stays_jsonl(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('[1, 2]\n{"question": "q", "answer": "a"}\n', "utf-8")
    got = [(str(loc), rec) for loc, rec in read_file(f)]
    assert got[0][0] == "x.jsonl:1" and isinstance(got[0][1], BadRecord) and "found list" in got[0][1].reason
    assert got[1] == ("x.jsonl:2", Record("q", "a"))
    g = tmp_path / "y.json"
    g.write_text('[{"question": "q", "answer": "a"}]\n{"question": "lost?"}', "utf-8")
    assert detect(g, "json").container == "json"
    with pytest.raises(UserError, match=r"y.json:2: invalid JSON \(extra data"):
        records(g, "json")
