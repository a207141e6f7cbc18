"""What changed between runs, in the app: d/в in the Runs list shows a run against the run
before it, and d/в on a question in Evaluate shows what changed in its own pair between the
two runs whose models answered it — in Russian, at 80×24."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from core.workspace import Workspace
from tests.support.runs import two_runs_with_every_change
from tests.support.waits import async_test, settle


def _text(app) -> str:
    return str(app.screen.query_one("#run-diff-text", Static).render())


def _fits(widget, screen) -> bool:
    r, s = widget.region, screen.region
    return r.width > 0 and r.height > 0 and s.contains_region(r)


async def _until(pilot, predicate, what: str) -> None:
    for _ in range(400):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}")


@async_test
async def test_the_runs_list_shows_what_changed_from_the_run_before(home, store):
    from tui.app import NastavnikApp
    from tui.dialogs.run_diff import RunDiffScreen

    a, b, p = two_runs_with_every_change(home, store)
    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")  # the Train room
        await settle(pilot)
        await pilot.press("к")  # r: Runs
        table = app.query_one("#train-runs", DataTable)
        await _until(pilot, lambda: table.row_count == 2, "both runs listed")
        table.move_cursor(row=0)  # the newest: run B
        await pilot.press("в")  # d on the Russian layout
        await _until(pilot, lambda: isinstance(app.screen, RunDiffScreen) and "Читаю" not in _text(app), "the diff on screen")
        screen = app.screen
        assert str(screen.query_one("#run-diff-title", Static).render()) == f"Что изменилось: прогон {a.id} → прогон {b.id}"
        text = _text(app)
        for line in (f"#{p['rejected']} Что такое GGUF?  убрана: отклонена", f"#{p['deleted']} Что такое эпоха?  убрана: удалена",
                     f"#{p['unapproved']} Что такое dropout?  убрана: снова черновик",
                     f"#{p['approved']} Что такое токен?  добавлена: одобрена (была черновиком)",
                     f"#{p['restored']} Что такое lr?  добавлена: возвращена из корзины",
                     f"#{p['new']} Что такое чекпоинт?  добавлена: новая",
                     f"#{p['edited']} Что такое QLoRA и зачем она?  изменена",
                     f"#{p['moved']} Что такое батч?  выборка: обучение → проверка",
                     f"#{p['retagged']} Что такое лосс?  теги: -база +общее",
                     f"#{p['rejected']} Что такое GGUF?  статус: одобрено → отклонено",
                     "lr: 0.0002 → 0.0001"):
            assert line in text, (line, text)
        assert f"#{p['same']} " not in text
        for widget in (screen.query_one("#run-diff-box"), screen.query_one("#run-diff-other"), screen.query_one("#run-diff-keys")):
            assert _fits(widget, screen), widget
        assert "закрыть" in str(screen.query_one("#run-diff-keys", Static).render())
        await pilot.press("escape")
        await _until(pilot, lambda: not isinstance(app.screen, RunDiffScreen), "the dialog closed")


@async_test
async def test_a_question_that_got_worse_shows_what_changed_in_its_pair(home, store):
    from core.store.chats import EvalResult
    from tests.support.rooms import RoomApp, grid_loaded
    from tui.dialogs.run_diff import RunDiffScreen
    from tui.i18n import set_lang
    from tui.rooms.evaluate import EvaluateRoom

    a, b, p = two_runs_with_every_change(home, store)
    edited = store.update_pair(p["edited"], split="eval")  # after run B: its snapshot still has it in train
    # the base answers best, but it is no run: the pair's diff is between the runs, where run B got worse
    for name, run, chrf in (("base-q8_0", None, 80.0), ("run-1-q8_0", a, 60.0), ("run-2-q8_0", b, 20.0)):
        store.add_model("gguf", name, str(home / f"{name}.gguf"), run_id=run.id if run else None)
        store.save_eval_result(EvalResult(name, edited.id, edited.question, edited.answer, f"ответ {name}", chrf, False, 10, 0.1,
                                          "2026-03-01T10:00:00.000+00:00"))
    set_lang("ru")
    app = RoomApp(EvaluateRoom, Workspace.open(home))
    async with app.run_test(size=(80, 24)) as pilot:
        await grid_loaded(pilot)
        await settle(pilot)
        grid = app.query_one("#ev-grid", DataTable)
        assert grid.row_count == 1
        grid.focus()
        await pilot.press("в")
        await _until(pilot, lambda: isinstance(app.screen, RunDiffScreen) and "Читаю" not in _text(app), "the pair's diff")
        screen = app.screen
        assert str(screen.query_one("#run-diff-title", Static).render()) == f"Пара #{edited.id}: прогон {a.id} → прогон {b.id}"
        text = _text(app)
        assert "изменена" in text and "Вопрос:" in text and "Ответ:" in text and "квантованной в 4 бита." in text
        assert "lr: 0.0002 → 0.0001" in text  # the settings touch every pair
        assert "GGUF" not in text and "убрана" not in text  # no other pair's changes
        assert not screen.query_one("#run-diff-pick").display  # the two runs are the models'
        assert _fits(screen.query_one("#run-diff-box"), screen)
