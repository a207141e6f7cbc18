# Two commands matter: `make run` and `make test`. Both build .venv on first use, from the
# same pinned stack (constraints.txt) on the CPU and on an NVIDIA GPU.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONSTRAINTS := constraints.txt
EXTRAS := train,chat,dev
LLAMA_CPP_PYTHON := 0.3.36
# A GPU that nvidia-smi sees and a CUDA toolkit (nvcc on PATH or in $(CUDA_HOME)/bin): llama-cpp-python
# is then built with CUDA, so chat and eval can run on the GPU (a CPU build otherwise, said at install).
GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
CUDA_HOME ?= /usr/local/cuda
NVCC := $(shell command -v nvcc 2>/dev/null || { test -x "$(CUDA_HOME)/bin/nvcc" && echo "$(CUDA_HOME)/bin/nvcc"; })
CUDA := $(if $(and $(GPU),$(NVCC)),1)
CUDA_WHEELS := $(HOME)/.cache/nastavnik/wheels/llama-cpp-python-$(LLAMA_CPP_PYTHON)-cuda
# llama.cpp is compiled for this CPU (-march=native) but without Intel AMX: its AMX kernels crash at
# the first token of a Q8_0 model on Xeons that have it (core/infer/llamacpp.py, check_build). Compilers
# too old to know AMX have nothing to switch off. The wheel is built once per machine and kept
# outside the venv: pip's own wheel cache cannot tell it from a build with other flags.
LLAMA_NO_AMX := $(shell echo | $${CC:-cc} -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 -x c -E - >/dev/null 2>&1 && echo "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
LLAMA_CMAKE := $(if $(LLAMA_NO_AMX),-DCMAKE_C_FLAGS="$(LLAMA_NO_AMX)" -DCMAKE_CXX_FLAGS="$(LLAMA_NO_AMX)")
CPU_WHEELS := $(HOME)/.cache/nastavnik/wheels/llama-cpp-python-$(LLAMA_CPP_PYTHON)-cpu

.PHONY: run test lint install bench bench-smoke numerics demo clean-venv test-tools constraints fix-torchvision fix-xformers llama-cpu llama-cuda llamacpp-files

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	@$(MAKE) --no-print-directory llama-cpu
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	@$(MAKE) --no-print-directory fix-torchvision
	@$(MAKE) --no-print-directory fix-xformers
ifeq ($(CUDA),1)
	@$(MAKE) --no-print-directory llama-cuda
else ifeq ($(GPU),1)
	@echo "nvidia-smi sees a GPU but there is no CUDA toolkit (nvcc): llama-cpp-python is a CPU build and chat will run on the CPU; install the CUDA toolkit, then run: make llama-cuda"
endif
	@$(MAKE) --no-print-directory llamacpp-files
	touch $(STAMP)

install: $(STAMP)

# PyPI's torchvision wheel is built against the CUDA torch; next to the CPU torch it fails to
# import ("operator torchvision::nms does not exist") and takes `import unsloth` down with it.
# Where it does not import it is removed; on a GPU box it imports and stays.
fix-torchvision:
	@if $(BIN)/python -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torchvision') else 1)" && \
	   ! $(BIN)/python -c "import torchvision" >/dev/null 2>&1; then \
	  echo "torchvision does not import against this torch build: removing it (Unsloth works without it here)"; \
	  $(BIN)/pip uninstall --quiet -y torchvision; \
	fi

# Unsloth requires xformers, and PyPI's last one (0.0.35) is compiled for torch 2.10+cu128: beside
# our torch its extension does not load, and Unsloth warns on every run and uses PyTorch's own
# attention (SDPA) anyway. Where it was compiled for another torch it is removed, so Unsloth takes
# SDPA without the warning; one compiled for the installed torch stays (tools/stale_xformers.py).
fix-xformers:
	@if reason=$$($(BIN)/python tools/stale_xformers.py); then \
	  echo "$$reason: removing xformers (Unsloth uses PyTorch's attention without it)"; \
	  $(BIN)/pip uninstall --quiet -y xformers; \
	fi

# llama-cpp-python for the CPU (see LLAMA_CMAKE), built once per machine; it replaces a build that
# has AMX kernels (an older venv's). Installed before the project, which then finds it in place.
llama-cpu: | $(BIN)/python
	@ls $(CPU_WHEELS)/llama_cpp_python-$(LLAMA_CPP_PYTHON)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_CPP_PYTHON) for this CPU (once, about 4 minutes)"; \
	  CMAKE_ARGS='$(LLAMA_CMAKE)' $(BIN)/pip wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
	    -w $(CPU_WHEELS) llama-cpp-python==$(LLAMA_CPP_PYTHON); }
	@$(BIN)/python -c "import sys, llama_cpp; sys.exit(b'AMX_INT8 = 1' in llama_cpp.llama_print_system_info())" 2>/dev/null || \
	  $(BIN)/pip install --quiet --no-deps --force-reinstall $(CPU_WHEELS)/llama_cpp_python-$(LLAMA_CPP_PYTHON)-*.whl

# llama-cpp-python with CUDA, built once per machine and kept outside the venv (pip's own wheel
# cache would hand back the CPU build it made before). On its own (`make llama-cuda`) it replaces
# the CPU build of an installed venv; it needs nvcc.
llama-cuda: | $(BIN)/python
	@test -n "$(NVCC)" || { echo "make llama-cuda needs the CUDA toolkit's nvcc (not on PATH, not in $(CUDA_HOME)/bin): install the toolkit, or set CUDA_HOME to it, and run it again" >&2; exit 1; }
	@ls $(CUDA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_PYTHON)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_CPP_PYTHON) with CUDA (once, several minutes)"; \
	  CUDACXX="$(NVCC)" CMAKE_ARGS='-DGGML_CUDA=on $(LLAMA_CMAKE)' $(BIN)/pip wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
	    -w $(CUDA_WHEELS) llama-cpp-python==$(LLAMA_CPP_PYTHON); }
	$(BIN)/pip install --quiet --no-deps --force-reinstall $(CUDA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_PYTHON)-*.whl

# llama.cpp's converter, its tokenizer test vocabularies and official chat templates, unpacked
# from the pinned llama-cpp-python source into the venv at install time, so export works on a
# box without internet (see docs/export-chat-eval.md, "An offline box").
llamacpp-files:
	$(BIN)/python -m core.infer.llamacpp fetch

run: $(STAMP)
	$(BIN)/nastavnik demo --if-missing
	$(BIN)/nastavnik

# -n 2: two test workers; each gets one torch thread (tests/conftest.py). --durations: CI
# prints the slowest tests, to keep the suite inside its time budget (docs/development.md).
test: $(STAMP) test-tools lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=15

# ruff over the repository (pyflakes and pycodestyle's errors) and mypy over core/ (settings in
# pyproject.toml); `make test` runs both before pytest.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Tools some tests need, installed where we can (root with apt); elsewhere those tests say
# they were skipped and why. tmux: the end-to-end terminal tests drive the real binary in it.
# go: the Ollama Modelfile tests check our Go-template evaluator against text/template itself.
# chromium: `nastavnik serve` is tested in a real headless browser.
test-tools:
	@for pair in tmux:tmux go:golang-go chromium:chromium; do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get install -y -qq $$pkg >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $$pkg >/dev/null 2>&1)); } || \
	    echo "$$pkg is not installed: the tests that need $$cmd will be skipped"; \
	done

# Resolve the stack for this machine (as `make install` installs it) and for Linux x86-64 with
# PyPI's CUDA torch on Python 3.11 and 3.14, keeping each pin that still installs everywhere, and
# write constraints.txt (its header comment is kept) and constraints.requires.json (what every
# pin requires on each; tests/test_constraints.py checks it offline). UPGRADE=1: re-resolve from
# pyproject.toml's ranges. Needs PyPI; minutes. Then `make clean-venv test` and commit both files.
constraints: | $(BIN)/python
	$(BIN)/python tools/constraints.py $(if $(UPGRADE),--upgrade)

bench: $(STAMP)
	$(BIN)/python bench/store.py

# every bench's --smoke, the chat, export and train ones too (make test smokes the quick ones),
# and bench/gpu_check.py's whole matrix (--allow-cpu without a GPU)
bench-smoke: $(STAMP)
	NASTAVNIK_BENCH_SMOKE=all $(BIN)/python -m pytest -q tests/test_bench_smoke.py

# what a GPU machine without network lacks for bench/gpu_check.py, in .gpu-kit/ (docs/gpu.md);
# there: `bash .gpu-kit/run.sh`
.PHONY: gpu-kit
gpu-kit: $(STAMP)
	$(BIN)/python tools/gpu_kit.py

# The learning tests (pytest -m learning) under every CPU kernel path this machine has — torch's
# default, avx2 and avx512 code, with MKL and oneDNN held to the same instructions — each with a
# fresh test cache; `tools/numerics.py --demo` runs the demo loop (docs/demo.md) the same way
# (docs/numerics.md). CPUs differ: a test tuned on one must hold on the others.
numerics: $(STAMP)
	$(BIN)/python tools/numerics.py

clean-venv:
	rm -rf $(VENV)
