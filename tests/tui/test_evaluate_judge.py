"""A judge you can trust and eval by tag, in the Evaluate room in Russian at 80×24: each judge's
agreement with the user's grades in the summary, the scores per tag (t/е), and the judge's
rubric opened (j/о), checked, saved to the workspace file — after which the old judge scores
are set aside until the judge runs again."""

from __future__ import annotations

from contextlib import asynccontextmanager

from textual.geometry import Region
from textual.widgets import TextArea

from tests.support.rooms import RoomApp, grid_loaded, stored_grid
from tests.support.waits import async_test, settle
from tui.i18n import set_lang


def _graded_grid(home):
    """The stored grid with three of the judge's scores the user also graded (judge 4, 2, 3 —
    user 5, 1, 3: the same order, ρ = +1, one equal, all within a point) and two tagged pairs."""
    ws = stored_grid(home)
    with ws.store() as s:
        p = sorted(s.iter_pairs(), key=lambda p: p.id)
        s.save_judgement("base-q8_0", p[0].id, "judge", 2, "Оценка: 2")
        s.save_judgement("base-q8_0", p[1].id, "judge", 3, "Оценка: 3")
        s.grade("run-1-q8_0", p[0].question, 5, answer="ответ run-1-q8_0")
        s.grade("base-q8_0", p[0].question, 1, answer="ответ base-q8_0")
        s.grade("base-q8_0", p[1].question, 3, answer="ответ base-q8_0")
        s.change_tags([p[0].id, p[1].id], add=["общие"])
    return ws


@asynccontextmanager
async def _graded_room(home):
    """The Evaluate room alone on the graded grid, in Russian at 80×24, its grid loaded: the app and
    its pilot (async_test puts the language back)."""
    from tui.rooms.evaluate import EvaluateRoom

    set_lang("ru")
    app = RoomApp(EvaluateRoom, _graded_grid(home))
    async with app.run_test(size=(80, 24)) as pilot:
        await grid_loaded(pilot)
        yield app, pilot


def on_screen(widget) -> str:
    """What ``widget`` shows within its box (wrapped, cut at its height), as one line."""
    strips = widget.render_lines(Region(0, 0, *widget.outer_size))
    return " ".join(" ".join(s.text for s in strips).split())


@async_test
async def test_agreement_and_the_scores_per_tag_in_russian_at_80x24(home):
    async with _graded_room(home) as (app, pilot):
        await settle(pilot)
        assert "судья judge: ρ +1.00, точно 33%, ±1 100% (n 3)" in on_screen(app.query_one("#ev-summary"))
        await pilot.press("е")  # t on the Russian layout
        await settle(pilot)
        grid = app.query_one("#ev-grid")
        rows = [[str(c).split() for c in grid.get_row_at(i)] for i in range(grid.row_count)]
        assert rows == [
            [["общие", "(2)"], ["27.8", "0%", "2.5"], ["47.1", "0%", "4.0"]],
            [["без", "тега", "(1)"], ["10.0", "0%", "·"], ["100.0", "100%", "·"]],
        ]
        assert [str(c.label) for c in grid.columns.values()] == ["Тег", "base-q8_0", "run-1-q8_0"]
        assert "Оценки по тегам (строк: 2); ячейка: chrF · точных · судья." in on_screen(app.query_one("#ev-status"))
        await pilot.press("enter")  # a tag's row opens no question
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        await pilot.press("t")
        await settle(pilot)
        assert grid.row_count == 3 and str(grid.get_row_at(0)[0]).startswith("Что такое эпоха")


@async_test
async def test_the_rubric_opens_is_checked_and_saved_and_sets_old_scores_aside(home):
    from core.eval.rubric import DEFAULT_RUBRIC
    from tui.dialogs.rubric import RubricScreen

    async with _graded_room(home) as (app, pilot):
        await pilot.press("о")  # j on the Russian layout
        await grid_loaded(pilot)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RubricScreen)
        title = on_screen(screen.query_one("#rubric-title"))  # a long path wraps: read it without the breaks
        assert title.startswith("Рубрика судьи:") and str(home.resolve() / "judge_rubric.md") in title.replace(" ", "")
        assert "судья judge: ρ +1.00" in on_screen(screen.query_one("#rubric-agreement"))
        editor = screen.query_one("#rubric-text", TextArea)
        assert editor.text.rstrip("\n") == DEFAULT_RUBRIC
        editor.text = "Оцени ответ строго."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen  # refused: the judge would never see the answer
        assert "в рубрике нет {answer}" in on_screen(screen.query_one("#rubric-hint"))
        editor.text = "Оцени СТРОГО.\nВопрос: {question}\nОтвет: {answer}"
        await pilot.press("ctrl+s")
        await grid_loaded(pilot)
        await settle(pilot)
        assert app.screen is not screen
        assert (home / "judge_rubric.md").read_text(encoding="utf-8").startswith("Оцени СТРОГО.")
        assert any(n.message.startswith("Рубрика сохранена") for n in app._notifications)
        summary = on_screen(app.query_one("#ev-summary"))
        assert "Ответов, оценённых судьёй по прежней рубрике: 3; r оценит их заново." in summary
        assert "судья ·" in summary and "ρ" not in summary  # no score of the new rubric yet
        grid = app.query_one("#ev-grid")
        assert str(grid.get_row_at(0)[3]).split()[:3] == ["64.2", "·", "5"]  # run-1's judge 4 set aside
