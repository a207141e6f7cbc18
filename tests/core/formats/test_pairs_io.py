"""Import into the store and export from it: all or nothing, --skip-bad, exact round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UserError
from core.formats.pairs_io import export_pairs, import_files
from core.store import PairFilter
from tests.support.paths import SAMPLE

FIELDS = ("question", "answer", "system", "context", "tags", "status", "split")


def state(store, flt=None) -> list[tuple]:
    return [tuple(getattr(p, f) for f in FIELDS) for p in store.iter_pairs(flt)]


def fill(store) -> None:
    """Pairs that exercise everything an export must carry."""
    store.add_pair("Что такое ёлка?", "Хвойное дерево.\nРастёт в лесу.", tags=["основы", "лес"], status="approved", split="eval")
    store.add_pair(
        'Кавычки "такие" и ; точка с запятой, запятая',
        "Строка 1\r\nСтрока 2\n\n  отступ  ",
        system="Ты — строгий наставник.\nОтвечай по-русски.",
        tags=["a, b", "[x]", "c;d"],
        status="rejected",
    )
    store.add_pair(
        "А QLoRA?",
        "LoRA поверх 4-битной модели.",
        system="Отвечай кратко.",
        context=[{"role": "user", "content": "Что такое LoRA?"}, {"role": "assistant", "content": "Низкоранговые адаптеры."}],
        tags=["lora"],
        split="train",
    )
    store.add_pair(
        "Продолжи",
        "…и всё.",
        context=[{"role": "assistant", "content": "Начало ответа"}, {"role": "user", "content": "Ещё"}, {"role": "user", "content": "Ну?"}],
    )
    store.add_pair("Emoji 🙂 and tab\there", "Ответ с ё и Ё", status="draft")
    store.add_pair("Длинный ответ?", "очень длинный ответ; " * 8000)  # past csv's default field limit


@pytest.fixture
def other(tmp_path):
    from core.workspace import Workspace

    s = Workspace.open(tmp_path / "other").store()
    yield s
    s.close()


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def sixty(tmp_path: Path, bad_line: str | None = None) -> Path:
    rows = [json.dumps({"question": f"Вопрос {i}", "answer": f"Ответ {i}"}, ensure_ascii=False) for i in range(1, 61)]
    if bad_line is not None:
        rows[41] = bad_line
    f = tmp_path / "data.jsonl"
    f.write_text("\n".join(rows) + "\n", "utf-8")
    return f


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("out.jsonl", None),
        ("out.json", None),
        ("share.jsonl", "sharegpt"),
        ("alp.json", "alpaca"),
        ("alp.jsonl", "alpaca"),
        ("qa.jsonl", "qa"),
        ("out.csv", None),
        ("out.tsv", None),
        ("out.parquet", None),
        ("hf_folder", None),
    ],
)
def test_export_then_import_round_trips_exactly(store, other, tmp_path, name, fmt):
    if name == "hf_folder":
        pytest.importorskip("datasets")
    fill(store)
    out = tmp_path / name
    assert export_pairs(store, out, fmt=fmt) == 6
    counts = import_files(other, [out])
    assert (counts.imported, counts.duplicates, counts.rejected) == (6, 0, 0)
    assert state(other) == state(store)
    assert all(p.source and p.source.startswith(out.name) for p in other.iter_pairs())


def test_export_filters_and_hf_folder_loads_with_datasets(store, tmp_path):
    datasets = pytest.importorskip("datasets")
    fill(store)
    assert export_pairs(store, tmp_path / "ev", flt=PairFilter(split="eval")) == 1
    ds = datasets.load_from_disk(str(tmp_path / "ev"))
    assert ds[0]["messages"][-1]["content"] == "Хвойное дерево.\nРастёт в лесу." and ds[0]["split"] == "eval"
    assert export_pairs(store, tmp_path / "t.jsonl", flt=PairFilter(tag="lora")) == 1
    (line,) = (tmp_path / "t.jsonl").read_text("utf-8").splitlines()
    rec = json.loads(line)
    assert [m["role"] for m in rec["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert rec["messages"][2]["weight"] == 0 and rec["tags"] == ["lora"]


def test_csv_export_is_excel_friendly(store, tmp_path):
    fill(store)
    export_pairs(store, tmp_path / "x.csv")
    data = (tmp_path / "x.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfquestion;answer;system;context;tags;status;split\r\n")


def test_sample_file_imports_if_present(store):
    sample = SAMPLE
    if not sample.exists():
        pytest.skip("the sample data set is not written yet")
    counts = import_files(store, [sample])
    assert counts.imported >= 150 and counts.rejected == 0
    assert store.count_pairs(PairFilter(split="eval")) > 0


# ------------------------------------------------------------------ bad input


def test_broken_line_42_of_60_imports_none_and_names_file_line_field(store, tmp_path):
    f = sixty(tmp_path, json.dumps({"question": "Вопрос 42"}, ensure_ascii=False))
    with pytest.raises(UserError) as err:
        import_files(store, [f])
    msg = str(err.value)
    assert "data.jsonl:42" in msg and "'answer'" in msg and "--skip-bad" in msg and "other 59" in msg
    assert store.count_pairs() == 0


def test_invalid_json_line_imports_none_and_counts_the_other_bad_rows(store, tmp_path):
    f = sixty(tmp_path, '{"question": "Вопрос 42", "answer" "x"}')
    text = f.read_text("utf-8").replace('"Ответ 50"', '""')
    f.write_text(text, "utf-8")
    with pytest.raises(UserError) as err:
        import_files(store, [f])
    msg = str(err.value)
    assert msg.startswith("data.jsonl:42: invalid JSON (Expecting ':' delimiter")
    assert "1 more bad record" in msg and "nothing was imported" in msg
    assert store.count_pairs() == 0


def test_skip_bad_imports_the_good_rows_and_writes_the_rejects(store, tmp_path):
    f = sixty(tmp_path, '{"question": "Вопрос 42", "answer": ')
    rejects = tmp_path / "rejects.jsonl"
    counts = import_files(store, [f], skip_bad=rejects)
    assert (counts.imported, counts.rejected) == (59, 1)
    assert store.count_pairs() == 59
    (line,) = rejects.read_text("utf-8").splitlines()
    rej = json.loads(line)
    assert rej["location"] == "data.jsonl:42" and rej["reason"].startswith("invalid JSON") and rej["raw"] == '{"question": "Вопрос 42", "answer": '
    assert set(rej) == {"location", "field", "reason", "raw"}


def test_empty_answer_is_refused_with_the_field_named(store, tmp_path):
    f = tmp_path / "e.csv"
    f.write_text("Вопрос;Ответ\nВ1;О1\nВ2;   \n", "utf-8")
    with pytest.raises(UserError, match=r"e.csv row 3, field 'Ответ': the answer is empty"):
        import_files(store, [f])
    assert store.count_pairs() == 0


def test_a_bad_second_file_stops_the_first_one_too(store, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(UserError, match="no such file"):
        import_files(store, [good, tmp_path / "missing.jsonl"])
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question": "q2", "answer": ""}])
    with pytest.raises(UserError, match="bad.jsonl:1"):
        import_files(store, [good, bad])
    assert store.count_pairs() == 0


def test_options_tags_status_split_and_duplicates(store, tmp_path):
    f = write_jsonl(
        tmp_path / "d.jsonl",
        [{"question": "q1", "answer": "a1", "tags": ["x"], "status": "approved"}, {"question": "q2", "answer": "a2"}, {"question": "Q1 ", "answer": "a1"}],
    )
    counts = import_files(store, [f], tags=["new"], split="eval")
    assert (counts.imported, counts.duplicates) == (2, 1)
    pairs = list(store.iter_pairs())
    assert [(p.tags, p.status, p.split, p.source) for p in pairs] == [
        (["x", "new"], "approved", "eval", "d.jsonl:1"),
        (["new"], "draft", "eval", "d.jsonl:2"),
    ]
    again = import_files(store, [f], status="rejected")
    assert (again.imported, again.duplicates) == (0, 3)
    kept = import_files(store, [f], skip_duplicates=False, status="rejected")
    assert kept.imported == 3 and store.count_pairs(PairFilter(status="rejected")) == 3


def test_progress_is_reported(store, tmp_path):
    f = sixty(tmp_path)
    seen = []
    import_files(store, [f], progress=seen.append)
    assert (seen[-1].stage, seen[-1].done, seen[-1].total) == ("import", 60, 60) and seen[-1].finished


# ------------------------------------------------------------------ CLI


def test_cli_import_json_and_bad_input_exit_2(cli, tmp_path):
    f = sixty(tmp_path)
    r = cli("pairs", "import", f, "--json")
    assert r.code == 0, r.err
    assert r.json() == {"imported": 60, "duplicates": 0, "rejected": 0}
    g = tmp_path / "sub"
    g.mkdir()
    broken = sixty(g, '{"question": "Новый", "answer": ""}')
    r = cli("pairs", "import", broken, "--json")
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and "data.jsonl:42, field 'answer'" in r.err and "Traceback" not in r.err
    r = cli("pairs", "import", broken, "--skip-bad", g / "rej.jsonl", "--json")
    assert r.code == 0 and r.json() == {"imported": 0, "duplicates": 59, "rejected": 1}


def test_cli_export_and_formats(cli, tmp_path):
    cli("pairs", "add", "-q", "Что?", "-a", "Это.", "-t", "основы")
    r = cli("pairs", "export", tmp_path / "o.csv", "--json")
    assert r.code == 0 and r.json()["exported"] == 1
    r = cli("pairs", "export", tmp_path / "o.xlsx")
    assert r.code == 2 and "--format" in r.err
    r = cli("formats", "--json")
    assert r.code == 0 and {f["name"] for f in r.json()} >= {"messages", "sharegpt", "alpaca", "csv", "parquet", "hf", "llamafactory"}
    r = cli("formats", tmp_path / "o.csv", "--json")
    assert r.code == 0 and r.json()[0]["format"] == "csv" and r.json()[0]["delimiter"] == ";"
    r = cli("formats")
    assert r.code == 0 and "detected by" in r.out


def test_an_empty_file_is_refused_as_empty_not_imported_as_zero(store, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", "utf-8")
    with pytest.raises(UserError) as err:
        import_files(store, [empty])
    assert err.value.code == "import.empty" and err.value.params == {"file": "empty.jsonl"}
    assert "empty.jsonl: the file has no records; nothing was imported" in str(err.value)
    assert store.count_pairs() == 0


def test_a_json_error_that_ends_in_at_is_not_doubled(store, tmp_path):
    """Python's decoder says "Invalid control character at": the column follows it once."""
    for name, text, col in (("tab.jsonl", '{"question": "a\tb", "answer": "c"}\n', 16),
                            ("tab.json", '[{"question": "a\tb", "answer": "c"}]', 17)):
        f = tmp_path / name
        f.write_text(text, "utf-8")
        with pytest.raises(UserError) as err:
            import_files(store, [f])
        assert f"Invalid control character at column {col}" in str(err.value), str(err.value)
        assert "at at" not in str(err.value)


def test_errors_of_the_import_flow_carry_a_code_and_their_parts(store, tmp_path):
    """The app says these in its own language from the code and params; the message stays English."""
    f = sixty(tmp_path, '{"question": "Вопрос 42", "answer" "x"}')
    with pytest.raises(UserError) as err:
        import_files(store, [f])
    assert err.value.code == "import.bad_json"
    assert err.value.params["where"] == "data.jsonl:42" and err.value.params["good"] == 59
    assert err.value.params["json"].startswith("Expecting ':' delimiter at column")
    f = sixty(tmp_path, json.dumps({"question": "Вопрос 42"}, ensure_ascii=False))
    with pytest.raises(UserError) as err:
        import_files(store, [f])
    assert err.value.code == "import.bad_record" and err.value.params["field"] == "answer"
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x00\x01\x02 not a table")
    with pytest.raises(UserError) as err:
        import_files(store, [odd])
    assert err.value.code == "import.unknown_format" and err.value.params["file"] == "odd.bin"
    assert "--format" in err.value.hint  # the CLI's advice is unchanged
