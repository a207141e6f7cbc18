"""Hub ids downloaded as background jobs, driven by the real ``huggingface_hub`` client against a
local hub (tests/support/hub_server.py) serving a replica: a full pull registers the base, a
kill mid-file resumes, a gated repository, a missing file and a full disk are one clear line."""

from __future__ import annotations

import filecmp
import os
import signal
from pathlib import Path

import pytest

from core.errors import UserError
from core.hub.download import (
           download_error,
           download_progress,
           refresh_downloads,
           resume_download,
           start_download,
           wait_download,
)
from core.workspace import Workspace
from tests.support.hub_server import HubServer, use_hub
from tests.support.waits import wait_for

HUB_ID = "test-org/qwen3-tiny"
DECOYS = {"pytorch_model.bin": b"\0" * 4096, "model-q8_0.gguf": b"GGUF" * 256, "onnx/model.onnx": b"\1" * 512}


@pytest.fixture
def hub(replica, monkeypatch, tmp_path):
    """The local hub serving the qwen3 replica as HUB_ID, this test's hub settings in the environment
    (the suite's offline switches lifted for this test and the workers it starts)."""
    with HubServer() as server:
        server.add(HUB_ID, replica("qwen3"), extra=DECOYS)
        use_hub(server, monkeypatch, tmp_path)
        server.replica = replica("qwen3")
        yield server


@pytest.fixture
def ws(home):
    return Workspace.open(home)


def wanted_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file() and p.name != "nastavnik_replica.json"}


def assert_same_files(got: Path, replica: Path) -> None:
    assert {p.name for p in got.iterdir()} == wanted_files(replica)
    for name in wanted_files(replica):
        assert filecmp.cmp(got / name, replica / name, shallow=False), name


def test_a_pull_registers_the_base_with_only_the_files_it_needs(hub, ws, store):
    job = start_download(ws, HUB_ID)
    assert job.status in ("queued", "running") and job.pid
    job = wait_download(ws, job.id, timeout=300)
    assert job.status == "done", job.error
    model = store.get_model(job.model_id)
    assert model.kind == "base" and model.name == "qwen3-tiny"
    assert model.meta["hub_id"] == HUB_ID and model.meta["revision"] == "main"
    assert model.meta["commit"] == hub.repos[HUB_ID].commit
    assert_same_files(Path(model.path), hub.replica)
    asked = {path.rsplit("/", 1)[-1] for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path}
    assert asked == wanted_files(hub.replica)  # no .bin, .gguf or .onnx copies
    assert job.done == job.total == sum(p.stat().st_size for p in Path(model.path).iterdir())
    event = download_progress(job)
    assert event.finished and event.total == job.total


def test_a_download_killed_mid_file_resumes_where_it_stopped(hub, ws, store):
    held = 25 * 1024 * 1024  # past two of the client's 10 MiB chunks
    hub.hold("model.safetensors", held)
    job = start_download(ws, HUB_ID)
    before = sum(p.stat().st_size for p in hub.replica.iterdir() if p.name < "model.safetensors"
                 and p.name in wanted_files(hub.replica))
    running = wait_for(lambda: (j := store.get_download_job(job.id)).file == "model.safetensors" and j.done > before and j,
                       timeout=300, poll=0.1, what="bytes of model.safetensors in the job's row")
    assert download_progress(running).total == running.total
    cache = Path(os.environ["HF_HUB_CACHE"])
    wait_for(lambda: sum(p.stat().st_size for p in cache.glob("models--*/blobs/*.part")) >= 20 * 1024 * 1024,
             timeout=300, poll=0.1, what="two 10 MiB chunks written to the part")  # the row hears of a chunk before its write
    os.kill(running.pid, signal.SIGKILL)
    wait_for(lambda: refresh_downloads(ws, store) or store.get_download_job(job.id).status == "interrupted",
             timeout=120, poll=0.1, what="the killed job seen as interrupted")
    assert store.get_download_job(job.id).status == "interrupted"
    hub.release()
    parts = list(cache.glob("models--*/blobs/*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == 20 * 1024 * 1024
    again = wait_download(ws, resume_download(ws, job.id).id, timeout=300)
    assert again.status == "done", again.error
    resumed = hub.gets("model.safetensors")[-1]
    assert resumed == f"bytes={20 * 1024 * 1024}-"  # from where the part stopped, not from 0
    assert_same_files(Path(store.get_model(again.model_id).path), hub.replica)


def test_a_gated_repository_names_its_page_and_hf_token(hub, ws, store):
    hub.repos[HUB_ID].gated = True
    job = wait_download(ws, start_download(ws, HUB_ID).id, timeout=300)
    assert job.status == "failed" and job.error_code == "hub.gated"
    error = download_error(job)
    assert error.params["page"] == f"{hub.url}/{HUB_ID}" and f"{hub.url}/{HUB_ID}" in str(error)
    assert "HF_TOKEN" in str(error) and not error.params["token"]
    assert store.list_models(kind="base") == []


def test_a_file_the_hub_lists_but_lacks_is_named(hub, ws, store):
    hub.repos[HUB_ID].missing = {"tokenizer.json"}
    job = wait_download(ws, start_download(ws, HUB_ID).id, timeout=300)
    assert job.status == "failed" and job.error_code == "hub.missing_file"
    assert job.error_params["file"] == "tokenizer.json" and "tokenizer.json" in job.error
    assert store.list_models(kind="base") == []


def test_a_full_disk_is_refused_before_any_byte(hub, ws, store, monkeypatch):
    """The worker's body runs in this process, so the free-space seam can say the disk is full."""
    import huggingface_hub.constants

    from core.hub import fetch, worker

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read at its import, offline in the suite
    monkeypatch.setattr(fetch, "free_bytes", lambda folder: 5_000_000)
    job = store.create_download_job(hub_id=HUB_ID, name="qwen3-tiny")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        assert worker.main(["--home", str(ws.home), "--job", str(job.id)]) == 1
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    job = store.get_download_job(job.id)
    assert job.status == "failed" and job.error_code == "hub.no_space"
    need = sum((hub.replica / n).stat().st_size for n in wanted_files(hub.replica))
    assert job.error_params["need"] == need and job.error_params["free"] == 5_000_000
    assert "5.0 MB free" in job.error
    assert not [p for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p]  # nothing fetched


def test_a_hub_id_is_refused_at_once_while_the_hub_is_switched_off(ws, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as err:
        start_download(ws, HUB_ID)
    assert err.value.code == "download.offline" and "HF_HUB_OFFLINE" in str(err.value)


def test_the_progress_event_carries_bytes_speed_and_eta():
    from core.store.downloads import DownloadJob

    job = DownloadJob(id=1, status="running", hub_id=HUB_ID, stage="download", done=40_000_000, total=100_000_000,
                      speed=10_000_000.0, file="model.safetensors", files_done=3, files_total=6)
    event = download_progress(job)
    assert (event.stage, event.done, event.total) == ("download", 40_000_000, 100_000_000)
    assert event.info["eta_s"] == 6.0 and event.fraction == 0.4
    assert event.message == "40.0 MB / 100.0 MB · 10.0 MB/s · ETA 0:06 · model.safetensors (4/6)"


def test_a_second_process_on_the_same_repository_is_refused_not_mixed_in(hub, ws, store):
    """Two writers appending to one part would corrupt it: the repository's lock says it is busy."""
    import fcntl

    folder = Path(os.environ["HF_HUB_CACHE"]) / "models--test-org--qwen3-tiny"
    folder.mkdir(parents=True)
    with (folder / ".nastavnik-download.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        job = wait_download(ws, start_download(ws, HUB_ID).id, timeout=300)
    assert job.status == "failed" and job.error_code == "hub.busy"
    assert not [p for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p]


def test_a_training_base_is_fetched_first_only_when_it_is_a_hub_id_the_workspace_does_not_hold(store, demo_model):
    from core.hub.download import base_to_fetch, hub_model

    assert base_to_fetch(store, HUB_ID) == HUB_ID
    assert base_to_fetch(store, str(demo_model)) is None  # a folder
    assert base_to_fetch(store, "demo") is None  # not a hub id: resolve_base says what is wrong with it
    store.add_model("base", "qwen3-tiny", str(demo_model), meta={"hub_id": HUB_ID})
    assert base_to_fetch(store, HUB_ID) is None and hub_model(store, HUB_ID).name == "qwen3-tiny"
    store.add_model("base", "test-org/other", str(demo_model))  # a name that reads like a hub id
    assert base_to_fetch(store, "test-org/other") is None and hub_model(store, "test-org/other") is None
