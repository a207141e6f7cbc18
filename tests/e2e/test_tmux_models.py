"""A base from the hub, in a real terminal: tmux at 80×24, the app in Russian, the local test hub
(tests/support/hub_server.py) serving a tiny replica. Models (ь) → add (ф) its hub id → the
download job brings it into the table → make it the base (и) → ctrl+s → the run is there on it.
Every wait is on the screen or the store, never on a duration."""

from __future__ import annotations

import shutil

import pytest

from tests.support.hub_server import HubServer, use_hub
from tests.support.tmux import start_app

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]

HUB_ID = "test-org/qwen3-tiny"


def test_add_a_hub_id_download_it_pick_it_as_base_and_start_a_run_in_russian_at_80x24(home, replica, monkeypatch,
                                                                                        tmp_path):
    from core.train.demo import import_sample
    from core.train.runs import cancel_run
    from core.workspace import Workspace

    ws = Workspace.open(home)
    with ws.store() as store:
        assert import_sample(store) > 100
    with HubServer({HUB_ID: replica("qwen3")}) as hub:
        use_hub(hub, monkeypatch, tmp_path)
        tmux = start_app("models", home)
        try:
            tmux.wait_for(lambda s: "пар " in s, "the pairs room", timeout=60)
            # a key sent before the app took the focus after its first paint is lost: send 2 until
            # the Train room shows (a state, not a pause)
            for _ in range(10):
                tmux.keys("2")
                try:
                    tmux.wait_for(lambda s: "Настройки" in s and "Пресет" in s, "the Train room's Settings", timeout=3)
                    break
                except AssertionError:
                    continue
            else:
                raise AssertionError("2 never opened the Train room:\n" + tmux.screen())
            tmux.type("ь")  # m: Models
            tmux.wait_for(lambda s: "Модель" in s and "Память" in s, "the Models view")
            tmux.type("ф")  # a: add
            tmux.wait_for(lambda s: "Добавить базовую модель" in s and "id на хабе" in s, "the add dialog, its field empty")
            tmux.type(HUB_ID)
            tmux.wait_for(lambda s: HUB_ID in s, "the typed hub id")
            tmux.keys("Enter")
            tmux.wait_for(lambda s: "qwen3-tiny" in s and "база" in s, "the downloaded base in the table", timeout=300)
            with ws.store() as store:
                (job,) = store.list_download_jobs()
                assert job.status == "done" and job.done == job.total > 0
            tmux.type("и")  # b: the highlighted base becomes the form's base
            tmux.wait_for(lambda s: "Пресет" in s and "qwen3-tiny" in s, "Settings with the base")
            tmux.keys("C-s")
            tmux.wait_for(lambda s: "#1 · шаг" in s, "the run shown", timeout=120)
            with ws.store() as store:
                (run,) = store.list_runs(limit=5)
            assert run.base == "qwen3-tiny" and run.config["base"] == job.folder
        finally:
            with ws.store() as store:
                for r in store.list_runs(limit=5):
                    if r.active:
                        cancel_run(ws, r.id)
            if tmux.alive():
                tmux.run("kill-server")
