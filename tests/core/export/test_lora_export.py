"""A run exported as a GGUF LoRA on a base GGUF converted once, and the runs that fall back to a merge.

The adapters are LoRA-only adapters of the replicas of real families (core/train/replicas.py) with
deterministic random non-zero ``lora_B`` — what parity needs is an adapter that changes the answers,
not a training run — saved by the pipeline's own ``save_adapter``, as a run saves them. Each family's
run is exported once per session (the ``lora_run`` fixture: base F16 GGUF, the adapter, the parity
check at F16) and the tests read that export; they share an xdist group, so one worker builds each."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.learning]
SHARED = pytest.mark.xdist_group("lora_runs")  # the tests that read the session's exports: one worker builds them

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
FAMILIES = ["llama3.1", "qwen3", "gemma3", "gemma4"]  # the LoRA-only families: gemma3/4 with towers, tied heads
PARITY_TOKENS = 8


def _random_adapter(base: Path, out: Path, *, modules_to_save: list[str] | None = None) -> Path:
    """A rank-4 LoRA on the language model's linear layers with seeded random ``lora_B`` (PEFT starts B
    at zero: such an adapter would change nothing), saved as a run saves it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.train import pipeline
    from core.train.modules import lora_targets

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    targets, _ = lora_targets(model, TARGETS)  # the language model's layers, as a run picks them (not a vision tower's)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, modules_to_save=modules_to_save))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    tok = AutoTokenizer.from_pretrained(str(base))
    return pipeline.save_adapter(model, tok, pipeline.RunPaths(out), str(base), {"base": str(base)})


@pytest.fixture(scope="session")
def lora_run(replica, tmp_path_factory, llamacpp_cache):
    """``lora_run(arch)``: a session workspace in which a LoRA-only run of the ``arch`` replica was
    exported with ``export(..., lora=True)`` at F16 with its parity check (the base converted once,
    here); {"home", "adapter", "result", "events"}. Built once per family and worker; read-only."""
    from core.export import export
    from core.workspace import Workspace

    built: dict[str, dict] = {}

    def get(arch: str) -> dict:
        if arch not in built:
            root = tmp_path_factory.mktemp(f"lora-{arch}")
            adapter = _random_adapter(replica(arch), root / "run")
            events: list[str] = []
            result = export(Workspace.open(root / "home"), str(adapter), quants=["f16"], name="run-1", lora=True,
                            parity_tokens=PARITY_TOKENS, progress=lambda e: events.append(e.message))
            built[arch] = {"home": root / "home", "adapter": adapter, "result": result, "events": events}
        return built[arch]

    return get


def _base_gguf(result, quant: str = "f16") -> Path:
    return Path(json.loads((result.folder / "export.json").read_text())["base_gguf"][quant])


@SHARED
@pytest.mark.parametrize("arch", FAMILIES)
def test_a_lora_run_exports_as_an_adapter_on_its_base_and_matches_hf(arch, lora_run):
    """HF's base with the PEFT adapter against llama.cpp's base GGUF with the GGUF LoRA, at F16."""
    run = lora_run(arch)
    first = run["result"]
    assert any("converting the base" in m for m in run["events"])
    p = first.parity
    assert p is not None and p.ok, [m.english() for m in p.mismatches]
    assert {a.quant for a in p.answers} == {"f16"} and any(a.hf_tokens > 0 for a in p.answers)
    lora = first.file("f16").path
    assert first.to_dict()["how"] == "lora"
    assert lora.parent == first.folder and lora.stat().st_size * 5 < _base_gguf(first).stat().st_size  # the adapter only


@SHARED
def test_the_parity_check_catches_an_adapter_applied_at_another_scale(lora_run, tmp_path):
    """The same adapter on the HF side at twice its scale (lora_alpha doubled) against the exported GGUF
    LoRA: the check must report the answers as a mismatch, not pass them as near ties."""
    from core.export.lora import lora_parity
    from core.export.source import resolve_source
    from core.workspace import Workspace

    run = lora_run("qwen3")
    wrong = tmp_path / "adapter"
    shutil.copytree(run["adapter"], wrong)
    cfg = json.loads((wrong / "adapter_config.json").read_text(encoding="utf-8"))
    cfg["lora_alpha"] *= 2
    (wrong / "adapter_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    first = run["result"]
    base = _base_gguf(first)
    report = lora_parity(resolve_source(Workspace.open(tmp_path / "home"), str(wrong)), base.parent / "hf",
                         {"f16": base}, first.file("f16").path, system=None,
                         questions=[a.question for a in first.parity.answers], max_new_tokens=PARITY_TOKENS,
                         log_file=tmp_path / "export.log", report=lambda e: None)
    assert not report.ok and any(m.kind == "answer" for m in report.mismatches), report.summary()
    assert report.template_equal and report.tokens_equal  # only the weights differ


@SHARED
def test_the_next_run_reuses_the_base_and_chat_applies_the_adapter(lora_run, tmp_path):
    """A later run of the same base converts only its adapter (the F16 base reused, Q8_0 quantized from
    it once); the Modelfile names base and adapter; chat loads base + adapter through the one runner."""
    from core.export import export
    from core.infer.runner import LocalRunner, ModelRef, open_model, resolve_model
    from core.workspace import Workspace

    run = lora_run("qwen3")
    first = run["result"]
    home = tmp_path / "home"
    # registered paths still point into the session workspace: its base folder gets the Q8_0 quantized
    # beside its F16, registered in this copy only
    shutil.copytree(run["home"], home)
    ws = Workspace.open(home)
    events: list[str] = []
    second = export(ws, str(run["adapter"]), quants=["q8_0"], name="run-2", lora=True, parity=False,
                    progress=lambda e: events.append(e.message))
    assert not any("converting the base" in m for m in events) and any("quantizing the base to Q8_0" in m for m in events)
    lora = second.file("q8_0").path
    with ws.store() as store:
        model = store.find_model("run-2-q8_0")
        base_f16 = store.find_model("run-1-f16")
    assert model is not None and model.meta["lora"] == str(lora) and Path(model.path).name.endswith("-q8_0.gguf")
    assert Path(model.path).parent == Path(base_f16.path).parent  # the base's own folder, beside its F16
    # the export folder and the GGUF LoRA's own path name the run's model, base and adapter together
    for ref in ("run-2", str(lora)):
        assert (resolve_model(ws, ref).path, resolve_model(ws, ref).lora) == (Path(model.path), lora)
    modelfile = (second.folder / "Modelfile").read_text(encoding="utf-8").splitlines()
    assert f"FROM {model.path}" in modelfile and f"ADAPTER ./{lora.name}" in modelfile

    # a third run: nothing of the base is converted or quantized again
    events.clear()
    third = export(ws, str(run["adapter"]), quants=["q8_0"], name="run-3", lora=True, parity=False,
                   progress=lambda e: events.append(e.message))
    assert any("base GGUF reused" in m for m in events) and "base" not in third.seconds

    # the adapter is what answers: the base GGUF alone says something else to one of the parity
    # check's questions at least (a random adapter need not change every short answer)
    def ask(runner, question: str) -> str:
        return runner.reply([{"role": "user", "content": question}], max_tokens=PARITY_TOKENS).text.strip()

    with LocalRunner(ModelRef("base", Path(base_f16.path), "base"), log_file=home / "llama.log") as plain:
        changed = [a for a in first.parity.answers if ask(plain, a.question) != a.gguf_answer.strip()]
    assert changed, "the adapter changed none of the answers"
    # chat loads run-1 (F16 base + adapter) in a child process, as the app's Chat room runs it: the
    # parity check's answer
    q = changed[0]
    with open_model(ws, "run-1-f16", in_process=False) as runner:
        reply = ask(runner, q.question)
    assert runner.ref.lora == first.file("f16").path
    assert reply == q.gguf_answer.strip() and reply != ""
    # and run-2's Q8_0 base with the adapter answers too
    with open_model(ws, "run-2-q8_0") as runner:
        assert runner.ref.lora == lora and ask(runner, q.question)


def test_a_run_that_trains_whole_modules_says_why_and_exports_the_merged_model(replica, home, tmp_path):
    """The demo preset trains the embeddings and the output head in full (modules_to_save): the converter
    refuses such an adapter, so `nastavnik export --lora` falls back to the full merge and says so."""
    from core.export.lora import lora_refusal
    from core.export.source import resolve_source
    from core.workspace import Workspace

    base = replica("llama3.1")
    ws = Workspace.open(home)
    adapter = _random_adapter(base, tmp_path / "run", modules_to_save=["embed_tokens", "lm_head"])
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
