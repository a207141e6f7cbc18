"""The Export dialog offers a finished run's checkpoints (core/train/answer_eval.py keeps the
best and the last): each one in the source list under its run, the best one marked, in Russian,
and choosing one names the export after its step."""

from __future__ import annotations

from core.workspace import Workspace
from tests.support.waits import async_test, settle


def _finished_run_with_checkpoints(ws, steps: list[int], best: int) -> int:
    with ws.store() as store:
        run = store.create_run(base="demo", preset="demo", backend="hf", config={"eval_steps": 2})
        run_dir = ws.runs_dir / str(run.id)
        for step in steps:
            folder = run_dir / "checkpoints" / f"checkpoint-{step}"
            folder.mkdir(parents=True)
            (folder / "adapter_config.json").write_text("{}", encoding="utf-8")
        (run_dir / "checkpoints" / "checkpoint-9").mkdir()  # no adapter in it: not offered
        store.update_run(run.id, status="done", step=max(steps), max_steps=max(steps), run_dir=str(run_dir), best_step=best,
                         best_value=42.0)
        return run.id


@async_test
async def test_the_dialog_lists_a_runs_checkpoints_with_the_best_marked(home):
    from textual.app import App
    from textual.widgets import Input, Select

    from tui.dialogs.export_model import ExportModelScreen, source_label
    from tui.i18n import set_lang

    ws = Workspace.open(home)
    run_id = _finished_run_with_checkpoints(ws, [2, 4], best=2)
    set_lang("ru")
    app = App()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ExportModelScreen(ws))
        await settle(pilot, 6)
        select = app.screen.query_one("#exp-source", Select)
        options = [(str(label), value) for label, value in select._options if isinstance(value, str)]
        assert options == [(f"прогон #{run_id} (demo, 4 шагов)", str(run_id)),
                           (f"прогон #{run_id} · шаг 4", f"{run_id}@4"),
                           (f"прогон #{run_id} · шаг 2 (лучший)", f"{run_id}@2")], options
        select.value = f"{run_id}@2"
        await settle(pilot)
        assert app.screen.query_one("#exp-name", Input).placeholder == f"run-{run_id}-step2"
    assert source_label(f"{run_id}@best") == f"прогон #{run_id}, лучшая контрольная точка"
