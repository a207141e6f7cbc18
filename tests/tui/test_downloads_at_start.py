"""A download whose worker died while the app was closed (killed, a reboot) is said when the app
starts, in Russian, with the key that resumes it, not only once the Models view is opened; one
stopped on purpose is not."""

from __future__ import annotations

import subprocess
import sys

from textual.widgets import Static

from core.jobs.table import now
from tests.support.waits import async_test, settle, until

HUB_ID = "test-org/qwen3-tiny"



def _notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def _running_with_a_dead_worker(store, hub_id: str) -> int:
    """A download row as a killed worker left it: running, its pid gone."""
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()  # a pid no process has now
    job = store.create_download_job(hub_id=hub_id)
    assert store.claim_download_job(job.id, expect=("queued",), status="running", pid=gone.pid, heartbeat=now(), started=now())
    return job.id


@async_test
async def test_a_download_killed_while_the_app_was_closed_is_said_at_start(home, store):
    from core.workspace import Workspace
    from tui.app import NastavnikApp
    from tui.rooms.train import TrainRoom

    job_id = _running_with_a_dead_worker(store, HUB_ID)
    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: any(HUB_ID in n for n in _notes(app)), "the notification")
        note = next(n for n in _notes(app) if HUB_ID in n)
        assert note.startswith(f"Загрузка {HUB_ID} оборвалась, пока приложение было закрыто")
        assert "«Модели»" in note and "u/г" in note
        assert store.get_download_job(job_id).status == "interrupted"  # marked at start, nothing opened
        # where it points: the Models view shows it stopped and offers the key
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ь")  # m on the ЙЦУКЕН layout
        room = app.query_one(TrainRoom)
        await until(pilot, lambda: room.pull_can("resume_download"), "resume offered")
        assert "оборвалась" in str(app.query_one("#models-pull", Static).render())


@async_test
async def test_a_download_stopped_on_purpose_is_not_said_at_start(home, store):
    from core.workspace import Workspace
    from tui.app import NastavnikApp

    job = store.create_download_job(hub_id=HUB_ID)
    store.update_download_job(job.id, status="cancelled", finished=now())
    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: not any(not w.is_finished for w in app.workers if w.group == "downloads-at-start"),
                     "the start's look at the downloads")
        await settle(pilot)
        assert not any(HUB_ID in n for n in _notes(app))
