"""Runs made the cheap way: a run's row, folder, settings and data snapshot written by the code
that writes them when a run starts (``core.train.runs.open_run``), with no worker and no training;
and two such runs with one change of each kind between them, for the run-diff tests."""

from __future__ import annotations

from pathlib import Path


def open_done_run(home: Path, store, **settings):
    """A finished run as ``start_run`` records it (row, config.json, dataset.jsonl), no worker."""
    from core.train.config import TrainConfig
    from core.train.pipeline import take_snapshot
    from core.train.runs import open_run
    from core.workspace import Workspace

    config = TrainConfig(base="/models/demo", preset="demo", **settings)
    run = open_run(Workspace.open(home), store, config, take_snapshot(store, config.method), label="demo", backend="hf")
    return store.update_run(run.id, status="done")


def two_runs_with_every_change(home: Path, store):
    """Run A (lr 2e-4), then one change of each kind to the pairs, then run B (lr 1e-4):
    (run A, run B, the pair ids by what happened to them)."""
    def add(question: str, answer: str, **fields) -> int:
        return store.add_pair(question, answer, **{"status": "approved", **fields}).id

    p = {
        "same": add("Что такое LoRA?", "Низкоранговые адаптеры.", tags=["база"]),
        "edited": add("Что такое QLoRA?", "LoRA поверх 4-битной модели."),
        "rejected": add("Что такое GGUF?", "Формат файлов llama.cpp."),
        "deleted": add("Что такое эпоха?", "Проход по данным."),
        "moved": add("Что такое батч?", "Группа примеров."),
        "approved": add("Что такое токен?", "Кусок текста.", status="draft"),
        "retagged": add("Что такое лосс?", "Ошибка модели.", tags=["база"]),
        "purged": add("Что такое шаг?", "Одно обновление весов."),
        "restored": add("Что такое lr?", "Скорость обучения."),
        "unapproved": add("Что такое dropout?", "Случайное обнуление."),
    }
    store.delete_pairs([p["restored"]])
    a = open_done_run(home, store, lr=2e-4)

    store.update_pair(p["edited"], answer="LoRA поверх модели,\nквантованной в 4 бита.", question="Что такое QLoRA и зачем она?")
    store.set_status([p["rejected"]], "rejected")
    store.set_status([p["approved"]], "approved")
    store.set_status([p["unapproved"]], "draft")
    store.set_split([p["moved"]], "eval")
    store.add_tags([p["retagged"]], ["общее"])
    store.remove_tags([p["retagged"]], ["база"])
    store.restore_pairs([p["restored"]])
    store.delete_pairs([p["purged"]])
    store.purge_trash()
    store.delete_pairs([p["deleted"]])
    p["new"] = add("Что такое чекпоинт?", "Сохранённые веса.")
    b = open_done_run(home, store, lr=1e-4)
    return a, b, p
