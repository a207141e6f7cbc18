"""Before an export starts it says what it needs, and refuses with the numbers when the machine has less.

The free figures come from ``core.export.preflight.free_resources`` (MemAvailable and the disk
under exports/); the tests replace that one function to play a small machine."""

from __future__ import annotations

import pytest

from core.errors import UserError


def test_the_merged_folder_estimate_is_what_the_merge_writes(replica):
    """The estimate adds the base's tensors up from the safetensors headers; the streaming merge plans
    exactly those bytes (an nf4 weight counted as its 16-bit self)."""
    from core.export.preflight import estimate
    from core.export.source import Source
    from core.export.stream_merge import plan

    for base in (replica("llama3.1"), replica("llama3.1", prequantized=True)):
        source = Source("x", model_dir=base.resolve())
        needs = estimate(source, ["q8_0", "q4_k_m"])
        assert needs.streamed and needs.merged == plan(source).output_bytes()
        assert needs.reference == 2 * needs.params
        assert needs.merged + needs.reference > needs.quants["q8_0"] > needs.quants["q4_k_m"] > 0
        assert needs.disk == needs.merged + needs.reference + needs.quants["q8_0"] + needs.quants["q4_k_m"]
        assert needs.ram < needs.merged + 2 * 10**9  # the streamed merge does not hold the model


def test_an_export_that_cannot_fit_is_refused_with_the_numbers_before_it_starts(replica, home, monkeypatch):
    import core.export.preflight as preflight
    from core.export import export, resolve_source
    from core.workspace import Workspace
    from tui.i18n import error_text, set_lang

    ws = Workspace.open(home)
    base = str(replica("qwen3"))
    needs = preflight.estimate(resolve_source(ws, base), ["q8_0"])
    plenty = 10**15

    monkeypatch.setattr(preflight, "free_resources", lambda folder: (plenty, needs.disk // 2))
    events: list = []
    with pytest.raises(UserError) as err:
        export(ws, base, quants=["q8_0"], progress=events.append)
    assert err.value.code == "export.no_disk"
    params = err.value.params
    assert params["need"] == f"{needs.disk / 1e9:.1f}" and params["free"] == f"{needs.disk / 2 / 1e9:.1f}"
    assert params["where"] == str(ws.exports_dir) and "Q8_0" in params["quants"]
    assert f"needs {needs.disk / 1e9:.1f} GB of disk" in str(err.value)
    assert events == [] and list(ws.exports_dir.iterdir()) == []  # nothing started, nothing left
    set_lang("ru")
    try:
        said = error_text(err.value)
    finally:
        set_lang("en")
    assert f"нужно {params['need']} ГБ на диске" in said and f"свободно {params['free']} ГБ" in said

    monkeypatch.setattr(preflight, "free_resources", lambda folder: (needs.ram // 2, plenty))
    with pytest.raises(UserError) as err:
        export(ws, base, quants=["q8_0"])
    assert err.value.code == "export.no_ram" and err.value.params["need"] == f"{needs.ram / 1e9:.1f}"
    assert "of RAM" in str(err.value) and "streamed merge" in str(err.value)

    # a background job (the Export dialog's, `export --detach`) is refused before it is created
    from core.export.jobs import start_job

    monkeypatch.setattr(preflight, "free_resources", lambda folder: (plenty, needs.disk // 2))
    with pytest.raises(UserError) as err:
        start_job(ws, base, quants=["q8_0"])
    assert err.value.code == "export.no_disk" and err.value.params["need"] == f"{needs.disk / 1e9:.1f}"
    with ws.store() as store:
        assert store.list_export_jobs() == []

    monkeypatch.setattr(preflight, "free_resources", lambda folder: (plenty, plenty))
    fits = preflight.check(resolve_source(ws, base), ["q8_0"], ws.exports_dir)
    assert fits.free_disk == plenty and "free: " in fits.english()


@pytest.mark.slow
def test_the_parity_check_is_skipped_with_one_line_when_the_hf_model_cannot_fit(replica, home, monkeypatch):
    """The export itself fits; the check's HF side (the whole model in RAM) does not: the export completes,
    the check is skipped, and the line says what it needs, what is available and the command to run it later."""
    import json

    import core.export.preflight as preflight
    from core.export import export
    from core.export.parity import parity_memory
    from core.workspace import Workspace

    ws = Workspace.open(home)
    plenty, tight = 10**15, 10**9 // 10  # 0.1 GB available where the merged model is looked at
    monkeypatch.setattr(preflight, "free_resources", lambda folder: (tight if folder.name == "merged" else plenty, plenty))
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # the RAM's plan, on a GPU box too
    events: list = []
    result = export(ws, str(replica("qwen3")), quants=["f16"], name="tight", progress=events.append)
    line = result.parity_skipped
    assert result.parity is None and line and line.startswith("parity check skipped")
    need = parity_memory(result.merged_dir)
    assert need > sum(f.stat().st_size for f in result.merged_dir.glob("*.safetensors"))  # the model, and Python's own
    assert f"needs {need / 1e9:.1f} GB of RAM, 0.1 GB is available" in line
    assert f"nastavnik export {result.merged_dir} --quant q8_0" in line
    assert line in [e.message for e in events if e.stage == "parity"]
    assert json.loads((result.folder / "export.json").read_text(encoding="utf-8"))["parity_skipped"] == line
    assert [f.quant for f in result.files] == ["f16"] and result.files[0].path.is_file()


@pytest.mark.slow
def test_a_parity_check_that_does_not_fit_whole_runs_offloaded_and_still_compares(replica, home, monkeypatch):
    """Room for the largest tensor but not the model: the HF side holds what fits and reads the rest from
    the merged folder as each layer runs — the same weights, so the check passes as it does in RAM."""
    import core.export.preflight as preflight
    from core.export import export
    from core.export.parity import _tensor_bytes
    from core.workspace import Workspace

    ws = Workspace.open(home)
    base = replica("qwen3")
    model_bytes = sum(_tensor_bytes(base))
    # what the check may hold: three quarters of the model (more than its largest tensor), after Python's own
    room = int((preflight.FIXED_RAM + 0.75 * model_bytes) / (1 - preflight.SPARE)) + 1
    plenty = 10**15
    monkeypatch.setattr(preflight, "free_resources", lambda folder: (room if folder.name == "merged" else plenty, plenty))
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # the RAM's plan, on a GPU box too
    events: list = []
    result = export(ws, str(base), quants=["f16"], name="offloaded", progress=events.append)
    assert result.parity_skipped is None and result.parity is not None
    assert result.parity.ok, result.parity.warnings
    assert all(a.equal for a in result.parity.answers) and result.parity.answers
    said = [e.message for e in events if e.stage == "parity" and "reads the rest from the merged folder" in e.message]
    assert len(said) == 1 and f"it holds {0.75 * model_bytes / 1e9:.1f} GB" in said[0]
