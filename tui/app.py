"""The app shell: rooms as tabs (Pairs, Train, Chat, Evaluate), header, status bar, footer.

``run_app(ws, lang=None)`` opens it on a workspace. The language comes from ``--lang``,
then the workspace settings, then the locale; the palette switches it and the choice is
kept in the workspace settings.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import Footer, Header, TabbedContent, TabPane, Tabs
from textual.worker import Worker, WorkerState

from core.errors import UserError
from core.store import ACTIVE, SPLITS, STATUSES, PairFilter, Run, Store
from tui.commands import NastavnikCommands, Palette
from tui.i18n import LANGS, detect_lang, error_text, get_lang, set_lang, t
from tui.keys import both, check_keymap, described, key_of, known_ids, live_bindings, localize, localize_classes
from tui.messages import ExportFinished, ExportRequested, ModelsChanged, PairsChanged
from tui.rooms.chat import ChatRoom
from tui.rooms.evaluate import EvaluateRoom
from tui.rooms.pairs import PairsRoom
from tui.rooms.train import TrainRoom
from tui.statuses import run_status
from tui.widgets.first_steps import GUIDE_KEYS, FirstStepsGuide
from tui.widgets.status_bar import StatusBar

#: Textual's own palette commands, by their English title: the strings key of each
SYSTEM_COMMANDS = {"Theme": "theme", "Quit": "quit", "Keys": "keys", "Minimize": "minimize", "Maximize": "maximize",
                   "Screenshot": "screenshot"}
#: the workspace setting that keeps whether the first-run guide shows (true/false; absent: on the demo)
GUIDE_SETTING = "first_steps"
ROOMS = (("pairs", "app.tab.pairs"), ("train", "app.tab.train"), ("chat", "app.tab.chat"), ("evaluate", "app.tab.evaluate"))
ROOM_CLASSES: dict[str, type[TrainRoom | ChatRoom | EvaluateRoom]] = {
    "train": TrainRoom, "chat": ChatRoom, "evaluate": EvaluateRoom,
}

if TYPE_CHECKING:  # annotations only: the store and workspace load where they are used
    from core.workspace import Workspace



def running_jobs(store: Store) -> list[str]:
    """Names of the jobs queued or running: training runs, then export jobs."""
    return [_job_name(r) for r in store.list_runs(status=ACTIVE)] + _export_jobs(store)


def _export_jobs(store: Store) -> list[str]:
    """``GGUF #4 convert`` for each export job queued or running."""
    from tui.dialogs.export_model import stage_label

    jobs = store.list_export_jobs(status=ACTIVE)
    return [f"GGUF #{j.id} " + (stage_label(j.stage) if j.status == "running" and j.stage else t("export_model.status.queued")) for j in jobs]


def _job_name(run: Run) -> str:
    """``#3 120/500`` for a running run with progress, ``#3`` without; a job not running yet
    says so in the UI language (``#4 в очереди``)."""
    label = f"#{run.id}"
    if run.max_steps:
        label += f" {run.step}/{run.max_steps}"
    if run.status != "running":
        label += f" {run_status(run.status)}"
    return label


# Textual posts a worker's StateChanged to the worker's own node only. Letting it bubble brings
# every worker's end, in any room, dialog or widget, to the one handler below.
Worker.StateChanged.bubble = True


class ReportingApp(App):
    """An app whose workers' errors end in one place instead of closing it.

    Every worker is declared ``exit_on_error=False``; when one fails, a ``UserError`` becomes a
    notification (its message, then its hint) and anything else is written with its traceback
    to ``error_log`` and named in a notification. Test hosts derive from it to behave the same.
    """

    error_log: Path | None = None  # None: nastavnik-app.log in the temp folder

    @on(Worker.StateChanged)
    def report_worker_error(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR or event.worker.error is None:
            return
        self.report_error(event.worker.error, where=event.worker.name or event.worker.group)

    def report_error(self, error: BaseException, *, where: str = "") -> None:
        """Show a ``UserError`` as it is; log anything else and say where."""
        if isinstance(error, UserError):
            self.notify(error_text(error), severity="error", timeout=8)
            return
        path = self._log_error(error, where)
        self.notify(t("app.bug", error=f"{type(error).__name__}: {error}", path=path), severity="error", timeout=15)

    def _log_error(self, error: BaseException, where: str) -> Path:
        path = self.error_log or Path(tempfile.gettempdir()) / "nastavnik-app.log"
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.log.error(f"worker {where} failed\n{text}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} worker {where}\n{text}\n")
        except OSError:  # a read-only workspace: the Textual log above still has it
            pass
        return path


class NastavnikApp(ReportingApp):
    """Nastavnik: curate pairs, train, chat, evaluate."""

    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {NastavnikCommands}
    TITLE = "Nastavnik"

    BINDINGS = [
        both("q", "quit", "app.quit"),
        both("question_mark,f1", "help", "app.help", key_display="?"),
        both("ctrl+g", "guide", "app.guide", show=False),
        both("ctrl+p", "command_palette", "app.palette", show=False, priority=True),
        both("ctrl+pagedown", "next_tab(1)", "app.next_tab", show=False, priority=True),
        both("ctrl+pageup", "next_tab(-1)", "app.prev_tab", show=False, priority=True),
        # a room's own use of a digit wins (Chat grades 1–5); alt+digit switches from every room,
        # the question box included, and help lists for each key only the meaning it has there
        *[both(str(n), f"tab('{room}')", f"app.tab.{room}", show=False) for n, (room, _key) in enumerate(ROOMS, start=1)],
        # priority: a question box would type the digit that comes with alt+digit
        *[both(f"alt+{n}", f"tab('{room}')", f"app.tab_alt.{room}", description=f"app.tab.{room}", show=False,
               priority=True) for n, (room, _key) in enumerate(ROOMS, start=1)],
    ]

    def __init__(self, ws: Workspace, lang: str | None = None, *, home_label: str | None = None) -> None:
        self.ws = ws
        # bring the schema up to date once, before any worker opens the store without migrating
        Store(ws.db_path).close()
        lang = lang or ws.setting("lang") or detect_lang()
        set_lang(lang)
        localize_classes()
        super().__init__()
        self.home_label = home_label if home_label is not None else str(ws.home)
        self.error_log = Path(ws.logs_dir) / "app.log"
        self._mounting: dict = {}
        self._exports_watched: set[int] = set()  # export jobs seen running, until their end is announced
        self._exports_announced: set[int] = set()
        self.title = t("app.title")

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="☰")
        with TabbedContent(id="rooms", initial="pairs"):
            with TabPane(t("app.tab.pairs"), id="pairs"):
                yield PairsRoom(self.ws, id="pairs-room")
            # the other rooms are built the first time their tab opens: their start-up
            # work (dataset summaries, model lists) must not delay the first page of pairs
            for pane_id, key in ROOMS[1:]:
                yield TabPane(t(key), id=pane_id)
        yield FirstStepsGuide(id="first-steps")
        yield StatusBar(self.home_label, id="status-bar")
        yield Footer()

    def on_mount(self) -> None:
        localize(self)
        self.apply_keymap()
        # the status bar's counts start once the table has its own count (see PairsRoom):
        # on a million pairs they would compete with the first page
        self.set_interval(5.0, self._poll_jobs)
        # while an export job runs its end is looked for every second: the new GGUF then shows
        # in Chat and Evaluate at once, even with the Export dialog closed
        self.set_interval(1.0, self._poll_exports_if_watched)
        self.query_one(FirstStepsGuide).display = False  # until the store says whether to show it
        self._read_guide()
        self._downloads_at_start()

    @property
    def pairs_room(self) -> PairsRoom:
        return self.query_one(PairsRoom)

    # ----------------------------------------------------------------- status

    def update_status(self, **info) -> None:
        try:
            self.query_one(StatusBar).update_info(**info)
        except Exception:  # the bar is gone while the app shuts down
            pass

    def refresh_status(self) -> None:
        self._count_pairs()

    def on_pairs_changed(self, message: PairsChanged) -> None:
        self.refresh_status()
        self._read_guide()
        for room in self.query(PairsRoom):
            room.table.reload()
            if message.pair_id is not None:
                room.table.show_pair(message.pair_id)  # the user finds it under the cursor back in Pairs

    @work(thread=True, exit_on_error=False, group="status-counts", exclusive=True)
    def _count_pairs(self) -> None:
        with Store(self.ws.db_path) as store:
            by_status = {s: store.count_pairs(PairFilter(status=s)) for s in STATUSES}
            by_split = {s: store.count_pairs(PairFilter(split=s)) for s in SPLITS}
            jobs = running_jobs(store)
        total = sum(by_status.values())
        self.call_from_thread(self.update_status, total=total, by_status=by_status, by_split=by_split, jobs=jobs)

    @work(thread=True, exit_on_error=False, group="downloads-at-start")
    def _downloads_at_start(self) -> None:
        """A download whose worker died while the app was closed (killed, a reboot) is said at
        start, not only once the Models view is opened: its job is marked interrupted here, and
        when the newest download is one, a notification names it and the key that resumes it."""
        from core.hub.download import refresh_downloads

        with Store(self.ws.db_path, migrate=False) as store:
            try:
                refresh_downloads(self.ws, store)
                newest = store.list_download_jobs(limit=1)
            except sqlite3.Error:  # a store without the download jobs table (not migrated yet)
                return
        if newest and newest[0].status == "interrupted":  # what u/г in Models resumes
            self.call_from_thread(self.notify, t("models.pull_interrupted_at_start", hub=newest[0].hub_id),
                                  severity="warning", timeout=20)

    def _poll_jobs(self) -> None:
        self._read_jobs(tuple(self._exports_watched))
        self._read_guide()

    def _poll_exports_if_watched(self) -> None:
        if self._exports_watched:
            self._read_jobs(tuple(self._exports_watched))

    @work(thread=True, exit_on_error=False, group="status-jobs", exclusive=True)
    def _read_jobs(self, watched: tuple[int, ...]) -> None:
        from core.export.jobs import refresh as refresh_exports

        with Store(self.ws.db_path, migrate=False) as store:
            try:
                refresh_exports(self.ws, store)  # a killed export worker: its job ends, its files go
                active = {j.id for j in store.list_export_jobs(status=ACTIVE)}
                ended = [j for j in map(store.find_export_job, watched) if j is not None and not j.active]
                jobs = running_jobs(store)
            except sqlite3.Error:  # a store without the runs and export jobs tables (not migrated yet)
                active, ended, jobs = set(), [], []
        self.call_from_thread(self._jobs_read, jobs, active, ended)

    def _jobs_read(self, jobs: list[str], active: set[int], ended: list) -> None:
        from tui.dialogs.export_model import finished

        self.update_status(jobs=jobs)
        self._exports_watched |= active
        for job in ended:
            self._exports_watched.discard(job.id)
            self.post_message(finished(job))

    def watch_export(self, job_id: int) -> None:
        """Look for the end of this export job every second (the Export dialog also reports it)."""
        if job_id not in self._exports_announced:
            self._exports_watched.add(job_id)

    # ------------------------------------------------------------- first steps

    def guide_wanted(self, demo: bool) -> bool:
        """Whether the first-run guide shows: as the user last left it (ctrl+g, the palette),
        else on a workspace that holds the demo (``nastavnik demo``, ``make run``)."""
        try:
            chosen = self.ws.setting(GUIDE_SETTING)
        except UserError:
            chosen = None
        return chosen if isinstance(chosen, bool) else demo

    @work(thread=True, exit_on_error=False, group="first-steps", exclusive=True)
    def _read_guide(self) -> None:
        """Read the guide's ticks from the store (the steps the user has done) and redraw it."""
        from core.loop.first_steps import first_steps

        with Store(self.ws.db_path, migrate=False) as store:
            try:
                state = first_steps(store)
            except sqlite3.Error:  # a store not migrated yet
                return
        self.call_from_thread(self._show_guide, state, self.guide_wanted(state.demo))

    def _show_guide(self, state, shown: bool) -> None:
        try:
            guide = self.query_one(FirstStepsGuide)
        except Exception:  # the app is shutting down
            return
        guide.show(state, self.guide_keys())
        guide.display = shown

    def guide_keys(self) -> dict[str, str]:
        """The key bound now (the ``keymap`` setting applied) to each binding the guide names."""
        maps = {tab: self.room_bindings(tab) for tab in {tab for tab, _id in GUIDE_KEYS.values()}}
        return {name: key_of(maps[tab], binding_id) for name, (tab, binding_id) in GUIDE_KEYS.items()}

    def action_guide(self) -> None:
        """Show or hide the first-run guide, and keep the choice in the workspace settings."""
        guide = self.query_one(FirstStepsGuide)
        shown = not guide.display
        guide.display = shown
        try:
            self.ws.update_settings(**{GUIDE_SETTING: shown})
        except OSError as exc:
            self.notify(str(exc), severity="error")
        if shown:
            self._read_guide()

    # ------------------------------------------------------------------ exports

    def on_export_finished(self, message: ExportFinished) -> None:
        """An export job ended: say so once, and list the new GGUF in Chat and Evaluate."""
        self._exports_watched.discard(message.job_id)
        if message.job_id in self._exports_announced:
            return
        self._exports_announced.add(message.job_id)
        if message.status == "done":
            self.post_message(ModelsChanged())
        bad = message.status not in ("done", "cancelled") or message.ok is False
        if message.line:
            self.notify(t("export_model.done_note", id=message.job_id, line=message.line), severity="error" if bad else "information",
                        timeout=12 if bad else 6)
        self._poll_jobs()

    def on_models_changed(self, message: ModelsChanged) -> None:
        self._read_guide()
        chat = self._room("chat")
        if chat is not None:
            chat.reload_models()
        evaluate = self._room("evaluate")
        if evaluate is not None:
            evaluate.load_models()

    def open_export(self, source: str | None = None, *, jobs: list[int] | None = None, chat: bool = False,
                    callback=None) -> None:
        """The Export dialog: for ``source`` (a run id or model name), or following ``jobs``."""
        from tui.dialogs.export_model import ExportModelScreen

        for job_id in jobs or ():
            self.watch_export(job_id)
        self.push_screen(ExportModelScreen(self.ws, source=source, jobs=jobs, chat=chat), callback)

    def on_export_requested(self, message: ExportRequested) -> None:
        if message.chat:
            self.export_and_chat(message.run_id)
        elif message.run_id is not None:
            self.open_export(str(message.run_id))
        else:
            self.open_export()

    @work(thread=True, exit_on_error=False, exclusive=True, group="export-chat")
    def export_and_chat(self, run_id: int | None) -> None:
        """Chat with a finished run (the newest one for None) next to its base and the run before:
        export whichever has no GGUF yet, then open Chat. The run is exported as a GGUF LoRA (its
        export converts the base GGUF once, and that is the base beside it: the base is not exported
        again); a run that cannot be one is merged, and its job says why."""
        from core.export.jobs import active_job_for, chat_lineup, start_job

        with Store(self.ws.db_path) as store:
            if run_id is None:
                done = store.list_runs(status="done", limit=1)
                if not done:
                    raise UserError(t("export_model.no_run"))
                run_id = done[0].id
            lineup = chat_lineup(store, run_id, ws=self.ws)
            ids = []
            for ref in lineup.to_export:
                busy = active_job_for(store, ref)
                ids.append(busy.id if busy is not None else start_job(self.ws, ref, quants=["q8_0"], how="lora", store=store).id)
        self.call_from_thread(self._chat_or_wait, run_id, lineup.models, ids)

    def _chat_or_wait(self, run_id: int, models: list[str], jobs: list[int]) -> None:
        if not jobs:
            self.chat_with(models)
            return

        def done(ok: bool | None) -> None:
            if ok:
                self.export_and_chat(run_id)  # every GGUF is there now: straight to Chat

        self.open_export(jobs=jobs, chat=True, callback=done)

    def chat_with(self, models: list[str]) -> None:
        """Open the Chat room with these models side by side and the cursor in the question box."""
        self.action_tab("chat")

        async def choose() -> None:
            await self._room_ready("chat")
            room = self._room("chat")
            if room is not None:
                room.choose_models(models)

        self.call_later(choose)

    # ---------------------------------------------------------------- actions

    def _room(self, tab: str):
        """The room of a tab, or None while it has not been opened yet."""
        rooms = self.query(f"#{tab}-room")
        return rooms.first() if rooms else None

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id != "rooms":
            return  # a room's own tabs (the Train room's views)
        tab = event.pane.id or ""
        self._ensure_room(tab)
        # the whole guide where the first screen has room for it, one line in the other rooms
        self.query_one(FirstStepsGuide).compact = tab != "pairs"
        self._read_guide()
        # a room chosen on the tab bar (a click, or the arrows there) takes the focus, as a
        # room's digit gives it: its keys then work and the footer shows them, not only the app's
        if isinstance(self.screen.focused, Tabs) and self.screen.focused.parent is event.tabbed_content:
            self.action_tab(tab)

    def _ensure_room(self, tab: str) -> None:
        if tab not in ROOM_CLASSES or self._room(tab) is not None:
            return
        room = ROOM_CLASSES[tab](self.ws, id=f"{tab}-room")
        self._mounting[tab] = self.query_one(f"TabPane#{tab}", TabPane).mount(room)

    def action_tab(self, tab: str) -> None:
        # drop the focus first: a focused widget that gets hidden hands focus to a neighbour,
        # and Textual then switches back to the tab holding that neighbour
        self.screen.set_focus(None)
        self.query_one(TabbedContent).active = tab
        if tab == "pairs":
            self.pairs_room.table.focus()
            return
        self._ensure_room(tab)
        self.call_later(self._focus_room, tab)

    async def _focus_room(self, tab: str) -> None:
        await self._room_ready(tab)
        if self.query_one(TabbedContent).active != tab:
            return  # the user moved on while the room was built: focusing it would switch back
        room = self._room(tab)
        for widget in room.query("*") if room is not None else ():
            if widget.focusable:
                # at once, not widget.focus() (which lands a moment later and would pull a
                # user who already switched on back to this tab)
                self.screen.set_focus(widget)
                break

    async def _room_ready(self, tab: str) -> None:
        """Wait until a room built on first visit is mounted (any number of callers may wait)."""
        mounting = self._mounting.get(tab)
        if mounting is not None:
            await mounting
            self._mounting.pop(tab, None)

    def room_action(self, tab: str, action: str) -> None:
        """Run an action of a room (from the palette), switching to it and building it first."""
        self.action_tab(tab)

        async def run() -> None:
            await self._room_ready(tab)
            room = self._room(tab)
            if room is not None:
                await room.run_action(action)

        self.call_later(run)

    def action_next_tab(self, delta: int) -> None:
        order = [pane_id for pane_id, _ in ROOMS]
        current = self.query_one(TabbedContent).active
        i = order.index(current) if current in order else 0
        self.action_tab(order[(i + delta) % len(order)])

    def pairs_action(self, action: str) -> None:
        """Run an action of the Pairs room (from the palette), switching to it first."""
        self.action_tab("pairs")
        self.call_later(self.pairs_room.run_action, action)

    def apply_keymap(self) -> None:
        """Rebind keys from the workspace's ``keymap`` setting (``{"pairs.approve": "v"}``); an
        unknown id or key is left out with a warning that names the setting."""
        try:
            keymap = self.ws.setting("keymap")
        except UserError as exc:
            self.notify(error_text(exc), severity="error")
            return
        if keymap is None:
            return
        ids = list(keymap) if isinstance(keymap, dict) else []
        good, problems = check_keymap(keymap, known_ids(ids))
        self.set_keymap(good)
        for line in problems:
            self.notify(line, severity="warning", timeout=12)

    def room_bindings(self, tab: str | None):
        """The live bindings (keymap applied) of a room, built or not, or the app's own for None."""
        node = self if tab is None else self._room(tab) or ROOM_CLASSES.get(tab) or self.pairs_room
        return live_bindings(node, self._keymap)

    def all_bindings(self) -> list[tuple[str, str]]:
        """What a user can press here, as (keys, description), for the help screen: the live
        bindings (keymap applied) from the widget in focus through its room to the app. The focus
        outside the room on show (on the tab bar, or nowhere) reads the room's keys; each key is
        listed once, with the meaning it has here (a priority binding first, then the nearest)."""
        chain = list(self.screen._binding_chain)
        tab = self.query_one(TabbedContent).active
        room = self._room(tab) if tab != "pairs" else self.pairs_room
        if room is not None and all(node is not room for node, _ in chain):
            chain = [(node, live_bindings(node, self._keymap)) for node in room.ancestors_with_self]
        rows: list[tuple[list[str], Binding, str]] = []
        for _node, bindings in chain:
            for keys, binding, text in described(bindings):
                rows.append((keys.split(","), binding, text))
        taken: set[str] = set()
        out: dict[str, tuple[list[str], str]] = {}
        for keys, binding, text in sorted(rows, key=lambda row: not row[1].priority):
            free = [k for k in keys if k not in taken]
            taken.update(keys)
            if not free:
                continue
            ident = f"{binding.action}:{text}"  # alt+1 and 1 both say "Pairs": one row
            have = out.setdefault(ident, ([], text))[0]
            have.extend(k for k in free if k not in have)
        order: dict[str, int] = {}
        for n, (_keys, b, text) in enumerate(rows):
            order.setdefault(f"{b.action}:{text}", n)
        return [(",".join(keys), text) for ident, (keys, text) in sorted(out.items(), key=lambda kv: order[kv[0]])]

    def action_command_palette(self) -> None:
        """Textual's palette, with its own words in the UI language."""
        from textual.command import CommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(Palette())

    def get_system_commands(self, screen):
        """Textual's own palette commands in the UI language; its Keys panel is our help."""
        for command in super().get_system_commands(screen):
            key = SYSTEM_COMMANDS.get(command.title)
            if key == "keys":
                yield SystemCommand(t("palette.system.keys"), t("palette.system.keys_help"), self.action_help)
            elif key:
                yield SystemCommand(t(f"palette.system.{key}"), t(f"palette.system.{key}_help"), command.callback,
                                    command.discover)
            else:
                yield command

    def action_help(self) -> None:
        from tui.dialogs.help import HelpScreen

        self.push_screen(HelpScreen(self.all_bindings()))

    def set_language(self, lang: str) -> None:
        if lang not in LANGS:
            return
        set_lang(lang)
        try:
            self.ws.update_settings(lang=lang)
        except OSError as exc:
            self.notify(str(exc), severity="error")
        self.title = t("app.title")
        localize_classes()
        localize(self)
        tabs = self.query_one(TabbedContent)
        for pane_id, key in ROOMS:
            tabs.get_tab(pane_id).label = t(key)
        self.query_one(FirstStepsGuide).refresh_text()
        for room in filter(None, (self._room(tab) for tab in ROOM_CLASSES)):
            if hasattr(room, "localize"):
                room.localize()
            else:
                self.call_later(room.recompose)
        self.pairs_room.localize()
        self.query_one(StatusBar).refresh_text()
        self._poll_jobs()  # the jobs' statuses in the new language
        self.refresh_bindings()
        self.notify(t("app.lang_switched"), timeout=2)

    def action_language(self, lang: str) -> None:
        self.set_language(lang)

    def action_toggle_language(self) -> None:
        self.set_language("en" if get_lang() == "ru" else "ru")


def run_app(ws: Workspace, lang: str | None = None) -> None:
    """Open the app on ``ws`` (``nastavnik`` with no command, or ``nastavnik tui``)."""
    if lang:
        ws.update_settings(lang=lang)
    NastavnikApp(ws, lang).run()

