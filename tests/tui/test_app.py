"""The app shell: tabs, status bar, help, palette, language, and the `tui`/`serve` commands."""

from __future__ import annotations

import json

import pytest
from textual.widgets import TabbedContent

from core.workspace import Workspace
from tui.app import NastavnikApp, running_jobs
from tui.commands import PAIRS_COMMANDS, commands
from tests.support.waits import async_test, settle
from tui.i18n import set_lang
from tui.keys import keys_for
from tui.rooms.pairs import PairsRoom
from tui.widgets.pair_table import PairTable
from tui.widgets.status_bar import StatusBar


@pytest.fixture(autouse=True)
def _english_after():
    """The app sets the process-wide UI language; leave English for the next test."""
    yield
    set_lang("en")


@pytest.fixture
def ws(home):
    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_pair("Что такое эпоха?", "Один проход по данным.", tags=["основы"])
        store.add_pair("Что такое LoRA?", "Низкоранговый адаптер.")
        store.set_status([1], "approved")
        store.set_split([2], "eval")
    return ws


def tab_labels(app) -> list[str]:
    tabs = app.query_one(TabbedContent)
    return [str(tabs.get_tab(pid).label) for pid in ("pairs", "train", "chat", "evaluate")]


def test_latin_keys_get_their_russian_twins():
    assert keys_for("a") == "a,ф"
    assert keys_for("q") == "q,й"
    assert keys_for("D") == "D,В"
    assert keys_for("ctrl+z") == "ctrl+z"
    assert keys_for("question_mark") == "question_mark"


@async_test
async def test_app_opens_with_rooms_status_bar_and_fits_80x24(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert tab_labels(app) == ["Pairs", "Train", "Chat", "Evaluate"]
        bar = app.query_one(StatusBar).text()
        assert "2 pairs" in bar and "✓1" in bar and "eval 1" in bar and "no jobs" in bar
        # everything on screen at 80×24: table, status bar and footer each get their lines
        table = app.query_one(PairTable)
        assert table.region.height >= 15
        assert app.query_one(StatusBar).region.y == 22
        assert app.screen.query_one("Footer").region.y == 23
        assert isinstance(app.focused, PairTable)


@async_test
async def test_number_keys_switch_rooms(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tabs = app.query_one(TabbedContent)
        for key, tab in (("2", "train"), ("1", "pairs"), ("3", "chat")):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab
        # rooms may use digits themselves (chat grades 1–5): ctrl+pageup/pagedown work from anywhere
        for key, tab in (("ctrl+pagedown", "evaluate"), ("ctrl+pagedown", "pairs"), ("ctrl+pageup", "evaluate")):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab
        await pilot.press("1")
        await pilot.pause()
        assert tabs.active == "pairs"
        assert isinstance(app.focused, PairTable)


@async_test
async def test_language_from_settings_then_locale(ws, monkeypatch):
    monkeypatch.setenv("LC_ALL", "ru_RU.UTF-8")
    app = NastavnikApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert tab_labels(app)[0] == "Пары"
    ws.update_settings(lang="en")
    app = NastavnikApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert tab_labels(app)[0] == "Pairs"
    app = NastavnikApp(ws, "ru")  # --lang wins
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert tab_labels(app)[0] == "Пары"


@async_test
async def test_palette_switches_language_and_remembers_it(ws):
    app = NastavnikApp(ws, "ru")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "пар 2" in app.query_one(StatusBar).text()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"English")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert tab_labels(app) == ["Pairs", "Train", "Chat", "Evaluate"]
        assert "2 pairs" in app.query_one(StatusBar).text()
        room = app.query_one(PairsRoom)
        descriptions = {b.description for _, b in room._bindings}
        assert "approve" in descriptions and "одобрить" not in descriptions
        header = "".join(seg.text for seg in app.query_one(PairTable).render_line(0))
        assert "question" in header
    assert json.loads(ws.settings_path.read_text())["lang"] == "en"


@async_test
async def test_help_lists_every_binding_on_both_layouts(ws):
    from tui.dialogs.help import HelpScreen

    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        entries = {desc: (latin, russian) for _, desc, latin, russian in app.screen.entries}
        assert entries["approve"] == ("a", "ф")
        assert "q" in entries["quit"][0].split(", ") and "й" in entries["quit"][1].split(", ")
        for desc in ("reject", "tags", "train/eval", "mark", "delete", "undo", "history", "import", "export",
                     "new", "edit", "search", "stats", "duplicates", "filter", "help", "commands"):
            assert desc in entries, desc
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


@async_test
async def test_palette_offers_every_action(ws):
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        titles = [title for title, _ in commands(app)]
        assert len(titles) == len(set(titles))
        for _, action in PAIRS_COMMANDS:
            assert callable(getattr(PairsRoom, f"action_{action}", None)), action
        assert any(t.startswith("Go to: Train") for t in titles)
        assert "Язык: русский" in titles and "Language: English" in titles
        # running a palette entry acts on the Pairs room
        approve = dict(commands(app))["Pairs: approve (a)"]
        approve()
        await settle(pilot)
    with ws.store() as store:
        assert store.get_pair(1).status == "approved"


@async_test
async def test_palette_reaches_the_other_rooms_actions(ws):
    """Train, Chat and Evaluate actions are in the palette too, and run in a room built on demand."""
    from textual.widgets import Static

    from tui.app import ROOM_CLASSES
    from tui.commands import ROOM_COMMANDS

    for tab, _, action in ROOM_COMMANDS:
        assert callable(getattr(ROOM_CLASSES[tab], f"action_{action}", None)), (tab, action)
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        start = dict(commands(app))["Train: start a run with the form's settings"]
        start()  # from the Pairs tab: the Train room is built, shown, and its start runs
        await settle(pilot)
        assert app.query_one(TabbedContent).active == "train"
        error = str(app.query_one("#train-form-error", Static).render())
        assert "nastavnik demo-model" in error, error  # no demo model built in this workspace: said on the form
    with ws.store() as store:
        assert store.list_runs() == []


def test_running_jobs_names_the_runs_queued_or_running(ws):
    with ws.store() as store:
        done = store.create_run(base="tiny", preset=None, backend="hf", config={})
        store.update_run(done.id, status="done")
        run = store.create_run(base="tiny", preset=None, backend="hf", config={})
        assert running_jobs(store) == [f"#{run.id} queued"]
        set_lang("ru")
        try:
            assert running_jobs(store) == [f"#{run.id} в очереди"]  # a status in the UI's language
        finally:
            set_lang("en")
        store.update_run(run.id, status="running", step=3, max_steps=10)
        assert running_jobs(store) == [f"#{run.id} 3/10"]


@async_test
async def test_status_bar_shows_a_running_training_run(ws):
    from core.store.base import now
    from tests.support.jobs import idle_worker

    # a live worker (the Train room reaps dead ones): a process that names the worker, a fresh heartbeat
    with idle_worker("core.train.worker") as worker, ws.store() as store:
        run = store.create_run(base="tiny", preset=None, backend="hf", config={})
        store.update_run(run.id, status="running", step=3, max_steps=10, pid=worker.pid, heartbeat=now())
        app = NastavnikApp(ws, "en")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert f"1 running: #{run.id} 3/10" in app.query_one(StatusBar).text()


def test_no_command_and_tui_command_open_the_app(cli, home, monkeypatch):
    opened = []
    monkeypatch.setattr(NastavnikApp, "run", lambda self: opened.append((self.ws.home, self.home_label)))
    assert cli().code == 0
    assert cli("--lang", "ru", "tui").code == 0
    assert len(opened) == 2 and opened[0][0] == Workspace.open(home).home
    assert json.loads((home / "settings.json").read_text())["lang"] == "ru"


def test_serve_binds_to_localhost_only(cli, monkeypatch):
    import textual_serve.server as server_mod

    started = {}

    class FakeServer:
        def __init__(self, command, host, port, title=None):
            started.update(command=command, host=host, port=port)

        def serve(self):
            started["served"] = True

    monkeypatch.setattr(server_mod, "Server", FakeServer)
    result = cli("serve", "--port", "8123")
    assert result.code == 0
    assert started["host"] == "127.0.0.1" and started["port"] == 8123 and started["served"]
    assert "127.0.0.1" in result.out and "tui" in started["command"]
    assert cli("serve", "--help").out.count("127.0.0.1") >= 1


@async_test
async def test_a_pair_saved_elsewhere_shows_in_the_status_bar_and_table(ws):
    """Chat and Evaluate save corrected answers as pairs; the app then recounts and reloads."""
    from tui.messages import PairsChanged

    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "2 pairs" in app.query_one(StatusBar).text()
        with ws.store() as store:
            store.add_pair("Что такое квантование?", "Сжатие весов.", source="chat:1")
        app.post_message(PairsChanged())
        await settle(pilot)
        assert "3 pairs" in app.query_one(StatusBar).text()
        assert "Что такое квантование?" in [p.question for p in app.query_one(PairTable).visible_pairs()]


def test_every_run_status_has_its_words_in_both_languages():
    from core.store.runs import RUN_STATUSES
    from tui.statuses import run_status

    try:
        set_lang("ru")
        ru = [run_status(s) for s in RUN_STATUSES]
        set_lang("en")
        en = [run_status(s) for s in RUN_STATUSES]
    finally:
        set_lang("en")
    assert all(w != s for w, s in zip(ru, RUN_STATUSES)), dict(zip(RUN_STATUSES, ru))  # a Russian word for each
    assert en == list(RUN_STATUSES) and len(set(ru)) == len(ru)
    assert run_status("exporting") == "exporting" and run_status(None) == ""  # unknown names as they are


@async_test
async def test_status_bar_keeps_the_jobs_at_80_columns():
    """With jobs running the line would cut them off at 80 columns: the pair breakdown goes."""
    from textual.app import App, ComposeResult

    from tui.i18n import set_lang

    class Bar(App):
        def compose(self) -> ComposeResult:
            yield StatusBar("/tmp/walk-home")

    set_lang("ru")
    try:
        app = Bar()
        async with app.run_test(size=(80, 5)) as pilot:
            bar = app.query_one(StatusBar)
            counts = dict(total=228, by_status={"approved": 228}, by_split={"train": 198, "eval": 30})
            bar.update_info(**counts, jobs=[])
            await pilot.pause()
            assert "обуч 198 пров 30" in bar.text() and len(bar.text()) <= 78
            bar.update_info(jobs=["GGUF #2 слияние", "GGUF #1 в очереди"])
            await pilot.pause()
            line = bar.text()
            assert line.endswith("задач: 2: GGUF #2 слияние, GGUF #1 в очереди") and len(line) <= 78, line
            assert "пар 228" in line and "обуч" not in line
    finally:
        set_lang("en")


@async_test
async def test_a_worker_that_fails_with_a_bug_leaves_the_app_open_and_says_where_it_is_logged(ws, monkeypatch):
    """Issue 23: anything but a UserError raised in a worker used to close the app."""
    from core.store import Store
    from tui.dialogs.dedup import DedupScreen

    def broken(self):
        raise RuntimeError("the dedup index is broken")

    monkeypatch.setattr(Store, "dedup", broken)
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(DedupScreen(ws))  # its worker runs on the dialog, not on the app
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, DedupScreen)
        notes = [str(n.message) for n in app._notifications]
        log = ws.logs_dir / "app.log"
        assert any("RuntimeError: the dedup index is broken" in n and str(log) in n for n in notes), notes
        logged = log.read_text(encoding="utf-8")
        assert "Traceback" in logged and "in broken" in logged and "the dedup index is broken" in logged
        await pilot.press("escape")  # and it still answers keys
        await settle(pilot)
        assert not isinstance(app.screen, DedupScreen)


@async_test
async def test_a_user_error_in_a_worker_shows_its_message_and_hint(ws, monkeypatch):
    from core.errors import UserError
    from core.store import Store
    from tui.dialogs.dedup import DedupScreen

    def refused(self):
        raise UserError("the store is busy", hint="close the other Nastavnik and try again")

    monkeypatch.setattr(Store, "dedup", refused)
    app = NastavnikApp(ws, "en")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(DedupScreen(ws))
        await settle(pilot)
        assert app.is_running
        notes = [str(n.message) for n in app._notifications]
        assert "the store is busy\nclose the other Nastavnik and try again" in notes, notes
        assert not (ws.logs_dir / "app.log").exists()  # a user's mistake is no bug to log


def test_every_tui_worker_is_declared_not_to_close_the_app():
    """A worker declared without exit_on_error=False would still close the app on a bug."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "tui"
    missing = []
    for path in root.rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"@work\(|run_worker\(", line) and "exit_on_error=False" not in line:
                missing.append(f"{path.relative_to(root.parent)}:{n}")
    assert not missing, missing
