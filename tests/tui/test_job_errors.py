"""Why a run or an export job failed, in the UI's language: the worker stores its UserError's
code and params beside the English line; the Train room and the Export dialog say it in Russian
at 80×24, the CLI keeps printing the English, and rows from before (no code) show their text.

The failures are the real workers' own: a training worker whose base lost its weights after the
run was queued, an export worker whose source is gone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.workspace import Workspace
from tests.support.cli import run_cli
from tests.support.data import run_state
from tests.support.rooms import screen_text
from tests.support.waits import async_test, settle, wait_for

LIMIT_S = 300.0  # a guard against a hang: each wait ends on the state it looks for


def _spawn_train_worker(home: Path, store, base: Path):
    """A queued run on ``base`` (its row, folder and data as ``start_run`` writes them) and its
    real detached worker, started as ``start_run`` starts it."""
    from core.jobs.host import HOST
    from core.train.config import TrainConfig
    from core.train.pipeline import take_snapshot
    from core.train.runs import open_run, worker_command, worker_env

    ws = Workspace.open(home)
    config = TrainConfig(base=str(base), preset="demo", backend="hf", max_steps=2)
    run = open_run(ws, store, config, take_snapshot(store, config.method), label=base.name, backend="hf")
    pid = HOST.processes.spawn(worker_command(home, run.id), Path(run.run_dir) / "train.log", cwd=home,
                               env=worker_env(home, config))
    return store.update_run(run.id, pid=pid)


def _rows(app, selector: str) -> str:
    """What the terminal shows of a widget as wide as the screen, its wrapped rows joined again."""
    from textual.widgets import Static

    region = app.query_one(selector, Static).region
    rows = screen_text(app).split("\n")[region.y:region.bottom]
    return " ".join(row.strip() for row in rows if row.strip())


async def _train_room_in_russian(home: Path, wanted: str) -> tuple[str, str]:
    """The app in Russian at 80×24, Train room: what the Progress view's stats show once they
    show ``wanted``, and what the Runs view shows under its table then."""
    from tui.app import NastavnikApp

    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        shown = {}
        for key, selector in (("p", "#train-stats"), ("r", "#train-runs-why")):
            await pilot.press(key)
            for _ in range(200):
                if wanted in _rows(app, selector):
                    break
                await pilot.pause(0.1)
            shown[key] = _rows(app, selector)
        return shown["p"], shown["r"]


@async_test
async def test_a_run_whose_worker_refuses_its_base_says_why_in_russian(home, store, tmp_path):
    """The base lost its weights after the run was queued: the worker refuses it with a coded
    error; the Train room says so in Russian under the run's stats, the CLI in English."""
    store.add_pair("Что такое эпоха?", "Один проход по данным.", status="approved")
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"model_type": "llama"}), encoding="utf-8")
    run = _spawn_train_worker(home, store, base)
    failed = wait_for(lambda: (lambda r: r if r.status not in ("queued", "running") else None)(run_state(home, run.id)),
                      timeout=LIMIT_S, what="the run's end")
    assert failed.status == "failed" and failed.error_code == "model.no_weights", (failed.status, failed.error)

    expected = f"Ошибка: В {base} нет весов `.safetensors` — укажите в «Базовой модели» папку с `model.safetensors`"
    progress, runs = await _train_room_in_russian(home, "Ошибка:")
    assert expected in progress, progress
    assert "has no" not in progress
    assert runs == expected, runs  # the Runs view, under the table: the highlighted run's reason

    code, out, err = run_cli(home, "runs", "show", str(run.id))  # the CLI: the English line, as before
    assert code == 0, err
    assert f"{base} has no .safetensors weights" in out


@async_test
async def test_an_old_failed_run_without_a_code_still_shows_its_line(home, store):
    """A run that failed before codes were kept, or a crash (not a UserError), shows its English
    line as stored — with «Ошибка» around it in the Russian UI."""
    run = store.create_run(base="demo", preset="demo", backend="hf", config={"base": "demo"})
    store.update_run(run.id, status="failed", error="RuntimeError: CUDA error [device 0] (see /runs/1/train.log)")
    shown, _ = await _train_room_in_russian(home, "Ошибка:")
    assert "Ошибка: RuntimeError: CUDA error [device 0] (see /runs/1/train.log)" in shown, shown


def _spawn_export_worker(home: Path, store, source: str):
    """An export job of ``source`` and its real detached worker, started as ``start_job`` starts
    it (whose own check of the source is what the worker meets here: the source went away)."""
    from core.export.jobs import WORKER, log_path
    from core.jobs import worker_env
    from core.jobs.host import HOST

    ws = Workspace.open(home)
    job = store.create_export_job(source=source, quants=["q8_0"])
    log = log_path(ws, job.id)
    pid = HOST.processes.spawn([sys.executable, "-m", WORKER, "--home", str(home), "--job", str(job.id)], log,
                               cwd=home, env=worker_env(home))
    return store.update_export_job(job.id, pid=pid, log_path=str(log))


async def _export_dialog_in_russian(home: Path, job_id: int, wanted: str) -> str:
    """The Export dialog following job ``job_id``, in Russian at 80×24, once it shows ``wanted``:
    what it says of the job's end."""
    from textual.app import App
    from textual.widgets import Static

    from tui.dialogs.export_model import ExportModelScreen
    from tui.i18n import set_lang

    set_lang("ru")
    app = App()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ExportModelScreen(Workspace.open(home), jobs=[job_id]))
        await settle(pilot)
        for _ in range(200):
            shown = str(app.screen.query_one("#exp-parity", Static).render())
            if wanted in shown:
                break
            await pilot.pause(0.1)
        assert app.screen.query_one("#exp-parity", Static).region.bottom <= 24
        return shown


@async_test
async def test_an_export_whose_worker_finds_no_source_says_why_in_russian(home, store):
    """The export worker finds nothing called like its source: the dialog says so in Russian;
    `exports show` prints the English."""
    job = _spawn_export_worker(home, store, "gone-model")
    ended = wait_for(lambda: (lambda j: j if not j.active else None)(store.get_export_job(job.id)), timeout=LIMIT_S,
                     what="the job's end")
    assert ended.status == "failed" and ended.error_code == "export.nothing_called", (ended.status, ended.error)

    shown = await _export_dialog_in_russian(home, job.id, "Экспорт не удался")
    assert "Экспорт не удался: Нечего экспортировать под именем «gone-model» — выберите завершённый запуск." in shown, shown
    assert "nothing to export" not in shown

    code, out, err = run_cli(home, "exports", "show", str(job.id))
    assert code == 0, err
    assert "nothing to export called 'gone-model'" in out


@async_test
async def test_an_old_failed_export_without_a_code_still_shows_its_line(home, store):
    """A job that failed before codes were kept, or crashed, shows its English line as stored,
    brackets and all (a tokenizer's [PAD] is no markup)."""
    job = store.create_export_job(source="demo", quants=["q8_0"])
    store.update_export_job(job.id, status="failed", error="ValueError: no token [PAD] (see /logs/export-1.log)")
    shown = await _export_dialog_in_russian(home, job.id, "Экспорт не удался")
    assert "Экспорт не удался: ValueError: no token [PAD] (see /logs/export-1.log). Ничего не зарегистрировано." in shown, shown
