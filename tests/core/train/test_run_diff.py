"""What changed between two runs: each kind of change made between two runs' snapshots,
written by the code that writes them when a run starts (``open_run``), and diffed exactly."""

from __future__ import annotations

import json
from pathlib import Path

from core.train.config import TrainConfig
from core.train.pipeline import take_snapshot
from core.train.run_diff import (Added, Edited, Removed, SettingChange, SplitChange, StatusChange, TagChange, compare_runs,
                                 diff_preferences, PreferenceState, text_change)
from core.train.runs import open_run
from core.workspace import Workspace


def _open(home: Path, store, **settings):
    """A run's row, folder, config and snapshot as ``start_run`` writes them (no worker)."""
    config = TrainConfig(base="/models/demo", preset="demo", **settings)
    run = open_run(Workspace.open(home), store, config, take_snapshot(store, config.method), label="demo", backend="hf")
    store.update_run(run.id, status="done")
    return run


def _ids(items) -> list:
    return [(x.id, getattr(x, "reason", getattr(x, "before", None))) for x in items]


def make_two_runs(home: Path, store):
    """Run A, then one change of each kind, then run B; the pairs by role."""
    add = lambda q, a, **kw: store.add_pair(q, a, **{"status": "approved", **kw}).id  # noqa: E731
    same = add("Что такое LoRA?", "Низкоранговые адаптеры.", tags=["база"])
    edited = add("Что такое QLoRA?", "LoRA поверх 4-битной модели.")
    rejected = add("Что такое GGUF?", "Формат файлов llama.cpp.")
    deleted = add("Что такое эпоха?", "Проход по данным.")
    moved = add("Что такое батч?", "Группа примеров.")
    approved = add("Что такое токен?", "Кусок текста.", status="draft")
    retagged = add("Что такое лосс?", "Ошибка модели.", tags=["база"])
    purged = add("Что такое шаг?", "Одно обновление весов.")
    restored = add("Что такое lr?", "Скорость обучения.")
    unapproved = add("Что такое dropout?", "Случайное обнуление.")
    store.delete_pairs([restored])
    a = _open(home, store, lr=2e-4)

    store.update_pair(edited, answer="LoRA поверх модели,\nквантованной в 4 бита.", question="Что такое QLoRA и зачем она?")
    store.set_status([rejected], "rejected")
    store.set_status([approved], "approved")
    store.set_status([unapproved], "draft")
    store.set_split([moved], "eval")
    store.add_tags([retagged], ["общее"])
    store.remove_tags([retagged], ["база"])
    store.restore_pairs([restored])
    store.delete_pairs([purged])
    store.purge_trash()
    store.delete_pairs([deleted])
    new = add("Что такое чекпоинт?", "Сохранённые веса.")
    b = _open(home, store, lr=1e-4)
    return a, b, locals()


def test_runs_diff_lists_exactly_the_changes_made_between_two_runs(home, store):
    a, b, p = make_two_runs(home, store)
    diff = compare_runs(store, b.id)  # against the run before it
    assert (diff.a, diff.b, diff.complete) == (a.id, b.id, True)
    assert diff.settings == [SettingChange("lr", 2e-4, 1e-4)]
    pairs = diff.pairs
    assert _ids(pairs.added) == [(p["approved"], "draft"), (p["restored"], "deleted"), (p["new"], "new")]
    assert _ids(pairs.removed) == [(p["rejected"], "rejected"), (p["deleted"], "deleted"), (p["purged"], "deleted"),
                                   (p["unapproved"], "draft")]
    assert pairs.status == [StatusChange(p["rejected"], "Что такое GGUF?", "approved", "rejected"),
                            StatusChange(p["approved"], "Что такое токен?", "draft", "approved"),
                            StatusChange(p["unapproved"], "Что такое dropout?", "approved", "draft")]
    assert pairs.moved == [SplitChange(p["moved"], "Что такое батч?", "train", "eval")]
    assert pairs.tags == [TagChange(p["retagged"], "Что такое лосс?", ["общее"], ["база"])]
    [edit] = pairs.edited
    assert isinstance(edit, Edited) and edit.id == p["edited"] and edit.question == "Что такое QLoRA и зачем она?"
    assert [(c.field, c.old, c.new) for c in edit.changes] == [
        ("question", "Что такое QLoRA?", "Что такое QLoRA и зачем она?"),
        ("answer", "LoRA поверх 4-битной модели.", "LoRA поверх модели,\nквантованной в 4 бита."),
    ]
    assert edit.changes[1].diff[1:] == ["-LoRA поверх 4-битной модели.", "+LoRA поверх модели,", "+квантованной в 4 бита."]
    assert p["same"] not in {x.id for name in ("added", "removed", "edited", "status", "moved", "tags") for x in getattr(pairs, name)}
    assert diff.preferences is None and diff.kind_a == diff.kind_b == "pairs"

    one = diff.only_pair(p["edited"]).pairs
    assert one.edited == [edit] and not (one.added or one.removed or one.status or one.moved or one.tags)


def test_a_snapshot_from_before_tags_and_reasons_were_kept_reads_with_them_unknown(home, store):
    a, b, p = make_two_runs(home, store)
    path = Path(a.run_dir) / "dataset.jsonl"
    old = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text("".join(json.dumps({k: r[k] for k in ("pair_id", "split", "messages")}, ensure_ascii=False) + "\n"
                            for r in old if "left" not in r), encoding="utf-8")
    diff = compare_runs(store, a.id, b.id)
    assert diff.complete is False
    # what the later (complete) snapshot says still shows; what the old one never kept is unknown, not guessed
    assert _ids(diff.pairs.added) == [(p["approved"], None), (p["restored"], None), (p["new"], None)]
    assert (p["rejected"], "rejected") in _ids(diff.pairs.removed)
    assert diff.pairs.tags == [] and diff.pairs.status == []
    assert diff.pairs.moved == [SplitChange(p["moved"], "Что такое батч?", "train", "eval")]


def test_preference_runs_diff_their_preference_pairs(home, store):
    kept = store.add_preference("Вопрос один", "Хороший ответ.", "Плохой ответ.").id
    gone = store.add_preference("Вопрос два", "Да.", "Нет.").id
    back = store.add_preference("Вопрос три", "Верно.", "Неверно.").id
    store.delete_preferences([back])
    a = _open(home, store, method="orpo")
    store.delete_preferences([gone])
    store.restore_preferences([back])
    new = store.add_preference("Вопрос четыре", "Так.", "Не так.").id
    b = _open(home, store, method="orpo", beta=0.2)
    diff = compare_runs(store, a.id, b.id)
    assert diff.pairs is None and diff.kind_a == "preferences"
    assert diff.settings == [SettingChange("beta", 0.1, 0.2)]
    assert diff.preferences.added == [Added(back, "Вопрос три", "deleted"), Added(new, "Вопрос четыре", "new")]
    assert diff.preferences.removed == [Removed(gone, "Вопрос два", "deleted")]
    assert diff.preferences.edited == [] and kept not in {x.id for x in diff.preferences.added}
    # the store has no way to edit a preference in place; an edited one (same id) shows its text diff
    old = PreferenceState(kept, True, "Вопрос один", chosen="Хороший ответ.", rejected="Плохой ответ.")
    new_state = PreferenceState(kept, True, "Вопрос один", chosen="Лучший ответ.", rejected="Плохой ответ.")
    assert diff_preferences({kept: old}, {kept: new_state}).edited == [
        Edited(kept, "Вопрос один", [text_change("chosen", "Хороший ответ.", "Лучший ответ.")])]
