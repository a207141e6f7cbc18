"""llama.cpp's converter and llama-cpp-python, without git and without surprises.

The converters (``convert_hf_to_gguf.py`` with its ``conversion/`` package and ``gguf-py/``, and
``convert_lora_to_gguf.py``, which writes a run's adapter as a GGUF LoRA)
comes from the source distribution of the pinned llama-cpp-python, fetched once through
pip and unpacked into a cache folder; only those files are kept. The same pin builds the
``llama_cpp`` module we load GGUF files with, so converter and runtime agree.

llama.cpp writes to the C-level stderr while it loads and generates. ``quiet_stderr``
points file descriptor 2 at a log file for the duration, so a terminal UI never sees it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

from core.errors import UserError
from core.progress import OnProgress, ProgressEvent

LLAMA_CPP_PYTHON = "0.3.36"
# what is kept of the sdist's vendor/llama.cpp/: the converter, the tokenizer test vocabularies
# of the families we build replicas of (vocab-only GGUFs of the real tokenizers, with the test
# strings and ids llama.cpp checks them with) and the official chat templates it tests against
_KEEP = (
    "convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/", "LICENSE", "models/templates/",
    *(f"models/ggml-vocab-{name}.gguf{ext}" for name in ("llama-bpe", "qwen2", "qwen35", "gemma-4") for ext in ("", ".inp", ".out")),
)
# written last: a folder without it is an interrupted or older unpack (-3: with convert_lora_to_gguf.py),
# which the next use unpacks again
_COMPLETE = ".complete-3"
_lock = threading.Lock()

# quant name → llama.cpp file type (enum llama_ftype)
QUANTS = {
    "f32": 0,
    "f16": 1,
    "bf16": 32,
    "q8_0": 7,
    "q4_0": 2,
    "q4_k_m": 15,
    "q5_k_m": 17,
    "q6_k": 18,
}


def converter_cache_root(cache_dir: Path) -> Path:
    """Where a fetch on first use goes: ``$NASTAVNIK_LLAMACPP_CACHE`` if set, else the workspace cache."""
    env = os.environ.get("NASTAVNIK_LLAMACPP_CACHE")
    return Path(env).expanduser() if env else Path(cache_dir)


def installed_dir() -> Path:
    """The copy ``make`` unpacks next to the venv (``python -m core.infer.llamacpp fetch``)."""
    return Path(sys.prefix) / "share" / "nastavnik" / f"llama.cpp-{LLAMA_CPP_PYTHON}"


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (_COMPLETE, "convert_hf_to_gguf.py", "convert_lora_to_gguf.py"))


def converter_dir(cache_dir: Path | None = None, *, progress: OnProgress | None = None) -> Path:
    """The unpacked llama.cpp files: the install-time copy, else a cache, fetched through pip on first use."""
    for candidate in (converter_cache_root(cache_dir or installed_dir().parent) / f"llama.cpp-{LLAMA_CPP_PYTHON}", installed_dir()):
        if _complete(candidate):
            return candidate
    if cache_dir is None:
        raise UserError(
            f"llama.cpp's files (llama-cpp-python=={LLAMA_CPP_PYTHON} source) are not installed",
            hint="run `make install` (it unpacks them into the venv), or `python -m core.infer.llamacpp fetch`",
        )
    return fetch(converter_cache_root(cache_dir) / f"llama.cpp-{LLAMA_CPP_PYTHON}", progress=progress)


def llamacpp_file(rel: str, cache_dir: Path | None = None) -> Path:
    """A file of the unpacked llama.cpp tree, e.g. ``models/templates/Qwen-Qwen3-0.6B.jinja``."""
    path = converter_dir(cache_dir) / rel
    if not path.is_file():
        raise UserError(f"llama.cpp {LLAMA_CPP_PYTHON} has no {rel}", hint="check the name: the files are listed in core/infer/llamacpp.py")
    return path


def fetch(target: Path, *, sdist: Path | None = None, progress: OnProgress | None = None) -> Path:
    """Unpack the kept files of the llama-cpp-python sdist into ``target`` (downloading it through pip
    unless ``sdist`` or a ``llama_cpp_python-VERSION.tar.gz`` beside ``target`` is given)."""
    target = Path(target)
    if _complete(target):
        return target
    with _lock:
        if _complete(target):
            return target
        root = target.parent
        root.mkdir(parents=True, exist_ok=True)
        if progress:
            progress(ProgressEvent("fetch", 0, 1, f"fetching llama-cpp-python=={LLAMA_CPP_PYTHON} source (once)"))
        with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
            tmp_path = Path(tmp)
            source = sdist or _find_sdist(root) or _pip_download(tmp_path)
            staging = tmp_path / "unpacked"
            _extract_converter(source, staging)
            (staging / _COMPLETE).write_text(f"llama-cpp-python=={LLAMA_CPP_PYTHON}\n", encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
    return target


def _find_sdist(root: Path) -> Path | None:
    """A previously downloaded sdist next to the cache (lets an offline machine be seeded)."""
    candidate = root / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"
    return candidate if candidate.is_file() else None


def _pip_download(dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
        "--no-build-isolation", f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d", str(dest),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(dest.glob("llama_cpp_python-*.tar.gz"))
    if not found:
        # metadata preparation can fail without build tools; retry letting pip isolate the build
        cmd.remove("--no-build-isolation")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(dest.glob("llama_cpp_python-*.tar.gz"))
    if not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(
            f"could not fetch the llama.cpp converter (llama-cpp-python=={LLAMA_CPP_PYTHON} source): {tail[0]}",
            hint="check the connection to PyPI, or put llama_cpp_python-"
            f"{LLAMA_CPP_PYTHON}.tar.gz into the cache folder",
        )
    return found[0]


def _extract_converter(sdist: Path, out: Path) -> None:
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
    out.mkdir(parents=True)
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:
            if not member.name.startswith(prefix):
                continue
            rel = member.name[len(prefix):]
            if not rel or not any(rel == k or (k.endswith("/") and rel.startswith(k)) for k in _KEEP):
                continue
            if not (member.isfile() or member.isdir()):
                continue
            dest = out / rel
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            with src, open(dest, "wb") as fh:
                shutil.copyfileobj(src, fh)
    if not (out / "convert_hf_to_gguf.py").is_file():
        raise UserError(f"{sdist.name} holds no convert_hf_to_gguf.py", hint="delete it from the cache and retry")


def convert_hf_to_gguf(
    model_dir: Path,
    out_file: Path,
    *,
    outtype: str,
    cache_dir: Path,
    log_file: Path,
) -> None:
    """Run llama.cpp's converter as a subprocess; its chatter goes to ``log_file``."""
    from core.jobs.process import child_env, run_child

    conv = converter_dir(cache_dir)
    env = child_env(paths=(conv / "gguf-py", conv), TQDM_DISABLE="1")
    env.pop("NO_LOCAL_GGUF", None)  # let the converter use the gguf-py shipped next to it
    cmd = [
        sys.executable, str(conv / "convert_hf_to_gguf.py"), str(model_dir),
        "--outfile", str(out_file), "--outtype", outtype, *converter_flags(Path(model_dir)),
    ]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
    # in the export worker's process group (a cancel reaches it), stopped with grace should the worker be interrupted
    if run_child(cmd, log_path=log_file, env=env, cwd=conv) != 0:
        tail = _tail(log_file)
        raise UserError(
            f"llama.cpp's converter failed on {model_dir} ({tail})",
            hint=f"the full output is in {log_file}",
        )


def convert_lora_to_gguf(adapter_dir: Path, base_dir: Path, out_file: Path, *, cache_dir: Path, log_file: Path,
                         outtype: str = "f16") -> None:
    """Write a PEFT adapter as a GGUF LoRA with llama.cpp's ``convert_lora_to_gguf.py`` (a subprocess,
    its chatter to ``log_file``); ``base_dir`` gives the base's config (no weights are read)."""
    from core.jobs.process import child_env, run_child

    conv = converter_dir(cache_dir)
    env = child_env(paths=(conv / "gguf-py", conv), TQDM_DISABLE="1")
    env.pop("NO_LOCAL_GGUF", None)
    cmd = [sys.executable, str(conv / "convert_lora_to_gguf.py"), str(adapter_dir), "--base", str(base_dir),
           "--outfile", str(out_file), "--outtype", outtype]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
    if run_child(cmd, log_path=log_file, env=env, cwd=conv) != 0 or not Path(out_file).is_file():
        raise UserError(f"llama.cpp's LoRA converter failed on {adapter_dir} ({_tail(log_file)})",
                        hint=f"the full output is in {log_file}; `nastavnik export RUN --merged` exports the whole model instead",
                        code="export.lora_convert_failed", params={"adapter": str(adapter_dir), "log": str(log_file)})


# architectures whose checkpoints carry a multi-token-prediction head (`mtp.*` tensors) that
# transformers does not load: a model merged through transformers has none, and the converter
# then asserts unless told to leave the head out
_MTP_ARCHES = ("Qwen3_5", "Qwen3Next")


def converter_flags(model_dir: Path) -> list[str]:
    """Extra converter arguments this checkpoint needs."""
    import json

    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not any(a.startswith(_MTP_ARCHES) for a in config.get("architectures") or []):
        return []
    names: set[str] = set()
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        names = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}))
    else:
        from safetensors import safe_open

        for file in model_dir.glob("*.safetensors"):
            with safe_open(str(file), "pt") as fh:
                names.update(fh.keys())
    has_mtp = any(n.startswith(("mtp.", "model.mtp.")) for n in names)
    return [] if has_mtp else ["--no-mtp"]  # the GGUF runs without it; speculative decoding needs a separate --mtp export


def _tail(path: Path, n: int = 1) -> str:
    try:
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return " | ".join(lines[-n:]) if lines else "no output"


def quantize(src: Path, dst: Path, quant: str, *, log_file: Path) -> None:
    """Quantize a GGUF with llama.cpp's own quantizer (in this process, stderr to the log)."""
    ftype = QUANTS.get(quant)
    if ftype is None:
        raise UserError(f"unknown quantization {quant!r}", hint="use one of: " + ", ".join(QUANTS))
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads()
    with quiet_stderr(log_file):
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise UserError(
            f"llama.cpp could not quantize {src.name} to {quant} (code {rc})",
            hint=f"K-quants need tensor rows that are multiples of 256; details in {log_file}",
        )


_stderr_lock = threading.RLock()


@contextmanager
def quiet_stderr(log_file: Path | None) -> Iterator[None]:
    """Send C-level stderr (fd 2) to ``log_file`` while the block runs (``None``: leave it).

    Only fd 2 moves: stdout stays where it is, so a running Textual screen (which draws on
    stdout) is untouched. Re-entrant and serialised across threads.
    """
    if log_file is None:  # a child process whose stderr already is the log
        yield
        return
    with _stderr_lock:
        try:
            sys.stderr.flush()
        except Exception:
            pass
        log_file.parent.mkdir(parents=True, exist_ok=True)
        target = os.open(str(log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        saved = os.dup(2)
        # llama-cpp-python's log callback prints through Python's sys.stderr, not fd 2
        py_log = open(log_file, "a", encoding="utf-8", errors="replace")
        py_saved = sys.stderr
        try:
            os.dup2(target, 2)
            sys.stderr = py_log
            yield
        finally:
            sys.stderr = py_saved
            py_log.close()
            os.dup2(saved, 2)
            os.close(saved)
            os.close(target)


# `make install` is a no-op once the venv is installed, and builds CUDA only where nvcc is found:
# `make llama-cuda` is the command that (re)builds and installs the CUDA wheel on its own
CPU_BUILD_NOTE = ("a GPU is here but llama-cpp-python was built without CUDA: answering on the CPU "
                  "(`make llama-cuda` rebuilds it with CUDA; it needs the CUDA toolkit's nvcc)")

# The Llama() arguments that keep a model off every GPU of a GPU build. n_gpu_layers=0 alone does
# not (llama.cpp 0.3.36): the device list defaults to every GPU (src/llama.cpp:278-279), the
# context opens a backend on each (src/llama-context.cpp:334-339), CPU weights go to the GPU's
# pinned host buffer (src/llama-model.cpp:1093-1101) and op_offload, true by default
# (llama-context.cpp:3787), sends every batch of 32+ tokens to it (ggml-cuda.cu:5654, 5825). split_mode
# NONE with main_gpu -1 empties the device list (src/llama.cpp:289-291); op_offload off as well.
# What stays: the device enumeration before that (src/llama.cpp:237) reads each GPU's free memory
# (ggml-cuda.cu:5055-5058, cudaSetDevice + cudaMemGetInfo: a CUDA context on every GPU). A child started with
# NO_GPU_ENV sees no GPU at all, so that is how a model that must not touch the card runs
# (core.infer.runner.ChildRunner).
LLAMA_SPLIT_MODE_NONE = 0  # llama_cpp.LLAMA_SPLIT_MODE_NONE
NO_GPU_KWARGS = {"split_mode": LLAMA_SPLIT_MODE_NONE, "main_gpu": -1, "op_offload": False}
NO_GPU_ENV = {"CUDA_VISIBLE_DEVICES": ""}


@dataclass(frozen=True)
class Offload:
    """How many layers llama.cpp puts on the GPU (-1: all, 0: none) and what to tell the user about it."""

    layers: int
    note: str | None = None


def offload_plan(path: Path, *, requested: int | None = None, gpu_build: bool, free_bytes: int | None,
                 training: bool = False) -> Offload:
    """The ``n_gpu_layers`` to load ``path`` with, from plain facts (tested without a GPU):

    ``requested`` (``chat --gpu-layers N``) wins; without a GPU (``free_bytes`` None) or a GPU
    build of llama-cpp-python, nothing is offloaded (and a GPU next to a CPU build is said);
    while a training run holds the card, the model answers on the CPU; otherwise every layer
    goes to the GPU when the file and its context fit in the free memory, else as many as fit.
    """
    if requested is not None:
        return Offload(requested, f"{'all' if requested < 0 else requested} layers on the GPU, as asked" if requested else None)
    if free_bytes is None:
        return Offload(0)
    if not gpu_build:
        return Offload(0, CPU_BUILD_NOTE)
    if training:
        return Offload(0, "a training run is using the GPU: answering on the CPU (`nastavnik chat --gpu-layers -1` offloads anyway)")
    size = Path(path).stat().st_size
    need = size * 1.1 + 512 * 2**20  # weights, then the KV cache and compute buffers of a 2k context
    if need <= free_bytes:
        return Offload(-1, "all layers on the GPU")
    from core.infer.gguf_meta import read_metadata

    meta = read_metadata(path, skip_arrays=True)
    blocks = int(meta.get(f"{meta.get('general.architecture', '')}.block_count") or 0)
    fit = int(blocks * max(0.0, free_bytes - 512 * 2**20) / (size * 1.1)) if blocks else 0
    gib = 2**30
    return Offload(fit, f"the model ({size / gib:.1f} GiB) does not fit in the GPU's {free_bytes / gib:.1f} GiB free: "
                        f"{fit} of {blocks} layers on the GPU, the rest on the CPU")


def plans_no_gpu(path: Path, facts: dict) -> bool:
    """Whether ``offload_plan`` gives ``path`` no GPU layer even on a GPU build (asked for 0, no GPU
    seen, a training run holds the card, or not one layer fits): its process then needs no GPU."""
    inputs = {"requested": None, "free_bytes": None, "training": False, **facts}
    inputs.pop("gpus_hidden", None)
    try:
        return offload_plan(path, gpu_build=True, **inputs).layers == 0
    except OSError:  # no file to plan for: the loader says so
        return True


# the backends CUDA_VISIBLE_DEVICES hides the devices of (HIP reads it too)
_CUDA_BACKENDS = ("CUDA", "ROCm", "MUSA")


def gpu_supported(*, gpus_hidden: bool = False) -> bool:
    """Whether this llama-cpp-python build can offload to a GPU (imports llama_cpp).

    ``gpus_hidden``: in a process started with ``NO_GPU_ENV`` a CUDA build sees no device and
    ``llama_supports_gpu_offload`` says no; the build is then read from the backends llama.cpp
    registered (``llama_print_system_info`` lists each, "CUDA : ARCHS = … |", devices or not)."""
    try:
        import llama_cpp
    except ImportError:
        return False
    if llama_cpp.llama_supports_gpu_offload():
        return True
    if not gpus_hidden:
        return False
    import re

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    return any(name in _CUDA_BACKENDS for name in re.findall(r"([A-Za-z][\w.-]*) : ", info))


def threads(*, beside_app: bool = False) -> int:
    """The CPU threads llama.cpp gets: ``$NASTAVNIK_THREADS``, else every core. On a box whose
    cores are busy with something else (a training run, another user), fewer threads answer
    faster: llama.cpp's threads wait for each other at every layer, and one that is not
    scheduled holds up the rest.

    ``beside_app``: for a model answering in a child process of the app, which renders every
    piece as it comes: one core is left to the app (on 2 cores one thread streamed 38 tokens/s
    to the screen, two threads 33: bench/chat.py)."""
    value = os.environ.get("NASTAVNIK_THREADS", "").strip()
    if not value:
        cores = max(1, os.cpu_count() or 1)
        return max(1, cores - 1) if beside_app else cores
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"NASTAVNIK_THREADS={value!r} is not a number of threads",
                        hint="set it to a whole number of 1 or more, or unset it to use every core")
    return int(value)


def llama_kwargs(n_gpu_layers: int = 0) -> dict:
    """The GPU arguments ``llama_cpp.Llama`` gets: no layer on the GPU means no GPU device at all
    (``NO_GPU_KWARGS``), not just ``n_gpu_layers=0``."""
    return {"n_gpu_layers": n_gpu_layers, **(NO_GPU_KWARGS if n_gpu_layers == 0 else {})}


# Intel AMX (Sapphire Rapids and later Xeons): llama.cpp 0.3.36's AMX kernels crash at the first token
# of a Q8_0 model (SIGSEGV in ggml_backend_amx_mul_mat; measured 2026-12-07 on a Xeon with AMX-INT8,
# where F16 and a build without AMX answer; llama.cpp #20824 is the same crash, #16315 wrong Q4_0
# results). `make` builds llama-cpp-python without AMX (Makefile: llama-cpu); a build with it is
# refused before it can take the app or the CLI down.
AMX_BUILD = "AMX_INT8 = 1"


def check_build(system_info: str) -> None:
    """Refuse a llama.cpp build that would crash here (``llama_print_system_info``'s text)."""
    if AMX_BUILD in system_info:
        raise UserError(
            "this llama-cpp-python was built with Intel AMX kernels, which crash on quantized models (llama.cpp #20824)",
            hint="rebuild it without them: `make llama-cpu` (`make llama-cuda` on a GPU box)",
            code="chat.amx_build",
        )


def load_llama(path: Path, *, log_file: Path | None, n_ctx: int = 2048, seed: int = 0, n_gpu_layers: int = 0,
               lora: Path | None = None, **kw):
    """Open a GGUF with llama-cpp-python; every byte llama.cpp prints goes to ``log_file``.
    ``n_gpu_layers`` 0 (the default) keeps the model off every GPU (``llama_kwargs``).

    ``lora``: a GGUF LoRA applied on top (``attach_lora``); the base stays memory-mapped, where
    ``Llama(lora_path=…)`` would turn mmap off and read the whole base into anonymous memory."""
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise UserError(
            "llama-cpp-python is not installed",
            hint="install the chat extra: pip install 'nastavnik[chat]'",
            code="chat.no_llama",
        ) from exc
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no GGUF file at {path}", hint="`nastavnik models list` shows the exported models",
                        code="chat.no_file", params={"path": str(path)})
    if lora is not None and not Path(lora).is_file():
        raise UserError(f"no GGUF LoRA at {lora}", hint="export the run again: `nastavnik export RUN --lora`",
                        code="chat.no_file", params={"path": str(lora)})
    check_build(llama_cpp.llama_print_system_info().decode("utf-8", "replace"))
    with quiet_stderr(log_file):
        try:
            n = kw.pop("n_threads", None) or threads()
            llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, seed=seed, verbose=False,
                n_threads=n, n_threads_batch=kw.pop("n_threads_batch", None) or n, **llama_kwargs(n_gpu_layers), **kw,
            )
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"llama.cpp cannot load {path}: {exc}", hint=f"details in {log_file}", code="chat.cannot_load",
                            params={"path": str(path), "why": str(exc), "log": str(log_file)}) from exc
        if lora is not None:
            try:
                attach_lora(llm, Path(lora))
            except RuntimeError as exc:
                llm.close()
                raise UserError(f"llama.cpp cannot apply {lora} to {path}: {exc}", hint=f"details in {log_file}",
                                code="chat.cannot_load", params={"path": str(lora), "why": str(exc), "log": str(log_file)}) from exc
    return llm


def attach_lora(llm, lora: Path, scale: float = 1.0) -> None:
    """Apply a GGUF LoRA to an open ``Llama`` through llama.cpp's own calls (the adapter is added
    to each matmul when the graph runs; the base's mmapped weights are untouched). The adapter
    is freed before the model when ``llm.close()`` runs."""
    import ctypes

    import llama_cpp

    adapter = llama_cpp.llama_adapter_lora_init(llm._model.model, str(lora).encode("utf-8"))
    if not adapter:
        raise RuntimeError(f"the adapter {lora.name} does not fit this model")
    llm._stack.callback(lambda: llama_cpp.llama_adapter_lora_free(adapter))  # closed first: after the model's callbacks
    adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
    scales = (ctypes.c_float * 1)(scale)
    if llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, adapters, 1, scales):
        raise RuntimeError(f"the adapter {lora.name} could not be set on the context")


class StderrSwitch:
    """fd 2 → ``log_file`` switched on and off with two ``dup2`` calls, for per-token use.

    ``quiet_stderr`` opens the log each time (tens of µs); a streaming loop instead opens it
    once, then wraps each step in ``with switch:``. ``None`` as the log leaves fd 2 alone.
    """

    def __init__(self, log_file: Path | None) -> None:
        self.log_file = log_file
        self._target: int | None = None
        self._saved: int | None = None
        self._py_log: TextIO | None = None
        self._py_saved: TextIO | None = None

    def open(self) -> "StderrSwitch":
        if self.log_file is not None and self._target is None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._target = os.open(str(self.log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._saved = os.dup(2)
            self._py_log = open(self.log_file, "a", encoding="utf-8", errors="replace")
        return self

    def __enter__(self) -> None:
        if self._target is not None:
            _stderr_lock.acquire()
            os.dup2(self._target, 2)
            assert self._py_log is not None  # open() set it with the target
            self._py_saved, sys.stderr = sys.stderr, self._py_log

    def __exit__(self, *exc) -> None:
        if self._target is not None:
            sys.stderr = self._py_saved
            assert self._saved is not None  # open() set both
            os.dup2(self._saved, 2)
            _stderr_lock.release()

    def close(self) -> None:
        for fd in (self._target, self._saved):
            if fd is not None:
                os.close(fd)
        if self._py_log is not None:
            self._py_log.close()
        self._target = self._saved = self._py_log = None


def main(argv: list[str] | None = None) -> int:
    """``python -m core.infer.llamacpp fetch [--sdist FILE] [--dest DIR]``: what ``make install`` runs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m core.infer.llamacpp", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("fetch", help="unpack llama.cpp's converter, vocabularies and templates")
    cmd.add_argument("--sdist", type=Path, help=f"a downloaded llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz (offline)")
    cmd.add_argument("--dest", type=Path, default=installed_dir(), help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        folder = fetch(args.dest, sdist=args.sdist, progress=lambda e: print(e.message, flush=True))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"llama.cpp {LLAMA_CPP_PYTHON} files in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
