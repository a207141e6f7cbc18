"""The Train room's Models view: every model the workspace knows (core.models.inventory) in a
table — kind, size on disk, what uses it, a base's fit on this machine's GPU — with a detail line
for the highlighted one (its origin, its users, its fit per backend) and the disk totals.

a/ф adds a base (a checkpoint folder, as ``nastavnik models add``; a hub id starts a download
job, ``core.hub.download``, and returns at once), x/ч or Delete deletes the highlighted model (the
confirmation lists what uses it), b/и makes it the Settings form's base. Under the table the
newest download that has not ended done: its bar with bytes and ETA while it runs (polled as the
room polls runs), k/л cancels it, u/г resumes one that stopped (cancelled, killed, failed), and a
failure's reason in the UI's language; when it ends done the model appears in the table.
``TrainModels`` is one of the views ``TrainRoom`` (room.py) is made of.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, ProgressBar, Static

from typing import TYPE_CHECKING

from tui.dialogs.add_model import AddModelScreen
from tui.dialogs.confirm import ConfirmScreen
from tui.i18n import error_text, job_error_text, t
from tui.widgets.progress import draw

if TYPE_CHECKING:  # annotations only: the inventory loads in the worker
    from core.models.inventory import Inventory
    from core.store.downloads import DownloadJob

MODEL_COLUMNS = (
    ("m_name", "models.col_name"),
    ("m_kind", "models.col_kind"),
    ("m_size", "models.col_size"),
    ("m_users", "models.col_users"),
    ("m_fit", "models.col_fit"),
)
NAME_WIDTH = 26  # with it every column fits in 80 columns


def size_text(n: int | None) -> str:
    """Bytes as the view shows them (ГБ/МБ in Russian); "missing" when the files are gone."""
    if n is None:
        return t("models.missing")
    for unit, scale in (("models.gb", 1e9), ("models.mb", 1e6), ("models.kb", 1e3)):
        if n >= scale:
            return t(unit, n=f"{n / scale:.1f}")
    return t("models.b", n=n)


def fit_short(entry) -> str:
    """The table's fit cell: the backend that needs the least (the first) and its state."""
    if not entry.fit:
        return "—"
    f = entry.fit[0]
    if f.state == "unknown":
        return t("models.fit_unknown_short")
    return t(f"models.fit_{f.state}_short", gib=f"{f.need_gib:.1f}")


def fit_line(entry, gpu: str | None) -> str:
    """Every backend's fit, then the card (or that there is none); the reason when unknown."""
    if not entry.fit:
        return t("models.fit_none") if entry.kind in ("base", "merged") else "—"
    first = entry.fit[0]
    if first.state == "unknown":
        r = first.reason
        if r is not None and r.code == "arch.unknown" and r.params.get("reason"):  # the family and why, as the form says it
            why = f"{r.params.get('what', '?')}: " + t(f"train.arch_why.{r.params['reason']}", **r.params)
        else:
            why = error_text(r, sep=" — ") if r is not None else "?"
        return t("models.fit_unknown", why=why)
    parts = [t(f"models.fit_{f.state}", backend=f.backend, gib=f"{f.need_gib:.1f}") for f in entry.fit]
    where = t("models.fit_card", gpu=gpu, gib=f"{first.card_gib:.0f}") if gpu and first.card_gib else t("models.fit_no_card")
    return "; ".join(parts) + " " + where


def users_line(users) -> str:
    parts = []
    if users.runs:
        parts.append(t("models.users_runs", ids=", ".join(map(str, users.runs))))
    if users.models:
        parts.append(t("models.users_models", names=", ".join(users.models)))
    if users.chats:
        parts.append(t("models.users_chats", n=len(users.chats)))
    if users.results:
        parts.append(t("models.users_results", n=users.results))
    return "; ".join(parts) or t("models.users_none")


def users_short(users) -> str:
    n = len(users.runs) + len(users.models) + len(users.chats) + (1 if users.results else 0)
    return t("models.users_n", n=n) if n else "—"


def origin_line(entry) -> str:
    if entry.origin == "hub":
        return t("models.origin_hub", hub=entry.hub_id, rev=(entry.revision or "?")[:8])
    if entry.origin == "run":
        return t("models.origin_run", id=entry.run_id)
    if entry.origin == "export":
        return t("models.origin_export", name=entry.export or "?", id=entry.run_id if entry.run_id is not None else "?")
    if entry.origin == "replica":
        return t("models.origin_replica", path=entry.path)
    return t("models.origin_folder", path=entry.path)


def pull_line(job) -> str:
    """A download's line in the UI's language: while it runs, its bytes, pace and ETA (the one
    progress event, ``download_progress``); once stopped, why and what a key does about it."""
    from core.hub.download import download_progress

    if job.active:
        event = download_progress(job)
        info = event.info or {}
        parts = [t("models.pull_running", hub=job.hub_id)]
        if event.total:
            parts.append(t("models.pull_bytes", done=size_text(event.done), total=size_text(event.total)))
        if info.get("speed"):
            parts.append(t("models.pull_speed", speed=size_text(int(info["speed"]))))
        eta = info.get("eta_s")
        if eta is not None:
            parts.append(t("models.pull_eta", eta=f"{int(eta // 60)}:{int(eta % 60):02d}"))
        return " · ".join(parts) + "  " + t("models.pull_cancel_hint")
    if job.status == "failed":
        return t("models.pull_failed", hub=job.hub_id, why=job_error_text(job)) + " " + t("models.pull_resume_hint")
    return t(f"models.pull_{job.status}", hub=job.hub_id) + " " + t("models.pull_resume_hint")


def _cut(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"


class TrainModels(Vertical):
    """The Models view's part of ``TrainRoom``: the inventory, loaded in a worker when shown."""

    _inventory: Inventory | None = None  # the last inventory shown
    _pull: DownloadJob | None = None  # the download shown under the table (the newest not done)
    _pull_watch: int | None = None  # the job seen running: its end done reloads the table
    _base_waiting: str | None = None  # the hub id the Settings form waits for (Start offered its download)

    def compose_models(self) -> ComposeResult:
        yield DataTable(id="models-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="models-detail")
        yield Static("", id="models-disk")
        with Horizontal(id="models-pull-row"):
            yield ProgressBar(id="models-pull-bar", show_eta=False)
            yield Static("", id="models-pull")

    def _add_model_columns(self) -> None:
        table = self.query_one("#models-table", DataTable)
        for key, label in MODEL_COLUMNS:
            table.add_column(t(label), key=key)

    def localize_models(self) -> None:
        table = self.query_one("#models-table", DataTable)
        table.clear(columns=True)
        self._add_model_columns()
        if self._inventory is not None:
            self._show_inventory(self._inventory, totals=False)
        if self._pull is not None:
            self._show_pull(self._pull)

    def load_models(self, *, totals: bool = True) -> None:
        """The inventory again; ``totals=False`` (the room's first load, for the form's bases)
        skips walking the workspace and the HF cache until the view is shown."""
        self._load_models(totals)

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-models")
    def _load_models(self, totals: bool) -> None:
        from core.models.inventory import inventory

        with self.ws.store() as store:
            inv = inventory(self.ws, store, totals=totals)
        self.app.call_from_thread(self._show_inventory, inv, totals)

    def _show_inventory(self, inv, totals: bool = True) -> None:
        self._inventory = inv
        table = self.query_one("#models-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for e in inv.entries:
            table.add_row(_cut(e.name), t(f"models.kind.{e.kind}"), size_text(e.size_bytes), users_short(e.users),
                          fit_short(e), key=e.name)
        if inv.entries:
            table.move_cursor(row=min(max(cursor, 0), len(inv.entries) - 1))
        if totals:
            self.query_one("#models-disk", Static).update(Text(t(
                "models.disk", ws=size_text(inv.workspace_bytes), hf=size_text(inv.hf_cache_bytes)), style="dim"))
        self._show_detail()
        self.offer_bases(inv)  # the Settings form's base field completes these

    def highlighted_model(self):
        """The inventory entry under the table's cursor, or None."""
        table = self.query_one("#models-table", DataTable)
        if self._inventory is None or not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((e for e in self._inventory.entries if e.name == key), None)

    @on(DataTable.RowHighlighted, "#models-table")
    def _show_detail(self) -> None:
        e = self.highlighted_model()
        detail = self.query_one("#models-detail", Static)
        if e is None or self._inventory is None:
            detail.update(t("models.empty"))
            return
        detail.update("\n".join((origin_line(e), t("models.used_by", users=users_line(e.users)),
                                 t("models.fit", fit=fit_line(e, self._inventory.gpu)))))

    # ------------------------------------------------------------------ add

    def action_add_model(self) -> None:
        self.app.push_screen(AddModelScreen(), self._add_chosen)

    def _add_chosen(self, source: str | None) -> None:
        if not source:
            return
        path = Path(source).expanduser()
        if not path.exists() and "/" in source and not source.startswith((".", "/", "~")):
            self.pull_from_hub(source)
            return
        self._add_folder(source)

    def pull_from_hub(self, repo_id: str) -> None:
        """Add a hub id as a base: a download job (detached: it outlives the app) is started and
        shown under the table; the model joins the table when the job registers it."""
        self._start_pull(repo_id)

    @work(thread=True, exit_on_error=False, group="train-models-add")
    def _start_pull(self, repo_id: str) -> None:
        from core.hub.download import start_download

        with self.ws.store() as store:
            job = start_download(self.ws, repo_id, store=store)
        self.app.call_from_thread(self._pull_started, job)

    def _pull_started(self, job) -> None:
        self.notify(t("models.pulling", hub=job.hub_id))
        self._pull_watch = job.id
        self._show_pull(job)
        self.poll_downloads()

    # ------------------------------------------------------------------ downloads

    def tick_downloads(self) -> None:
        """The room's timer: downloads are read while the view is shown or one it started runs."""
        if self.view == "train-models-view" or self._pull_watch is not None:
            self.poll_downloads()

    @work(thread=True, exit_on_error=False, exclusive=True, group="train-downloads")
    def poll_downloads(self) -> None:
        """The newest download job, read as the room reads its runs (a worker, each POLL_S)."""
        from core.hub.download import refresh_downloads

        with self.ws.store() as store:
            refresh_downloads(self.ws, store)
            jobs = store.list_download_jobs(limit=1)
            watched = store.get_download_job(self._pull_watch) if self._pull_watch is not None else None
        self.app.call_from_thread(self._show_downloads, jobs[0] if jobs else None, watched)

    def _show_downloads(self, newest, watched) -> None:
        if watched is not None and not watched.active:
            self._pull_watch = None
            if watched.status == "done":
                self.notify(t("models.added", name=watched.name or watched.hub_id))
                self.load_models(totals=self.view == "train-models-view")
                if watched.hub_id == self._base_waiting and watched.name:
                    self._base_waiting = None  # the form trains from what arrived
                    self.query_one("#train-base", Input).value = watched.name
                    self.notify(t("train.base_ready", name=watched.name))
        if newest is not None and newest.active and self._pull_watch is None:
            self._pull_watch = newest.id  # started elsewhere (the CLI): its end reloads the table too
        shown = newest if newest is not None and newest.status != "done" else None
        was = self._pull
        self._pull = shown
        if shown is not None:
            self._show_pull(shown)
        elif was is not None:
            self.query_one("#models-pull-row", Horizontal).display = False
        if (was is None) != (shown is None) or (was is not None and shown is not None
                                                and (was.id, was.active) != (shown.id, shown.active)):
            self.refresh_bindings()  # cancel while one runs, resume once it stopped

    def _show_pull(self, job) -> None:
        self.query_one("#models-pull-row", Horizontal).display = True
        bar = self.query_one("#models-pull-bar", ProgressBar)
        bar.display = job.active
        if job.active:
            from core.hub.download import download_progress

            draw(bar, download_progress(job))
        self.query_one("#models-pull", Static).update(Text(pull_line(job), style="" if job.active else "yellow"))

    def wait_for_base(self, hub_id: str, job_id: int | None = None) -> None:
        """The Settings form takes ``hub_id``'s model as its base once its download (``job_id``
        when it runs already) registers it."""
        self._base_waiting = hub_id
        if job_id is not None:
            self._pull_watch = job_id

    def pull_can(self, action: str) -> bool:
        """Whether the cancel (a download runs) or the resume (one stopped) key is offered."""
        job = self._pull
        if job is None:
            return False
        return job.active if action == "cancel_download" else not job.active

    def action_cancel_download(self) -> None:
        if self._pull is not None and self._pull.active:
            self._cancel_pull(self._pull.id)

    @work(thread=True, exit_on_error=False, group="train-models-pull")
    def _cancel_pull(self, job_id: int) -> None:
        from core.hub.download import cancel_download

        with self.ws.store() as store:
            cancel_download(self.ws, job_id, store=store, wait_s=10.0)
        self.app.call_from_thread(self.poll_downloads)

    def action_resume_download(self) -> None:
        if self._pull is not None and not self._pull.active:
            self._resume_pull(self._pull.id)

    @work(thread=True, exit_on_error=False, group="train-models-pull")
    def _resume_pull(self, job_id: int) -> None:
        from core.hub.download import resume_download

        with self.ws.store() as store:
            job = resume_download(self.ws, job_id, store=store)
        self.app.call_from_thread(self._pull_started, job)

    @work(thread=True, exit_on_error=False, group="train-models-add")
    def _add_folder(self, source: str) -> None:
        from core.train.runs import add_base_model

        with self.ws.store() as store:
            model = add_base_model(store, source)
        self.app.call_from_thread(self._added, model.name)

    def _added(self, name: str) -> None:
        self.notify(t("models.added", name=name))
        self.load_models()

    # ------------------------------------------------------------------ delete

    def action_delete_model(self) -> None:
        e = self.highlighted_model()
        if e is None:
            return
        question = t("models.delete_q", name=e.name, size=size_text(e.size_bytes))
        if e.users:
            question += "\n" + t("models.delete_users", users=users_line(e.users))
        if e.origin in ("folder", "replica") and not str(e.path).startswith(str(self.ws.home)):
            question += "\n" + t("models.delete_keeps", path=e.path)
        self.app.push_screen(ConfirmScreen(question, focus_yes=False), lambda yes: yes and self._delete(e.name))

    @work(thread=True, exit_on_error=False, group="train-models-delete")
    def _delete(self, name: str) -> None:
        from core.models.inventory import delete_model

        with self.ws.store() as store:
            delete_model(self.ws, store, name, confirm=True)
        self.app.call_from_thread(self._deleted, name)

    def _deleted(self, name: str) -> None:
        self.notify(t("models.deleted", name=name))
        self.load_models()

    # ------------------------------------------------------------------ use as base

    def action_use_as_base(self) -> None:
        """The highlighted base (or merged folder) becomes the Settings form's base."""
        e = self.highlighted_model()
        if e is None:
            return
        if e.kind not in ("base", "merged"):
            self.notify(t("models.not_a_base", name=e.name, kind=t(f"models.kind.{e.kind}")), severity="warning")
            return
        self.query_one("#train-base", Input).value = e.name if e.model_id is not None else e.path
        self.action_view("train-setup")
