"""The Train room's Models view at 80×24 in Russian: a registered base with its fit and its users,
delete refused then confirmed, a folder added, a model picked as the Settings form's base."""

from __future__ import annotations

import shutil

from textual.widgets import DataTable, Input

from tests.support.models_view import model_names, open_models_view, text_of
from tests.support.nvidia import fake_nvidia_smi
from tests.support.waits import async_test, settle, until


@async_test
async def test_models_view_lists_deletes_adds_and_picks_a_base(home, store, demo_model, tmp_path, monkeypatch):
    from core.train.runs import add_base_model
    from core.workspace import Workspace
    from tui.app import NastavnikApp
    from tui.rooms.train import TrainRoom
    from tui.dialogs.confirm import ConfirmScreen

    fake_nvidia_smi(tmp_path, monkeypatch, ["0, GPU-aaaa, NVIDIA GeForce RTX 3060, 11000, 12288"])
    own = tmp_path / "my-llama"
    shutil.copytree(demo_model, own)
    add_base_model(store, str(own), name="mine")
    run = store.create_run(base="mine", preset=None, backend="hf", config={"base": str(own)})
    second = tmp_path / "second-llama"
    shutil.copytree(demo_model, second)

    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_models_view(pilot)
        room = app.query_one(TrainRoom)
        await until(pilot, lambda: model_names(app) == ["mine"], "the registered base listed")
        assert room.view == "train-models-view"
        row = [str(c) for c in app.query_one("#models-table", DataTable).get_row_at(0)]
        assert row[1] == "база" and row[3] == "1" and row[4].startswith("✓") and "ГиБ" in row[4]
        detail = text_of(app, "#models-detail")
        assert f"Папка: {own}"[:40] in detail and f"Использует: прогоны {run.id}" in detail
        assert "unsloth" in detail and "— помещается" in detail and "на NVIDIA GeForce RTX 3060 (12 ГиБ)" in detail
        assert "Диск: рабочая папка" in text_of(app, "#models-disk")

        await pilot.press("ч")  # x: delete; the question names what uses it
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert f"прогоны {run.id}" in str(app.screen.question) and "останется на диске" in str(app.screen.question)
        await pilot.press("n")  # refused: nothing goes
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the confirmation closed")
        assert store.find_model("mine") is not None and model_names(app) == ["mine"]

        await pilot.press("ф")  # a: add a folder
        await settle(pilot)
        path_input = app.screen.query_one("#add-model-path", Input)
        path_input.value = str(second)
        await pilot.press("enter")
        await until(pilot, lambda: model_names(app) == ["mine", "second-llama"], "the added folder listed")

        await pilot.press("ч")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("д")  # yes: the entry goes, the user's folder stays
        await until(pilot, lambda: model_names(app) == ["second-llama"], "the deleted base gone")
        assert store.find_model("mine") is None and own.is_dir()

        await pilot.press("и")  # b: the highlighted model becomes the form's base
        await until(pilot, lambda: room.view == "train-setup", "the Settings view")
        assert room.query_one("#train-base", Input).value == "second-llama"
        assert "second-llama" in room.base_suggester.choices

        base = room.query_one("#train-base", Input)  # typed: Tab completes a registered base, its fit in the tooltip
        base.value = ""
        base.focus()
        await pilot.press("s", "e", "c")
        await until(pilot, lambda: base._suggestion == "second-llama", "the suggestion")
        await pilot.press("tab")
        assert base.value == "second-llama"
        assert "second-llama  ✓" in str(base.tooltip) and "пресет gemma3-4b, карта на 8 ГБ" in str(base.tooltip)


def test_the_fit_line_without_a_gpu_and_for_an_unknown_family():
    from core.errors import UserError
    from core.models.inventory import Entry, Fit
    from tui.i18n import set_lang
    from tui.rooms.train.models import fit_line, fit_short

    set_lang("ru")
    base = Entry("b", "base", "/m/b", 10, "folder", fit=[Fit("unsloth", "no_gpu", 0.5), Fit("hf", "no_gpu", 0.6)])
    assert fit_line(base, None) == "unsloth нужно 0.5 ГиБ; hf нужно 0.6 ГиБ (GPU здесь нет)" and fit_short(base) == "0.5 ГиБ"
    why = UserError("x", code="model.missing", params={"name": "b"})
    odd = Entry("o", "base", "/m/o", 10, "folder", fit=[Fit("unsloth", "unknown", reason=why)])
    assert fit_line(odd, "RTX") == "неизвестно: Модели «b» нет — модели перечислены в виде «Модели»" and fit_short(odd) == "?"
    from core.train.arch import unknown

    moe = Entry("m", "base", "/m/m", 10, "folder", fit=[Fit("unsloth", "unknown", reason=unknown("mixtral", "experts", "experts"))])
    assert fit_line(moe, None) == "неизвестно: mixtral: в ней эксперты (MoE)"
