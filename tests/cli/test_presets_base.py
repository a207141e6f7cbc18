"""`nastavnik presets --base`: a fit for any checkpoint on disk, from its own config.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from core.train.vram import GiB, estimate_vram, preset_from_checkpoint

FIXTURES = Path(__file__).resolve().parent.parent / "core" / "train" / "fixtures"


def test_presets_base_estimates_a_checkpoint_folder_and_a_registered_model(cli, replica, tmp_path):
    folder = tmp_path / "gemma-3-12b-it"
    shutil.copytree(FIXTURES / "gemma3-12b", folder)  # a config.json alone: the count is the architecture's
    r = cli("presets", "--base", str(folder), "--json")
    assert r.code == 0, r.err
    (row,) = r.json()
    assert row["name"] == "gemma-3-12b-it" and row["source"] == "config.json" and round(row["params_b"], 1) == 12.2
    assert row["estimate_gib"]["unsloth"]["card_gb"] == 12 and "a 12 GB card with unsloth" in row["fits"]
    qwen = replica("qwen3")
    assert cli("models", "add", str(qwen), "--name", "my-qwen").code == 0
    rows = cli("presets", "--base", "my-qwen", "--base", str(folder), "--max-seq-len", "512", "--json").json()
    assert [r["name"] for r in rows] == ["my-qwen", "gemma-3-12b-it"] and rows[0]["settings"]["max_seq_len"] == 512
    want = estimate_vram(preset_from_checkpoint(qwen), backend="hf", max_seq_len=512)
    assert rows[0]["estimate_gib"]["hf"]["total"] == round(want.total / GiB, 2)
    table = cli("presets", "--base", "my-qwen")
    assert table.code == 0 and table.out.splitlines()[0].startswith("base") and "my-qwen" in table.out


def test_presets_base_says_what_it_cannot_know(cli, tmp_path):
    missing = cli("presets", "--base", "someone/not-downloaded")
    assert missing.code == 2 and "unknown until the config.json of someone/not-downloaded is here" in missing.err
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "mamba", "hidden_size": 8}), encoding="utf-8")
    said = cli("presets", "--base", str(odd))
    assert said.code == 2 and "does not know the shape of mamba" in said.err


def test_a_hub_ids_config_json_alone_in_the_hf_cache_gives_its_fit(cli, tmp_path, monkeypatch):
    """A hub id whose config.json (a few KB) is in the Hugging Face cache before its weights."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    snap = cache / "models--unsloth--Qwen3-8B-bnb-4bit" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    shutil.copy(FIXTURES / "qwen3-8b" / "config.json", snap / "config.json")
    (cache / "models--unsloth--Qwen3-8B-bnb-4bit" / "refs").mkdir()
    (cache / "models--unsloth--Qwen3-8B-bnb-4bit" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    (row,) = cli("presets", "--base", "unsloth/Qwen3-8B-bnb-4bit", "--json").json()
    assert row["source"] == "config.json" and round(row["params_b"], 1) == 8.2
    assert row["estimate_gib"]["unsloth"]["card_gb"] == 8
