"""The presets for today's families (Gemma 4, Qwen 3.5): their settings train on their family's
replica, and their fit is said unknown until their base's config.json is here, then computed from it."""

from __future__ import annotations

import json
import math

import pytest

from core.train.config import TrainConfig
from core.train.presets import PRESETS, get_preset
from core.train.vram import GiB, estimate_vram, preset_from_checkpoint
from tests.support.data import sample_pairs
from tests.support.nvidia import fake_nvidia_smi

#: each preset without typed-in numbers → the replica of its family (core/train/replicas.py)
FAMILY = {"gemma4-e4b": "gemma4", "gemma4-e2b": "gemma4", "qwen3.5-9b": "qwen3.5", "qwen3.5-4b": "qwen3.5"}


def test_todays_families_have_presets_named_as_unsloths_mapping_names_them():
    assert [n for n in PRESETS if not PRESETS[n].known] == list(FAMILY)
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("unsloth")  # read, not imported: importing Unsloth patches transformers
    assert spec is not None and spec.submodule_search_locations
    mapper = (Path(list(spec.submodule_search_locations)[0]) / "models" / "mapper.py").read_text(encoding="utf-8")
    for name in ("gemma4-e4b", "gemma4-e2b"):  # the pinned Unsloth's own 4-bit repos, keys of its mapping
        base = get_preset(name).base
        assert f'"{base}" : (' in mapper and base.endswith("-bnb-4bit")
    for name in ("qwen3.5-9b", "qwen3.5-4b"):  # no Qwen 3.5 entry in its mapping: Qwen's own repo, 4-bit as it loads
        base = get_preset(name).base
        assert base.startswith("Qwen/Qwen3.5-") and f'"{base}"' not in mapper and get_preset(name).load_in_4bit


def _cached_config(cache, hub_id: str, config: dict):
    """``config`` as the config.json of ``hub_id`` alone in a Hugging Face cache (as `models pull` fetches it first)."""
    repo = cache / ("models--" + hub_id.replace("/", "--"))
    snap = repo / "snapshots" / ("b" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    return snap


def _same_settings() -> list[list[str]]:
    """The family presets grouped by family and every setting a preset gives a run: one run covers a
    group (two sizes of a family with the same defaults train alike on its replica)."""
    from core.train.config import PRESET_CARRIES

    groups: dict[tuple, list[str]] = {}
    for name, family in FAMILY.items():
        p = get_preset(name)
        groups.setdefault((family, p.targets, *(getattr(p, f) for f in PRESET_CARRIES)), []).append(name)
    return list(groups.values())


@pytest.mark.slow
@pytest.mark.parametrize("names", _same_settings(), ids="+".join)
def test_a_family_preset_trains_a_few_steps_on_its_replica(store, replica, tmp_path, names):
    """The preset's own settings (4-bit, its rank, lr, targets, length, batch × accumulation) on the
    hf backend, in its base's own chat format (a preset names none)."""
    from core.train import pipeline

    name = names[0]
    for p in sample_pairs(8, 1):
        store.add_pair(p["question"], p["answer"], status="approved", split=p["split"])
    folder = replica(FAMILY[name])
    preset = get_preset(name)
    config = TrainConfig.from_preset(name, base=str(folder), backend="hf", max_steps=2, save_steps=100).validate()
    assert config.template == "" and config.load_in_4bit and (config.lr, config.lora_r) == (preset.lr, preset.lora_r)
    (tmp_path / "run").mkdir()
    done = pipeline.run(config, str(folder), pipeline.RunPaths(tmp_path / "run"), store=store)
    assert done.steps == 2 and done.train_loss is not None and math.isfinite(done.train_loss)
    setup = done.extra["setup"]
    assert setup["load_in_4bit"] and setup["quantized_layers"].get("bitsandbytes.nn.modules.Linear4bit", 0) > 0
    assert setup["lora_in_towers"] == 0 and setup["lora_tensors"] > 0  # the vision tower stays without LoRA
    adapter = json.loads((done.adapter / "adapter_config.json").read_text(encoding="utf-8"))
    targets = adapter["target_modules"]  # a list, or a pattern that keeps the towers out
    assert all(t in targets for t in preset.targets) and adapter["r"] == preset.lora_r
    # it trained in its family's own format (the template a run trains with is written beside its adapter)
    trained = (done.adapter / "chat_template.jinja").read_text(encoding="utf-8")
    assert trained == (folder / "chat_template.jinja").read_text(encoding="utf-8")


def test_presets_say_the_fit_is_unknown_until_the_config_json_is_here(cli, tmp_path, monkeypatch):
    rows = {r["name"]: r for r in cli("presets", "--json").json()}
    for name in FAMILY:
        row = rows[name]
        assert (row["fit"], row["fits"], row["estimate_gib"], row["params_b"]) == (
            "not_here", "fit: unknown until its config.json is here", None, None)
    table = cli("presets")
    assert table.code == 0 and table.out.count("fit: unknown until its config.json is here") == len(FAMILY)
    # and the check before a run: no numbers to check, so none, not a guess
    from core.train import runs

    fake_nvidia_smi(tmp_path, monkeypatch, ["0, GPU-0, NVIDIA GeForce RTX 4060 Ti, 16000, 16380"])
    assert runs.check_vram(TrainConfig.from_preset("qwen3.5-9b", backend="unsloth")) is None
    with pytest.raises(Exception, match="unknown until the config.json of Qwen/Qwen3.5-9B is here"):
        estimate_vram(get_preset("qwen3.5-9b"))


def test_once_the_bases_config_json_is_here_the_fit_comes_from_it(cli, store, replica, tmp_path, monkeypatch):
    """Gemma 4's replica registered under the preset's base name; Qwen 3.5's config.json alone in the
    Hugging Face cache (as `models pull` fetches it first)."""
    from huggingface_hub import constants

    gemma = replica("gemma4")
    assert cli("models", "add", str(gemma), "--name", get_preset("gemma4-e4b").base).code == 0
    snap = _cached_config(tmp_path / "hub", "Qwen/Qwen3.5-9B", json.loads((replica("qwen3.5") / "config.json").read_text(encoding="utf-8")))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    rows = {r["name"]: r for r in cli("presets", "--json", "--max-seq-len", "512").json()}
    for name, arch in (("gemma4-e4b", preset_from_checkpoint(gemma)), ("qwen3.5-9b", preset_from_checkpoint(snap))):
        row = rows[name]
        assert row["fit"] == "estimated" and row["source"] == "config.json" and row["params_b"] == arch.params_b
        for backend in ("unsloth", "hf"):
            want = estimate_vram(arch, backend=backend, max_seq_len=512, targets=get_preset(name).targets)
            assert row["estimate_gib"][backend]["total"] == round(want.total / GiB, 2)
        assert row["fits"].startswith("fits ")
    assert rows["gemma4-e2b"]["fit"] == rows["qwen3.5-4b"]["fit"] == "not_here"  # their bases are not here
    # the check before a run reads it too
    from core.train import runs

    fake_nvidia_smi(tmp_path, monkeypatch, ["0, GPU-0, NVIDIA GeForce RTX 4060 Ti, 16000, 16380"])
    checked = runs.check_vram(TrainConfig.from_preset("qwen3.5-9b", backend="unsloth"), store=store)
    assert checked is not None and checked["gpus"] == [0] and checked["total"] > 0


def test_gemma4_with_its_audio_tower_gets_a_fit(cli, replica, tmp_path, monkeypatch):
    """Gemma 4 E2B/E4B carry an audio tower (transformers' default Gemma4AudioConfig is their size):
    once their config.json is here the preset has a fit, the tower counted as frozen 16-bit weights."""
    from huggingface_hub import constants

    from core.train.arch import arch_from_config

    config = json.loads((replica("gemma4") / "config.json").read_text(encoding="utf-8"))
    with_audio = {**config, "audio_config": {"model_type": "gemma4_audio"}}
    _cached_config(tmp_path / "hub", get_preset("gemma4-e2b").base, with_audio)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    row = {r["name"]: r for r in cli("presets", "--json").json()}["gemma4-e2b"]
    assert (row["fit"], row["source"]) == ("estimated", "config.json") and row["fits"].startswith("fits ")
    audio = arch_from_config(with_audio, name="a", base="a").params_b - arch_from_config(config, name="t", base="t").params_b
    assert row["params_b"] == pytest.approx(arch_from_config(with_audio, name="a", base="a").params_b)
    assert 0.2 < audio < 0.5  # the released towers' ~0.3B, not nothing
    assert row["estimate_gib"]["hf"]["total"] > estimate_vram(arch_from_config(config, name="t", base="t"), backend="hf").total / GiB


def test_a_bases_config_json_the_estimate_does_not_know_is_said_so(cli, replica, tmp_path, monkeypatch):
    """A config.json with a tower the estimate does not count (an audio tower of another kind): the
    preset's row says why its fit is unknown, and the check before a run lets it start unchecked."""
    from huggingface_hub import constants

    config = json.loads((replica("gemma4") / "config.json").read_text(encoding="utf-8"))
    _cached_config(tmp_path / "hub", get_preset("gemma4-e2b").base, {**config, "audio_config": {"model_type": "whisper_encoder"}})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    listed = cli("presets", "--json")
    assert listed.code == 0, listed.err
    row = {r["name"]: r for r in listed.json()}["gemma4-e2b"]
    assert (row["fit"], row["source"], row["estimate_gib"]) == ("unknown", "config.json", None)
    assert "does not know the shape of whisper_encoder: its audio tower is not one of gemma4_audio" in row["fits"]
    assert "audio tower" in cli("presets").out
    from core.train import runs

    fake_nvidia_smi(tmp_path, monkeypatch, ["0, GPU-0, NVIDIA GeForce RTX 4060 Ti, 16000, 16380"])
    checked = runs.check_vram(TrainConfig.from_preset("gemma4-e2b", backend="unsloth"))
    assert checked is not None and "audio tower" in checked["unknown"]
