"""A run exported as a GGUF LoRA on a base GGUF converted once, and the runs that fall back to a merge.

The adapters are trained a few steps on the replicas of real families (core/train/replicas.py)
and saved by the pipeline's own ``save_adapter``, as a run saves them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.adapters import train_adapter
from tests.support.cli import run_cli

# no xdist group: these export their own replicas, not the session's shared demo export
pytestmark = [pytest.mark.slow, pytest.mark.learning]

def _train_adapter(base: Path, out: Path, *, modules_to_save: list[str] | None = None) -> Path:
    """A LoRA trained 3 steps with a large learning rate (the answers change), saved as a run saves it."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    return train_adapter(model, base, out, "Что такое LoRA? Низкоранговая добавка к весам.", lr=2e-2, steps=3,
                         modules_to_save=modules_to_save)


# qwen3 and gemma3 (tied head, towers) in `make test`; llama3.1 (81–118 s, its 128k vocabulary) and
# gemma4 (89 s) passed on 2026-12-07 and wait for a base export shared across tests to fit the budget
@pytest.mark.parametrize("arch", ["qwen3", "gemma3"])
def test_a_lora_run_exports_as_an_adapter_on_a_base_converted_once_and_matches_hf(arch, replica, home, tmp_path):
    from core.export import export
    from core.infer.runner import LocalRunner, ModelRef, open_model
    from core.workspace import Workspace

    base = replica(arch)
    ws = Workspace.open(home)
    adapter = _train_adapter(base, tmp_path / "run")
    events: list[str] = []
    first = export(ws, str(adapter), quants=["q8_0"], name="run-1", lora=True, parity_tokens=12,
                   progress=lambda e: events.append(e.message))
    assert any("converting the base" in m for m in events)
    p = first.parity
    assert p is not None and p.ok, [m.english() for m in p.mismatches]
    assert {a.quant for a in p.answers} == {"f16", "q8_0"}
    lora = first.file("q8_0").path
    base_f16 = next(Path(m) for m in json.loads((first.folder / "export.json").read_text())["base_gguf"].values()
                    if m.endswith("-f16.gguf"))
    assert lora.parent == first.folder and lora.stat().st_size * 5 < base_f16.stat().st_size  # the adapter only

    assert first.to_dict()["how"] == "lora"
    with ws.store() as store:
        model = store.find_model("run-1-q8_0")
    assert model is not None and model.meta["lora"] == str(lora) and Path(model.path).name.endswith("-q8_0.gguf")
    # the export folder and the GGUF LoRA's own path name the run's model, base and adapter together
    from core.infer.runner import resolve_model

    for ref in ("run-1", str(lora)):
        assert (resolve_model(ws, ref).path, resolve_model(ws, ref).lora) == (Path(model.path), lora)
    modelfile = (first.folder / "Modelfile").read_text(encoding="utf-8").splitlines()
    assert f"FROM {model.path}" in modelfile and f"ADAPTER ./{lora.name}" in modelfile

    # the next run of the same base converts only its adapter: the base GGUF is reused
    events.clear()
    second = export(ws, str(adapter), quants=["q8_0"], name="run-2", lora=True, parity=False,
                    progress=lambda e: events.append(e.message))
    assert any("base GGUF reused" in m for m in events) and "base" not in second.seconds
    with ws.store() as store:
        assert store.find_model("run-2-q8_0").path == model.path

    # chat and evaluation load it through the one runner, the adapter applied: the check's answer
    # (in a child process, as the app's Chat room runs it)
    q = p.answers[-1]
    with open_model(ws, "run-1-q8_0", in_process=False) as runner:
        reply = runner.reply([{"role": "user", "content": q.question}], max_tokens=12)
    assert runner.ref.lora == lora
    assert reply.text.strip() == q.gguf_answer.strip() and q.gguf_answer != ""
    # and the adapter is what answers: the base GGUF alone says something else
    with LocalRunner(ModelRef("base", Path(model.path), "base"), log_file=home / "llama.log") as plain:
        assert plain.reply([{"role": "user", "content": q.question}], max_tokens=12).text.strip() != reply.text.strip()


def test_a_run_that_trains_whole_modules_says_why_and_exports_the_merged_model(replica, home, tmp_path):
    """The demo preset trains the embeddings and the output head in full (modules_to_save): the converter
    refuses such an adapter, so `nastavnik export --lora` falls back to the full merge and says so."""
    from core.export.lora import lora_refusal
    from core.export.source import resolve_source
    from core.workspace import Workspace

    base = replica("llama3.1")
    ws = Workspace.open(home)
    adapter = _train_adapter(base, tmp_path / "run", modules_to_save=["embed_tokens", "lm_head"])
    refusal = lora_refusal(resolve_source(ws, str(adapter)))
    assert refusal is not None and refusal.code == "export.lora_full_modules" and "lm_head" in refusal.english
    r = run_cli(home, "export", str(adapter), "--lora", "--no-parity", "--name", "run-3")
    assert r.code == 0, r.err
    assert f"a full merge, not a LoRA export: {refusal.english}" in r.out
    folder = home / "exports" / "run-3"
    assert (folder / "merged" / "config.json").is_file()
    assert json.loads((folder / "export.json").read_text())["lora_refused"]["code"] == "export.lora_full_modules"
    with ws.store() as store:
        model = store.find_model("run-3-q8_0")
    assert model is not None and "lora" not in model.meta and Path(model.path).parent == folder
