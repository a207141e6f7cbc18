"""The hub side of a download: the files a base needs, the space they take, the bytes, the hub's errors.

Only what training and export read is fetched — the config, the tokenizer, the chat
template, the safetensors weights and their index, the generation config — never the
``.bin``/``.gguf``/``.onnx`` copies many repositories carry beside them. Files land in the
Hugging Face cache, in its layout, through ``huggingface_hub``'s own HTTP download; each
file is written to a part whose name outlives the process, so a download started again
after a kill picks up where it stopped (``fetch_file``).
Everything the library would read from its import-time constants (the endpoint, the cache,
the token) is passed explicitly, read from the environment when asked.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

DEFAULT_ENDPOINT = "https://huggingface.co"
# top-level files only: a repository's subfolders (original/, onnx/) hold other copies
WANTED = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model",
          "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja",
          "chat_template.json", "preprocessor_config.json", "processor_config.json", "*.safetensors",
          "model.safetensors.index.json")
MARGIN_BYTES = 256 * 1024 * 1024  # left free beyond the files themselves
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(text: str) -> bool:
    """Whether ``text`` reads as ``owner/name`` (a folder that exists is never taken for one)."""
    return bool(HUB_ID.match(text)) and not Path(text).expanduser().exists()


def wanted(name: str) -> bool:
    """Whether a repository file is one training and export need."""
    return "/" not in name and any(fnmatch.fnmatchcase(name, pattern) for pattern in WANTED)


@dataclass(frozen=True)
class Hub:
    """Where to fetch from and to: the endpoint, the cache folder, the token (None: anonymous)."""

    endpoint: str = DEFAULT_ENDPOINT
    cache: Path = field(default_factory=lambda: Path.home() / ".cache" / "huggingface" / "hub")
    token: str | None = None

    def page(self, hub_id: str) -> str:
        """The repository's page, where a gated model's licence is accepted."""
        return f"{self.endpoint}/{hub_id}"


def hub_from_env(env: dict[str, str] | None = None) -> Hub:
    """The hub as the environment names it now (``HF_ENDPOINT``, ``HF_HUB_CACHE``/``HF_HOME``, ``HF_TOKEN``
    or the token ``huggingface-cli login`` stored)."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("HF_HOME") or Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface").expanduser()
    cache = Path(env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or home / "hub").expanduser()
    token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        stored = Path(env.get("HF_TOKEN_PATH") or home / "token").expanduser()
        token = stored.read_text(encoding="utf-8").strip() or None if stored.is_file() else None
    return Hub(endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"), cache=cache, token=token)


def offline(env: dict[str, str] | None = None) -> bool:
    """Whether the environment forbids the hub (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    values = dict(os.environ if env is None else env)
    return any(str(values.get(k, "")).lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def free_bytes(folder: Path) -> int:
    """Free bytes on the disk that holds ``folder`` (or its nearest existing parent). The one seam
    the disk check reads, so a test can say the disk is full."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def human(n: float) -> str:
    """Bytes as a person reads them: 1.5 GB, 312 MB."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


@dataclass
class Plan:
    """What a download fetches: the commit a revision resolved to, the files and their sizes, and
    how many of those bytes the cache already holds (whole files, and parts a killed job left)."""

    hub_id: str
    revision: str | None
    commit: str
    files: list[tuple[str, int]]
    have: int = 0

    @property
    def total(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def need(self) -> int:
        return max(0, self.total - self.have)


def _repo_folder(hub: Hub, hub_id: str) -> Path:
    return hub.cache / ("models--" + hub_id.replace("/", "--"))


def snapshot_folder(hub: Hub, hub_id: str, commit: str) -> Path:
    return _repo_folder(hub, hub_id) / "snapshots" / commit


def plan(hub_id: str, revision: str | None = None, *, hub: Hub) -> Plan:
    """Ask the hub which files ``hub_id`` has at ``revision`` (a few KB), keep the wanted ones."""
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=hub.endpoint, token=hub.token or False).model_info(hub_id, revision=revision,
                                                                                   files_metadata=True)
    except Exception as exc:  # noqa: BLE001 - every hub failure is said as one coded line
        raise hub_error(exc, hub_id, hub) from None
    files = [(s.rfilename, int(s.size or 0)) for s in info.siblings or [] if wanted(s.rfilename)]
    names = {name for name, _ in files}
    if "config.json" not in names or not any(n.endswith(".safetensors") for n in names):
        lacking = "config.json" if "config.json" not in names else "*.safetensors"
        raise UserError(f"{hub_id} has no {lacking}: it is not a checkpoint Nastavnik can train",
                        hint="pick a repository with safetensors weights (Unsloth's -bnb-4bit repos have them)",
                        code="hub.not_checkpoint", params={"hub_id": hub_id, "file": lacking})
    result = Plan(hub_id, revision, str(info.sha), sorted(files))
    result.have = cached_bytes(result, hub)
    return result


def cached_bytes(p: Plan, hub: Hub) -> int:
    """Bytes of ``p``'s files the cache holds: whole files in its snapshot and parts a stopped download left."""
    snap = snapshot_folder(hub, p.hub_id, p.commit)
    have = sum(size for name, size in p.files if (snap / name).exists())
    blobs = _repo_folder(hub, p.hub_id) / "blobs"
    if blobs.is_dir():
        have += sum(f.stat().st_size for f in blobs.glob("*.part"))
    return min(have, p.total)


def check_space(p: Plan, hub: Hub) -> None:
    """Refuse, with the numbers, a download the cache's disk cannot hold (plus a margin)."""
    free = free_bytes(hub.cache)
    if p.need + MARGIN_BYTES > free:
        raise UserError(f"{p.hub_id} needs {human(p.need)} but the disk of {hub.cache} has {human(free)} free",
                        hint="free some space (`nastavnik models list` shows what is kept) or set HF_HUB_CACHE to a bigger disk",
                        code="hub.no_space", params={"hub_id": p.hub_id, "need": p.need, "free": free, "where": str(hub.cache),
                                                     "need_h": human(p.need), "free_h": human(free)})


class _Counter:
    """What ``huggingface_hub`` takes for a tqdm bar: it only counts the bytes written into ``on_bytes``."""

    on_bytes: Callable[[int, bool], None] = staticmethod(lambda n, fresh: None)

    def __init__(self, *args: Any, initial: int = 0, **kwargs: Any) -> None:
        if initial:  # the part a killed download left: had, not fetched now
            type(self).on_bytes(int(initial), False)

    def __enter__(self) -> _Counter:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: float | None = 1) -> None:
        if n:
            type(self).on_bytes(int(n), True)

    def close(self) -> None:
        return None

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(p: Plan, *, hub: Hub, on_file: Callable[[str, int, int], None], on_bytes: Callable[[int, bool], None]) -> Path:
    """Fetch ``p``'s files one after another into the cache; the snapshot folder.

    ``on_file(name, index, size)`` before each file; ``on_bytes(n, fresh)`` as bytes arrive
    (``fresh`` False for what the cache had: a whole file, the part a killed download left).
    """
    import fcntl

    counter = type("Counter", (_Counter,), {"on_bytes": staticmethod(on_bytes)})
    snap = snapshot_folder(hub, p.hub_id, p.commit)
    lock_path = _repo_folder(hub, p.hub_id) / ".nastavnik-download.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_path.open("w")  # one writer per repository's parts, whatever process started it
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise UserError(f"{p.hub_id} is already being downloaded by another process", hint="wait for it, or cancel it",
                        code="hub.busy", params={"hub_id": p.hub_id}) from None
    try:
        return _fetch_all(p, hub, snap, counter, on_file, on_bytes)
    finally:
        lock.close()


def _fetch_all(p: Plan, hub: Hub, snap: Path, counter: Any, on_file: Callable[[str, int, int], None],
               on_bytes: Callable[[int, bool], None]) -> Path:
    for index, (name, size) in enumerate(p.files):
        on_file(name, index, size)
        if (snap / name).exists():
            on_bytes(size, False)
            continue
        try:
            fetch_file(p, name, hub=hub, tqdm_class=counter)
        except Exception as exc:  # noqa: BLE001 - said as one coded line
            raise hub_error(exc, p.hub_id, hub, file=name) from None
    if p.revision is None or p.revision != p.commit:  # the cache's refs/<branch>, as the library keeps it
        ref = _repo_folder(hub, p.hub_id) / "refs" / (p.revision or "main")
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(p.commit, encoding="utf-8")
    return snap


def fetch_file(p: Plan, name: str, *, hub: Hub, tqdm_class: Any) -> Path:
    """One file into the cache's layout (``blobs/<etag>``, ``snapshots/<commit>/<name>`` linking to it).

    The bytes go to ``blobs/<etag>.part`` first, a name that stays the same from one process to
    the next: a download killed mid-file is resumed from the part's length with an HTTP Range
    (the pinned ``huggingface_hub`` writes each attempt to a new file and drops it on failure).
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    token: str | bool = hub.token or False
    url = hf_hub_url(p.hub_id, name, revision=p.commit, endpoint=hub.endpoint)
    meta = get_hf_file_metadata(url, token=token, endpoint=hub.endpoint)
    if not meta.etag:
        raise UserError(f"{p.hub_id}: the hub gave no ETag for {name}", code="hub.down",
                        params={"hub_id": p.hub_id, "why": f"no ETag for {name}", "page": hub.page(p.hub_id)})
    blob = _repo_folder(hub, p.hub_id) / "blobs" / meta.etag
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not blob.exists():
        part = blob.with_name(meta.etag + ".part")
        have = part.stat().st_size if part.exists() else 0
        if meta.size is not None and have > meta.size:
            part.unlink()
            have = 0
        with part.open("ab") as out:
            http_get(url, out, resume_size=have, headers=build_hf_headers(token=token), expected_size=meta.size,
                     displayed_filename=name, tqdm_class=tqdm_class)
        os.replace(part, blob)
    link = snapshot_folder(hub, p.hub_id, p.commit) / name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        tmp = link.with_name(link.name + ".link")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.path.relpath(blob, link.parent))
        os.replace(tmp, link)
    return link


def hub_error(exc: BaseException, hub_id: str, hub: Hub, *, file: str | None = None) -> UserError:
    """The hub's failure as one line a person acts on: the page to visit and ``HF_TOKEN`` for a
    gated or private repository, the file for a missing one, the address for a hub out of reach."""
    if isinstance(exc, UserError):
        return exc
    from huggingface_hub import errors

    page = hub.page(hub_id)
    params: dict[str, Any] = {"hub_id": hub_id, "page": page, "token": bool(hub.token)}
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, errors.GatedRepoError):
        if hub.token:
            return UserError(f"{hub_id} is gated and this token may not read it yet",
                             hint=f"accept its licence at {page} with the account of HF_TOKEN, then pull again",
                             code="hub.gated_denied", params=params)
        return UserError(f"{hub_id} is gated: its licence must be accepted and a token given",
                         hint=f"accept it at {page}, then set HF_TOKEN to a token of that account (huggingface.co/settings/tokens)",
                         code="hub.gated", params=params)
    if isinstance(exc, errors.RevisionNotFoundError):
        return UserError(f"{hub_id} has no such revision",
                         hint=f"see the branches and tags at {page}", code="hub.no_revision", params=params)
    if isinstance(exc, errors.RemoteEntryNotFoundError) or (file and status == 404):
        params["file"] = file
        return UserError(f"{hub_id} lists {file} but the hub has no such file", hint=f"see the files at {page}",
                         code="hub.missing_file", params=params)
    if isinstance(exc, errors.RepositoryNotFoundError) or status in (401, 403):
        return UserError(f"{hub_id} is not on the hub, or it is private and needs a token",
                         hint=f"check the id at {page}; a private repository needs HF_TOKEN set to a token that may read it",
                         code="hub.not_found", params=params)
    params["why"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return UserError(f"cannot get {hub_id} from {hub.endpoint}: {params['why']}",
                     hint="check the connection (HF_ENDPOINT names the hub) and pull again: what arrived is kept",
                     code="hub.down", params=params)
