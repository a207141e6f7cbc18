"""The Russian UI is Russian all the way: a walk through the rooms and the dialogs their keys
open, in ``--lang ru``, reading every text on screen (labels, buttons, placeholders, table
headers, the footer's keys, tabs, options, notifications) and finding no Latin word but names,
code, the user's own data and a short list of terms that have no Russian name."""

from __future__ import annotations

import json
import re

import pytest
from textual.widgets import Button, DataTable, Input, OptionList, Static, Tab
from textual.widgets._footer import FooterKey
from textual.widgets._toggle_button import ToggleButton

from core.errors import UserError
from core.eval.evaluate import eval_pairs, evaluate
from core.export.jobs import start_job
from core.export.source import resolve_source
from core.infer.runner import resolve_model
from core.loop.corrections import answer_message, eval_answer
from core.loop.drafting import draft_answer, open_teacher, read_document, split_document
from core.train.backends import resolve as resolve_backend
from core.train.preference_data import snapshot
from core.train.presets import get_preset
from core.train.runs import cancel_run
from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.app import NastavnikApp
from tui.i18n import set_lang

# terms a Russian user reads as they are, and key names
ALLOWED = {
    "lora", "qlora", "gguf", "chrf", "hf", "bos", "eos", "json", "jsonl", "csv", "tsv", "parquet", "utf",
    "gpu", "cpu", "cuda", "vram", "llama", "cpp", "unsloth", "trl", "peft", "transformers", "hugging", "face",
    "excel", "svg", "sharegpt", "alpaca", "messages", "qa", "llamafactory", "sft", "dpo", "orpo", "bf", "fp", "nf",
    "auto", "nastavnik", "id", "dtype",
    "lat", "cjk",  # the Evaluate grid's markers of an answer that left Russian
    "demo",  # the demo model's name
    # key names
    "ctrl", "shift", "alt", "esc", "escape", "enter", "tab", "space", "up", "down", "left", "right", "home", "end",
    "pgup", "pgdn", "pageup", "pagedown", "del", "delete", "backspace", "ins", "insert",
}
USER_DATA = ("LoRA", "eval")  # words in the workspace's own pairs
ENGLISH_ON_PURPOSE = ("Language: English",)  # the palette's way back to English reads in English

_CODE = re.compile(r"`[^`]*`|\S*[/\\]\S*|\S+\.[A-Za-z]{2,8}\b|\{[^}]*\}|\b\S*[0-9_]\S*\b")
_LATIN = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def latin_words(text: str) -> list[str]:
    """The Latin words of ``text`` that are not code (paths, files, `code`, ids with digits)
    and not allowed terms."""
    words = _LATIN.findall(_CODE.sub(" ", text))
    return [w for w in words if len(w) > 1 and w.lower().strip("'’-") not in ALLOWED]  # one letter: a key


def shown(widget) -> bool:
    """On screen: it and every container above it displayed, and it visible itself."""
    return widget.visible and all(node.display for node in widget.ancestors_with_self if hasattr(node, "display"))


def texts_on_screen(app) -> list[str]:
    """Every text a person reads on the current screen, and the notifications."""
    out: list[str] = []
    for w in app.screen.walk_children(with_self=False):
        if not shown(w):
            continue
        if isinstance(w, Button):
            out.append(str(w.label))
        elif isinstance(w, Input):
            out.append(w.placeholder)
        elif isinstance(w, DataTable):
            out.extend(str(c.label) for c in w.columns.values())
        elif isinstance(w, FooterKey):
            out.append(w.description)
        elif isinstance(w, ToggleButton):
            out.append(str(w.label))
        elif isinstance(w, Tab):
            out.append(str(w.label))
        elif isinstance(w, OptionList):
            out.extend(str(w.get_option_at_index(i).prompt) for i in range(w.option_count))
        elif isinstance(w, Static):
            out.append(str(w.render()))
    out.extend(n.message for n in app._notifications)
    return out


def english_in(app, where: str, found: dict) -> None:
    for text in texts_on_screen(app):
        if text in ENGLISH_ON_PURPOSE:
            continue
        words = [w for w in latin_words(text) if w not in USER_DATA]
        if words:
            found.setdefault(where, []).append((words, text[:120]))


@pytest.fixture
def ws(home):
    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_pair("Что такое эпоха?", "Один проход по данным.", tags=["основы"])
        store.add_pair("Что такое LoRA?", "Низкоранговый адаптер.", tags=["основы", "модели"])
        store.add_pair("Зачем нужна проверка?", "Чтобы заметить переобучение.")
        store.set_status([1, 2], "approved")
        store.set_split([3], "eval")
    return ws


@async_test
async def test_every_room_and_dialog_reads_russian(ws):
    app = NastavnikApp(ws, "ru")
    found: dict = {}
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            english_in(app, "pairs", found)
            for key, name in [("t", "tags"), ("f", "filter"), ("i", "import"), ("e", "export"), ("h", "history"),
                              ("p", "preferences"), ("n", "new pair"), ("enter", "edit"), ("question_mark", "help"),
                              ("ctrl+p", "palette")]:
                await pilot.press(key)
                await settle(pilot)
                if name == "palette":
                    await pilot.press("down")  # the palette lists its commands
                    await pilot.pause(0.5)
                assert app.screen is not app.screen_stack[0], f"{key} opened no {name} dialog"
                english_in(app, name, found)
                await pilot.press("escape")
                await settle(pilot)
            await pilot.press("D")  # dedup: no duplicates here, so a notice
            await settle(pilot)
            english_in(app, "dedup", found)
            while len(app.screen_stack) > 1:
                await pilot.press("escape")
                await settle(pilot)
            await pilot.press("g")  # the stats panel
            await settle(pilot)
            english_in(app, "stats", found)
            await pilot.press("space", "a", "ctrl+z")  # an undo notice
            await settle(pilot)
            english_in(app, "undo", found)
            for tab in ("train", "chat", "evaluate"):
                app.action_tab(tab)
                await settle(pilot)
                english_in(app, tab, found)
                await pilot.press({"chat": "e", "evaluate": "r"}.get(tab, "ctrl+s"))  # with no model: a notice
                await settle(pilot)
                english_in(app, f"{tab} without a model", found)
                app.action_help()  # the keys of this room
                await settle(pilot)
                english_in(app, f"{tab} help", found)
                await pilot.press("escape")
                await settle(pilot)
            app.action_tab("train")
            await settle(pilot)
            for key, name in [("r", "runs"), ("p", "progress"), ("s", "setup"), ("e", "export model")]:
                await pilot.press(key)
                await settle(pilot)
                english_in(app, f"train {name}", found)
            while len(app.screen_stack) > 1:
                await pilot.press("escape")
                await settle(pilot)
            await grade_and_correct_in_chat(app, pilot, ws, found)
    finally:
        set_lang("en")
    assert not found, "\n".join(f"{where}: {words} in {text!r}" for where, items in found.items() for words, text in items)


async def grade_and_correct_in_chat(app, pilot, ws, found: dict) -> None:
    """Two models answer side by side in Chat (fixed answers); a digit grades the chosen one
    (the Grade dialog, then its notice), ``e`` corrects it (the Correct dialog, then its notice)."""
    from tests.support.rooms import fixed_answers
    from tui.dialogs.correct import CorrectAnswerScreen
    from tui.dialogs.grade import GradeScreen
    from tui.rooms.chat import ChatRoom

    models = {"demo-q8_0": "Эпоха — это отдых.", "run-1-q8_0": "Эпоха — один проход по данным."}
    with ws.store() as store:
        for n, name in enumerate(models):
            store.add_model("gguf", name, str(ws.home / f"{name}.gguf"), run_id=n or None)
    app.action_tab("chat")
    await settle(pilot)
    room = app.query_one(ChatRoom)
    room.choose_models(list(models))
    await settle(pilot)
    assert room.chosen() == list(models)
    assert "Моделей нет" not in str(room.query_one("#chat-status").render())  # said before the models came
    room._generate = fixed_answers(room, ws, models)
    room.ask("Что такое эпоха?", room.chosen())
    await settle(pilot)
    english_in(app, "chat with two answers", found)
    room.query_one("#chat-log").focus()
    await pilot.press("4")
    await settle(pilot)
    assert isinstance(app.screen, GradeScreen), app.screen
    english_in(app, "grade", found)
    await pilot.press(*"коротко", "enter")
    await settle(pilot)
    english_in(app, "graded", found)
    await pilot.press("e")
    await settle(pilot)
    assert isinstance(app.screen, CorrectAnswerScreen), app.screen
    english_in(app, "correct", found)
    await pilot.press(*"Эпоха — один полный проход по данным.", "ctrl+s")
    await settle(pilot)
    assert app.screen is app.screen_stack[0], "the correction was not saved"
    english_in(app, "corrected", found)
    with ws.store() as store:
        assert len(store.live_preferences()) == 1  # the walk did grade and correct


async def import_in_dialog(app, pilot, path) -> str:
    """Open Import with its key, give ``path``, press Enter; the dialog's report."""
    await pilot.press("i")
    await settle(pilot)
    field = app.screen.query_one("#imp-path", Input)
    field.value = str(path)
    field.focus()
    await pilot.press("enter")
    await settle(pilot)
    return str(app.screen.query_one("#imp-result", Static).render())


@async_test
async def test_import_errors_are_russian_and_name_the_dialogs_own_controls(ws, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "а", "answer": "б"}\n{"question": "в" "answer": "г"}\n', "utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", "utf-8")
    app = NastavnikApp(ws, "ru")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            report = await import_in_dialog(app, pilot, bad)
            assert "bad.jsonl:2: ошибка в JSON" in report and "ничего не импортировано" in report, report
            assert "«Плохие строки — в файл отказов»" in report and "остальные (1)" in report, report
            assert "--skip-bad" not in report and "nothing" not in report
            await pilot.press("escape")
            await settle(pilot)
            report = await import_in_dialog(app, pilot, empty)
            assert "empty.jsonl: файл пуст (в нём нет записей); ничего не импортировано" in report, report
            assert "Импортировано" not in report
    finally:
        set_lang("en")
    with ws.store() as store:
        assert store.count_pairs() == 3


@async_test
async def test_an_undo_notice_says_what_was_undone_in_russian(ws):
    app = NastavnikApp(ws, "ru")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("x")  # reject the pair under the cursor
            await settle(pilot)
            await pilot.press("ctrl+z")
            await settle(pilot)
            notes = [str(n.message) for n in app._notifications]
            assert "Отменено: статус «отклонено» для пар: 1" in notes, notes
    finally:
        set_lang("en")


def test_a_coded_error_reads_in_the_ui_language_and_falls_back_to_english():
    from tui.i18n import error_lines

    coded = UserError("run 3 is still running; one run at a time", hint="`nastavnik runs cancel 3`",
                      code="run.busy", params={"id": 3, "status": "running"})
    plain = UserError("something only core says", hint="do this")
    short = UserError("run 3 is busy", code="run.busy", params={"id": 3})  # a param the table needs is missing
    set_lang("ru")
    try:
        assert error_lines(coded) == ["Запуск 3 ещё не закончен (идёт); за раз — один запуск",
                                      "Дождитесь его или остановите в комнате «Обучение»."]
        assert error_lines(plain) == ["something only core says", "do this"]
        assert error_lines(short) == ["run 3 is busy"]
    finally:
        set_lang("en")
    assert error_lines(coded)[1] == "Wait for it, or stop it in the Train room."  # no CLI command in the app
    assert str(coded) == "run 3 is still running; one run at a time — `nastavnik runs cancel 3`"  # the CLI's words


def test_the_russian_table_names_the_system_prompt_one_way():
    from tui.strings.ru import STRINGS

    names = {key: text for key, text in STRINGS.items() if key.endswith(".system")}
    assert names and all(text.startswith("Системный промпт") for text in names.values()), names


def test_every_action_the_store_writes_reads_russian_in_an_undo_notice(home):
    """Each kind of change a user can undo, made through the store, then its summary as the
    undo notice shows it: no English word is left but the user's tags."""
    from tui.undo_text import action_text

    ws = Workspace.open(home)
    summaries: list[str] = []
    with ws.store() as s:
        def did(change) -> None:
            change()
            summaries.append(s.last_action().summary)

        did(lambda: s.add_pair("Что такое эпоха?", "Проход по данным."))
        did(lambda: s.add_pair("Что такое эпоха?", "Один проход."))
        did(lambda: s.update_pair(1, answer="Один проход по данным."))
        did(lambda: s.set_status([1, 2], "approved"))
        did(lambda: s.set_split([2], "eval"))
        did(lambda: s.toggle_split([1]))
        did(lambda: s.add_tags([1, 2], ["мои"]))
        did(lambda: s.remove_tags([1], ["мои"]))
        did(lambda: s.change_tags([2], add=["основы"], remove=["мои"]))
        did(lambda: s.delete_pairs([2]))
        did(lambda: s.restore_pairs([2]))
        did(lambda: s.merge_pairs(1, [2], answer="Полный проход по данным."))
        did(lambda: s.split_random(0.5))
    set_lang("ru")
    try:
        texts = [action_text(summary) for summary in summaries]
    finally:
        set_lang("en")
    assert len(texts) == 13
    for summary, text in zip(summaries, texts):
        assert not latin_words(text), (summary, text)


@async_test
async def test_an_export_refusal_is_russian(ws, tmp_path):
    target = tmp_path / "нет-такой-папки" / "pairs.jsonl"
    app = NastavnikApp(ws, "ru")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("e")
            await settle(pilot)
            field = app.screen.query_one("#exp-path", Input)
            field.value = str(target)
            app.screen.query_one("#exp-run", Button).press()
            await settle(pilot)
            report = str(app.screen.query_one("#exp-result", Static).render())
            assert f"{target.parent}: нет такой папки" in report, report
            assert "Сначала создайте её" in report and "no such folder" not in report, report
    finally:
        set_lang("en")
    assert not target.parent.exists()


@async_test
async def test_the_palette_searches_and_finds_nothing_in_russian(ws):
    from textual.command import CommandInput, CommandList

    app = NastavnikApp(ws, "ru")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+p")
            await settle(pilot)
            assert app.screen.query_one(CommandInput).placeholder == "Найти команду…"
            await pilot.press(*"ъъъъъъ")  # no command has it, on either layout
            commands = app.screen.query_one(CommandList)
            for _ in range(100):
                if commands.option_count == 1 and commands.get_option_at_index(0).id == "--no-matches":
                    break
                await pilot.pause(0.05)
            assert "Ничего не найдено" in str(commands.get_option_at_index(0).prompt)
    finally:
        set_lang("en")


# one file per reason a record is refused for, and what the Russian UI must say instead of core's English
REFUSED = {
    "empty.jsonl": ('{"question": "а", "answer": "б"}\n{"question": "в", "answer": " "}\n', "ответ пуст"),
    "comma.jsonl": ('{"question": "а", "answer": "б"}\n{"question": "в" "answer": "г"}\n',
                    "ошибка в JSON (не хватает запятой между элементами, столбец 18)"),
    "name.jsonl": ('{"question": "а", "answer": "б"}\n{question: "в"}\n', "ожидался ключ в двойных кавычках, столбец 2"),
    "value.jsonl": ('{"question": "а", "answer": "б"}\n{"question": }\n', "ожидалось значение, столбец 14"),
    "role.jsonl": ('{"messages": [{"role": "user", "content": "а"}, {"role": "robot", "content": "б"}]}\n',
                   "роль «robot» не поддерживается"),
    "status.jsonl": ('{"question": "а", "answer": "б", "status": "готово"}\n', "неизвестный статус «готово»"),
    "kind.jsonl": ('{"question": "а", "answer": ["б", 1]}\n', "ожидался текст, а здесь список"),
    "missing.jsonl": ('{"question": "а", "ответы нет": "б"}\n', "нет ответа"),
    "array.jsonl": ('[1, 2]\n', "ожидался объект"),
    "alpaca.jsonl": ('{"instruction": "а", "input": ""}\n', "нет ключа `output` с ответом"),
    "weight.jsonl": ('{"messages": [{"role": "user", "content": "а"}, {"role": "assistant", "content": "б", "weight": 0}]}\n',
                     "у ответа вес 0"),
    "array.json": ('[{"question": "а", "answer": "б"},\n {"question": "в", "answer": "г",}]', "ошибка в JSON (ожидался ключ"),
    "columns.csv": ("Вопрос,Нечто\nа,б\n", "нет столбца с ответом"),
    "row.csv": ("Вопрос,Ответ\nа,б\nв,\n", "row.csv, строка таблицы 3, поле «Ответ»: ответ пуст"),
}


def test_why_a_record_is_refused_reads_russian(home, tmp_path):
    """Each reason core gives for a refused record, and the JSON decoder's own words, come to the
    Russian UI in Russian (the line and the column kept); the CLI's English stays as it was."""
    from core.formats.pairs_io import import_files
    from tui.i18n import error_lines

    ws = Workspace.open(home)
    said: dict[str, tuple[list[str], str]] = {}
    for name, (text, _) in REFUSED.items():
        (tmp_path / name).write_text(text, "utf-8")
        with ws.store() as store, pytest.raises(UserError) as caught:
            import_files(store, [tmp_path / name])
        set_lang("ru")
        try:
            said[name] = (error_lines(caught.value, label="Плохие строки — в файл отказов"), str(caught.value))
        finally:
            set_lang("en")
    for name, (lines, english) in said.items():
        text = "\n".join(lines)
        assert REFUSED[name][1] in text, (name, text)
        assert text.startswith(name), (name, text)  # where: the file, and the line
        own = REFUSED[name][0]  # the file's own keys and values, as the file spells them
        assert not [w for w in latin_words(text) if w not in own], (name, text)
    assert "Expecting ',' delimiter at column 18" in said["comma.jsonl"][1]  # the CLI's English, as before
    assert "the answer is empty — write one or remove the record" in said["empty.jsonl"][1]


def russian_lines(error) -> str:
    """``error`` as the Russian UI shows it (message and hint)."""
    from tui.i18n import error_lines

    set_lang("ru")
    try:
        return "\n".join(error_lines(error))
    finally:
        set_lang("en")


def russian_refusal(call) -> tuple[UserError, str]:
    """The UserError ``call()`` raises and its Russian lines (``russian_lines``)."""
    with pytest.raises(UserError) as caught:
        call()
    return caught.value, russian_lines(caught.value)


def test_every_training_setting_check_reads_russian():
    """Each check of the training settings, as the Train form's Start meets it: in Russian, its
    hint naming the form's field where the English names a CLI flag."""
    from core.train.config import TrainConfig

    bad = [dict(base=" "), dict(preset="нет"), dict(backend="nope"), dict(dtype="int3"), dict(template="nope"),
           dict(epochs=0, max_steps=-1), dict(epochs=500), dict(lr=5.0), dict(lora_r=0), dict(lora_alpha=0),
           dict(lora_dropout=1.5), dict(max_seq_len=5), dict(batch_size=0), dict(save_steps=0), dict(targets=[]),
           dict(num_gpus=0), dict(num_processes=0), dict(num_gpus=2, num_processes=2), dict(method="ppo"),
           dict(from_run=3), dict(method="dpo", beta=50.0), dict(method="dpo", sft_weight=-1.0),
           dict(method="dpo", num_gpus=2)]
    codes = set()
    for changes in bad:
        with pytest.raises(UserError) as caught:
            TrainConfig.from_preset("demo").with_(**changes).validate()
        codes.add(caught.value.code)
        text = russian_lines(caught.value)
        own = " ".join(map(str, [*changes.values(), *caught.value.params.values()]))  # the values and names it gives
        assert not [w for w in latin_words(text) if w not in own], (changes, text)
        assert "--" not in text, (changes, text)  # no CLI flag in the app
    assert len(codes) == len(bad)  # one code each
    with pytest.raises(UserError) as caught:
        TrainConfig.from_preset("demo").with_(speed=3)
    assert not latin_words(russian_lines(caught.value).replace("speed", ""))
    with pytest.raises(UserError) as caught:
        TrainConfig.from_preset("demo").with_(lr=5.0).validate()
    assert russian_lines(caught.value) == ("Скорость обучения 5 вне допустимых пределов\n"
                                           "Укажите в «Скорость обуч.» число больше 0 и меньше 1: для LoRA обычно 2e-4.")
    assert str(caught.value) == "lr: learning rate 5.0 is out of range — try 2e-4 for LoRA on a large model"  # the CLI's


def test_the_gpu_checks_before_a_run_read_russian():
    from core.train.device import check_precision

    for family, dtype, bf16 in (("llama", "bfloat16", False), ("gemma3", "bfloat16", False), ("gemma3", "float16", True),
                                ("gemma3", "auto", False)):
        text = russian_refusal(lambda: check_precision(family, dtype, cuda=True, bf16=bf16))[1]
        assert "«Тип (dtype)»" in text and "--dtype" not in text, text
        assert not [w for w in latin_words(text) if w.lower() not in ("gemma", "ampere", "rtx")], text  # names


def test_a_base_model_folder_that_cannot_be_trained_reads_russian(tmp_path):
    from core.train.runs import check_checkpoint

    def folder(name: str, **files: str):
        path = tmp_path / name
        path.mkdir()
        for file, text in files.items():
            (path / file.replace("_", ".")).write_text(text, "utf-8")
        return path

    cases = [tmp_path / "нет", folder("пусто"), folder("бин", config_json="{}", model_bin=""),
             folder("без-весов", config_json="{}"), folder("сломан", config_json='{"a" 1}', model_safetensors=""),
             folder("свой-код", config_json='{"auto_map": {}}', model_safetensors="")]
    (tmp_path / "свой-код" / "config.json").write_text('{"auto_map": {"AutoModel": "x.Y"}}', "utf-8")
    texts = []
    for path in cases:
        texts.append(russian_refusal(lambda: check_checkpoint(path))[1])
    for text in texts:
        assert not latin_words(text), text
    assert "не хватает двоеточия после ключа, столбец 6" in texts[4], texts[4]


NO_ANSWER = {  # a correction of something that is no model's answer: ``call(store, the question's id)``
    "not a number": lambda store, question: answer_message(store, "абв"),
    "no message": lambda store, question: answer_message(store, 99),
    "the question": lambda store, question: answer_message(store, question),
    "eval: not a number": lambda store, question: eval_answer(store, "x", "демо"),
    "eval: no model": lambda store, question: eval_answer(store, 1, " "),
    "eval: no result": lambda store, question: eval_answer(store, 1, "демо"),
}


@pytest.mark.parametrize("call", NO_ANSWER.values(), ids=list(NO_ANSWER))
def test_a_correction_of_something_that_is_no_answer_reads_russian(home, call):
    ws = Workspace.open(home)
    with ws.store() as store:
        conv = store.add_conversation(["демо"])
        question = store.add_message(conv.id, "user", "Что такое эпоха?")
        error, text = russian_refusal(lambda: call(store, question.id))
    assert error.code and not [w for w in latin_words(text) if w not in ("user", "x")], text
    assert "nastavnik" not in text, text


@async_test
async def test_the_train_forms_refusals_and_an_imports_bad_lines_read_russian(ws, tmp_path):
    """From the keys: the Train form started with a value out of range, then with a folder that is
    no checkpoint as its base; then Import of files whose lines are bad JSON or have an empty
    answer. The form's line, the notices and the dialog's report read Russian."""
    ws.update_settings(first_steps=False)
    not_a_model = tmp_path / "модель"
    not_a_model.mkdir()
    bad_json = tmp_path / "сломан.jsonl"
    bad_json.write_text('{"question": "а", "answer": "б"}\n{"question": "в", "answer": "г",}\n', "utf-8")
    empty = tmp_path / "пустой-ответ.jsonl"
    empty.write_text('{"messages": [{"role": "user", "content": "а"}, {"role": "assistant", "content": ""}]}\n', "utf-8")
    app = NastavnikApp(ws, "ru")
    found: dict = {}
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("2")
            await settle(pilot)
            form_error = app.screen.query_one("#train-form-error", Static)
            app.screen.query_one("#train-epochs", Input).value = "500"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert str(form_error.render()).startswith("500 эпох — слишком много"), form_error.render()
            english_in(app, "train: too many epochs", found)
            app.screen.query_one("#train-epochs", Input).value = "1"
            app.screen.query_one("#train-base", Input).value = str(not_a_model)
            await pilot.press("ctrl+s")
            for _ in range(200):  # the run starts in a worker: its refusal comes back
                if "config.json" in str(form_error.render()):
                    break
                await pilot.pause(0.05)
            assert "В " + str(not_a_model) + " нет config.json" in str(form_error.render()), form_error.render()
            english_in(app, "train: not a checkpoint", found)
            app.screen.query_one("#train-base", Input).value = "demo"
            await pilot.press("v")  # the preview of a base that is not built yet
            for _ in range(200):
                if any("Демо-модель" in str(n.message) for n in app._notifications):
                    break
                await pilot.pause(0.05)
            assert any("Демо-модель ещё не собрана" in str(n.message) for n in app._notifications), \
                [str(n.message) for n in app._notifications]
            english_in(app, "train: preview", found)
            with ws.store() as store:
                assert not store.list_runs()
            await pilot.press("1")
            await settle(pilot)
            report = await import_in_dialog(app, pilot, bad_json)
            assert "сломан.jsonl:2: ошибка в JSON (ожидался ключ в двойных кавычках, столбец 33)" in report, report
            english_in(app, "import: bad JSON", found)
            await pilot.press("escape")
            await settle(pilot)
            report = await import_in_dialog(app, pilot, empty)
            assert "ответ пуст — напишите его или уберите запись" in report, report
            english_in(app, "import: empty answer", found)
    finally:
        set_lang("en")
    assert not found, "\n".join(f"{where}: {words} in {text!r}" for where, items in found.items() for words, text in items)


def test_a_run_that_does_not_fit_the_gpu_or_its_backend_reads_russian():
    """What the Train form's Start says when the run will not fit the GPU (each way out named by
    the form's own field) or the chosen backend cannot run it: Russian, no CLI flag."""
    from core.train.backends import unsloth
    from core.train.config import TrainConfig
    from core.train.presets import GiB, PRESETS, estimate_vram
    from core.train.vram import Gpu, check_gpus

    preset = PRESETS["gemma3-12b"]
    card = Gpu(0, "NVIDIA GeForce RTX 3060", 6 * GiB, 12 * GiB)
    refusals = []
    with pytest.raises(UserError) as caught:
        check_gpus(preset, estimate_vram(preset, backend="hf", max_seq_len=2048, batch_size=2), 1, max_seq_len=2048,
                   batch_size=2, found=[card])
    refusals.append(caught.value)
    with pytest.raises(UserError) as caught:
        check_gpus(preset, estimate_vram(preset), 3, max_seq_len=2048, batch_size=2, found=[card])
    refusals.append(caught.value)
    config = TrainConfig.from_preset("demo", num_gpus=2)
    refusals.append(unsloth.available(config))
    texts = [russian_lines(error) for error in refusals]
    assert "«Макс. токенов» (1024)" in texts[0] and "«Размер батча» (1)" in texts[0] and "«Бэкенде»" in texts[0], texts[0]
    for error, text in zip(refusals, texts):
        assert error.code and "--" not in text, text
        assert not [w for w in latin_words(text) if w.lower() not in ("nvidia", "make", "install")], text
    assert "--max-seq-len 1024" in str(refusals[0])  # the CLI's words


ELSEWHERE = {  # what Evaluate, Chat, the model export and the teacher's drafts refuse: ``call(ws, folder)``
    "evaluate nothing": lambda ws, folder: evaluate(ws, []),
    "chat: no such model": lambda ws, folder: resolve_model(ws, "нет-такой"),
    "chat: not a model file": lambda ws, folder: resolve_model(ws, str(folder / "заметки.txt")),
    "export: hidden name": lambda ws, folder: start_job(ws, "1", name=".скрытое"),
    "export: no such source": lambda ws, folder: resolve_source(ws, "нет-такой"),
    "draft: empty question": lambda ws, folder: draft_answer(None, "  "),
    "draft: no teacher": lambda ws, folder: open_teacher(ws, " "),
    "draft: empty document": lambda ws, folder: read_document(folder / "пусто.txt"),
    "draft: document too small to split": lambda ws, folder: split_document("текст", 8, len),
}


@pytest.mark.parametrize("call", ELSEWHERE.values(), ids=list(ELSEWHERE))
def test_evaluate_chat_export_and_draft_refusals_read_russian(home, tmp_path, call):
    """What Evaluate, Chat, the model export and the teacher's drafts refuse, as the app shows it."""
    ws = Workspace.open(home)
    (tmp_path / "пусто.txt").write_text("  \n", "utf-8")
    (tmp_path / "заметки.txt").write_text("текст", "utf-8")
    error, text = russian_refusal(lambda: call(ws, tmp_path))
    assert error.code, text
    assert not latin_words(text) and "nastavnik" not in text, text


def test_a_file_the_import_cannot_read_reads_russian(home, tmp_path):
    from core.formats.pairs_io import import_files

    ws = Workspace.open(home)
    (tmp_path / "папка").mkdir()
    (tmp_path / "данные.arrow").write_bytes(b"ARROW1")
    paths = [tmp_path / "папка", tmp_path / "данные.arrow"]
    for name, spec in {"нет-файла": {"file_name": "нет.json"}, "предпочтения": {"file_name": "a.json", "ranking": True},
                       "формат": {"file_name": "a.json", "formatting": "странный"}}.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "a.json").write_text('[{"instruction": "а", "output": "б"}]', "utf-8")
        (folder / "dataset_info.json").write_text(json.dumps({"набор": spec}, ensure_ascii=False), "utf-8")
        paths.append(folder)
    for path in paths:
        with ws.store() as store:
            error, text = russian_refusal(lambda: import_files(store, [path]))
        assert error.code and not latin_words(text), text


STORE_REFUSALS = {  # a pair or a preference gone from under a dialog, a revision to revert, a tag, a grade, an empty text
    "no such pair": lambda store: store.get_pair(99),
    "one of the pairs gone": lambda store: store.get_pairs([1, 99]),
    "an empty tag": lambda store: store.add_tags([1], [" "]),
    "no such revision": lambda store: store.revert(1, 999),
    "a split share out of range": lambda store: store.split_random(1.5),
    "no such preference": lambda store: store.get_preference(7),
    "no such conversation": lambda store: store.get_conversation(42),
    "no such message": lambda store: store.get_message(42),
    "a grade that is no number": lambda store: store.grade("демо", "Что такое эпоха?", "x"),
    "a grade out of range": lambda store: store.grade("демо", "Что такое эпоха?", 9),
    "an empty answer": lambda store: store.update_pair(1, answer=" "),
    "a pair merged into itself": lambda store: store.merge_pairs(1, [1]),
}


@pytest.mark.parametrize("call", STORE_REFUSALS.values(), ids=list(STORE_REFUSALS))
def test_the_stores_refusals_the_app_meets_read_russian(ws, call):
    """The store's refusals as the app shows them."""
    with ws.store() as store:
        error, text = russian_refusal(lambda: call(store))
    assert error.code and not latin_words(text) and "nastavnik" not in text, text


RUN_REFUSALS = {  # a run that ended or is gone, no preferences: ``call(ws, store, a run that is done)``
    "cancel a done run": lambda ws, store, run: cancel_run(ws, run.id, store=store),
    "no such run": lambda ws, store, run: store.get_run(99),
    "no preferences": lambda ws, store, run: snapshot(store),
    "no such export job": lambda ws, store, run: store.get_export_job(5),
}


@pytest.mark.parametrize("call", RUN_REFUSALS.values(), ids=list(RUN_REFUSALS))
def test_a_run_that_ended_or_is_gone_and_no_preferences_read_russian(ws, call):
    with ws.store() as store:
        run = store.create_run(base="демо", preset="demo", backend="hf", config={"base": "демо"})
        store.update_run(run.id, status="done")
        error, text = russian_refusal(lambda: call(ws, store, run))
    assert error.code and "nastavnik" not in text, text
    assert not latin_words(text), text


@async_test
async def test_a_teacher_that_cannot_load_says_why_in_russian(ws, tmp_path):
    """ctrl+t in the pair editor with a teacher whose GGUF is gone: the model process's refusal
    comes back with its code and reads Russian (it said the child's English before)."""
    with ws.store() as store:
        store.add_model("gguf", "учитель", str(tmp_path / "нет.gguf"))
    app = NastavnikApp(ws, "ru")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("enter")  # the pair under the cursor, in the editor
            await settle(pilot)
            await pilot.press("ctrl+t")
            for _ in range(400):
                notes = [str(n.message) for n in app._notifications]
                if any("GGUF" in n for n in notes):
                    break
                await pilot.pause(0.05)
            assert any(f"Нет файла GGUF {tmp_path / 'нет.gguf'}" in n for n in notes), notes
            found: dict = {}
            english_in(app, "editor draft", found)
            assert not found, found
    finally:
        set_lang("en")


def test_a_rejects_file_that_cannot_be_one_reads_russian(home, tmp_path):
    from core.formats.pairs_io import import_files
    from tui.i18n import error_lines

    ws = Workspace.open(home)
    data = tmp_path / "данные.jsonl"
    data.write_text('{"question": "а", "answer": "б"}\n', "utf-8")
    (tmp_path / "папка").mkdir()
    for rejects in (data, tmp_path / "папка", tmp_path / "нет" / "отказы.jsonl"):
        with ws.store() as store, pytest.raises(UserError) as caught:
            import_files(store, [data], skip_bad=rejects)
        set_lang("ru")
        try:
            text = "\n".join(error_lines(caught.value, label="Плохие строки — в файл отказов"))
        finally:
            set_lang("en")
        assert text.startswith("Файл отказов") and "--skip-bad" not in text, text
        assert not latin_words(text), text


UNKNOWN_NAMES = {"preset": lambda: get_preset("нет"), "backend": lambda: resolve_backend("нет"),
                 "split": lambda: eval_pairs(None, "нет")}


@pytest.mark.parametrize("call", UNKNOWN_NAMES.values(), ids=list(UNKNOWN_NAMES))
def test_a_preset_backend_or_split_the_app_does_not_know_reads_russian(call):
    error, text = russian_refusal(call)
    assert error.code, text
    own = " ".join(map(str, error.params.values()))  # the names it lists
    assert not [w for w in latin_words(text) if w not in own], text


def test_every_code_core_gives_has_its_words_in_both_languages():
    """Each literal error code in core (``code="run.busy"``) and each literal reason code of a
    refused record (``Bad(field, why, "empty_answer")``) has its entry in the strings tables, so
    no coded error falls back to the CLI's English in the app."""
    import ast
    from pathlib import Path

    from tui.strings.en import STRINGS as EN
    from tui.strings.ru import STRINGS as RU

    missing = []
    for path in Path("core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            for kw in node.keywords:
                if kw.arg == "code" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    key = f"error.{kw.value.value}" if name == "UserError" else f"import.reason.{kw.value.value}"
                    if key not in EN or key not in RU:
                        missing.append((str(path), node.lineno, key))
            if name == "Bad" and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
                key = f"import.reason.{node.args[2].value}"
                if key not in EN or key not in RU:
                    missing.append((str(path), node.lineno, key))
    assert not missing, missing


@pytest.mark.parametrize("compiler, headers", [(None, None), (None, "/usr/include/python3.11/Python.h"), ("gcc", None)],
                         ids=["neither", "no compiler", "no headers"])
def test_a_gpu_without_the_tools_to_train_reads_russian(monkeypatch, compiler, headers):
    from core.train import device

    monkeypatch.setattr(device, "c_compiler", lambda: compiler)
    monkeypatch.setattr(device, "python_headers", lambda: headers)
    error, text = russian_refusal(device.check_triton_toolchain)
    assert error.code and not [w for w in latin_words(text) if w not in ("Triton", "Debian", "Ubuntu", "Python")], text  # names
