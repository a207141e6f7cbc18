"""The Train form says what its base trains in and needs, at 80×24 in Russian: the base's own
chat format (not the preset's that filled the form first), a template named on purpose, and the
GPU memory estimated from the chosen base's own config.json."""

from __future__ import annotations

import json
import time

from textual.widgets import Input, Select, Static

from core.train.presets import PRESET_NAMES
from core.train.vram import base_arch, estimate_run
from tests.support.waits import async_test, settle


async def _shows(pilot, selector: str, *parts: str, timeout: float = 120.0) -> str:
    """The text of ``selector`` once it holds every one of ``parts`` (the lines fill in from a worker)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        await settle(pilot)
        text = str(pilot.app.query_one(selector, Static).render())
        if all(p in text for p in parts):
            return text
    raise AssertionError(f"{selector} never showed {parts}: {text!r}")


def _inside(widget, screen) -> bool:
    r, s = widget.region, screen.region
    return r.width > 0 and r.height > 0 and s.contains_region(r)


@async_test
async def test_the_form_shows_the_chosen_bases_format_and_memory(home, store, replica, tmp_path):
    from core.train.runs import add_base_model
    from core.workspace import Workspace
    from tui.app import NastavnikApp
    from tui.rooms.train import TrainRoom

    add_base_model(store, str(replica("qwen3")), name="demo-qwen3")
    odd = tmp_path / "odd-model"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "phi3", "hidden_size": 64}), encoding="utf-8")

    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        room = app.query_one(TrainRoom)
        preset = room.query_one("#train-preset", Select)
        assert [v for _, v in preset._options] == list(PRESET_NAMES)  # the presets' one list

        preset.value = "gemma3-4b"  # its base is not downloaded: the preset's numbers, the format unread
        await _shows(pilot, "#train-memory", "Память GPU: ~5.2 ГиБ (unsloth)", "хватит карты на 8 ГБ")
        await _shows(pilot, "#train-format", "прочитаю, когда её файлы будут на диске")

        room.query_one("#train-base", Input).value = "demo-qwen3"  # the walk: then a Qwen3 base
        fmt = await _shows(pilot, "#train-format", "Формат: шаблон базы", "<|im_start|>user … <|im_end|>")
        assert "<start_of_turn>" not in fmt
        cfg = room.form_config()
        assert cfg.template == "" and cfg.preset == "gemma3-4b"
        want = estimate_run(cfg, base_arch(cfg, store), backend="unsloth").total / 2**30
        await _shows(pilot, "#train-memory", f"~{want:.1f} ГиБ (unsloth)")
        assert want < 2  # the replica's own numbers, not Gemma 3 4B's 5.2

        template = room.query_one("#train-template", Select)
        template.value = "gemma"  # named on purpose: kept, and said
        await _shows(pilot, "#train-format", "Формат: gemma, выбран вместо шаблона базы", "<start_of_turn>user")
        assert room.form_config().template == "gemma"
        form = room.query_one("#train-form")
        assert form.max_scroll_y == 0  # the Template row fits at 80×24 with Start in view
        for widget in (template, room.query_one("#train-start"), room.query_one("#train-format"), room.query_one("#train-memory")):
            assert _inside(widget, app.screen), widget

        template.value = ""
        room.query_one("#train-base", Input).value = str(odd)
        await _shows(pilot, "#train-memory", "Память GPU: неизвестно — оценка не знает устройства phi3: незнакомое семейство")
        # a preset of today's families: no numbers typed in, its base not here: said, not guessed
        template.value = ""
        preset.value = "qwen3.5-9b"
        await _shows(pilot, "#train-memory", "Память GPU: неизвестно, пока нет её config.json")
        assert room.query_one("#train-base", Input).value == "Qwen/Qwen3.5-9B"
