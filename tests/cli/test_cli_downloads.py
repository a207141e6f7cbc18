"""``nastavnik models pull`` / ``models add HUB_ID`` and ``nastavnik downloads`` against the local
test hub (tests/support/hub_server.py): a pull ends with the base registered, a gated repository
with one clear line naming its page and HF_TOKEN, and the jobs are listed like export jobs."""

from __future__ import annotations


from tests.support.hub_server import TINY_QWEN3

HUB_ID = TINY_QWEN3  # what the `hub` fixture serves


def test_models_add_of_a_hub_id_downloads_it_as_a_job_with_a_bar_and_lists_it(hub, cli):
    r = cli("models", "add", HUB_ID, "--name", "tiny")
    assert r.code == 0, r.err
    drawn = r.err.splitlines()  # the one progress printer, its last line all the bytes
    assert any(line.startswith("download: [done] ") and " MB / " in line for line in drawn), r.err
    base = [m for m in cli("models", "list", "--json").json() if m["name"] == "tiny"]
    assert base and base[0]["meta"]["hub_id"] == HUB_ID
    assert r.out.strip() == f"added base model tiny: {base[0]['path']}"
    listed = cli("downloads", "list", "--json").json()
    assert [(j["status"], j["folder"]) for j in listed] == [("done", base[0]["path"])]
    job = listed[0]
    assert job["done"] == job["total"] > 0 and job["model_id"] == base[0]["id"]
    mb = f"{job['total'] / 1e6:.1f} MB"
    assert f"download: [done] {job['total']}/{job['total']} {mb} / {mb}" in drawn
    shown = cli("downloads", "show", str(job["id"]))
    assert shown.code == 0 and f"download job {job['id']}: done — {HUB_ID} as tiny" in shown.out
    again = cli("downloads", "cancel", str(job["id"]))
    assert again.code == 2 and "already done" in again.err


def test_a_gated_pull_is_one_line_naming_the_page_and_hf_token(hub, cli):
    hub.repos[HUB_ID].gated = True
    r = cli("models", "pull", HUB_ID)
    assert r.code == 2
    assert f"{hub.url}/{HUB_ID}" in r.err and "HF_TOKEN" in r.err and "Traceback" not in r.err
    assert cli("models", "list", "--json").json() == []
    assert cli("downloads", "list", "--json").json()[0]["error_code"] == "hub.gated"


def test_a_detached_pull_is_cancelled_mid_file_and_registers_nothing(hub, cli, home):
    from core.workspace import Workspace
    from tests.support.waits import wait_for

    hub.hold("model.safetensors", 1)
    r = cli("models", "pull", HUB_ID, "--detach", "--json")
    assert r.code == 0 and r.json()["status"] in ("queued", "running")
    job_id = r.json()["id"]
    with Workspace.open(home).store() as store:
        wait_for(lambda: store.get_download_job(job_id).file == "model.safetensors", timeout=300, poll=0.1,
                 what="the worker on model.safetensors")
    stopped = cli("downloads", "cancel", str(job_id), "--json")
    assert stopped.code == 0 and stopped.json()["status"] == "cancelled"
    assert cli("models", "list", "--json").json() == []
    assert "cancelled" in cli("downloads", "list").out
    hub.release()
    resumed = cli("downloads", "resume", str(job_id), "--json")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["status"] == "done" and resumed.json()["id"] != job_id
    assert [m["name"] for m in cli("models", "list", "--json").json()] == ["qwen3-tiny"]
