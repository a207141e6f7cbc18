"""LLaMA-Factory's message format imports: typed content parts, loss_weight per turn.

Its current data files (``data/v1_sft_demo.jsonl`` in hiyouga/LLaMA-Factory) write every turn
as ``{"role": …, "content": [{"type": "text", "value": …}], "loss_weight": 0.0|1.0}``, the
system prompt included. The records below are written the same way, in Russian.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UserError
from core.formats import BadRecord, Record, detect, read_file
from core.formats.pairs_io import import_files


def turn(role: str, *texts: str, weight: float | None = None, parts: list[dict] | None = None) -> dict:
    out: dict = {"role": role, "content": parts if parts is not None else [{"type": "text", "value": t} for t in texts]}
    if weight is not None:
        out["loss_weight"] = weight
    return out


SYSTEM = turn("system", "Ты — наставник по дообучению моделей. Отвечай по-русски.", weight=0.0)

MULTI_TURN = {
    "messages": [
        SYSTEM,
        turn("user", "Что такое LoRA?", weight=0.0),
        turn("assistant", "Низкоранговые адаптеры: ", "маленькие матрицы поверх замороженных весов.", weight=1.0),
        turn("user", "А QLoRA?", weight=0.0),
        turn("assistant", "LoRA поверх модели, загруженной в 4 битах.", weight=1.0),
    ]
}
CONTEXT_TURN = {  # the first answer is shown to the model but not trained on
    "messages": [
        turn("user", "Привет!", weight=0.0),
        turn("assistant", "Здравствуйте! Чем помочь?", weight=0.0),
        turn("user", "Сколько эпох ставить на 200 пар?", weight=0.0),
        turn("assistant", "Начните с трёх и смотрите на eval loss.", weight=1.0),
        turn("user", "Спасибо", weight=0.0),
        turn("assistant", "Пожалуйста!", weight=0.0),  # after the last trained answer: no pair
    ]
}
NOTHING_TO_LEARN = {
    "messages": [
        SYSTEM,
        turn("user", "Что такое эпоха?", weight=0.0),
        turn("assistant", "Один проход по всем данным.", weight=0.0),
    ]
}
IMAGE = {
    "messages": [
        turn("user", parts=[{"type": "text", "value": "Что на картинке?"}, {"type": "image_url", "value": "cat.png"}], weight=0.0),
        turn("assistant", "Кот.", weight=1.0),
    ]
}
OPENAI_PARTS = {  # the OpenAI shape of a text part, with OpenAI's integer weight
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Что такое "}, {"type": "text", "text": "токен?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Кусочек текста, которым модель читает и пишет."}], "weight": 1},
    ]
}


def jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def good_records(path) -> list[Record]:
    out = []
    for _, rec in read_file(path):
        assert not isinstance(rec, BadRecord), rec.message()
        out.append(rec)
    return out


def test_multi_turn_with_system_joins_text_parts(tmp_path):
    f = jsonl(tmp_path / "lf.jsonl", [MULTI_TURN])
    assert detect(f).format == "messages"
    first, second = good_records(f)
    system = "Ты — наставник по дообучению моделей. Отвечай по-русски."
    # parts are joined as LLaMA-Factory renders them: with nothing in between
    assert first == Record("Что такое LoRA?", "Низкоранговые адаптеры: маленькие матрицы поверх замороженных весов.", system)
    assert second == Record(
        "А QLoRA?",
        "LoRA поверх модели, загруженной в 4 битах.",
        system,
        [
            {"role": "user", "content": "Что такое LoRA?"},
            {"role": "assistant", "content": "Низкоранговые адаптеры: маленькие матрицы поверх замороженных весов."},
        ],
    )


def test_an_answer_with_loss_weight_0_is_context_not_a_pair(tmp_path):
    f = jsonl(tmp_path / "ctx.jsonl", [CONTEXT_TURN])
    (rec,) = good_records(f)
    assert (rec.question, rec.answer) == ("Сколько эпох ставить на 200 пар?", "Начните с трёх и смотрите на eval loss.")
    assert rec.context == [
        {"role": "user", "content": "Привет!"},
        {"role": "assistant", "content": "Здравствуйте! Чем помочь?"},
    ]


def test_openai_text_parts_still_import(tmp_path):
    f = jsonl(tmp_path / "oa.jsonl", [OPENAI_PARTS])
    assert good_records(f) == [Record("Что такое токен?", "Кусочек текста, которым модель читает и пишет.")]


def test_final_answer_with_weight_0_is_a_bad_record_with_line_and_field(tmp_path):
    f = jsonl(tmp_path / "lf.jsonl", [MULTI_TURN, NOTHING_TO_LEARN])
    got = list(read_file(f))
    assert [str(loc) for loc, _ in got] == ["lf.jsonl:1", "lf.jsonl:1", "lf.jsonl:2"]
    bad = got[2][1]
    assert isinstance(bad, BadRecord)
    assert bad.field == "messages[2].loss_weight"
    assert "nothing to learn" in bad.reason and "weight 0" in bad.reason


def test_non_text_part_names_its_type_and_never_calls_text_not_text(tmp_path):
    f = jsonl(tmp_path / "img.jsonl", [IMAGE])
    ((_, bad),) = list(read_file(f))
    assert isinstance(bad, BadRecord)
    assert bad.field == "messages[0].content[1]"
    assert "'image_url'" in bad.reason and "only text parts" in bad.reason
    assert "'text' part" not in bad.reason
    # a text part with its text missing is not called "not text" either
    g = jsonl(tmp_path / "empty_part.jsonl", [{"messages": [turn("user", parts=[{"type": "text"}]), turn("assistant", "Ответ")]}])
    ((_, bad),) = list(read_file(g))
    assert bad.field == "messages[0].content[0]" and "text part needs its text" in bad.reason
    assert "only text" not in bad.reason


def test_import_into_the_store_all_or_nothing_then_skip_bad(store, tmp_path):
    f = jsonl(tmp_path / "lf.jsonl", [MULTI_TURN, CONTEXT_TURN, NOTHING_TO_LEARN, IMAGE])
    with pytest.raises(UserError) as err:
        import_files(store, [f])
    msg = str(err.value)
    assert "lf.jsonl:3, field 'messages[2].loss_weight'" in msg and "nothing to learn" in msg
    assert "1 more bad record" in msg and "nothing was imported" in msg and "--skip-bad" in msg
    assert store.count_pairs() == 0

    rejects = tmp_path / "rejects.jsonl"
    counts = import_files(store, [f], skip_bad=rejects)
    assert (counts.imported, counts.rejected) == (3, 2)
    pairs = list(store.iter_pairs())
    assert [(p.question, p.source) for p in pairs] == [
        ("Что такое LoRA?", "lf.jsonl:1"),
        ("А QLoRA?", "lf.jsonl:1"),
        ("Сколько эпох ставить на 200 пар?", "lf.jsonl:2"),
    ]
    assert pairs[2].context[1] == {"role": "assistant", "content": "Здравствуйте! Чем помочь?"}
    rej = [json.loads(line) for line in rejects.read_text("utf-8").splitlines()]
    assert [(r["location"], r["field"]) for r in rej] == [("lf.jsonl:3", "messages[2].loss_weight"), ("lf.jsonl:4", "messages[0].content[1]")]


def test_cli_pairs_import(cli, tmp_path):
    f = jsonl(tmp_path / "lf.jsonl", [MULTI_TURN, CONTEXT_TURN, NOTHING_TO_LEARN])
    r = cli("pairs", "import", f, "--json")
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and "lf.jsonl:3, field 'messages[2].loss_weight'" in r.err and "nothing to learn" in r.err
    r = cli("pairs", "import", f, "--skip-bad", tmp_path / "rej.jsonl", "--json")
    assert r.code == 0, r.err
    assert r.json() == {"imported": 3, "duplicates": 0, "rejected": 1}
    shown = cli("pairs", "list", "--json").json()
    assert [p["answer"] for p in shown] == [
        "Низкоранговые адаптеры: маленькие матрицы поверх замороженных весов.",
        "LoRA поверх модели, загруженной в 4 битах.",
        "Начните с трёх и смотрите на eval loss.",
    ]
    assert shown[0]["system"] == "Ты — наставник по дообучению моделей. Отвечай по-русски."
    g = jsonl(tmp_path / "img.jsonl", [IMAGE])
    r = cli("pairs", "import", g)
    assert r.code == 2 and "img.jsonl:1, field 'messages[0].content[1]'" in r.err and "'image_url'" in r.err
