"""Optimistic concurrency: an edit that carries the pair it loaded never overwrites a change
made elsewhere in the meantime; it raises ``PairChanged`` and writes nothing."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.store import PairChanged, PairFilter, Store


@pytest.fixture
def other(store):
    """A second connection to the same file: another window, or the CLI."""
    s = Store(store.path, migrate=False)
    yield s
    s.close()


def _state(store, pid):
    p = store.get_pair(pid)
    return (p.question, p.answer, p.system, p.tags, p.status, p.split, p.deleted, p.updated), len(store.history(pid))


def test_edit_over_a_concurrent_edit_raises_and_writes_nothing(store, other):
    p = store.add_pair("Что такое эпоха?", "Один проход.", tags=["основы"])
    loaded = store.get_pair(p.id)
    other.update_pair(p.id, answer="Один полный проход по данным.")
    before = _state(store, p.id)
    with pytest.raises(PairChanged) as err:
        store.update_pair(p.id, question=loaded.question, answer="Моя правка.", tags=loaded.tags, expected=loaded)
    assert isinstance(err.value, UserError)  # the CLI and the TUI show it as a message
    assert err.value.current.answer == "Один полный проход по данным."
    assert err.value.expected.answer == "Один проход."
    assert not err.value.gone
    assert f"pair {p.id}" in str(err.value) and "answer" in str(err.value)
    assert _state(store, p.id) == before  # not a byte written, no revision, no action
    assert store.last_action().kind == "edit" and store.last_action().summary == f"edit pair {p.id}"
    assert len([r for r in store.history(p.id) if r.action == "edit"]) == 1


def test_edit_against_the_current_version_saves(store, other):
    p = store.add_pair("Вопрос?", "Ответ.")
    other.update_pair(p.id, answer="Их ответ.")
    fresh = store.get_pair(p.id)
    saved = store.update_pair(p.id, answer="Мой ответ.", expected=fresh)
    assert saved.answer == "Мой ответ."
    assert [r.answer for r in store.history(p.id) if r.existed][-1] == "Их ответ."  # theirs stays in history


def test_change_to_a_field_the_edit_does_not_write_is_kept_not_a_conflict(store, other):
    p = store.add_pair("Вопрос?", "Ответ.")
    loaded = store.get_pair(p.id)
    other.set_status([p.id], "approved")
    saved = store.update_pair(p.id, question="Вопрос?", answer="Новый ответ.", expected=loaded)
    assert (saved.answer, saved.status) == ("Новый ответ.", "approved")


def test_same_change_on_both_sides_is_no_conflict_and_no_revision(store, other):
    p = store.add_pair("Вопрос?", "Ответ.")
    loaded = store.get_pair(p.id)
    other.update_pair(p.id, answer="Один ответ.")
    n = len(store.history(p.id))
    assert store.update_pair(p.id, answer="Один ответ.", expected=loaded).answer == "Один ответ."
    assert len(store.history(p.id)) == n


def test_trashed_or_purged_meanwhile_raises_gone(store, other):
    p = store.add_pair("Вопрос?", "Ответ.")
    loaded = store.get_pair(p.id)
    other.delete_pairs([p.id])
    with pytest.raises(PairChanged, match="trash") as err:
        store.update_pair(p.id, answer="Ответ.", expected=loaded)  # even an edit equal to the stored text
    assert err.value.gone and err.value.current.deleted
    assert store.count_pairs(PairFilter(trash=True)) == 1 and store.count_pairs() == 0
    other.purge_trash()
    with pytest.raises(PairChanged, match="deleted for good") as err:
        store.update_pair(p.id, answer="Моя правка.", expected=loaded)
    assert err.value.gone and err.value.current is None


def test_without_expected_the_last_writer_wins_as_before(store, other):
    p = store.add_pair("Вопрос?", "Ответ.")
    other.update_pair(p.id, answer="Их ответ.")
    assert store.update_pair(p.id, answer="Мой ответ.").answer == "Мой ответ."
    other.delete_pairs([p.id])
    # a blind edit of a trashed pair still edits it in the trash
    assert store.update_pair(p.id, answer="Ещё.").deleted
    with pytest.raises(UserError, match="no pair with id 99"):
        store.update_pair(99, answer="x")


def test_two_changes_in_one_millisecond_still_move_the_stamp(store, other, monkeypatch):
    """The stamp has millisecond resolution; changes closer together than that must not leave it
    where it was, or a caller holding the old stamp would overwrite the second change unawares."""
    import core.store.pairs as pairs

    p = store.add_pair("Вопрос?", "Ответ.")
    frozen = store.get_pair(p.id).updated
    monkeypatch.setattr(pairs, "now", lambda: frozen)  # every write in the same millisecond
    other.set_status([p.id], "approved")
    after_status = store.get_pair(p.id).updated
    other.update_pair(p.id, answer="Их ответ.")
    after_edit = store.get_pair(p.id).updated
    assert frozen < after_status < after_edit
    for seen in (frozen, after_status):
        with pytest.raises(PairChanged):
            store.update_pair(p.id, answer="Мой ответ.", expected=seen)
    assert store.update_pair(p.id, answer="Мой ответ.", expected=after_edit).answer == "Мой ответ."


def test_expected_updated_stamp_refuses_any_change_since(store, other):
    p = store.add_pair("Вопрос?", "Ответ.")
    seen = store.get_pair(p.id).updated
    other.set_status([p.id], "approved")  # any change at all moves the stamp
    with pytest.raises(PairChanged, match=f"pair {p.id} was changed elsewhere after") as err:
        store.update_pair(p.id, answer="Мой ответ.", expected=seen)
    assert err.value.expected is None and err.value.current.status == "approved" and not err.value.gone
    assert store.get_pair(p.id).answer == "Ответ."
    fresh = store.get_pair(p.id).updated
    assert store.update_pair(p.id, answer="Мой ответ.", expected=fresh).answer == "Мой ответ."
    other.delete_pairs([p.id])
    with pytest.raises(PairChanged, match="trash") as err:
        store.update_pair(p.id, answer="Ещё.", expected=store.get_pair(p.id).updated)
    assert err.value.gone
