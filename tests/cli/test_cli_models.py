"""`nastavnik models list` and `models rm`: what each model takes, what uses it, its fit; delete refused while used."""

from __future__ import annotations

import shutil

from tests.support.nvidia import fake_nvidia_smi


def test_models_list_shows_size_origin_users_and_fit_then_rm_refuses_and_confirms(cli, store, demo_model, tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, ["0, GPU-aaaa, NVIDIA GeForce RTX 3060, 11000, 12288"])
    own = tmp_path / "my-llama"
    shutil.copytree(demo_model, own)
    assert cli("models", "add", str(own), "--name", "mine").code == 0
    run = store.create_run(base="mine", preset=None, backend="hf", config={"base": str(own)})

    listed = cli("models", "list", "--json")
    assert listed.code == 0, listed.err
    (row,) = listed.json()
    assert (row["name"], row["kind"], row["origin"], row["path"]) == ("mine", "base", "folder", str(own))
    assert row["size_bytes"] == sum(p.stat().st_size for p in own.rglob("*") if p.is_file())
    assert row["users"]["runs"] == [run.id] and row["meta"]["demo"] is True  # the row's fields as before
    assert {f["backend"]: f["state"] for f in row["fit"]} == {"unsloth": "fits", "hf": "fits"}
    assert row["fit"][0]["card_gib"] == 12.0

    table = cli("models", "list")
    assert table.code == 0 and "mine" in table.out and f"runs {run.id}" in table.out
    assert "fits on NVIDIA GeForce RTX 3060 (12 GiB)" in table.out and "disk: workspace" in table.out

    refused = cli("models", "rm", "mine")
    assert refused.code == 2 and f"mine is used by runs {run.id}" in refused.err and "--yes" in refused.err
    assert [m["name"] for m in cli("models", "list", "--json").json()] == ["mine"]
    done = cli("models", "rm", "mine", "--yes", "--json")
    assert done.code == 0 and done.json() == {"name": "mine", "removed": [], "kept": [str(own)]}
    assert cli("models", "list", "--json").json() == [] and own.is_dir()
    assert cli("models", "rm", "mine").code == 2
