"""A run's checkpoint exported as a GGUF LoRA (``export RUN --checkpoint N``, a LoRA by default) is
opened as its base GGUF with the checkpoint's adapter applied, as the run's own LoRA export is."""

from __future__ import annotations

from core.workspace import Workspace


def test_run_at_step_opens_a_checkpoints_gguf_lora_with_its_adapter(home):
    from core.infer.runner import resolve_model

    ws = Workspace.open(home)
    base, lora = home / "demo-base-q8_0.gguf", home / "run-1-step40-lora-f16.gguf"
    for f in (base, lora):
        f.write_bytes(b"GGUF")
    with ws.store() as store:
        run = store.create_run(base="demo", preset=None, backend="hf", config={"base": "demo"})
        store.update_run(run.id, status="done", best_step=40)
        store.add_model("gguf", "demo-base-q8_0", str(base), base="demo", quant="q8_0", meta={"lora_base": {"dir": "x"}})
        store.add_model("gguf", f"run-{run.id}-step40-q8_0", str(base), run_id=run.id, base="demo", quant="q8_0",
                        meta={"checkpoint": 40, "lora": str(lora)})
    for ref in (f"{run.id}@40", f"{run.id}@best", f"run-{run.id}-step40-q8_0"):
        found = resolve_model(ws, ref)
        assert (found.key, found.path, found.lora) == (f"run-{run.id}-step40-q8_0", base, lora), ref
