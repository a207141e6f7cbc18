"""A local Hugging Face hub for tests: the API ``huggingface_hub`` speaks, answered for replica folders.

``HubServer({"org/name": folder})`` serves, for each repository, what the pinned client asks:
``GET /api/models/{id}[/revision/{rev}]`` (the file list with sizes and a commit), and
``HEAD``/``GET /{id}/resolve/{rev}/{file}`` (``X-Repo-Commit``, ``ETag``, ``Content-Length``,
``Range`` for a resume). A test sets ``HF_ENDPOINT`` to ``server.url``. It may also make a
repository gated (403 with the hub's ``X-Error-Code: GatedRepo``), list a file the server
then does not have (404 ``EntryNotFound``), add decoy files (``.bin``, ``.gguf``) a base does
not need, and hold one file after some bytes until ``release()`` — so a test can kill a
download mid-file. ``requests`` records what was asked (method, path, Range header).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

TINY_QWEN3 = "test-org/qwen3-tiny"  # the hub id the `hub` fixture (tests/conftest.py) serves the qwen3 replica as

API = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$")
RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


class Repo:
    """One repository: its files (name → bytes on disk, or bytes given), its commit, what is odd about it."""

    def __init__(self, hub_id: str, folder: Path, *, extra: dict[str, bytes] | None = None,
                 skip: tuple[str, ...] = ("nastavnik_replica.json", "nastavnik_demo.json")) -> None:
        self.hub_id = hub_id
        self.files: dict[str, Path | bytes] = {p.name: p for p in sorted(Path(folder).iterdir())
                                               if p.is_file() and p.name not in skip}
        self.files.update(extra or {})
        digest = hashlib.sha1(hub_id.encode())
        for name in sorted(self.files):
            digest.update(name.encode())
            digest.update(str(self.size(name)).encode())
        self.commit = digest.hexdigest()
        self._etags: dict[str, str] = {}
        self.gated = False
        self.missing: set[str] = set()  # listed, but 404 when asked for

    def data(self, name: str) -> bytes:
        value = self.files[name]
        return value if isinstance(value, bytes) else value.read_bytes()

    def size(self, name: str) -> int:
        value = self.files[name]
        return len(value) if isinstance(value, bytes) else value.stat().st_size

    def etag(self, name: str) -> str:
        if name not in self._etags:  # hashed once: the listing, each HEAD and each GET ask for it
            self._etags[name] = hashlib.sha256(self.data(name)).hexdigest()
        return self._etags[name]


class HubServer:
    """The server, started on a free port of 127.0.0.1 in a thread; use it as a context manager."""

    def __init__(self, repos: dict[str, Path] | None = None) -> None:
        self.repos: dict[str, Repo] = {}
        for hub_id, folder in (repos or {}).items():
            self.add(hub_id, folder)
        self.requests: list[tuple[str, str, str | None]] = []
        self._hold: dict[str, int] = {}
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="hub-server", daemon=True)

    def add(self, hub_id: str, folder: Path, **kwargs) -> Repo:
        self.repos[hub_id] = Repo(hub_id, folder, **kwargs)
        return self.repos[hub_id]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def hold(self, name: str, after: int) -> None:
        """Send ``name`` up to byte ``after`` then wait for ``release()`` (once: a later request runs free)."""
        self._hold[name] = after
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def gets(self, name: str) -> list[str | None]:
        """The Range header of each GET of a file named ``name`` (None for a whole-file GET)."""
        with self._lock:
            return [rng for method, path, rng in self.requests if method == "GET" and path.endswith("/" + name)]

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                return None

            def do_GET(self) -> None:
                self._serve(body=True)

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def _error(self, status: int, code: str, message: str) -> None:
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                payload = json.dumps({"error": message}).encode()
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _serve(self, body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                with server._lock:
                    server.requests.append((self.command, path, self.headers.get("Range")))
                if m := API.match(path):
                    return self._api(m.group(1))
                if m := RESOLVE.match(path):
                    return self._file(m.group(1), m.group(3), body)
                self._error(404, "RepoNotFound", "not found")

            def _api(self, hub_id: str) -> None:
                repo = server.repos.get(hub_id)
                if repo is None:
                    return self._error(401, "RepoNotFound", "Repository not found")
                siblings = [{"rfilename": n, "size": repo.size(n), "blobId": repo.etag(n)[:40]} for n in repo.files]
                payload = json.dumps({"id": hub_id, "modelId": hub_id, "sha": repo.commit, "private": False,
                                      "gated": "manual" if repo.gated else False, "siblings": siblings}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _file(self, hub_id: str, name: str, body: bool) -> None:
                repo = server.repos.get(hub_id)
                if repo is None:
                    return self._error(401, "RepoNotFound", "Repository not found")
                if repo.gated:
                    return self._error(403, "GatedRepo", f"Access to model {hub_id} is restricted. You must have access"
                                                         " to it and be authenticated to access it. Please log in.")
                if name not in repo.files or name in repo.missing:
                    return self._error(404, "EntryNotFound", f"{name} does not exist")
                data = repo.data(name)
                start = 0
                rng = self.headers.get("Range")
                if rng and (m := re.match(r"bytes=(\d+)-", rng)):
                    start = int(m.group(1))
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("ETag", f'"{repo.etag(name)}"')
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                try:
                    held = server._hold.pop(name, None)
                    if held is not None and held > start:
                        self.wfile.write(data[start:held])
                        self.wfile.flush()
                        server._released.wait(300)
                        start = held
                    self.wfile.write(data[start:])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (killed mid-file)

        return Handler


def use_hub(server: HubServer, monkeypatch, root: Path) -> Path:
    """Point this test, and the workers it starts, at ``server``: ``HF_ENDPOINT``, a cache under
    ``root``, no token, the suite's offline switches lifted. The cache folder."""
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(root / "hf" / "hub"))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return root / "hf" / "hub"
