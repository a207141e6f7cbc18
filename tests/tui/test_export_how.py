"""The Export dialog's choice of export: a run as a GGUF LoRA on its base GGUF (the default) or the whole
model merged; a run that cannot be a LoRA says why before anything starts, in the UI's language; the
job's outcome says which export it became.

No export runs here: the runs are rows with adapter folders (their adapter_config.json is all the
choice reads), and starting a job is caught where the dialog hands it to ``start_job``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.errors import UserError
from core.workspace import Workspace
from tests.support.waits import async_test

LIMIT_S = 60.0  # a guard against a hang: every loop ends on the state it looks for


def _adapter(folder: Path, base: Path, modules_to_save: list[str] | None) -> Path:
    folder.mkdir(parents=True)
    cfg = {"peft_type": "LORA", "base_model_name_or_path": str(base), "r": 4, "lora_alpha": 8,
           "target_modules": ["q_proj", "v_proj"], "modules_to_save": modules_to_save}
    (folder / "adapter_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return folder


@pytest.fixture
def two_runs(home, demo_model, tmp_path):
    """Run 1 trains the output head in full (modules_to_save), run 2 is LoRA only; the demo base as "demo"."""
    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_model("base", "demo", str(demo_model))
        for n, full in ((1, ["embed_tokens", "lm_head"]), (2, None)):
            run = store.create_run(base="demo", preset=None, backend="hf", config={"base": str(demo_model)})
            store.update_run(run.id, status="done", adapter_path=str(_adapter(tmp_path / f"a{n}", demo_model, full)))
    return ws


async def _until(pilot, predicate, what: str):
    """Pause until ``predicate()`` holds; a widget not mounted yet counts as not yet."""
    from textual.css.query import NoMatches

    deadline = time.monotonic() + LIMIT_S
    while True:
        try:
            if predicate():
                return
        except NoMatches:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await pilot.pause(0.05)


def _note(app) -> str:
    return str(app.screen.query_one("#exp-how-note").render())


async def _choose(pilot, app, source: str, want: str) -> None:
    app.screen.query_one("#exp-source").value = source
    await _until(pilot, lambda: want in _note(app), f"the note for {source}")


@pytest.mark.parametrize("lang", ["en", "ru"])
@async_test
async def test_the_dialog_offers_the_lora_export_and_says_before_it_starts_why_a_run_falls_back(two_runs, monkeypatch, lang):
    from textual.app import App

    import core.export.jobs as jobs
    from tui.dialogs.export_model import ExportModelScreen
    from tui.i18n import set_lang, t

    started: list[dict] = []

    def start_job(ws, ref, **kw):  # where the dialog hands the job over: what it asked for, and no worker
        started.append({"ref": ref, **kw})
        raise UserError("caught by the test")

    monkeypatch.setattr(jobs, "start_job", start_job)
    set_lang(lang)
    try:
        app = App()
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(ExportModelScreen(two_runs, source="1"))
            reason = t("export.lora_full_modules", modules="embed_tokens, lm_head")
            await _until(pilot, lambda: isinstance(app.screen, ExportModelScreen) and reason in _note(app),
                         "the fallback's reason")
            assert _note(app) == t("export_model.how_falls_back", reason=reason)
            assert app.screen.query_one("#exp-how").display and app.screen.query_one("#exp-how").value == "lora"
            assert app.screen.query_one("#exp-how-note").has_class("-warn")
            assert app.screen.query_one("#exp-start").region.bottom <= 24  # the reason shown, Start still in view
            await pilot.press("ctrl+s")
            await _until(pilot, lambda: started, "the job asked for")
            assert started[-1]["how"] == "lora"  # the worker falls back and says so again in its result

            await _choose(pilot, app, "2", t("export_model.how_lora_note"))  # a LoRA-only run: nothing to warn of
            assert not app.screen.query_one("#exp-how-note").has_class("-warn")
            app.screen.query_one("#exp-how").value = "merged"
            await _until(pilot, lambda: _note(app) == t("export_model.how_merged_note"), "the merge's note")
            app.screen.query_one("#exp-start").disabled = False
            await pilot.press("ctrl+s")
            await _until(pilot, lambda: len(started) == 2, "the second job asked for")
            assert started[-1]["ref"] == "2" and started[-1]["how"] == "merged"

            await _choose(pilot, app, "demo", t("export_model.how_whole"))  # a whole model: no choice to make
            assert not app.screen.query_one("#exp-how").display
    finally:
        set_lang("en")
    if lang == "ru":
        assert "целиком (modules_to_save)" in reason


def test_a_finished_jobs_outcome_says_which_export_it_became():
    from core.store.exports import ExportJob
    from tui.dialogs.export_model import outcome
    from tui.i18n import set_lang

    refused = {"code": "export.lora_full_modules", "params": {"modules": "lm_head"},
               "reason": "the run trains lm_head in full (modules_to_save), which llama.cpp's LoRA converter refuses"}
    lora = ExportJob(id=1, status="done", source="2", how="lora", result={"how": "lora", "parity": None})
    fell = ExportJob(id=2, status="done", source="1", how="lora", result={"how": "merged", "lora_refused": refused})
    whole = ExportJob(id=3, status="done", source="demo", result={"how": "merged"})
    assert outcome(lora)[0] == "A GGUF LoRA on the base GGUF. No parity check was run."
    assert outcome(fell)[0].startswith(f"A full merge, not a LoRA export: {refused['reason']}.")
    assert outcome(whole)[0] == "No parity check was run."
    set_lang("ru")
    try:
        assert outcome(fell)[0].startswith("Слияние целиком, а не LoRA: запуск обучает lm_head целиком")
        # a reason stored without a code the table knows is shown as it was stored
        odd = ExportJob(id=4, status="done", source="1", result={"how": "merged", "lora_refused": {"reason": "why"}})
        assert outcome(odd)[0].startswith("Слияние целиком, а не LoRA: why.")
    finally:
        set_lang("en")
