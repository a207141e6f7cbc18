"""Export as a background job: the Export dialog, cancel, a reopened app, "export and chat", the CLI.

Real exports of the demo model, one at most per test. A job's worker is paused with
SIGSTOP where a test must see it "running" (then SIGCONT); every wait is for a state the
test can see (a row in the store, a widget's text), never for a length of time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from core.workspace import Workspace
from tests.support.cli import run_cli
from tests.support.paths import SAMPLE
from tests.support.waits import async_test, settle

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("export")]

LIMIT_S = 240.0  # a guard against a hang, not a wait: every loop ends on the state it looks for
STEPS = ("merge", "convert", "quantize", "parity")


# ---------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_model, llamacpp_cache):
    """A workspace with the sample pairs approved, the demo base as "demo" and one finished run."""
    from core.store import PairFilter
    from core.train.runs import wait

    home = tmp_path_factory.mktemp("trained-home")
    ws = Workspace.open(home)
    for args in (("pairs", "import", str(SAMPLE)),
                 ("models", "add", str(demo_model), "--name", "demo")):
        code, _, err = run_cli(home, *args)
        assert code == 0, err
    with ws.store() as store:
        store.set_status(store.pair_ids(PairFilter()), "approved")
    code, out, err = run_cli(home, "train", "--base", "demo", "--steps", "2", "--save-steps", "50", "--batch-size", "2",
                             "--grad-accum", "1", "--max-seq-len", "96", "--backend", "hf", "--json")
    assert code == 0, err
    run = wait(ws, json.loads(out)["id"], timeout=600)
    assert run.status == "done", (run.status, run.error)
    return {"home": home, "run_id": run.id}


@pytest.fixture
def trained_copy(trained, tmp_path):
    home = tmp_path / "trained"
    shutil.copytree(trained["home"], home)
    yield home
    _stop_workers(home)


@pytest.fixture
def exported_home(exported, tmp_path, demo_model):
    """The session export's workspace, copied, with the demo base registered as "demo"."""
    home = tmp_path / "exported"
    shutil.copytree(exported["home"], home)
    with Workspace.open(home).store() as store:
        store.add_model("base", "demo", str(demo_model))
    yield home
    _stop_workers(home)


def _stop_workers(home: Path) -> None:
    """No worker of a failed test outlives it."""
    with Workspace.open(home).store() as store:
        for job in store.list_export_jobs(status=("queued", "running")):
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.killpg(job.pid, sig)
                except (ProcessLookupError, PermissionError, TypeError):
                    pass


def job_row(home: Path, job_id: int = 1):
    with Workspace.open(home).store() as store:
        return store.find_export_job(job_id)


def ggufs(home: Path) -> list[str]:
    with Workspace.open(home).store() as store:
        return sorted(m.name for m in store.list_models(kind="gguf"))


def exports_listing(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "exports").iterdir())


def working(home: Path, job_id: int = 1):
    """The job while its worker is inside one of the steps, else None."""
    job = job_row(home, job_id)
    return job if job is not None and job.status == "running" and job.stage in STEPS else None


def wait_for(predicate, what: str):
    deadline = time.monotonic() + LIMIT_S
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


async def until(pilot, predicate, what: str):
    """Pause until ``predicate()`` holds; a widget not mounted yet counts as not yet."""
    from textual.css.query import NoMatches

    deadline = time.monotonic() + LIMIT_S
    while True:
        try:
            value = predicate()
        except NoMatches:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await pilot.pause(0.05)


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def stopped(pid: int) -> bool:
    from core.jobs import process_state

    return process_state(pid) == "T"


def chat_options(app) -> list[str]:
    from textual.widgets import Select

    sel = app.query_one("#chat-model-0", Select)
    return [value for _, value in sel._options if isinstance(value, str)]


def chat_choice(app) -> list:
    from textual.widgets import Select

    return [None if s.is_blank() else s.value for s in app.query(".chat-model").results(Select)]


async def open_tab(pilot, tab: str):
    pilot.app.action_tab(tab)  # as 1–4 do (a key would go to the question box once Chat is open)
    await until(pilot, lambda: pilot.app.query(f"#{tab}-room"), f"the {tab} room")
    await settle(pilot)


async def finished_run_shown(pilot):
    """The Train room shows the finished run and offers to export it; the runs table has focus."""
    from tui.rooms.train import TrainRoom

    await open_tab(pilot, "train")
    room = pilot.app.query_one(TrainRoom)
    await until(pilot, lambda: room.check_action("export", ()) is True, "a finished run in the Train room")
    pilot.app.screen.set_focus(room.query_one("#train-runs"))
    await pilot.pause()
    return room


# ---------------------------------------------------------------------------- the dialog and its job


@async_test
async def test_export_dialog_runs_a_job_shows_progress_and_parity_and_lists_the_model(exported_home):
    """From the palette: choose the source, Q8_0, a name → the job's steps on a bar, the parity
    line when it ends, and the new GGUF in the Chat and Evaluate lists without reopening them."""
    from textual.widgets import ProgressBar, SelectionList

    from tui.app import NastavnikApp
    from tui.commands import commands
    from tui.dialogs.export_model import ExportModelScreen
    from tui.widgets.status_bar import StatusBar

    ws = Workspace.open(exported_home)
    before = exports_listing(exported_home)
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_tab(pilot, "chat")
        await open_tab(pilot, "evaluate")
        assert "fresh-q8_0" not in chat_options(app)
        dict(commands(app))["Export: a run or a model to GGUF"]()
        await until(pilot, lambda: isinstance(app.screen, ExportModelScreen) and app.screen.query_one("#exp-start").display,
                    "the Export dialog's form")
        dialog = app.screen
        dialog.query_one("#exp-source").value = "demo"
        assert dialog.query_one("#exp-quants", SelectionList).selected == ["q8_0"]  # Q8_0 unless told otherwise
        dialog.query_one("#exp-name").value = "fresh"
        await pilot.press("ctrl+s")
        job = await until(pilot, lambda: working(exported_home), "the job inside a step")
        os.kill(job.pid, signal.SIGSTOP)
        try:
            stage = job_row(exported_home).stage  # the paused job stays in it
            # the dialog polls the job: it catches up with the step the job is paused in
            await until(pilot, lambda: "running" in text(app, "#exp-job-title") and "/4:" in text(app, "#exp-step")
                        and stage in text(app, "#exp-step"), "the running step in the dialog")
            step = text(app, "#exp-step")
            assert "ETA" in step, step
            bar = dialog.query_one("#exp-bar", ProgressBar)
            assert bar.percentage is not None and bar.percentage < 1.0
            await until(pilot, lambda: "1 running: GGUF #1" in app.query_one(StatusBar).text(), "the job in the status bar")
        finally:
            os.kill(job.pid, signal.SIGCONT)
        await until(pilot, lambda: "Parity OK" in text(app, "#exp-parity"), "the parity line")
        line = text(app, "#exp-parity")
        assert "\n" not in line.strip() and "q8_0 3/3" in line and "f16 3/3" in line, line
        # the new model is listed at once, with the dialog still open
        await until(pilot, lambda: "fresh-q8_0" in chat_options(app), "the new GGUF in the Chat list")
        evaluate = app.query_one("#ev-models", SelectionList)
        await until(pilot, lambda: "fresh-q8_0" in [evaluate.get_option_at_index(i).value for i in range(evaluate.option_count)],
                    "the new GGUF in the Evaluate list")
        await until(pilot, lambda: "no jobs" in app.query_one(StatusBar).text(), "the status bar without the job")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ExportModelScreen), "the dialog closed")
    assert ggufs(exported_home) == ["demo-f16", "demo-q8_0", "fresh-q8_0"]
    assert exports_listing(exported_home) == sorted(before + ["fresh"])
    job = job_row(exported_home)
    assert job.status == "done" and job.result["parity"]["ok"] and job.name == "fresh"
    assert {"merge", "convert", "quantize", "parity"} <= set(job.steps)


@async_test
async def test_cancel_in_the_dialog_stops_the_job_and_leaves_nothing(exported_home):
    from tui.app import NastavnikApp
    from tui.dialogs.export_model import ExportModelScreen

    ws = Workspace.open(exported_home)
    before_files, before_models = exports_listing(exported_home), ggufs(exported_home)
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_export("demo")
        await until(pilot, lambda: isinstance(app.screen, ExportModelScreen) and app.screen.query_one("#exp-start").display,
                    "the Export dialog's form")
        assert app.screen.query_one("#exp-source").value == "demo"
        await pilot.press("ctrl+s")
        job = await until(pilot, lambda: working(exported_home), "the job inside a step")
        os.kill(job.pid, signal.SIGSTOP)  # frozen mid-step: its staging folder is there
        assert (exported_home / "exports" / f".job-{job.id}.part").is_dir()
        await until(pilot, lambda: app.screen.query_one("#exp-cancel").display and "running" in text(app, "#exp-job-title"),
                    "the running job in the dialog")
        await pilot.click("#exp-cancel")
        await until(pilot, lambda: "cancelled" in text(app, "#exp-parity").lower(), "the cancelled line")
        assert "nothing was registered" in text(app, "#exp-parity")
    job = job_row(exported_home)
    assert job.status == "cancelled"
    wait_for(lambda: not Path(f"/proc/{job.pid}").exists() or open(f"/proc/{job.pid}/stat").read().split()[2] == "Z",
             "the worker gone")
    assert ggufs(exported_home) == before_models
    assert exports_listing(exported_home) == before_files  # no staging folder, no half-published export
    assert "cancelled" in Path(job.log_path).read_text(encoding="utf-8")


@async_test
async def test_reopened_app_reattaches_to_a_running_export(trained_copy, trained):
    """Close the app while its export runs; the next one counts it in the status bar, the Train
    room's e opens it again (not a new job), and its end shows there."""
    from tui.app import NastavnikApp
    from tui.dialogs.export_model import ExportModelScreen
    from tui.widgets.status_bar import StatusBar

    ws = Workspace.open(trained_copy)
    run_id = trained["run_id"]
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await finished_run_shown(pilot)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ExportModelScreen) and app.screen.query_one("#exp-start").display,
                    "the Export dialog")
        assert app.screen.query_one("#exp-source").value == str(run_id)
        assert app.screen.query_one("#exp-name").placeholder == f"run-{run_id}"
        await pilot.press("ctrl+s")
        job = await until(pilot, lambda: working(trained_copy), "the job inside a step")
        os.kill(job.pid, signal.SIGSTOP)
    try:
        assert stopped(job.pid), "the worker outlives the app that started it"
        app = NastavnikApp(ws, "en")
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: "1 running: GGUF #1" in app.query_one(StatusBar).text(), "the job in the status bar")
            await open_tab(pilot, "chat")
            await finished_run_shown(pilot)
            await pilot.press("у")  # e on the Russian layout
            await until(pilot, lambda: isinstance(app.screen, ExportModelScreen) and "running" in text(app, "#exp-job-title"),
                        "the dialog attached to the running job")
            assert not app.screen.query_one("#exp-form").display
            assert text(app, "#exp-job-title").startswith(f"Export #{job.id}: run #{run_id} ")
            os.kill(job.pid, signal.SIGCONT)
            await until(pilot, lambda: "Parity OK" in text(app, "#exp-parity"), "the parity line")
            await until(pilot, lambda: f"run-{run_id}-q8_0" in chat_options(app), "the new GGUF in the Chat list")
    finally:
        os.kill(job.pid, signal.SIGCONT)
    with ws.store() as store:
        assert [j.status for j in store.list_export_jobs()] == ["done"]  # attached, not started again
        model = store.get_model(f"run-{run_id}-q8_0")
        assert model.run_id == run_id and model.base == "demo"


@async_test
async def test_export_and_chat_from_a_finished_run_lands_in_chat_next_to_the_base(trained_copy, trained, exported):
    """c on a finished run: only the run is exported (the base's GGUF is made once and reused),
    then Chat opens with the base and the run side by side, ready for a question. The run trains
    the demo's way (its base is the demo model: the embeddings and the head in full), so its job,
    asked for a GGUF LoRA, falls back to the full merge and its result says why."""
    from textual.widgets import Input

    from tui.app import NastavnikApp
    from tui.rooms.chat import ChatRoom

    ws = Workspace.open(trained_copy)
    run_id = trained["run_id"]
    base_file = next(f for f in exported["report"]["files"] if f["quant"] == "q8_0")
    with ws.store() as store:  # the base exported earlier (`nastavnik export demo`)
        demo = store.get_model("demo")
        store.add_model("gguf", "demo-q8_0", base_file["path"], base=demo.path, quant="q8_0", sha256=base_file["sha256"],
                        size_bytes=base_file["size_bytes"])
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 36)) as pilot:
        await finished_run_shown(pilot)
        await pilot.press("c")
        await until(pilot, lambda: chat_choice(app) == ["demo-q8_0", f"run-{run_id}-q8_0", None], "Chat with base and run")
        room = app.query_one(ChatRoom)
        assert app.query_one("#rooms").active == "chat"
        await until(pilot, lambda: app.focused is room.query_one("#chat-input", Input), "the question box focused")
        await pilot.press(*"Что такое эпоха?", "enter")
        await until(pilot, lambda: len(room.answers) == 2 and not room.busy, "both answers")
        assert [a.model for a in room.answers] == ["demo-q8_0", f"run-{run_id}-q8_0"]
        assert all(a.message_id and a.text.strip() for a in room.answers)
        room.close_models()
    with ws.store() as store:
        jobs = store.list_export_jobs()
    assert [(j.source, j.status, j.how) for j in jobs] == [(str(run_id), "done", "lora")]  # the base was not exported again
    assert jobs[0].result["how"] == "merged" and jobs[0].result["lora_refused"]["code"] == "export.lora_full_modules"


def test_chat_lineup_reuses_the_base_and_finds_the_previous_run(home, demo_model):
    """Which GGUFs sit side by side after a run, and what still has to be exported for it."""
    from core.export.jobs import chat_lineup

    ws = Workspace.open(home)
    with ws.store() as store:
        base = store.add_model("base", "demo", str(demo_model))
        runs = []
        for _ in range(3):
            run = store.create_run(base="demo", preset="demo", backend="hf", config={"base": base.path})
            runs.append(store.update_run(run.id, status="done"))
        first, second, third = (r.id for r in runs)
        lineup = chat_lineup(store, third)
        assert (lineup.base, lineup.previous, lineup.tuned) == (None, None, None)
        assert lineup.to_export == ["demo", str(third)]  # the base by name: `nastavnik export demo`

        gguf = home / "x.gguf"
        gguf.write_bytes(b"GGUF")
        store.add_model("gguf", "demo-q8_0", str(gguf), base="demo", quant="q8_0")
        store.add_model("gguf", f"run-{first}-q8_0", str(gguf), run_id=first, base="demo", quant="q8_0")
        store.add_model("gguf", f"run-{third}-f16", str(gguf), run_id=third, base="demo", quant="f16")
        store.add_model("gguf", f"run-{third}-q8_0", str(gguf), run_id=third, base="demo", quant="q8_0")
        lineup = chat_lineup(store, third)
        # the run before (second) has no GGUF: the newest earlier one that has stands in
        assert lineup.models == ["demo-q8_0", f"run-{first}-q8_0", f"run-{third}-q8_0"] and lineup.to_export == []
        store.add_model("gguf", "missing-q8_0", str(home / "gone.gguf"), run_id=second, base="demo", quant="q8_0")
        assert chat_lineup(store, third).previous == f"run-{first}-q8_0"  # a file that is gone is not offered
        store.update_run(second, status="failed")
        from core.errors import UserError

        with pytest.raises(UserError, match=f"run {second} is failed"):
            chat_lineup(store, second)


# ---------------------------------------------------------------------------- the CLI


def test_cli_detach_list_show_and_a_killed_worker(exported_home):
    """`export --detach --json` → an id; `exports list/show` follow it; a worker killed with -9
    is seen as interrupted and its staging folder is removed, nothing registered."""
    before_files, before_models = exports_listing(exported_home), ggufs(exported_home)
    code, out, err = run_cli(exported_home, "export", "demo", "--detach", "--json", "--quant", "q8_0,q4_k_m")
    assert code == 0, err
    started = json.loads(out)
    assert started["id"] == 1 and started["status"] == "queued" and started["quants"] == ["q8_0", "q4_k_m"]
    job = wait_for(lambda: working(exported_home), "the job inside a step")
    os.kill(job.pid, signal.SIGSTOP)
    code, out, err = run_cli(exported_home, "exports", "list", "--json")
    assert code == 0 and [(j["id"], j["status"]) for j in json.loads(out)] == [(1, "running")], err
    code, out, _ = run_cli(exported_home, "exports", "show", "1")
    assert code == 0 and "export job 1: running — demo → q8_0, q4_k_m" in out and "step " in out
    code, _, err = run_cli(exported_home, "export", "demo", "--detach")
    assert code == 2 and "demo is already being exported (export job 1, running)" in err
    staging = exported_home / "exports" / ".job-1.part"
    assert staging.is_dir()

    os.kill(job.pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{job.pid}").exists() or open(f"/proc/{job.pid}/stat").read().split()[2] == "Z",
             "the worker gone")
    code, out, err = run_cli(exported_home, "exports", "show", "1", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["status"] == "interrupted" and "stopped without finishing" in shown["error"]
    assert not staging.exists()
    assert exports_listing(exported_home) == before_files and ggufs(exported_home) == before_models
    code, _, err = run_cli(exported_home, "exports", "cancel", "1")
    assert code == 2 and "export job 1 is already interrupted" in err
    code, _, err = run_cli(exported_home, "export", "no-such-model", "--detach")
    assert code == 2 and "nothing to export called 'no-such-model'" in err
    with Workspace.open(exported_home).store() as store:
        assert [j.id for j in store.list_export_jobs()] == [1]  # a source that does not resolve makes no job


@async_test
async def test_a_parity_mismatch_is_shown_loudly_with_the_first_differing_token(exported, tmp_path, home):
    """A job whose parity check failed (a real check of a GGUF against a model whose template
    was changed after the export): the dialog names the first differing token, in red."""
    from textual.app import App

    from tests.support.models import broken_template_parity
    from tui.dialogs.export_model import ExportModelScreen

    report = exported["report"]
    parity = broken_template_parity(report, tmp_path)
    assert not parity.ok
    ws = Workspace.open(home)
    with ws.store() as store:  # the row as the worker leaves it
        job = store.create_export_job(source="demo", quants=["q8_0"])
        store.update_export_job(job.id, status="done", stage="done", done=1, total=1,
                                result={**report, "parity": parity.to_dict()})

    class Host(App):
        ended: list = []

        def on_export_finished(self, message) -> None:
            self.ended.append((message.job_id, message.status, message.ok))

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ExportModelScreen(ws, jobs=[job.id]))
        await until(pilot, lambda: "PARITY MISMATCH" in text(app, "#exp-parity"), "the mismatch line")
        shown = app.screen.query_one("#exp-parity")
        line = text(app, "#exp-parity")
        # the chat prompt's role token: the HF side now says "assistant", the GGUF still "model"
        assert "prompt token ids differ at position 12: HF 'a'" in line and "vs GGUF 'model'" in line, line
        assert f"(+1 more: `nastavnik exports show {job.id}`)" in line
        assert shown.has_class("-bad") and not shown.has_class("-ok")
        assert app.ended == [(job.id, "done", False)]


def test_progress_and_eta_of_a_job():
    """The bar counts merge, convert, quantize and parity; the ETA comes from the last export's
    step times, or from the pace inside a step done in parts."""
    from datetime import datetime, timezone

    from core.export.jobs import job_progress
    from core.store.exports import ExportJob

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    started = t0.isoformat()
    job = ExportJob(id=1, status="running", source="3", stage="convert", done=0, total=1,
                    steps={"merge": {"started": started, "seconds": 10.0}, "convert": {"started": started, "seconds": None}})
    now = t0.timestamp() + 4
    p = job_progress(job, {"merge": 12.0, "convert": 8.0, "quantize": 2.0, "parity": 5.0}, now_s=now)
    assert (p.step, p.index, p.steps, p.fraction) == ("convert", 2, 4, 0.25)
    assert p.eta_s == pytest.approx(4 + 2 + 5)  # what is left of convert, then quantize and parity
    assert job_progress(job, None, now_s=now).eta_s is None  # the first export: no step times to go by
    job.stage, job.done, job.total = "parity", 1, 2
    job.steps |= {"convert": {"started": started, "seconds": 8.0}, "quantize": {"started": started, "seconds": 1.0},
                  "parity": {"started": started, "seconds": None}}
    p = job_progress(job, None, now_s=now)
    assert (p.step, p.index, p.fraction) == ("parity", 4, 0.875) and p.eta_s == pytest.approx(4)
    job.parity = False
    job.stage, job.done, job.total = "quantize", 1, 3
    job.steps = {"merge": {"seconds": 1.0}, "convert": {"seconds": 1.0}, "quantize": {"started": started, "seconds": None}}
    p = job_progress(job, None, now_s=now)
    assert p.steps == 3 and p.fraction == pytest.approx((2 + 1 / 3) / 3) and p.eta_s == pytest.approx(8)


def test_the_dialog_says_parity_and_the_source_in_russian():
    """The parity check returns records; the dialog says them in the UI language (the token
    descriptions as they are), and a line stored before the records as it is."""
    from core.export.parity import AnswerParity, Mismatch, ParityReport
    from tui.i18n import set_lang
    from tui.dialogs.export_model import parity_line, source_label

    def answers(quant, n, same):
        return [AnswerParity("q?", quant, 5 if i < same else 2, 5, 5, True, True, None if i < same else "token 2: …")
                for i in range(n)]

    ok = ParityReport(True, True, False, True, "<eos>", answers=answers("q8_0", 3, 3) + answers("f16", 3, 3))
    bare = ParityReport(True, True, False, True, "<eos>")
    answer = Mismatch("answer", at=10, hf="'▁а' (id 326)", gguf="'▁в' (id 264)", quant="q8_0", question="Что такое loss?")
    ids = Mismatch("ids", at=12, hf="'a' (id 9)", gguf="'model' (id 7)")
    bos = ParityReport(mismatches=[Mismatch("bos", side="GGUF")])
    old = ParityReport.from_dict({"ok": False, "warnings": ["something new"]})  # stored before the records
    set_lang("ru")
    try:
        assert parity_line(ok) == ("промпт, id токенов, BOS и EOS совпадают; q8_0: 3 из 3 ответов совпали с HF слово в слово, "
                                 "f16: 3 из 3 ответов совпали с HF слово в слово")
        assert parity_line(bare) == "промпт, id токенов, BOS и EOS совпадают"
        # the mismatch shown first names a differing token, even after one that does not
        assert parity_line(ParityReport(mismatches=[Mismatch("bos", side="HF"), answer])) == \
            "ответ q8_0 на 'Что такое loss?' расходится с HF с токена 10: HF '▁а' (id 326), GGUF '▁в' (id 264)"
        assert parity_line(ParityReport(mismatches=[ids])) == \
            "id токенов промпта различаются с позиции 12: HF 'a' (id 9), GGUF 'model' (id 7)"
        assert parity_line(bos) == "промпт GGUF начинается с удвоенного BOS"
        assert parity_line(old) == "something new"
        assert (source_label("3"), source_label("demo")) == ("прогон #3", "demo")
    finally:
        set_lang("en")
    line = "q8_0 answer to 'Что такое loss?' differs from HF at token 10: HF '▁а' (id 326) vs GGUF '▁в' (id 264)"
    assert parity_line(ParityReport(mismatches=[answer])) == line == answer.english()
    assert parity_line(ok) == "prompt, ids, BOS, EOS equal; answers as HF: q8_0 3/3, f16 3/3"
    assert source_label("3") == "run #3"


def test_a_parity_report_reads_back_from_the_job_result_as_records():
    """The job stores the report as JSON; the dialog and `exports show` read the same records back."""
    from core.export.jobs import parity_report
    from core.export.parity import AnswerParity, Mismatch, ParityReport

    tie = AnswerParity("q?", "q4_k_m", 3, 5, 5, True, True, first_diff="token 3: …", gap=0.01)
    real = AnswerParity("q?", "q4_k_m", 0, 5, 5, True, True, first_diff="token 0: …", gap=3.0)
    same = AnswerParity("q?", "f16", 5, 5, 5, True, True)
    report = ParityReport(True, True, False, True, "<eos>", answers=[same, tie, real],
                          mismatches=[Mismatch("answer", at=0, hf="'a' (id 1)", gguf="'b' (id 2)", quant="q4_k_m", question="q?")])
    stored = json.loads(json.dumps({"parity": report.to_dict()}))
    back = parity_report(stored)
    assert back == report and not back.ok and back.warnings == report.warnings
    assert [(q.quant, q.identical, q.answers, q.near_ties, q.ok) for q in back.quants] == \
        [("f16", 1, 1, 0, True), ("q4_k_m", 0, 2, 1, False)]
    assert stored["parity"]["quants"][1]["tokens_matched"] == 3 and parity_report({}) is None


@async_test
async def test_the_dialog_follows_the_running_job_not_the_queued_one(home):
    """Export and chat queues the base and the run: the dialog shows the one at work (with its
    step in Russian, no English worker message), not the one waiting behind it."""
    from textual.app import App

    from core.store.base import now
    from tests.support.jobs import idle_worker
    from tui.i18n import set_lang
    from tui.dialogs.export_model import ExportModelScreen

    ws = Workspace.open(home)
    with ws.store() as store:
        queued = store.create_export_job(source="demo", quants=["q8_0"])  # young, its worker not started yet
        running = store.create_export_job(source="1", quants=["q8_0"])
        store.update_export_job(queued.id, message="waiting for export job 2")
    set_lang("ru")
    try:
        with idle_worker("core.export.worker") as worker, ws.store() as store:  # a live worker behind the running one
            store.claim_export_job(running.id, expect=("queued",), status="running", pid=worker.pid, heartbeat=now(),
                                   started=now())
            store.update_export_job(running.id, stage="convert", done=0, total=1, message="convert_hf_to_gguf.py → F16")
            app = App()
            async with app.run_test(size=(80, 24)) as pilot:
                app.push_screen(ExportModelScreen(ws, jobs=[queued.id, running.id], chat=True))
                await until(pilot, lambda: "идёт" in text(app, "#exp-job-title"), "the running job's title")
                title, step = text(app, "#exp-job-title"), text(app, "#exp-step")
                assert f"Экспорт #{running.id}: прогон #1" in title and "задача 2 из 2" in title, title
                assert step.startswith("шаг 2/4: конвертация") and "convert_hf" not in step, step
    finally:
        set_lang("en")
