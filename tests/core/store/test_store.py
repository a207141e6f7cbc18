"""The pair store: what a curator relies on — edits keep history, deletes are reversible,
search finds Cyrillic substrings, duplicates and conflicts are told apart."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.store import PairFilter


def _add(store, q, a, **kw):
    return store.add_pair(q, a, **kw)


def test_add_and_read_back_everything(store):
    p = _add(
        store,
        "Что такое LoRA?",
        "Низкоранговая адаптация:\nобучаем малые матрицы.",
        system="Отвечай кратко.",
        context=[{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуйте!"}],
        tags=["lora", "основы", "lora"],
        status="approved",
        split="eval",
        source="cli",
    )
    got = store.get_pair(p.id)
    assert got.question == "Что такое LoRA?"
    assert got.answer == "Низкоранговая адаптация:\nобучаем малые матрицы."
    assert got.system == "Отвечай кратко."
    assert got.context[1]["content"] == "Здравствуйте!"
    assert got.tags == ["lora", "основы"]
    assert (got.status, got.split, got.source) == ("approved", "eval", "cli")
    assert got.created and got.updated


@pytest.mark.parametrize("q,a,field", [("", "ответ", "question"), ("вопрос", "   ", "answer")])
def test_empty_text_is_refused_and_nothing_written(store, q, a, field):
    with pytest.raises(UserError, match=field):
        _add(store, q, a)
    assert store.count_pairs() == 0


def test_bad_status_and_split_are_refused(store):
    with pytest.raises(UserError, match="status"):
        _add(store, "в", "о", status="done")
    with pytest.raises(UserError, match="split"):
        _add(store, "в", "о", split="test")


def test_edit_keeps_old_text_and_revert_restores_it(store):
    p = _add(store, "Что такое эпоха?", "Один проход.")
    store.update_pair(p.id, answer="Один полный проход по обучающим данным.")
    store.update_pair(p.id, answer="Третья версия.", tags=["основы"])
    hist = store.history(p.id)
    texts = [r.answer for r in hist if r.existed]
    assert texts == ["Один проход.", "Один полный проход по обучающим данным."]
    first = [r for r in hist if r.existed][0]
    back = store.revert(p.id, first.id)
    assert back.answer == "Один проход."
    assert back.tags == []
    # the revert is itself in history: the third version is not lost
    assert "Третья версия." in [r.answer for r in store.history(p.id)]


def test_unchanged_edit_makes_no_revision(store):
    p = _add(store, "Вопрос?", "Ответ.")
    before = len(store.history(p.id))
    store.update_pair(p.id, answer="Ответ.")
    assert len(store.history(p.id)) == before


def test_delete_goes_to_trash_and_restores(store):
    p = _add(store, "Вопрос?", "Ответ.")
    store.delete_pairs([p.id])
    assert store.count_pairs() == 0
    assert [x.id for x in store.list_pairs(PairFilter(trash=True))] == [p.id]
    store.restore_pairs([p.id])
    assert store.count_pairs() == 1


def test_undo_walks_back_through_actions(store):
    p = _add(store, "Что такое батч?", "Пачка примеров.")
    store.set_status([p.id], "approved")
    store.add_tags([p.id], ["основы"])
    store.update_pair(p.id, answer="Изменено.")
    store.delete_pairs([p.id])

    assert store.undo().kind == "delete"
    assert store.count_pairs() == 1
    assert store.undo().kind == "edit"
    assert store.get_pair(p.id).answer == "Пачка примеров."
    assert store.undo().kind == "tag"
    assert store.get_pair(p.id).tags == []
    assert store.undo().kind == "status"
    assert store.get_pair(p.id).status == "draft"
    assert store.undo().kind == "add"
    assert store.count_pairs() == 0
    assert store.undo() is None


def test_change_tags_adds_and_removes_in_one_step_and_leaves_other_tags(store):
    a = _add(store, "Что такое эпоха?", "Проход по данным.", tags=["основы", "lora"])
    b = _add(store, "Что такое батч?", "Пачка примеров.", tags=["основы", "эпохи"])
    assert store.change_tags([a.id, b.id], add=["мои"], remove=["основы"]) == 2
    assert store.get_pair(a.id).tags == ["lora", "мои"]
    assert store.get_pair(b.id).tags == ["эпохи", "мои"]
    assert store.change_tags([a.id, b.id]) == 0  # nothing asked: no step to undo
    action = store.undo()
    assert action.kind == "tags" and "+мои" in action.summary and "-основы" in action.summary
    assert store.get_pair(a.id).tags == ["основы", "lora"]
    assert store.get_pair(b.id).tags == ["основы", "эпохи"]
    assert store.undo().kind == "add"


def test_undo_of_an_import_removes_the_batch(store):
    _add(store, "Старый?", "Остаётся.")
    rows = [store.prepare_row(f"Вопрос {i}?", f"Ответ {i}.") for i in range(5)]
    counts = store.add_pairs(rows, files=["x.jsonl"])
    assert counts.imported == 5 and store.count_pairs() == 6
    assert store.undo().kind == "import"
    assert store.count_pairs() == 1


def test_bulk_actions_act_on_every_id(store):
    ids = [_add(store, f"Вопрос {i}?", f"Ответ {i}.").id for i in range(4)]
    assert store.set_status(ids[:3], "approved") == 3
    assert store.count_pairs(PairFilter(status="approved")) == 3
    store.toggle_split(ids[:2])
    assert store.count_pairs(PairFilter(split="eval")) == 2
    store.toggle_split(ids[:1])
    assert store.count_pairs(PairFilter(split="eval")) == 1
    with pytest.raises(UserError, match="no pair with id 999"):
        store.set_status([ids[0], 999], "rejected")
    assert store.get_pair(ids[0]).status == "approved"  # nothing half-done


@pytest.mark.parametrize(
    "query,expected",
    [
        ("обуч", {1, 2}),  # a stem inside words, any case
        ("ОБУЧЕНИЕ", {1}),
        ("елка", {3}),  # ё-blind, query without ё
        ("ёлк", {3}),
        ("учени", {1}),  # substring in the middle of a word
        ("lora", {2}),
        ("ранг адаптер", {2}),  # every word must match, in any order
        ("ии", {4}),  # short terms still work
        ("ЁЛ", {3, 4}),  # a short term: case- and ё-blind, in the question or the answer (интеллект)
        ("ии ел", {4}),  # two short terms, one in the question, one in the answer
        ("ии ранг", set()),  # a short and a long term: both must match
        ("квантование", set()),
    ],
)
def test_search_is_substring_case_and_yo_blind(store, query, expected):
    _add(store, "Что такое обучение?", "Процесс подбора весов.")
    _add(store, "Как обучить LoRA-адаптер?", "Задать ранг и альфу.")
    _add(store, "Какого цвета ёлка?", "Зелёная.")
    _add(store, "Что такое ИИ?", "Искусственный интеллект.")
    found = {p.id for p in store.list_pairs(PairFilter(query=query), limit=None)}
    assert found == expected


def test_search_follows_edits_and_deletes(store):
    p = _add(store, "Что такое эпоха?", "Один проход.")
    store.update_pair(p.id, question="Что такое шаг оптимизатора?")
    assert store.count_pairs(PairFilter(query="эпох")) == 0
    assert store.count_pairs(PairFilter(query="оптимизатор")) == 1
    store.delete_pairs([p.id])
    assert store.count_pairs(PairFilter(query="оптимизатор")) == 0


def test_duplicates_and_conflicts(store):
    a = _add(store, "Что такое  ЁЛКА?", "Дерево.")
    b = _add(store, " что такое елка? ", "дерево.")
    c = _add(store, "Что такое ёлка?", "Хвойное растение.")
    _add(store, "Другой вопрос?", "Другой ответ.")
    report = store.dedup()
    assert [[p.id for p in g] for g in report.duplicates] == [[a.id, b.id]]
    assert [[p.id for p in g] for g in report.conflicts] == [[a.id, b.id, c.id]]


def test_import_skips_duplicates_of_store_and_of_itself(store):
    _add(store, "Что такое LoRA?", "Адаптер.")
    rows = [
        store.prepare_row("что такое lora?", "адаптер.", source="f:1"),
        store.prepare_row("Новый вопрос?", "Новый ответ.", source="f:2"),
        store.prepare_row("Новый  вопрос?", "Новый ответ.", source="f:3"),
    ]
    counts = store.add_pairs(rows)
    assert (counts.imported, counts.duplicates) == (1, 2)
    assert store.count_pairs() == 2


def test_random_split_is_seeded_and_exact(store):
    ids = [_add(store, f"Вопрос {i}?", f"Ответ {i}.").id for i in range(50)]
    assert store.split_random(0.2, seed=7) == {"train": 40, "eval": 10}
    first = set(store.pair_ids(PairFilter(split="eval")))
    store.split_random(0.2, seed=7)
    assert set(store.pair_ids(PairFilter(split="eval"))) == first
    store.split_random(0.2, seed=8)
    assert set(store.pair_ids(PairFilter(split="eval"))) != first
    assert len(ids) == 50


def test_stats_counts_and_percentiles(store):
    _add(store, "Короткий?", "Да.", tags=["a"], status="approved")
    _add(store, "Длинный вопрос про обучение?", "Очень длинный ответ " * 10, tags=["a", "b"], split="eval")
    s = store.stats()
    assert s["total"] == 2
    assert s["status"] == {"draft": 1, "approved": 1, "rejected": 0}
    assert s["split"] == {"train": 1, "eval": 1}
    assert s["tags"] == {"a": 2, "b": 1}
    assert s["length"]["answer_chars"]["max"] == len("Очень длинный ответ " * 10)
    assert s["length"]["answer_tokens"]["max"] > s["length"]["answer_tokens"]["min"]


def test_paging_and_sorting(store):
    for i in range(30):
        _add(store, f"Вопрос {i:02d}?", f"Ответ {i}.")
    page = store.list_pairs(order="question", desc=True, offset=5, limit=10)
    assert [p.question for p in page] == [f"Вопрос {i:02d}?" for i in range(24, 14, -1)]
    with pytest.raises(UserError, match="sort"):
        store.list_pairs(order="question; DROP TABLE pairs")


def test_trash_is_not_searched_but_can_be_searched_itself(store):
    a = _add(store, "Что такое квантование?", "Сжатие весов.")
    b = _add(store, "Зачем квантование весов?", "Чтобы модель влезла в память.")
    store.delete_pairs([a.id])
    assert [p.id for p in store.list_pairs(PairFilter(query="квантование"))] == [b.id]
    assert store.count_pairs(PairFilter(query="квантование")) == 1
    assert [p.id for p in store.list_pairs(PairFilter(query="квантование", trash=True))] == [a.id]
    # edits in the trash, restore, undo and redo cycles keep search exact
    store.update_pair(a.id, question="Что такое дистилляция?")
    store.restore_pairs([a.id])
    assert store.count_pairs(PairFilter(query="дистилляц")) == 1
    assert store.count_pairs(PairFilter(query="квантование")) == 1
    store.undo()  # the restore
    assert store.count_pairs(PairFilter(query="дистилляц")) == 0
    store.undo()  # the edit
    store.undo()  # the delete
    assert store.count_pairs(PairFilter(query="квантование")) == 2
    assert store.count_pairs(PairFilter(query="дистилляц")) == 0
    store.delete_pairs([a.id, b.id])
    assert store.purge_trash() == 2
    assert store.count_pairs(PairFilter(trash=True)) == 0
    c = _add(store, "Снова квантование?", "Да.")
    assert [p.id for p in store.list_pairs(PairFilter(query="квантование"))] == [c.id]


def test_token_estimates_in_sql_match_python(store):
    from core.text import estimate_tokens

    texts = ["Что такое LoRA?", "What is a token?", "Ё", "a b  c", "Смешанный text с English словами и цифрами 123.", "x" * 7]
    for t in texts:
        store.add_pair(t, t + " ответ")
    lengths = store.answer_token_lengths()
    assert lengths == [estimate_tokens(t) + estimate_tokens(t + " ответ") for t in texts]
    s = store.stats()
    assert s["length"]["question_tokens"]["max"] == max(estimate_tokens(t) for t in texts)


def test_big_imports_keep_pages_on_indexes(store):
    """After a bulk import the planner walks the ORDER BY index and counts read the small
    live-pair indexes (a temp sort of every row took 3 s a page at a million pairs)."""
    rows = [store.prepare_row(f"Вопрос {i}?", f"Ответ {i}.") for i in range(3000)]
    store.add_pairs(rows)
    plan = " ".join(
        r[3] for r in store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT p.id FROM pairs p WHERE p.deleted IS NULL ORDER BY p.updated DESC, p.id DESC LIMIT 100 OFFSET 1000"
        )
    )
    assert "TEMP B-TREE" not in plan, plan
    plan = " ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN SELECT count(*) FROM pairs p WHERE p.deleted IS NULL"))
    assert "COVERING INDEX" in plan, plan


@pytest.mark.parametrize("order", ["id", "question", "updated", "status"])
@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize("query", [None, "вопрос"])
def test_a_page_read_after_a_row_is_the_page_an_offset_reads(store, order, desc, query):
    """Keyset paging (the table seeks to a row it holds instead of walking past an OFFSET) must
    give the rows the offset gives, in every order, with ties, gaps and a search."""
    rows = [store.prepare_row(f"Вопрос {i % 7}", f"Ответ {i}") for i in range(60)]  # questions repeat: ties
    store.add_pairs(rows, skip_duplicates=False)
    ids = [p.id for p in store.list_pairs(limit=None)]
    store.delete_pairs(ids[5:9] + ids[30:31])  # gaps in the ids
    store.set_status(ids[::3], "approved")
    flt = PairFilter(query=query)
    everything = [p.id for p in store.list_pairs(flt, order=order, desc=desc, limit=None)]
    assert len(everything) == 55
    for start in (0, 9, 20, 41):
        anchor = store.list_pairs(flt, order=order, desc=desc, offset=start, limit=1)[0]
        for skip in (0, 3, 10):
            page = store.list_pairs(flt, order=order, desc=desc, after=anchor, offset=skip, limit=10)
            assert [p.id for p in page] == everything[start + 1 + skip:start + 11 + skip], (start, skip)
        back = store.list_pairs(flt, order=order, desc=not desc, after=anchor, limit=4)
        assert [p.id for p in reversed(back)] == everything[max(0, start - 4):start]


def test_pair_row_is_where_list_pairs_shows_the_pair_in_every_order_and_filter(store):
    for n, q in enumerate(["Бета?", "Альфа?", "Гамма про эпоху?", "Альфа про эпоху?", "Дельта?"]):
        store.add_pair(q, f"Ответ {n}.", split="eval" if n == 2 else "train")
    filters = [PairFilter(), PairFilter(split="train"), PairFilter(query="эпоху")]
    for flt in filters:
        for order in ("id", "question", "split"):
            for desc in (False, True):
                shown = [p.id for p in store.list_pairs(flt, order=order, desc=desc, limit=None)]
                for pair_id in range(1, 6):
                    expected = shown.index(pair_id) if pair_id in shown else None
                    assert store.pair_row(pair_id, flt, order=order, desc=desc) == expected, (flt, order, desc, pair_id)
