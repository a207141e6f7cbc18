"""The inventory of the workspace's models: kinds, sizes, origins, users, fit; delete refused or confirmed."""

from __future__ import annotations

import shutil

import pytest

from core.errors import UserError
from core.models.inventory import delete_model, inventory
from core.train.vram import Gpu
from core.workspace import Workspace

GIB = 2**30


def _workspace(home, store, demo_model, tmp_path):
    """A base of the user's own folder, a copy in the workspace, a run on it, its adapter and a GGUF in a chat."""
    from core.train.runs import add_base_model

    ws = Workspace.open(home)
    own = tmp_path / "my-llama"
    shutil.copytree(demo_model, own)
    add_base_model(store, str(own), name="mine")
    inside = ws.models_dir / "kept-here"
    shutil.copytree(demo_model, inside)
    add_base_model(store, str(inside), name="inside")
    run = store.create_run(base="mine", preset=None, backend="hf", config={"base": str(own)})
    adapter = ws.runs_dir / str(run.id) / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"x" * 1000)
    store.add_model("adapter", f"mine-run{run.id}", str(adapter), run_id=run.id, base="mine")
    gguf = ws.exports_dir / "mine1" / "mine1-f16.gguf"
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"g" * 500)
    merged = ws.exports_dir / "mine1" / "merged"
    merged.mkdir()
    (merged / "model.safetensors").write_bytes(b"m" * 700)
    store.add_model("gguf", "mine1-f16", str(gguf), run_id=run.id, base="mine", quant="f16",
                    meta={"export": "mine1", "merged_dir": str(merged)})
    store.add_conversation(["mine1-f16"])
    return ws, run


def test_every_model_with_its_kind_size_origin_and_users(home, store, demo_model, tmp_path):
    ws, run = _workspace(home, store, demo_model, tmp_path)
    inv = inventory(ws, store, found=[Gpu(0, "Test GPU", 7 * GIB, 8 * GIB)])
    kinds = {e.name: e.kind for e in inv.entries}
    assert kinds == {"mine": "base", "inside": "base", f"mine-run{run.id}": "adapter", "mine1-f16": "gguf",
                     "mine1-merged": "merged"}
    mine = inv.get("mine")
    assert mine.origin == "folder" and mine.size_bytes == sum(p.stat().st_size for p in demo_model.rglob("*") if p.is_file())
    assert mine.users.runs == [run.id] and mine.users.models == [f"mine-run{run.id}"]
    assert not inv.get("inside").users
    assert inv.get(f"mine-run{run.id}").users.models == ["mine1-f16"] and inv.get(f"mine-run{run.id}").size_bytes == 1000
    assert inv.get("mine1-f16").users.chats and inv.get("mine1-f16").size_bytes == 500
    assert inv.get("mine1-merged").users.models == ["mine1-f16"]
    # the tiny demo Llama fits an 8 GB card with each backend, its numbers read from its config.json
    assert {f.backend: f.state for f in mine.fit} == {"unsloth": "fits", "hf": "fits"}
    assert all(0 < f.need_gib < 8 and f.card_gib == 8.0 for f in mine.fit)
    assert inv.gpu == "Test GPU" and inv.workspace_bytes >= inv.get("inside").size_bytes + 1000 + 500 + 700
    assert inv.to_dict()["models"][0]["fit"][0]["state"] == "fits"


def test_a_base_on_a_small_card_no_gpu_and_an_unknown_family(home, store, demo_model, tmp_path):
    from core.train.runs import add_base_model

    ws, _ = _workspace(home, store, demo_model, tmp_path)
    none = inventory(ws, store, found=[])
    assert {f.state for f in none.get("mine").fit} == {"no_gpu"} and none.gpu is None
    tiny = inventory(ws, store, found=[Gpu(0, "Tiny", 10, 1000)])
    assert {f.state for f in tiny.get("mine").fit} == {"too_big"}
    odd = tmp_path / "odd"
    shutil.copytree(demo_model, odd)
    cfg = (odd / "config.json").read_text(encoding="utf-8").replace('"llama"', '"mamba"')
    (odd / "config.json").write_text(cfg, encoding="utf-8")
    add_base_model(store, str(odd), name="odd")
    fit = inventory(ws, store, found=[]).get("odd").fit
    assert {f.state for f in fit} == {"unknown"} and "mamba" in str(fit[0].reason)


def test_delete_is_refused_with_its_users_then_confirmed(home, store, demo_model, tmp_path):
    ws, run = _workspace(home, store, demo_model, tmp_path)
    with pytest.raises(UserError) as refused:
        delete_model(ws, store, "mine")
    assert refused.value.code == "model.in_use" and refused.value.params["runs"] == str(run.id)
    assert f"runs {run.id}" in str(refused.value) and store.find_model("mine") is not None
    done = delete_model(ws, store, "mine", confirm=True)
    assert store.find_model("mine") is None and (tmp_path / "my-llama").is_dir()  # the user's own folder stays
    assert done.kept == [str(tmp_path / "my-llama")] and not done.removed

    inside = ws.models_dir / "kept-here"
    gone = delete_model(ws, store, "inside")  # nothing uses it: no confirmation asked
    assert gone.removed == [str(inside)] and not inside.exists() and store.find_model("inside") is None
    with pytest.raises(UserError, match="used by 1 chats"):
        delete_model(ws, store, "mine1-f16")
    delete_model(ws, store, "mine1-f16", confirm=True)
    assert not (ws.exports_dir / "mine1" / "mine1-f16.gguf").exists()
    assert "mine1-merged" not in {e.name for e in inventory(ws, store, fit=False).entries}  # its GGUF named it


def test_a_hub_model_deletes_its_cache_folder(home, store, demo_model, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    snap = cache / "models--org--tiny" / "snapshots" / ("b" * 40)
    shutil.copytree(demo_model, snap)
    store.add_model("base", "tiny", str(snap), meta={"hub_id": "org/tiny"})
    ws = Workspace.open(home)
    inv = inventory(ws, store, found=[])
    e = inv.get("tiny")
    assert (e.origin, e.hub_id, e.revision) == ("hub", "org/tiny", "b" * 40)
    assert inv.hf_cache == str(cache) and inv.hf_cache_bytes == e.size_bytes
    delete_model(ws, store, "tiny")
    assert not (cache / "models--org--tiny").exists() and store.find_model("tiny") is None
