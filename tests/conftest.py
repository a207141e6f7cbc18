"""Fixtures every test shares: a fresh workspace, its store, and the CLI run in-process."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO / "datasets"

# Every test process, and every process a test starts (training workers, the CLI in tmux),
# runs with one torch/OpenMP/llama.cpp thread — two test workers share two cores — and with the
# Hugging Face hub offline and telemetry off: nothing is downloaded, nothing phones home.
for _name, _value in {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NASTAVNIK_THREADS": "1",  # llama.cpp: two threads on a shared core wait for each other (3.7× slower, measured)
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "UNSLOTH_DISABLE_STATISTICS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_name, _value)


# ---------------------------------------------------------------------------- UI-thread guard

_OFF_THREAD: list[str] = []


@pytest.fixture(autouse=True)
def english_unless_a_test_says_otherwise():
    """The app's language is a process-wide setting (tui.i18n): a test that opened the app in
    Russian left the next test in the same worker reading Russian (a preview waited 240 s for
    "Green" beside "Зелёным"). Every test starts in English."""
    try:
        from tui.i18n import set_lang
    except ImportError:  # pragma: no cover - the tui package is always there
        yield
        return
    set_lang("en")
    yield
    set_lang("en")


@pytest.fixture(autouse=True)
def widgets_only_on_the_ui_thread(monkeypatch):
    """Fail a test in which a worker thread read a widget's geometry, queried the DOM or notified.

    Those calls may make Textual lay out the screen, which needs the app's context: from a
    thread worker they fail at random (``LookupError: active_app``) and, in the app, take it
    down. Thread workers get plain values and post their results back instead.
    """
    import threading

    try:
        from textual.dom import DOMNode
        from textual.widget import Widget
    except ImportError:  # pragma: no cover - textual is a core dependency
        yield
        return
    _OFF_THREAD.clear()

    def guard(cls, name: str) -> None:
        original = getattr(cls, name)

        def check(what: str) -> None:
            if threading.current_thread() is not threading.main_thread():
                _OFF_THREAD.append(f"{cls.__name__}.{name} ({what}) in thread {threading.current_thread().name}")

        if isinstance(original, property):
            def getter(self, _get=original.fget):
                check("read")
                return _get(self)

            monkeypatch.setattr(cls, name, property(getter, original.fset))
        else:
            def method(self, *args, _call=original, **kwargs):
                check("call")
                return _call(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, method)

    for cls, name in ((Widget, "size"), (Widget, "region"), (Widget, "content_size"), (Widget, "scrollable_content_region"),
                      (DOMNode, "query_one"), (DOMNode, "query"), (Widget, "notify")):
        guard(cls, name)
    yield
    assert not _OFF_THREAD, "widget state touched off the UI thread: " + "; ".join(dict.fromkeys(_OFF_THREAD))


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """An empty workspace folder; NASTAVNIK_HOME points at it."""
    h = tmp_path / "home"
    monkeypatch.setenv("NASTAVNIK_HOME", str(h))
    return h


@pytest.fixture
def store(home: Path):
    from core.workspace import Workspace

    s = Workspace.open(home).store()
    yield s
    s.close()


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(home: Path):
    """Run ``nastavnik --home HOME ARGS…`` in-process; returns exit code, stdout, stderr."""
    from tui.cli import main

    def run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["--home", str(home), *map(str, args)])
        return Result(code, out.getvalue(), err.getvalue())

    return run


# ---------------------------------------------------------------------------- demo model

DEMO_TEST_STEPS = 250  # cheaper than the workspace demo model; still answers in words


def _cached_demo(steps: int) -> Path:
    """The demo model built with ``steps`` of pretraining, once, cached on disk under a lock."""
    import fcntl
    import hashlib

    from core.train.demo_model import SAMPLE, build_demo_model, builder_fingerprint

    data_hash = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()[:12] if SAMPLE.exists() else "missing"
    key = builder_fingerprint(seed=0, steps=steps, data=data_hash)
    root = Path(os.environ.get("NASTAVNIK_TEST_CACHE", REPO / ".cache" / "test-demo-model"))
    root.mkdir(parents=True, exist_ok=True)
    target = root / key
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / "model.safetensors").exists():
                build_demo_model(target, seed=0, steps=steps)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The tiny demo Llama (tokenizer + safetensors), built once and cached on disk.

    Cached under ``.cache/test-demo-model/<fingerprint>`` (keyed by the builder's source,
    its parameters and the sample data), built under an fcntl lock so two xdist workers
    never build it twice. Treat the folder as read-only: copy it before changing it.
    """
    return _cached_demo(DEMO_TEST_STEPS)


@pytest.fixture(scope="session")
def shipped_demo_model() -> Path:
    """The demo model exactly as `nastavnik demo` builds it for a user (its default pretraining)."""
    from core.train.demo_model import DEFAULT_STEPS

    return _cached_demo(DEFAULT_STEPS)


# ---------------------------------------------------------------------------- replicas

REPLICA_TEST_STEPS = 150  # enough pretraining for words; the replicas' own default is 300


def _cached_build(name: str, key: str, build) -> Path:
    """``build(target)`` once per cache key, under an fcntl lock (two xdist workers never both build)."""
    import fcntl

    root = Path(os.environ.get("NASTAVNIK_TEST_CACHE", REPO / ".cache" / "test-demo-model")).parent / "test-replicas"
    root.mkdir(parents=True, exist_ok=True)
    target = root / key / name  # the folder keeps the model's own name (-bnb-4bit means something to Unsloth)
    target.parent.mkdir(exist_ok=True)
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / "config.json").exists():
                build(target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


@pytest.fixture(scope="session")
def replica():
    """``replica(arch, prequantized=False)``: the folder of a tiny replica of a real family (see
    core/train/replicas.py), built once and cached across sessions like the demo model. Read-only."""
    from core.train.replicas import build_replica, fingerprint, get_arch, prequantize

    def get(arch: str, prequantized: bool = False) -> Path:
        key = fingerprint(get_arch(arch), seed=0, steps=REPLICA_TEST_STEPS)
        plain = _cached_build(f"demo-{arch}", key, lambda out: build_replica(arch, out, steps=REPLICA_TEST_STEPS))
        if not prequantized:
            return plain
        return _cached_build(f"demo-{arch}-bnb-4bit", key, lambda out: prequantize(plain, out))

    return get
