"""A merge goes into the class the adapter was trained on, and never exports an untrained model.

Unsloth on CUDA trains Qwen 3.5 as ``Qwen3_5ForConditionalGeneration`` (LoRA keys
``model.language_model.layers…``); ``AutoModelForCausalLM`` loads it as ``Qwen3_5ForCausalLM``
(``model.layers…``), PEFT only warns about the missing keys, and the "merged" model was the base
(../shared/notes/gpu-path-review.md, A3). Here the adapter is trained for two steps on the VLM
class on the CPU — the keys are the same as on CUDA — and saved by the pipeline's own
``save_adapter``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.errors import UserError
from tests.support.adapters import train_adapter

VLM = "Qwen3_5ForConditionalGeneration"
Q_PROJ = "model.language_model.layers.3.self_attn.q_proj.weight"  # a full-attention layer of the replica


@pytest.fixture(scope="module")
def vlm_adapter(replica, tmp_path_factory) -> Path:
    """A LoRA trained two steps on Qwen 3.5's VLM class, saved as a run saves it."""
    import torch
    from transformers import Qwen3_5ForConditionalGeneration

    base = replica("qwen3.5")
    torch.manual_seed(0)
    model = Qwen3_5ForConditionalGeneration.from_pretrained(str(base))
    adapter = train_adapter(model, base, tmp_path_factory.mktemp("qwen35-run"), "Эпоха — один проход по всем данным.",
                            lr=1e-2, steps=2)
    assert json.loads((adapter / "nastavnik_run.json").read_text(encoding="utf-8"))["model_class"] == VLM
    return adapter


def _tensor(folder: Path, key: str):
    from safetensors import safe_open

    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            if key in f.keys():
                return f.get_tensor(key)
    raise KeyError(f"{key} not in {folder}")


def _copy(adapter: Path, dst: Path, *, model_class: str | None) -> Path:
    shutil.copytree(adapter, dst)
    meta = json.loads((dst / "nastavnik_run.json").read_text(encoding="utf-8"))
    meta.pop("model_class")
    if model_class:
        meta["model_class"] = model_class
    (dst / "nastavnik_run.json").write_text(json.dumps(meta), encoding="utf-8")
    return dst


def test_a_vlm_class_adapter_merges_into_that_class_and_changes_the_weights(vlm_adapter, replica, tmp_path):
    from core.export.merge import merge
    from core.export.source import resolve_source

    source = resolve_source(None, str(vlm_adapter))
    assert source.model_class == VLM and source.model_dir == replica("qwen3.5").resolve()
    out = merge(source, tmp_path / "merged")
    info = json.loads((out / "nastavnik_merge.json").read_text(encoding="utf-8"))
    assert info["model_class"] == VLM and info["how"] == "base"
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["architectures"] == [VLM]
    base = replica("qwen3.5")
    assert float((_tensor(out, Q_PROJ) - _tensor(base, Q_PROJ)).abs().max()) > 1e-4  # trained, not the base
    embed = "model.language_model.embed_tokens.weight"  # no LoRA there: as it was
    assert float((_tensor(out, embed) - _tensor(base, embed)).abs().max()) == 0.0


def test_an_adapter_that_does_not_fit_is_refused_naming_the_run_and_the_tensors(vlm_adapter, tmp_path, home, store):
    """An older run that did not record its class: loaded as Qwen3_5ForCausalLM, none of its tensors
    finds a module — refused, with the class to record; and one stray tensor is refused too."""
    from safetensors.torch import load_file, save_file

    from core.export.merge import merge
    from core.export.source import resolve_source
    from core.workspace import Workspace

    legacy = _copy(vlm_adapter, tmp_path / "legacy", model_class=None)
    run = store.create_run(base="demo-qwen3.5", preset=None, backend="unsloth", config={})
    store.update_run(run.id, status="done", adapter_path=str(legacy), run_dir=str(tmp_path))
    source = resolve_source(Workspace.open(home), str(run.id))
    assert source.model_class is None
    with pytest.raises(UserError) as err:
        merge(source, tmp_path / "out")
    text = str(err.value)
    assert f"run {run.id}'s adapter does not fit" in text and "found no module in Qwen3_5ForCausalLM" in text
    assert "model.language_model.layers.0." in text and f'"model_class": "{VLM}"' in text
    assert not list((tmp_path / "out").glob("*.safetensors"))  # nothing exported under the run's name
    # the run's setup in the store says the class: that is used when the adapter's file does not
    store.update_run(run.id, setup={"model_class": VLM})
    assert resolve_source(Workspace.open(home), str(run.id)).model_class == VLM
    # one tensor of the right class's adapter that names no module is enough to refuse
    stray = _copy(vlm_adapter, tmp_path / "stray", model_class=VLM)
    weights = load_file(str(stray / "adapter_model.safetensors"))
    key = next(k for k in weights if "layers.0.mlp.down_proj.lora_B" in k)
    weights[key.replace("layers.0.", "layers.9.")] = weights.pop(key)  # the replica has 4 layers
    save_file(weights, str(stray / "adapter_model.safetensors"))
    with pytest.raises(UserError) as err:
        merge(resolve_source(None, str(stray)), tmp_path / "out2")
    assert f"1 of its {len(weights)} tensors found no module in {VLM}" in str(err.value)
    assert "layers.9.mlp.down_proj.lora_B" in str(err.value)


def test_a_dpo_start_from_an_adapter_of_another_class_is_refused(vlm_adapter, replica):
    """--from-run with the hf backend (Qwen3_5ForCausalLM) on a run Unsloth trained on CUDA (the VLM
    class): refused, not a DPO run that starts from the bare base."""
    from transformers import AutoModelForCausalLM, Qwen3_5ForConditionalGeneration

    from core.train.backends import hf
    from core.train.config import TrainConfig
    from core.train.device import Device

    config = TrainConfig(base=str(replica("qwen3.5")), method="dpo", from_run=7)
    cpu = Device("cpu", 0, False)
    causal = AutoModelForCausalLM.from_pretrained(str(replica("qwen3.5")))
    assert type(causal).__name__ == "Qwen3_5ForCausalLM"
    with pytest.raises(UserError) as err:
        hf.continue_adapter(causal, str(vlm_adapter), config, cpu)
    assert "run 7's adapter does not fit" in str(err.value) and f"trained on {VLM}, loaded as Qwen3_5ForCausalLM" in str(err.value)
    assert "nastavnik runs show 7" in str(err.value)
    fits = hf.continue_adapter(Qwen3_5ForConditionalGeneration.from_pretrained(str(replica("qwen3.5"))), str(vlm_adapter), config, cpu)
    trainable = [n for n, p in fits.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
