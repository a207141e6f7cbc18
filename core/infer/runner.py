"""The one model runner: load a GGUF, stream an answer, stop it, count tokens, close.

Everything that runs an exported model — the chat turn (``core.loop.chat_turn``), evaluation,
the teacher that drafts pairs, the export's parity check through ``LocalRunner`` — goes through
``ModelRunner``; ``open_model`` picks one of the two runners behind it:

* ``LocalRunner`` — ``llama_cpp.Llama`` in this process; llama.cpp's C-level stderr goes to
  the workspace log while it loads and generates (``core.infer.llamacpp.quiet_stderr``). For the
  CLI, evaluation and benchmarks.
* ``ChildRunner`` — the same, in a child process (``core.infer.server``) that talks JSON lines
  over pipes, its stderr a log file. For the TUI: Textual draws on file descriptor 2, so
  redirecting fd 2 in-process would blank the screen; a child process cannot touch it. The
  child is started and ended by ``spawn_server`` and ``end_server`` only.

``stream(messages, …)`` yields text pieces as llama.cpp produces them, checks ``cancel()``
between tokens, and leaves a ``Reply`` (text, tokens, seconds, why it stopped) in ``.last``;
``stop()`` (from any thread) cuts the answer being written; ``grammar`` (GBNF text) constrains
the answer. ``context_size()``, ``count_tokens(text)`` and ``count_prompt(messages)`` measure
what fits (a teacher splits a document by them). The chat template, BOS and stop tokens come
from the GGUF itself: answers are streamed by ``core.infer.generation.ChatStream`` (the same
answers as ``create_chat_completion``, less Python per token) where the GGUF's template is the
model's default, else by ``create_chat_completion``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator, Protocol

from core.errors import UserError
from core.jobs.process import child_env, start_child, stop_child
from core.infer.generation import ChatStream

if TYPE_CHECKING:
    from core.infer.llamacpp import Offload

DEFAULT_MAX_TOKENS = 256
DEFAULT_TEMPERATURE = 0.0
SERVER_MODULE = "core.infer.server"  # the child's ``python -m`` module
CLOSE_GRACE_S = 10.0  # a child asked to close gets this long before it is killed


@dataclass
class ModelRef:
    key: str  # how the store knows it (registered name, else the file path)
    path: Path
    label: str
    # a run exported as a GGUF LoRA (``nastavnik export RUN --lora``): ``path`` is the base GGUF,
    # this the run's adapter, applied at load time with the base kept memory-mapped
    lora: Path | None = None

    def to_dict(self) -> dict:
        return {"key": self.key, "path": str(self.path), "label": self.label,
                **({"lora": str(self.lora)} if self.lora else {})}


@dataclass
class Reply:
    text: str
    tokens: int
    seconds: float
    reason: str  # "stop" (end of turn), "length", "cancelled"
    first_token_s: float | None = None

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tokens_per_s"] = round(self.tokens_per_s, 2)
        return d


class ModelRunner(Protocol):
    """What every runner does; ``ref`` names the model, ``last`` is the latest ``Reply`` and
    ``offload`` (after ``load``) what went on the GPU."""

    ref: ModelRef
    last: Reply | None

    def load(self) -> None: ...

    def stream(self, messages: list[dict], *, temperature: float = DEFAULT_TEMPERATURE,
               max_tokens: int = DEFAULT_MAX_TOKENS, cancel: Callable[[], bool] | None = None,
               grammar: str | None = None) -> Iterator[str]: ...

    def reply(self, messages: list[dict], **kw) -> Reply: ...

    def stop(self) -> None: ...

    def context_size(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def count_prompt(self, messages: list[dict]) -> int: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------- finding models


def _ref(path: Path, registered) -> ModelRef:
    """The model at ``path``, known to the store by its registered name when it has one."""
    if registered is not None:
        return _registered(registered)
    return ModelRef(str(path), path, path.stem)


def _registered(m) -> ModelRef:
    """A registered GGUF: a whole model, or a base GGUF with a run's LoRA (``meta["lora"]``)."""
    lora = (m.meta or {}).get("lora")
    return ModelRef(m.name, Path(m.path), m.name, Path(lora) if lora else None)


def _export_file(folder: Path) -> Path | None:
    """The first GGUF of an export folder: as its export.json lists them, else by name."""
    info = folder / "export.json"
    files = []
    if info.is_file():
        files = [Path(f["path"]) for f in json.loads(info.read_text(encoding="utf-8")).get("files", [])]
    files = [f for f in files if f.is_file()] or sorted(folder.glob("*.gguf"))
    return files[0].resolve() if files else None


def _checkpoint_export(ws, ref: str, models) -> ModelRef | None:
    """``RUN@N`` or ``RUN@best``: the newest export of that checkpoint of the run (None: not one)."""
    from core.export.source import split_checkpoint

    run_ref, checkpoint = split_checkpoint(ref)
    if checkpoint is None:
        return None
    step: int | None = int(checkpoint) if checkpoint.isdigit() else None
    if checkpoint == "best":
        with ws.store() as store:
            run = store.find_run(int(run_ref))
        step = run.best_step if run is not None else None
    for m in reversed(models):
        if step is not None and str(m.run_id) == run_ref and m.checkpoint == step:
            return _registered(m)  # a checkpoint exported as a GGUF LoRA: its base GGUF and its adapter
    return None


def resolve_model(ws, ref: str) -> ModelRef:
    """A GGUF by file path, registered name, export folder name, run id (the run's own export) or
    ``RUN@N`` / ``RUN@best`` (an export of that checkpoint)."""
    path = Path(ref).expanduser()
    with ws.store() as store:
        models = store.list_models(kind="gguf")
    # a file path names that file alone, never a base GGUF + LoRA registered on it; a GGUF LoRA's
    # path (or its export folder) names the run's model: base + adapter
    by_path = {str(Path(m.path).resolve()): m for m in models if not (m.meta or {}).get("lora")}
    by_path.update({str(Path(m.meta["lora"]).resolve()): m for m in models if (m.meta or {}).get("lora")})
    if path.is_file():
        path = path.resolve()
        if path.suffix.lower() != ".gguf":
            raise UserError(f"{path} is not a .gguf file", hint="export a model first: `nastavnik export RUN`",
                            code="chat.not_gguf", params={"path": str(path)})
        return _ref(path, by_path.get(str(path)))
    for m in reversed(models):  # newest registrations last
        if m.name == ref:
            return _registered(m)
    for m in reversed(models):  # a run id: the run's own export, not one of its checkpoints'
        if str(m.run_id) == ref and m.checkpoint is None:
            return _registered(m)
    found_checkpoint = _checkpoint_export(ws, ref, models)
    if found_checkpoint is not None:
        return found_checkpoint
    folder = ws.exports_dir / ref
    found = _export_file(folder) if folder.is_dir() else None
    if found is not None:
        return _ref(found, by_path.get(str(found)))
    raise UserError(
        f"no GGUF model called {ref!r}",
        hint="give a .gguf path, a name from `nastavnik models list`, or export one: `nastavnik export RUN`",
        code="chat.no_model", params={"ref": str(ref)},
    )


# ---------------------------------------------------------------------------- running


def _chunk_text(chunk: dict) -> tuple[str, str | None]:
    choice = chunk["choices"][0]
    delta = choice.get("delta") or {}
    return delta.get("content") or "", choice.get("finish_reason")


class _Runner:
    """What both runners share: the model and how it is to be run, a whole answer from the
    stream, and ``with`` closing them."""

    def __init__(self, ref: ModelRef, *, log_file: Path | None = None, n_ctx: int = 2048, seed: int = 0,
                 n_threads: int | None = None, offload: dict | None = None) -> None:
        self.ref = ref
        self.log_file = log_file
        self.n_ctx = n_ctx
        self.seed = seed
        self.n_threads = n_threads
        self.offload_inputs = dict(offload or {})  # the facts the GPU offload is decided from
        self.offload: Offload | None = None  # what was decided, once loaded
        self.last: Reply | None = None

    def load(self) -> None:
        raise NotImplementedError

    def stream(self, messages: list[dict], *, temperature: float = DEFAULT_TEMPERATURE,
               max_tokens: int = DEFAULT_MAX_TOKENS, cancel: Callable[[], bool] | None = None,
               grammar: str | None = None) -> Iterator[str]:
        """Text pieces of the answer (the model loaded first); ``grammar`` (GBNF text)
        constrains it, as llama.cpp's grammar sampler does; afterwards ``last`` is the Reply."""
        self.load()
        return self._answer(messages, temperature, max_tokens, cancel, grammar)

    def _answer(self, messages: list[dict], temperature: float, max_tokens: int,
                cancel: Callable[[], bool] | None, grammar: str | None) -> Iterator[str]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def reply(self, messages: list[dict], **kw) -> Reply:
        for _ in self.stream(messages, **kw):
            pass
        assert self.last is not None
        return self.last

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalRunner(_Runner):
    """``llama_cpp.Llama`` in this process, loaded on first use.

    ``offload``: the facts the GPU offload is decided from (``core.infer.llamacpp.offload_plan``:
    requested layers, free GPU memory, whether a training run holds the card; ``gpus_hidden``
    when this process was started without GPUs, ``core.infer.llamacpp.NO_GPU_ENV``); after loading,
    ``self.offload`` says what was done (``.note`` for the user). No layer on the GPU means no
    GPU device for the model at all (``core.infer.llamacpp.llama_kwargs``).
    """

    def __init__(self, ref: ModelRef, **how: Any) -> None:
        super().__init__(ref, **how)
        self.llm: Any = None  # llama_cpp.Llama once loaded
        self._formatter = None
        self._stopped = threading.Event()

    def load(self) -> None:
        if self.llm is None:
            from core.infer.llamacpp import gpu_supported, load_llama, offload_plan

            inputs = {"requested": None, "free_bytes": None, "training": False, **self.offload_inputs}
            hidden = bool(inputs.pop("gpus_hidden", False))
            self.offload = offload_plan(self.ref.path, gpu_build=gpu_supported(gpus_hidden=hidden), **inputs)
            self.llm = load_llama(self.ref.path, log_file=self.log_file, n_ctx=self.n_ctx, seed=self.seed,
                                  n_threads=self.n_threads, n_gpu_layers=self.offload.layers, lora=self.ref.lora)

    def context_size(self) -> int:
        """The tokens a prompt and its answer may take: the context loaded, at most the trained one."""
        self.load()
        trained = self.llm._model.n_ctx_train() if hasattr(self.llm, "_model") else 0
        return min(self.llm.n_ctx(), trained) if trained > 0 else self.llm.n_ctx()

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0

    def count_prompt(self, messages: list[dict]) -> int:
        """Tokens of the prompt ``messages`` make in the model's chat template."""
        self.load()
        if ChatStream.supported(self.llm):
            if self._formatter is None:
                self._formatter = ChatStream.formatter_for(self.llm)
            return len(ChatStream(self.llm, self._formatter, messages, temperature=0.0, max_tokens=1).prompt_tokens())
        return sum(self.count_tokens(m.get("content") or "") + 8 for m in messages) + 8  # no template to render

    def _grammar(self, grammar: str | None):
        if not grammar:
            return None
        from llama_cpp import LlamaGrammar

        cached = getattr(self, "_grammar_cache", None)
        if cached is None or cached[0] != grammar:
            cached = (grammar, LlamaGrammar.from_string(grammar, verbose=False))
            self._grammar_cache = cached
        return cached[1]

    def _answer(self, messages, temperature, max_tokens, cancel, grammar) -> Iterator[str]:
        from core.infer.llamacpp import StderrSwitch

        self._stopped.clear()

        def stopped() -> bool:
            return self._stopped.is_set() or bool(cancel and cancel())
        compiled = self._grammar(grammar)
        parts: list[str] = []
        tokens = 0
        reason = "length"
        first = None
        start = time.perf_counter()
        lean = None
        gen: Any
        if ChatStream.supported(self.llm):  # the same answer as create_chat_completion, less Python per token
            if self._formatter is None:
                self._formatter = ChatStream.formatter_for(self.llm)
            lean = ChatStream(self.llm, self._formatter, messages, temperature=temperature, max_tokens=max_tokens,
                              cancel=stopped, grammar=compiled)
            gen = iter(lean)
        else:
            gen = self.llm.create_chat_completion(
                messages=messages, stream=True, temperature=temperature, max_tokens=max_tokens,
                **({"top_k": 1} if temperature <= 0 else {}), **({"grammar": compiled} if compiled is not None else {}),
            )
        quiet = StderrSwitch(self.log_file).open()
        try:
            while True:
                with quiet:
                    try:
                        chunk = next(gen)
                    except StopIteration:
                        break
                if lean is not None:
                    piece = chunk
                else:
                    piece, finish = _chunk_text(chunk)
                    if finish:
                        reason = finish
                if piece:
                    if first is None:
                        first = time.perf_counter() - start
                    tokens += 1
                    parts.append(piece)
                    yield piece
                if lean is None and stopped():
                    reason = "cancelled"
                    break
        finally:
            with quiet:
                gen.close()
            quiet.close()
            if lean is not None:
                tokens, reason = lean.tokens, lean.reason
            self.last = Reply("".join(parts), tokens, time.perf_counter() - start, reason, first)

    def stop(self) -> None:
        """Stop the answer being written now (from any thread): it ends at the next token."""
        self._stopped.set()

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None
            self._formatter = None


def _coded(event: dict) -> dict:
    """The code and params of the child's error, when it was a UserError: the app says it in its
    language (the message stays the child's English)."""
    return {"code": event.get("code"), "params": event.get("params")} if event.get("code") else {}


class ChildRunner(_Runner):
    """The model in a child process; llama.cpp's output never reaches this process's fds.

    When its plan puts no layer on a GPU (``core.infer.llamacpp.plans_no_gpu``: asked for 0, a
    training run holds the card, nothing fits) the child starts with ``NO_GPU_ENV``: CUDA shows
    it no device, so it opens no CUDA context and runs nothing on the card.
    """

    def __init__(self, ref: ModelRef, **how: Any) -> None:
        super().__init__(ref, **how)
        self.proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self._send_lock = threading.Lock()  # stop() may write from another thread than stream()
        self._context: int | None = None

    def load(self) -> None:
        if self.proc is not None:
            return
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_file, "ab")
        from core.infer.llamacpp import NO_GPU_ENV, plans_no_gpu

        env: dict[str, str] = {}
        offload = dict(self.offload_inputs)
        if plans_no_gpu(self.ref.path, offload):
            env.update(NO_GPU_ENV)
            offload["gpus_hidden"] = True
        self.proc = spawn_server([str(self.ref.path), str(self.n_ctx), str(self.seed), str(self.n_threads or 0),
                                  json.dumps(offload), *([str(self.ref.lora)] if self.ref.lora else [])],
                                 env=env, log=self._log)
        event = self._read()
        if event.get("event") != "ready":
            self.close()
            raise UserError(event.get("message") or f"the model {self.ref.label} did not load", hint=f"details in {self.log_file}",
                            **_coded(event))
        self._context = event.get("context")
        if event.get("offload") is not None:
            from core.infer.llamacpp import Offload

            self.offload = Offload(**event["offload"])

    def context_size(self) -> int:
        self.load()
        return int(self._context or self.n_ctx)

    def _ask(self, obj: dict) -> dict:
        self.load()
        self._send(obj)
        event = self._read()
        if event.get("event") == "error":
            raise UserError(event.get("message") or "the model process failed", hint=f"details in {self.log_file}",
                            **_coded(event))
        return event

    def count_tokens(self, text: str) -> int:
        return int(self._ask({"op": "count", "text": text})["tokens"])

    def count_prompt(self, messages: list[dict]) -> int:
        return int(self._ask({"op": "count", "messages": messages})["tokens"])

    def _read(self) -> dict:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            return {"event": "error", "message": f"the model process for {self.ref.label} ended unexpectedly",
                    "code": "chat.process_ended", "params": {"model": self.ref.label, "log": str(self.log_file)}}
        return json.loads(line)

    def _send(self, obj: dict) -> None:
        proc = self.proc
        assert proc is not None and proc.stdin is not None
        with self._send_lock:
            try:
                proc.stdin.write(json.dumps(obj, ensure_ascii=False) + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):  # ValueError: closed meanwhile
                pass

    def stop(self) -> None:
        """Stop the answer being written now, from any thread: the request reaches the child
        at once instead of after the next token the stream reads (a first token can take
        seconds on a large model). The child ignores it when it is not answering."""
        if self.proc is not None:
            self._send({"op": "stop"})

    def _answer(self, messages, temperature, max_tokens, cancel, grammar) -> Iterator[str]:
        self._send({"op": "chat", "messages": messages, "temperature": temperature, "max_tokens": max_tokens,
                    **({"grammar": grammar} if grammar else {})})
        parts: list[str] = []
        stop_sent = False
        start = time.perf_counter()
        while True:
            event = self._read()
            kind = event.get("event")
            if kind == "token":
                parts.append(event["text"])
                yield event["text"]
                if cancel is not None and not stop_sent and cancel():
                    self._send({"op": "stop"})
                    stop_sent = True
            elif kind == "done":
                if event.get("text"):
                    parts.append(event["text"])
                    yield event["text"]
                self.last = Reply(
                    "".join(parts), event["tokens"], event["seconds"], event["reason"], event.get("first_token_s")
                )
                return
            else:
                self.last = Reply("".join(parts), len(parts), time.perf_counter() - start, "error")
                raise UserError(event.get("message") or "the model process failed", hint=f"details in {self.log_file}",
                                **_coded(event))

    def close(self) -> None:
        if self.proc is not None:
            end_server(self.proc, ask=lambda: self._send({"op": "close"}))
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


def spawn_server(args: list[str], *, env: dict[str, str], log) -> subprocess.Popen:
    """Start ``python -m core.infer.server ARGS`` with the one child-process helper: JSON lines
    over its stdin and stdout, its stderr into ``log`` (an open binary file; None drops it),
    ``env`` over this process's environment, this checkout first on its path, in this process's
    group (a stop of the app reaches it). The one place the child is started."""
    return start_child(
        [sys.executable, "-m", SERVER_MODULE, *args], env={**child_env(), **env}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True, encoding="utf-8", bufsize=1,
    )


def end_server(proc: subprocess.Popen, *, ask: Callable[[], None] | None = None, grace: float = CLOSE_GRACE_S) -> None:
    """Ask the child to close (``ask``), give it ``grace`` seconds, then stop it with the one
    child-process helper; then close its pipes. The one place the child is ended."""
    stop_child(proc, grace_s=grace, ask=ask)
    for f in (proc.stdin, proc.stdout):
        try:
            f and f.close()
        except OSError:
            pass


def open_model(ws, ref: str, *, in_process: bool = True, n_ctx: int = 2048,
               gpu_layers: int | None = None) -> LocalRunner | ChildRunner:
    """A not-yet-loaded model for ``ref``; ``in_process=False`` for the TUI (a child process,
    with one core fewer than the CLI's every core: ``core.infer.llamacpp.threads``).

    ``gpu_layers``: layers to offload (``chat --gpu-layers``; -1 all); by default all when the
    model fits in the GPU's free memory and no training run is going (``offload_facts``).
    The facts are read now: open (and load) one model after the other, so each plan sees the
    memory the ones before took. A model kept off a GPU that is here runs in a child process
    without GPUs even when ``in_process`` (in this process llama.cpp would still open a CUDA
    context on every GPU: ``core.infer.llamacpp.NO_GPU_KWARGS``).
    """
    from core.infer.llamacpp import plans_no_gpu, threads

    mref = resolve_model(ws, ref)
    facts = offload_facts(ws, gpu_layers)
    if in_process and not (facts["free_bytes"] is not None and plans_no_gpu(mref.path, facts)):
        return LocalRunner(mref, log_file=ws.logs_dir / "llama.log", n_ctx=n_ctx, offload=facts)
    # in a child: beside the app, which draws each piece as it comes, with a core fewer; for the CLI with every core
    return ChildRunner(mref, log_file=ws.logs_dir / "llama.log", n_ctx=n_ctx, offload=facts,
                       n_threads=None if in_process else threads(beside_app=True))


def offload_facts(ws, requested: int | None = None) -> dict:
    """What the GPU offload is decided from, gathered without a CUDA context: nvidia-smi's free
    memory on the first visible GPU, and whether a training run is active in this workspace.
    Asked layers need no look, except 0: whether a GPU is here to keep the model off."""
    from core.train.vram import gpus

    found = gpus() if requested in (None, 0) else None
    free = found[0].free if found else None
    training = False
    if free is not None:
        with ws.store() as store:
            training = store.active_run() is not None
    return {"requested": requested, "free_bytes": free, "training": training}
