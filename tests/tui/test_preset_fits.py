"""The Train form's preset picker lists each preset with its fit (the GiB its own settings need
and the smallest card, or that it is unknown until its base's config.json is here), read from the
files on disk in a worker; a base added under a preset's name gives that preset its fit; the field
keeps the chosen preset's name alone."""

from __future__ import annotations


from textual.widgets import OptionList, Select

from core.train.presets import PRESET_NAMES, get_preset
from tests.support.waits import async_test, settle, until



def _lines(app) -> dict[str, str]:
    """The picker's lines by preset: its name, then its fit."""
    listing = app.query_one("#train-preset", Select).query_one(OptionList)
    prompts = [str(getattr(listing.get_option_at_index(i).prompt, "plain", listing.get_option_at_index(i).prompt))
               for i in range(listing.option_count)]
    return {name: prompt for name, prompt in zip(PRESET_NAMES, prompts)}


@async_test
async def test_the_preset_picker_shows_each_presets_fit(home, store, replica):
    from core.train.runs import add_base_model
    from core.train.vram import preset_fit
    from core.workspace import Workspace
    from tui.app import NastavnikApp

    app = NastavnikApp(Workspace.open(home), "ru")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await until(pilot, lambda: "\n" in _lines(app)["gemma4-e2b"], "the presets' fits")
        lines = _lines(app)
        assert list(lines) == list(PRESET_NAMES)
        for name in ("gemma4-e4b", "gemma4-e2b", "qwen3.5-9b", "qwen3.5-4b"):  # their bases are not here
            assert lines[name] == f"{name}\nпамять неизвестна, пока нет её config.json"
        card = preset_fit(get_preset("gemma3-4b")).card_gb  # from the numbers the preset carries
        assert card is not None and lines["gemma3-4b"].startswith("gemma3-4b\n") and f"ГиБ, карты от {card} ГБ" in lines["gemma3-4b"]

        # Gemma 4's replica registered under the E2B preset's base: once the models are read again
        # (the Models view shown), its fit comes from that config.json
        add_base_model(store, str(replica("gemma4")), name=get_preset("gemma4-e2b").base)
        await pilot.press("m")
        fit = preset_fit(get_preset("gemma4-e2b"), store)
        assert fit.state == "estimated" and fit.card_gb is not None
        want = f"gemma4-e2b\n{fit.need_gib:.1f} ГиБ, карты от {fit.card_gb} ГБ"
        await until(pilot, lambda: _lines(app)["gemma4-e2b"] == want, "the E2B preset's fit from its config.json")
        assert _lines(app)["gemma4-e4b"].endswith("пока нет её config.json")  # still not here

        # chosen from the list: the field names the preset alone, the form takes its base
        await pilot.press("s")
        select = app.query_one("#train-preset", Select)
        select.focus()
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: select.expanded, "the list open")
        for _ in range(PRESET_NAMES.index("gemma4-e2b")):
            await pilot.press("down")
        await pilot.press("enter")
        await until(pilot, lambda: select.value == "gemma4-e2b", "the preset chosen")
        shown = select.query_one("SelectCurrent #label").render()
        assert str(getattr(shown, "plain", shown)).strip() == "gemma4-e2b"
        assert app.query_one("#train-base").value == get_preset("gemma4-e2b").base
