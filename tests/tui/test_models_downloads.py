"""The Models view downloads a hub id as a job, at 80×24 in Russian, against the local test hub
(tests/support/hub_server.py): its bar and bytes while it runs, stopped with k/л and resumed with
u/г, the model in the table once registered; a gated repository is one Russian line."""

from __future__ import annotations

from textual.widgets import Input, ProgressBar

from tests.support.hub_server import TINY_QWEN3
from tests.support.models_view import model_names, open_models_view, text_of
from tests.support.waits import async_test, settle, until

HUB_ID = TINY_QWEN3  # what the `hub` fixture serves


def _line(app) -> str:
    return text_of(app, "#models-pull")


async def _add(app, pilot, source: str) -> None:
    await open_models_view(pilot)
    await pilot.press("ф")  # a: add
    await settle(pilot)
    app.screen.query_one("#add-model-path", Input).value = source
    await pilot.press("enter")


@async_test
async def test_a_hub_id_downloads_with_a_bar_stops_resumes_and_joins_the_table(hub, home, store):
    from core.workspace import Workspace
    from tui.app import NastavnikApp

    hub.hold("model.safetensors", 3 * 1024 * 1024)
    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await _add(app, pilot, HUB_ID)
        bar = app.query_one("#models-pull-bar", ProgressBar)
        await until(pilot, lambda: "model.safetensors" == (store.list_download_jobs()[0].file if store.list_download_jobs() else None)
                     and "Скачиваю test-org/qwen3-tiny" in _line(app) and " из " in _line(app)
                     and bar.display and bar.total and 0 < bar.progress < bar.total, "the bar and the bytes")
        assert "МБ" in _line(app) and "k/л: прервать" in _line(app)
        assert model_names(app) == []

        await pilot.press("л")  # k: stop it
        await until(pilot, lambda: "Загрузка test-org/qwen3-tiny прервана." in _line(app), "the download stopped")
        assert not bar.display and "u/г: продолжить" in _line(app)
        assert store.list_download_jobs()[0].status == "cancelled"

        hub.release()
        await pilot.press("г")  # u: resume, a new job from the part in the cache
        await until(pilot, lambda: model_names(app) == ["qwen3-tiny"], "the downloaded base in the table", timeout=300)
        assert [j.status for j in store.list_download_jobs()] == ["done", "cancelled"]
        await until(pilot, lambda: not app.query_one("#models-pull-row").display, "the download line gone")


@async_test
async def test_a_gated_repository_is_one_russian_line_naming_its_page_and_hf_token(hub, home, store):
    from core.workspace import Workspace
    from tui.app import NastavnikApp

    hub.repos[HUB_ID].gated = True
    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await _add(app, pilot, HUB_ID)
        await until(pilot, lambda: "Доступ к test-org/qwen3-tiny закрыт" in _line(app), "the gated refusal")
        line = _line(app)
        assert f"{hub.url}/{HUB_ID}" in line and "HF_TOKEN" in line and "u/г: продолжить" in line
        assert model_names(app) == [] and store.list_models() == []


@async_test
async def test_start_and_preview_offer_a_hub_base_for_download_and_the_run_starts_once_it_is_here(hub, home, store,
                                                                                                  monkeypatch):
    from core.workspace import Workspace
    from tui.app import NastavnikApp
    from tui.dialogs.confirm import ConfirmScreen
    from tui.rooms.train import TrainRoom

    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        room = app.query_one(TrainRoom)
        started, previewed = [], []
        monkeypatch.setattr(room, "start_run", lambda cfg: started.append(cfg))
        monkeypatch.setattr(room, "load_preview", lambda cfg: previewed.append(cfg))
        base = room.query_one("#train-base", Input)
        base.value = HUB_ID

        room.action_preview()  # the preview reads the tokenizer: not from a hub id it would download
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the download offered")
        assert f"{HUB_ID} ещё нет на диске" in str(app.screen.question)
        await pilot.press("т")  # n: no
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the offer closed")
        assert previewed == [] and store.list_download_jobs() == []

        room.action_start()
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the download offered again")
        await pilot.press("д")  # yes: the job starts, the Models view shows it
        await until(pilot, lambda: room.view == "train-models-view", "the Models view")
        await until(pilot, lambda: model_names(app) == ["qwen3-tiny"] and base.value == "qwen3-tiny",
                     "the downloaded base in the table and in the form", timeout=300)
        assert started == [] and store.list_download_jobs()[0].status == "done"

        await pilot.press("ы")  # s: Settings
        await until(pilot, lambda: room.view == "train-setup", "the Settings view")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: started, "the run started")
        assert started[0].base == "qwen3-tiny" and not isinstance(app.screen, ConfirmScreen)
        base.value = HUB_ID  # the hub id of a downloaded base trains from its registered model
        room.action_start()
        await until(pilot, lambda: len(started) == 2, "the run started from the hub id")
        assert started[1].base == "qwen3-tiny" and base.value == "qwen3-tiny"
