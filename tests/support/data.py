"""Sample data the tests share: pairs from the bundled sample set, a workspace filled with them
and the demo model, a teacher's notes to draft from, a run as the store sees it, and a
side-by-side question with its answers as Chat stores it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.paths import SAMPLE


def sample_pairs(n_train: int, n_eval: int) -> list[dict]:
    train, evals = [], []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        msgs = rec["messages"]
        if len(msgs) != 2:
            continue
        pair = {"question": msgs[0]["content"], "answer": msgs[1]["content"], "split": rec.get("split", "train")}
        (evals if pair["split"] == "eval" else train).append(pair)
    return train[:n_train] + evals[:n_eval]


def fill_home(store, cli, demo_model, n_train: int, n_eval: int) -> None:
    for p in sample_pairs(n_train, n_eval):
        store.add_pair(p["question"], p["answer"], status="approved", split=p["split"])
    store.add_pair("Черновик без одобрения", "Не должен попасть в обучение", status="draft")
    r = cli("models", "add", str(demo_model), "--name", "demo")
    assert r.code == 0, r.err


def run_state(home: Path, run_id: int):
    """The run as the store sees it now (after the liveness check), or None before it exists."""
    from core.train.runs import refresh
    from core.workspace import Workspace

    with Workspace.open(home).store() as s:
        refresh(s)
        return s.find_run(run_id)


# A teacher's notes: twelve short Russian paragraphs to draft pairs from.
NOTES = "\n\n".join([
    "LoRA — способ дообучения больших языковых моделей. Вместо всех весов обучаются две маленькие матрицы.",
    "Ранг LoRA задаёт размер этих матриц. Обычно берут ранг 8 или 16; больший ранг запоминает больше.",
    "Эпоха — один полный проход по всем обучающим данным. Для небольших наборов хватает от одной до трёх эпох.",
    "Проверочная выборка нужна, чтобы заметить переобучение: потеря на ней перестаёт падать раньше.",
    "Скорость обучения для LoRA обычно около 2e-4. Слишком большая скорость делает потерю неустойчивой.",
    "GGUF — формат файлов моделей для llama.cpp. В него экспортируют модель после обучения.",
    "Квантование уменьшает модель: веса хранятся в восьми или четырёх битах вместо шестнадцати.",
    "Шаблон чата задаёт, как реплики пользователя и модели склеиваются в одну строку для обучения.",
    "Размер пакета — сколько примеров модель видит за один шаг. Накопление градиента его увеличивает.",
    "Чем длиннее контекст, тем больше памяти нужно на обучение: внимание растёт с длиной квадратично.",
    "Черновики учителя сначала проверяет человек: он правит ответ и только потом одобряет пару.",
    "Оценка сравнивает ответы модели с эталоном по chrF и показывает, где модель стала хуже.",
])


def asked(store, question: str, answers: dict[str, str], system: str | None = None) -> list[int]:
    """A side-by-side question as Chat stores it (conversation, question, one answer per model);
    the answers' message ids, in ``answers``' order."""
    conv = store.add_conversation(list(answers), system=system).id
    store.add_message(conv, "user", question)
    return [store.add_message(conv, "assistant", text, model=model).id for model, text in answers.items()]
