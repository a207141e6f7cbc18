"""The duplicates dialog inside the real app: one merge is one ctrl+z, and a pair changed
elsewhere while the dialog was open stops the merge (nothing written, the user is told which
pair, the groups are loaded again)."""

from __future__ import annotations

import pytest
from textual.widgets import TextArea

from core.store import PairFilter
from core.workspace import Workspace
from tests.support.waits import async_test, settle
from tui.app import NastavnikApp
from tui.dialogs.dedup import DedupScreen
from tui.dialogs.merge import MergeScreen
from tui.widgets.pair_table import PairTable

ONE = "Один проход по данным."
FULL = "Полный проход по всему набору."
MERGED = "Один полный проход по всему набору."


@pytest.fixture
def ws(home):
    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_pair("Что такое эпоха?", ONE, tags=["основы"])
        store.add_pair("Что такое эпоха?", FULL, tags=["обучение"], status="approved")
        store.add_pair("Что такое батч?", "Пачка примеров.")
    return ws


def elsewhere(ws, fn):
    """Change the store through its own connection, as another window or the CLI would."""
    with ws.store() as store:
        return fn(store)


def snapshot(ws):
    return elsewhere(
        ws, lambda s: [(p.id, p.answer, p.tags, p.status, p.deleted is None) for p in s.get_pairs([1, 2, 3])]
    )


def said(app, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


async def open_dedup(pilot) -> DedupScreen:
    await settle(pilot)
    await pilot.press("D")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, DedupScreen), screen
    assert [(kind, [p.id for p in g]) for kind, g in screen.groups] == [("conflict", [1, 2])]
    return screen


async def merge_into_pair_2(pilot, answer: str = MERGED) -> None:
    await pilot.press("tab", "down")  # the pairs of the group, pair 2
    await pilot.press("m")
    await settle(pilot)
    assert isinstance(pilot.app.screen, MergeScreen)
    pilot.app.screen.query_one(TextArea).text = answer
    await pilot.press("ctrl+s")
    await settle(pilot)


@async_test
async def test_one_ctrl_z_undoes_a_whole_merge(ws):
    before = snapshot(ws)
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_dedup(pilot)
        await merge_into_pair_2(pilot)
        assert screen.groups == []
        await pilot.press("escape")
        await settle(pilot)
        assert snapshot(ws) == [
            (1, ONE, ["основы"], "draft", False),
            (2, MERGED, ["обучение", "основы"], "approved", True),
            (3, "Пачка примеров.", [], "draft", True),
        ]
        assert app.query_one(PairTable).total == 2
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert snapshot(ws) == before
        assert app.query_one(PairTable).total == 3


@async_test
async def test_keep_then_one_ctrl_z(ws):
    before = snapshot(ws)
    app = NastavnikApp(ws, "ru")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_dedup(pilot)
        await pilot.press("tab", "л")  # keep pair 1 (k on the Russian layout)
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert [p[4] for p in snapshot(ws)] == [True, False, True]
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert snapshot(ws) == before


@async_test
async def test_a_pair_changed_elsewhere_stops_the_merge(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_dedup(pilot)
        elsewhere(ws, lambda s: s.update_pair(1, answer="Проход по данным, правка из CLI."))
        changed = snapshot(ws)
        await merge_into_pair_2(pilot)
        assert said(app, "Pair #1 was changed elsewhere")
        assert snapshot(ws) == changed  # nothing written: pair 2 keeps its answer, pair 1 is live
        # the groups were loaded again and show the new text
        assert [p.answer for p in screen.groups[0][1]] == ["Проход по данным, правка из CLI.", FULL]
        # now that the dialog has seen the change, the same merge goes through
        await merge_into_pair_2(pilot)
        assert elsewhere(ws, lambda s: s.get_pair(2).answer) == MERGED
        assert elsewhere(ws, lambda s: s.get_pair(1).deleted) is not None


@async_test
async def test_a_pair_trashed_elsewhere_stops_keep(ws):
    app = NastavnikApp(ws, "ru")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_dedup(pilot)
        elsewhere(ws, lambda s: s.delete_pairs([2]))
        await pilot.press("tab", "л")  # keep pair 1, trash pair 2 — which is gone already
        await settle(pilot)
        assert said(app, "Пару #2 уже убрали в корзину")
        assert screen.groups == []  # reloaded: no conflict left
        actions = elsewhere(ws, lambda s: s.conn.execute("SELECT kind FROM actions ORDER BY id").fetchall())
        assert actions[-1] == ("delete",)  # the trashing done elsewhere is the last thing written
        assert elsewhere(ws, lambda s: [p.id for p in s.list_pairs(PairFilter(trash=True))]) == [2]
