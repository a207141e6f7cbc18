"""What changed between two runs: each kind of change made between two runs' snapshots,
written by the code that writes them when a run starts (``open_run``, through tests.support.runs),
and diffed exactly."""

from __future__ import annotations

import json
from pathlib import Path

from core.train.run_diff import (Added, Edited, PreferenceState, Removed, SettingChange, SplitChange, StatusChange, TagChange,
                                 compare_runs, diff_preferences, text_change)
from tests.support.runs import open_done_run as _open
from tests.support.runs import two_runs_with_every_change as make_two_runs


def _ids(items) -> list:
    return [(x.id, getattr(x, "reason", getattr(x, "before", None))) for x in items]


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


def test_a_snapshot_with_the_pairs_left_out_reads_back_as_the_data_the_run_trains_on(home, store):
    """A resumed run reads its snapshot again: the left-out lines add no example and leave its hash."""
    from core.train.pipeline import read_snapshot

    a, b, p = make_two_runs(home, store)
    snap = read_snapshot(Path(b.run_dir) / "dataset.jsonl")
    assert snap.sha256 == b.dataset_sha256 and (len(snap.train), len(snap.eval)) == (b.train_pairs, b.eval_pairs)
    assert [(o.pair_id, o.reason) for o in snap.left_out] == [(p["rejected"], "rejected"), (p["deleted"], "deleted"),
                                                              (p["unapproved"], "draft")]
    assert {ex.pair_id: ex.tags for ex in snap.train}[p["retagged"]] == ["общее"]


def test_a_model_maps_to_the_run_it_was_exported_from(home, store):
    """The models registry's run first; a model registered without one, through the export job that named it."""
    from core.train.run_diff import run_of_model

    a, b, _ = make_two_runs(home, store)
    store.add_model("gguf", "run-1-q8_0", str(home / "run-1.gguf"), run_id=a.id)
    store.add_model("gguf", "renamed", str(home / "renamed.gguf"))
    store.create_export_job(source=str(b.id), quants=["q8_0"], name="renamed", run_id=b.id)
    store.add_model("gguf", "base-q8_0", str(home / "base.gguf"))
    assert [run_of_model(store, m) for m in ("run-1-q8_0", "renamed", "base-q8_0", "nothing")] == [a.id, b.id, None, None]
