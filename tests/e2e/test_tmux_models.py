"""A base from the hub, in a real terminal: tmux at 80×24, the app in Russian, the local test hub
(tests/support/hub_server.py) serving a tiny replica. Models (ь) → add (ф) its hub id → the
download job brings it into the table → make it the base (и) → two steps of one example, ctrl+s →
the run ends done on it.
Every wait is on the screen or the store, never on a duration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
            # a short run (two steps of one example: the demo preset's batch of 8 is slow on this
            # base's 151k-token head). и left the focus on the view tabs; the focus order from there
            # is the form's scroll box, Preset, Method, Base, Template, Steps, Epochs, Lr, LoRA rank,
            # Judge, Max tokens, Batch.
            # A field Tab reaches has the text cursor (a cell drawn in reverse) and its text selected:
            # what is typed replaces it

            def field(screen: str, label: str) -> str:  # what the field labelled ``label`` shows
                line = next(line for line in screen.splitlines() if f"│ {label} " in line)
                return line.split(label, 1)[1].split()[0]

            for tabs, label, value in ((6, "Шаги", "2"), (6, "Размер батча", "1")):
                tmux.keys(*["Tab"] * tabs)
                tmux.wait_for(lambda _s: any(label in line and "48;5;253m" in line for line in tmux.run(
                    "capture-pane", "-e", "-p", "-t", "app").stdout.splitlines()), f"the cursor in {label}")
                tmux.type(value)
                tmux.wait_for(lambda s: field(s, label) == value, f"{value} in the {label} field")
            tmux.keys("C-s")
            tmux.wait_for(lambda s: "#1 · шаг" in s, "the run shown", timeout=120)
            tmux.wait_for(lambda s: "#1 · шаг 2/2" in s and "готово" in s, "the run done", timeout=600)
            with ws.store() as store:
                (run,) = store.list_runs(limit=5)
            assert run.base == "qwen3-tiny" and run.config["base"] == job.folder
            # it trained on the downloaded base: its adapter names that folder as its base
            assert (run.status, run.step) == ("done", 2), (run.status, run.error)
            adapter = json.loads((Path(run.adapter_path) / "adapter_config.json").read_text(encoding="utf-8"))
            assert adapter["base_model_name_or_path"] == job.folder
        finally:
            with ws.store() as store:
                for r in store.list_runs(limit=5):
                    if r.active:
                        cancel_run(ws, r.id)
            if tmux.alive():
                tmux.run("kill-server")
