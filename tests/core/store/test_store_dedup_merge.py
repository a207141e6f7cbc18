"""Settling a duplicate group is one store action: one undo brings everything back, and a
pair changed elsewhere since the group was loaded stops the whole merge before it writes."""

from __future__ import annotations

import pytest

from core.store import PairChanged, PairFilter


@pytest.fixture
def group(store):
    """A conflict group (same question, three answers) plus an unrelated pair."""
    a = store.add_pair("Что такое эпоха?", "Один проход по данным.", tags=["основы"])
    b = store.add_pair("Что такое эпоха?", "Полный проход по всему набору.", tags=["обучение"], status="approved")
    c = store.add_pair("что такое  эпоха?", "Проход.", split="eval")
    store.add_pair("Что такое батч?", "Пачка примеров.")
    return [a, b, c]


def state(store, pid):
    p = store.get_pair(pid)
    return (p.question, p.answer, p.tags, p.status, p.split, p.deleted is None)


def test_merge_is_one_action_and_one_undo_restores_every_pair(store, group):
    a, b, c = group
    before = {p.id: state(store, p.id) for p in group}
    actions_before = store.conn.execute("SELECT count(*) FROM actions").fetchone()[0]

    kept = store.merge_pairs(
        b.id, [a.id, c.id], answer="Один полный проход по всему набору.", tags=["обучение", "основы"],
        expected={p.id: p for p in group},
    )

    assert kept.answer == "Один полный проход по всему набору." and kept.tags == ["обучение", "основы"]
    assert kept.status == "approved" and kept.deleted is None
    assert store.get_pair(a.id).deleted and store.get_pair(c.id).deleted
    assert store.dedup().conflicts == []
    assert store.count_pairs(PairFilter(query="Один полный проход")) == 1
    assert store.conn.execute("SELECT count(*) FROM actions").fetchone()[0] == actions_before + 1
    assert "merge" in store.last_action().summary

    store.undo()

    assert {p.id: state(store, p.id) for p in group} == before
    # the search index is back too: the old answer is found, the merged one is not
    assert store.count_pairs(PairFilter(query="Один полный проход")) == 0
    assert store.count_pairs(PairFilter(query="Проход")) == 3
    assert [[p.id for p in g] for g in store.dedup().conflicts] == [[a.id, b.id, c.id]]
    # and nothing else is left to undo from the merge: the next undo takes back the adds
    assert store.last_action().kind == "add"


def test_keep_one_is_one_action_and_one_undo(store, group):
    a, b, c = group
    store.merge_pairs(a.id, [b.id, c.id], expected={p.id: p for p in group})
    assert store.get_pair(a.id).answer == "Один проход по данным."
    assert [p.id for p in store.list_pairs(PairFilter(trash=True))] == [b.id, c.id]
    store.undo()
    assert store.list_pairs(PairFilter(trash=True)) == []
    assert store.last_action().kind == "add"


@pytest.mark.parametrize(
    "change, culprit",
    [
        (lambda s, a, b, c: s.update_pair(b.id, answer="Правка из другого окна."), "b"),  # the kept pair
        (lambda s, a, b, c: s.set_status([c.id], "approved"), "c"),  # a pair about to be trashed
        (lambda s, a, b, c: s.add_tags([a.id], ["новое"]), "a"),
        (lambda s, a, b, c: s.delete_pairs([c.id]), "c"),  # already trashed elsewhere
    ],
)
def test_a_change_elsewhere_stops_the_merge_and_writes_nothing(store, home, group, change, culprit):
    from core.workspace import Workspace

    a, b, c = group
    loaded = {p.id: p for p in group}
    with Workspace.open(home).store() as other:  # another window, the CLI…
        change(other, a, b, c)
    after_change = {p.id: state(store, p.id) for p in group}
    actions = store.conn.execute("SELECT count(*) FROM actions").fetchone()[0]
    revisions = store.conn.execute("SELECT count(*) FROM revisions").fetchone()[0]

    with pytest.raises(PairChanged) as info:
        store.merge_pairs(b.id, [a.id, c.id], answer="Слитый ответ.", tags=["x"], expected=loaded)

    assert info.value.pair_id == {"a": a.id, "b": b.id, "c": c.id}[culprit]
    assert {p.id: state(store, p.id) for p in group} == after_change
    assert store.conn.execute("SELECT count(*) FROM actions").fetchone()[0] == actions
    assert store.conn.execute("SELECT count(*) FROM revisions").fetchone()[0] == revisions


def test_updated_stamps_work_as_expected_too(store, group):
    a, b, c = group
    stamps = {p.id: p.updated for p in group}
    store.update_pair(a.id, status="rejected")
    with pytest.raises(PairChanged) as info:
        store.merge_pairs(b.id, [a.id, c.id], expected=stamps)
    assert info.value.pair_id == a.id and store.list_pairs(PairFilter(trash=True)) == []
    stamps[a.id] = store.get_pair(a.id).updated
    store.merge_pairs(b.id, [a.id, c.id], expected=stamps)
    assert [p.id for p in store.list_pairs(PairFilter(trash=True))] == [a.id, c.id]


def test_without_expected_the_merge_still_goes_through_and_checks_its_input(store, group):
    from core.errors import UserError

    a, b, c = group
    with pytest.raises(UserError):
        store.merge_pairs(a.id, [a.id, b.id])
    with pytest.raises(UserError):
        store.merge_pairs(a.id, [b.id], answer="   ")
    with pytest.raises(UserError):
        store.merge_pairs(a.id, [999])
    assert store.list_pairs(PairFilter(trash=True)) == []
    store.delete_pairs([c.id])
    with pytest.raises(UserError):
        store.merge_pairs(c.id, [a.id])  # the kept pair sits in the trash
    store.merge_pairs(a.id, [b.id], answer="Новый ответ.")
    assert store.get_pair(a.id).answer == "Новый ответ." and store.get_pair(b.id).deleted


def test_one_cli_undo_takes_back_a_merge(cli, home):
    from core.workspace import Workspace

    with Workspace.open(home).store() as s:
        a = s.add_pair("Что такое эпоха?", "Один проход.")
        b = s.add_pair("Что такое эпоха?", "Полный проход.")
        s.merge_pairs(b.id, [a.id], answer="Один полный проход.", expected={a.id: a, b.id: b})
    result = cli("pairs", "undo")
    assert result.code == 0 and "merge into pair 2" in result.out
    with Workspace.open(home).store() as s:
        assert s.get_pair(a.id).deleted is None and s.get_pair(b.id).answer == "Полный проход."
