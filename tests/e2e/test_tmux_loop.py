"""The whole loop inside the app, in a real terminal: tmux at 80×24, the app in Russian.

Train a short run from the Train room (Enter in the Steps field starts it) → "export and
chat" (c) → ask the base and the tuned model side by side → correct the tuned answer (у, the
Russian-layout e) into the train pair that asks that question → back to Train, train again
(ы, then ctrl+s) → Evaluate the corrected pairs (к, the Russian-layout r). The first-run guide
(«Первые шаги») is on screen all the way: it opens with the loop's keys, and ticks each step
as the walk takes it. Every wait is on
something on the screen or in the store, never on a duration. The app is this checkout's code
(``PYTHONPATH``), started with the test's own Python; the demo base is already exported once per
session (tests/conftest.py), so the loop exports one GGUF: the run's.

Only the wiring is checked here — a two-step run teaches the tiny demo model nothing; the
numbers of a demo that learns are tested in tests/e2e/test_demo_learns.py.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.support.tmux import Tmux, start_app


pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("export"),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]

CORRECTED = "Токен — кусочек текста, с которым работает модель."


def _workspace(home: Path, demo_model: Path) -> dict:
    """The sample pairs (approved, one eval pair: a quick eval and parity check) and the demo base
    registered as "demo", next to its GGUFs from the session export."""
    from core.store import PairFilter
    from core.train.demo import import_sample
    from core.workspace import Workspace

    with Workspace.open(home).store() as store:
        assert import_sample(store) > 100
        evals = store.pair_ids(PairFilter(split="eval"))
        store.set_split(evals[1:], "train")
        store.add_model("base", "demo", str(demo_model), meta={"demo": True}, replace=True)
        taught = next(p for p in store.list_pairs(PairFilter(split="train"), limit=None) if p.question == "Что такое токен?")
        return {"id": taught.id, "question": taught.question, "answer": taught.answer}


def _store(home: Path):
    from core.workspace import Workspace

    return Workspace.open(home).store()


def _run(home: Path, run_id: int):
    with _store(home) as store:
        runs = [r for r in store.list_runs(limit=10) if r.id == run_id]
        return runs[0] if runs else None


def _snapshot_answers(run) -> dict[str, str]:
    """question → answer of a run's dataset snapshot (runs/<id>/dataset.jsonl)."""
    out = {}
    for line in (Path(run.run_dir) / "dataset.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "left" in row:  # a pair the run does not train on (no messages): why it left
            continue
        turns = row["messages"]
        out[turns[-2]["content"]] = turns[-1]["content"]
    return out


def _cursor_on(tmux: Tmux, label: str) -> bool:
    """Whether the text cursor (a cell drawn in reverse: the default theme's foreground as its
    background) is on the screen line of the form field labelled ``label``."""
    styled = tmux.run("capture-pane", "-e", "-p", "-t", "app").stdout
    return any(label in line and "48;5;253m" in line for line in styled.splitlines())


def _tab_to(tmux: Tmux, label: str, most: int = 8) -> None:
    """Tab through the form until the field labelled ``label`` has the cursor."""
    for _ in range(most):
        tmux.keys("Tab")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if _cursor_on(tmux, label):
                return
            time.sleep(0.1)
    raise AssertionError(f"Tab never reached the {label} field:\n" + tmux.screen())


def test_train_export_chat_correct_train_again_evaluate_in_russian_at_80x24(exported_copy, demo_model):  # noqa: F811
    home = exported_copy
    taught = _workspace(home, demo_model)
    tmux = start_app("loop", home)
    started = time.monotonic()

    def stage(name: str) -> None:  # printed: a failure shows how long each step took
        print(f"{time.monotonic() - started:6.1f} s  {name}")

    try:
        tmux.wait_for(lambda s: "Что такое" in s and "пар " in s, "the pairs room", timeout=60)
        # the first-run guide: what the demo is and the loop in three keys, nothing ticked yet
        tmux.wait_for(lambda s: "Первые шаги. Это демо" in s and "☐ 1 Обучить: 2, затем ctrl+s" in s
                      and "☐ 2 Экспорт и чат: c на готовом запуске" in s and "☐ 3 Исправить ответ: e в чате" in s
                      and "ctrl+g — скрыть" in s, "the first-run guide")
        # the room's keys in the footer: the focus is in the room (a key sent before the app took
        # it after its first paint would be lost, or sent back to Pairs)
        tmux.wait_footer("одобрить", "the focus in the Pairs room")

        stage("the app is up")
        # ---- Train: a two-step run, started with Enter in the Steps field
        tmux.keys("2")
        tmux.wait_for(lambda s: "Настройки" in s and "Пресет" in s and "Шаги" in s, "the Train room's Settings")
        tmux.wait_for(lambda s: "Данные:" in s, "the data summary")
        _tab_to(tmux, "Шаги")  # the view tabs → (the form) → Preset → Base model → Steps
        tmux.type("2")
        tmux.wait_for(lambda s: any(line.split()[:2] == ["│", "Шаги"] and "2" in line.split()[2:3] for line in s.splitlines()),
                      "2 in the Steps field")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "Ход обучения" in s and "#1 · шаг" in s, "the run's progress, shown at once")
        # the finished run offers export and chat in the footer
        tmux.wait_for(lambda s: "#1 · шаг 2/2" in s and "готово" in s and "c экспорт и чат" in s, "run 1 done", timeout=300)
        run1 = _run(home, 1)
        assert run1.status == "done", (run1.status, run1.error)
        tmux.wait_for(lambda s: "✓ обучить ☐ чат" in s and "далее: c на готовом запуске" in s, "the guide: step 1 ticked")
        assert _snapshot_answers(run1)[taught["question"]] == taught["answer"]

        stage("run 1 done")
        # ---- export and chat: the run's GGUF, then Chat with the base next to it
        tmux.keys("c")
        tmux.wait_for(lambda s: "Вопрос модели" in s and "demo-q8_0" in s and "run-1-q8_0" in s,
                      "Chat with the base and the tuned model", timeout=300)
        with _store(home) as store:
            assert store.find_model("run-1-q8_0") is not None and store.find_model("run-1-q8_0").run_id == 1
        stage("Chat open")
        # the Chat room was built on this first visit: its question box took the focus before its
        # first layout, so the caret is not where it is drawn; the box's look says it (the system
        # prompt's box, of the same kind, has no focus)
        asking = tmux.wait_focused("модели…", "необязательно)", "the focus in the question box")
        tmux.type(taught["question"])
        tmux.wait_for(lambda s: taught["question"] in s, "the typed question")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "run-1-q8_0:" in s and "ток/с" in s, "both answers written", timeout=120)
        # the answer keys work once both are written: the focus leaves the question box for the
        # answers (the box, empty again, is drawn as without the focus)
        tmux.wait_style("модели…", lambda style: style != asking, "the focus off the question box")
        tmux.wait_for(lambda s: "✓ чат ☐ исправить" in s and "далее: e в чате" in s, "the guide: step 2 ticked")

        stage("both answers")
        # ---- correct the tuned model's answer: it goes into the pair that asks the question
        tmux.keys("Right")  # the next answer: the tuned model's (both keys go to the answers, in order)
        tmux.type("у")  # e on the Russian layout
        tmux.wait_for(lambda s: "Исправьте ответ run-1-q8_0" in s, "the correction dialog for the tuned answer")
        screen = tmux.wait_for(lambda s: f"уже есть в паре #{taught['id']}" in s and f"Заменить ответ пары #{taught['id']}" in s,
                               "the offer to replace the pair's answer")
        assert "Одобрить (ctrl+a)" in screen and "Отмена (esc)" in screen  # every button in view: no notice on them
        tmux.type(CORRECTED)  # the model's answer is selected: typing replaces it
        tmux.wait_for(lambda s: "кусочек текста" in s, "the corrected answer")
        tmux.keys("C-a")  # save approved
        tmux.wait_for(lambda s: f"Ответ пары #{taught['id']} заменён" in s, "the correction saved into the pair")
        with _store(home) as store:
            pair = store.get_pair(taught["id"])
            assert (pair.answer, pair.status, pair.split) == (CORRECTED, "approved", "train")
            (pref,) = store.preferences_of_pair(pair.id)
            assert pref.source.startswith("chat:") and (pref.chosen, pref.model) == (CORRECTED, "run-1-q8_0")
            assert store.get_conversation(int(pref.source.split(":")[1])).messages[-1].content == pref.rejected
        tmux.wait_for(lambda s: "✓ исправить ☐ снова" in s and "далее: 2, затем ctrl+s" in s, "the guide: step 3 ticked")

        stage("corrected")
        # ---- train again: back to Train (digits grade answers in Chat), Settings, ctrl+s
        tmux.keys("C-PageUp")
        tmux.wait_for(lambda s: "Ход обучения" in s and "#1 · шаг 2/2" in s, "the Train room again")
        tmux.type("ы")  # s on the Russian layout: Settings
        tmux.wait_for(lambda s: "Пресет" in s and "^s старт" in s, "Settings with ctrl+s start in the footer")
        tmux.keys("C-s")
        tmux.wait_for(lambda s: "#2 · шаг" in s, "run 2 shown")
        tmux.wait_for(lambda s: "✓ снова" in s and "готово; ctrl+g — скрыть" in s, "the guide: every step ticked")
        tmux.wait_for(lambda s: "#2 · шаг 2/2" in s and "готово" in s, "run 2 done", timeout=300)
        run2 = _run(home, 2)
        assert run2.status == "done", (run2.status, run2.error)
        assert _snapshot_answers(run2)[taught["question"]] == CORRECTED  # it trained on the correction
        assert run2.dataset_sha256 != run1.dataset_sha256

        stage("run 2 done")
        # ---- Evaluate the corrected pairs: the base and the tuned model on that question
        tmux.keys("4")
        tmux.wait_for(lambda s: "Модели (пробел" in s and "пары: проверочная выборка" in s, "the Evaluate room")
        with _store(home) as store:
            listed = sorted(store.list_models(kind="gguf"), key=lambda m: (m.run_id is not None, m.run_id or 0))
        names = [m.name for m in listed]
        base, tuned = names.index("demo-q8_0"), names.index("run-1-q8_0")
        assert base < tuned  # the bases come first, then the runs: the base's column comes first
        tmux.wait_for(lambda s: all(n in s for n in names), "the models listed")
        # tick the base and run 1 while the list has the focus (the room opens on it). Every
        # X is drawn, ticked or not (a tick is a colour): the grid's columns show what is ticked
        for downs, name in ((base, "demo-q8_0"), (tuned - base, "run-1-q8_0")):
            # the first model is highlighted: space selects it (the keys go to the list, in order)
            tmux.keys(*["Down"] * downs, "Space")
            tmux.wait_for(lambda s, name=name: any(line.startswith(" Вопрос") and name in line for line in s.splitlines()),
                          f"{name}'s column in the grid (ticked)")
        # the models → the judge → the pairs; a focused list is drawn on another background, and
        # Enter must wait for that: sent earlier, it would go to the list the focus is leaving
        blurred = tmux.style_of("пары: проверочная выборка")
        tmux.keys("Tab", "Tab")
        tmux.wait_style("пары: проверочная выборка", lambda style: style != blurred, "the focus on the pairs list")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "пары: исправленные вами" in s and "пары: обучающая выборка" in s, "the pairs list open")
        tmux.keys("Down", "Down", "Enter")
        tmux.wait_for(lambda s: "пары: исправленные вами" in s and "обучающая выборка" not in s, "the corrected pairs chosen")
        tmux.type("к")  # r on the Russian layout: evaluate (the room's key, wherever the focus is)
        tmux.wait_for(lambda s: "demo-q8_0: " in s or "Готово: " in s, "the evaluation started")
        screen = tmux.wait_for(lambda s: "Готово: вопросов — 1, моделей" in s, "the evaluation done", timeout=180)
        assert taught["question"] in screen and "run-1-q8_0: chrF" in screen and "demo-q8_0: chrF" in screen, screen
        with _store(home) as store:
            results = {r.model: r for r in store.eval_results(["demo-q8_0", "run-1-q8_0"]) if r.pair_id == taught["id"]}
        assert set(results) == {"demo-q8_0", "run-1-q8_0"} and all(r.reference == CORRECTED for r in results.values())

        stage("evaluated")
        tmux.quit(timeout=20)
    finally:
        tmux.run("kill-server")
