"""The Train room's Models view as its tests drive and read it (tests/tui/test_models_view.py,
tests/tui/test_models_downloads.py): opened with the Russian keys, its table's names, its lines."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from tests.support.waits import settle


async def open_models_view(pilot) -> None:
    """2, then m on the ЙЦУКЕН layout (ь): the Train room's Models view."""
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("ь")
    await settle(pilot)


def model_names(app) -> list[str]:
    """The names in the Models table, top to bottom."""
    table = app.query_one("#models-table", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def text_of(app, selector: str) -> str:
    """What the Static at ``selector`` shows."""
    return str(app.query_one(selector, Static).render())
