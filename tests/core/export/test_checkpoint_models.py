"""A checkpoint's export is registered under its run's id too (``run-7-step40-q8_0``): the run's
model — what "export and chat" sits beside its base, what ``chat 7`` opens — is still the run's
own export, and ``7@40`` / ``7@best`` name the checkpoint's."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.workspace import Workspace


def test_the_runs_own_export_is_its_model_and_run_at_step_names_a_checkpoints(home):
    from core.export.jobs import chat_lineup
    from core.infer.runner import resolve_model

    ws = Workspace.open(home)
    gguf = home / "x.gguf"
    gguf.write_bytes(b"GGUF")
    with ws.store() as store:
        run = store.create_run(base="demo", preset="demo", backend="hf", config={"base": "demo"})
        store.update_run(run.id, status="done", best_step=40, best_value=31.5)
        store.add_model("gguf", f"run-{run.id}-step40-q8_0", str(gguf), run_id=run.id, base="demo", quant="q8_0",
                        meta={"checkpoint": 40})
        # only a checkpoint's export so far: the run itself still has to be exported
        lineup = chat_lineup(store, run.id)
        assert lineup.tuned is None and lineup.to_export[-1] == str(run.id)
    with pytest.raises(UserError) as err:
        resolve_model(ws, str(run.id))
    assert err.value.code == "chat.no_model"

    with ws.store() as store:
        store.add_model("gguf", f"run-{run.id}-q8_0", str(gguf), run_id=run.id, base="demo", quant="q8_0")
        store.add_model("gguf", f"run-{run.id}-step20-q8_0", str(gguf), run_id=run.id, base="demo", quant="q8_0",
                        meta={"checkpoint": 20})  # the newest registration, and a checkpoint's
        assert chat_lineup(store, run.id).tuned == f"run-{run.id}-q8_0"
        assert [m.checkpoint for m in store.list_models(kind="gguf")] == [40, None, 20]
    assert resolve_model(ws, str(run.id)).key == f"run-{run.id}-q8_0"
    assert resolve_model(ws, f"{run.id}@20").key == f"run-{run.id}-step20-q8_0"
    assert resolve_model(ws, f"{run.id}@best").key == f"run-{run.id}-step40-q8_0"
    with pytest.raises(UserError):
        resolve_model(ws, f"{run.id}@60")  # no export of that checkpoint
