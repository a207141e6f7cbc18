"""The Makefile's builds of llama-cpp-python, on a box whose GPU and compiler are faked: a
``nvidia-smi`` that lists one GPU, an ``nvcc`` or none, a ``cc`` that knows AMX or none. ``make -n``
shows what would run; nothing is built.

Every build is for this CPU without Intel AMX (its kernels crash on Q8_0 models:
core/infer/llamacpp.py, check_build), and it is in place before the project's install looks for it.

On a GPU box with the driver but no CUDA toolkit, ``make install`` says chat runs on the CPU and
names ``make llama-cuda``; that target builds and installs the CUDA wheel on its own (an installed
venv's stamp does not stop it) and, without nvcc, fails saying what is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import REPO

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

NOTE = "nvidia-smi sees a GPU but there is no CUDA toolkit (nvcc)"
SUBMAKE = "--no-print-directory llama-cuda"


def _make(tmp_path: Path, *args: str, gpu: bool = True, nvcc: bool = False, cc: bool = False, dry: bool = True):
    """``make ARGS`` in the repo with only the fakes on PATH (and no toolkit under CUDA_HOME)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, present, body in (("nvidia-smi", gpu, 'echo "GPU 0: NVIDIA Fake 16GB (UUID: GPU-0)"'), ("nvcc", nvcc, "exit 0"),
                                ("cc", cc, "cat >/dev/null; exit 0")):
        tool = bin_dir / name
        if present:
            tool.write_text(f"#!/bin/sh\n{body}\n")
            tool.chmod(0o755)
        elif tool.exists():
            tool.unlink()
    venv_bin = tmp_path / "venv" / "bin"  # a venv "already made": its python is not run
    venv_bin.mkdir(parents=True, exist_ok=True)
    (venv_bin / "python").touch()
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "CUDA_HOME": str(tmp_path / "no-cuda")}
    cmd = [MAKE, *(["-n"] if dry else []), f"STAMP={tmp_path / 'stamp'}", f"BIN={venv_bin}", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_install_on_a_gpu_box_without_nvcc_says_so_and_names_the_command(tmp_path):
    done = _make(tmp_path, "install")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if NOTE in line]
    assert len(lines) == 1 and "chat will run on the CPU" in lines[0] and "make llama-cuda" in lines[0]
    assert SUBMAKE not in done.stdout  # no CUDA build attempted


def test_install_with_nvcc_builds_cuda_and_without_a_gpu_says_nothing(tmp_path):
    with_nvcc = _make(tmp_path, "install", nvcc=True)
    assert with_nvcc.returncode == 0, with_nvcc.stderr
    assert SUBMAKE in with_nvcc.stdout and NOTE not in with_nvcc.stdout
    no_gpu = _make(tmp_path, "install", gpu=False)
    assert no_gpu.returncode == 0 and NOTE not in no_gpu.stdout and SUBMAKE not in no_gpu.stdout


def test_llama_cuda_alone_rebuilds_an_installed_venv(tmp_path):
    """What the chat note advises: with the stamp there, the target still builds (once per
    machine) and force-reinstalls the CUDA wheel, compiling with the nvcc it found."""
    (tmp_path / "stamp").touch()
    done = _make(tmp_path, "llama-cuda", nvcc=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"CUDACXX=\"{tmp_path / 'bin' / 'nvcc'}\" CMAKE_ARGS='-DGGML_CUDA=on" in out and "pip wheel" in out
    assert "pip install --quiet --no-deps --force-reinstall" in out and "llama_cpp_python-0.3.36-" in out


def test_llama_cuda_without_nvcc_fails_saying_what_is_missing(tmp_path):
    done = _make(tmp_path, "llama-cuda", dry=False)  # stops at its first line: nothing is built
    assert done.returncode != 0
    assert "make llama-cuda needs the CUDA toolkit's nvcc" in done.stderr and "CUDA_HOME" in done.stderr
    assert "building" not in done.stdout


NO_AMX = '-DCMAKE_C_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" -DCMAKE_CXX_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"'


def test_the_cpu_build_leaves_amx_out_and_is_in_place_before_the_project_installs(tmp_path):
    done = _make(tmp_path, "install", gpu=False, cc=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"CMAKE_ARGS='{NO_AMX}'" in out and "llama-cpp-python==0.3.36" in out
    assert out.index("llama_cpp_python-0.3.36-") < out.index('pip install --quiet -c constraints.txt -e ".[train,chat,dev]"')
    cuda = _make(tmp_path, "llama-cuda", nvcc=True, cc=True)
    assert f"CMAKE_ARGS='-DGGML_CUDA=on {NO_AMX}'" in cuda.stdout  # the CUDA build's CPU part too


def test_a_compiler_without_amx_switches_builds_with_its_defaults(tmp_path):
    done = _make(tmp_path, "llama-cpu", gpu=False, cc=False)
    assert done.returncode == 0, done.stderr
    assert "CMAKE_ARGS='' " in done.stdout and "-mno-amx" not in done.stdout


def test_a_build_with_amx_kernels_is_refused_before_it_loads(tmp_path):
    from core.errors import UserError
    from core.infer.llamacpp import check_build

    with pytest.raises(UserError, match="AMX") as err:
        check_build("CPU : AVX512 = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | OPENMP = 1 |")
    assert "make llama-cpu" in err.value.hint
    check_build("CPU : AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | OPENMP = 1 |")  # without AMX: nothing to say


def test_the_installed_llama_cpp_is_a_build_that_answers_here():
    llama_cpp = pytest.importorskip("llama_cpp")
    from core.infer.llamacpp import check_build

    check_build(llama_cpp.llama_print_system_info().decode())  # `make` built it without AMX
