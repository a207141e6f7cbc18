"""The Russian check in Evaluate: flagged per model in the grid, counted in the summary and
in ``eval --json`` — from stored answers, no model runs."""

from __future__ import annotations

from core.workspace import Workspace
from tests.support.waits import async_test, settle

REF = "LoRA обучает малые матрицы поверх замороженных весов."
ANSWERS = {
    "base-q8_0": ["LoRA trains small matrices on top of frozen weights.", "Один проход по данным.", "LoRA 训练小矩阵。"],
    "run-1-q8_0": ["LoRA обучает малые матрицы, `r=8`.", "Один полный проход по данным.", "Малые матрицы $BA$."],
}


def _grid(home):
    from core.store.chats import EvalResult

    ws = Workspace.open(home)
    with ws.store() as store:
        pairs = [
            store.add_pair("Что такое LoRA?", REF, split="eval"),
            store.add_pair("Что такое эпоха?", "Один полный проход по данным.", split="eval"),
            store.add_pair("Из чего состоит добавка?", "Из двух малых матриц.", split="eval"),
        ]
        for model, answers in ANSWERS.items():
            for p, a in zip(pairs, answers):
                store.save_eval_result(EvalResult(model, p.id, p.question, p.answer, a, 10.0, False, 5, 0.1, ""))
    return ws


def test_the_report_flags_answers_that_left_russian(home):
    from core.eval.evaluate import build_report

    ws = _grid(home)
    with ws.store() as store:
        report = build_report(store, ["base-q8_0", "run-1-q8_0"])
    flags = [[(r.cells[m].drift, r.cells[m].drift_script) for r in report.rows] for m in report.models]
    assert flags == [[(True, "latin"), (False, None), (True, "cjk")], [(False, None)] * 3]
    base, run = report.summaries
    assert (base.drift, base.drifted, run.drift, run.drifted) == (0.667, 2, 0.0, 0)
    d = report.to_dict()
    assert d["rows"][0]["cells"]["base-q8_0"]["drift"] is True and d["summaries"][0]["drift"] == 0.667


def test_eval_cli_shows_the_share(cli, home, monkeypatch):
    """`nastavnik eval` prints the share; its --json carries the per-answer flags (the stored
    answers are complete, so no model is loaded)."""
    import core.infer.runner

    ws = _grid(home)
    with ws.store() as store:
        for name in ANSWERS:
            store.add_model("gguf", name, str(home / f"{name}.gguf"))
    for name in ANSWERS:
        (home / f"{name}.gguf").write_bytes(b"GGUF")
    monkeypatch.setattr(core.infer.runner, "open_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError("no model runs")))
    r = cli("eval", "base-q8_0", "run-1-q8_0")
    assert r.code == 0, r.err
    head, base, run = r.out.splitlines()[:3]
    assert head.split()[-2:] == ["ru", "drift"] and base.split()[-1] == "67%" and run.split()[-1] == "0%"
    data = cli("eval", "base-q8_0", "run-1-q8_0", "--json").json()
    assert [s["drifted"] for s in data["summaries"]] == [2, 0]
    assert data["rows"][2]["cells"]["base-q8_0"]["drift_script"] == "cjk"


@async_test
async def test_the_grid_shows_the_check_beside_each_model(home):
    from tests.support.rooms import RoomApp, grid_loaded
    from tui.rooms.evaluate import EvaluateRoom

    app = RoomApp(EvaluateRoom, _grid(home))
    async with app.run_test(size=(140, 30)) as pilot:
        await grid_loaded(pilot)
        await settle(pilot)
        grid = app.query_one("#ev-grid")
        rows = [grid.get_row_at(i) for i in range(grid.row_count)]
        assert [r[2] for r in rows] == ["⚠ lat", "✓", "⚠ cjk"]
        assert [r[4] for r in rows] == ["✓", "✓", "✓"]
        summary = str(app.query_one("#ev-summary").render())
        assert "left Russian 67%" in summary and "left Russian 0%" in summary
