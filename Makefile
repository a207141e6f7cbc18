# Two commands matter: `make run` and `make test`. Both build .venv on first use, from the
# same pinned stack (constraints.txt) on the CPU and on an NVIDIA GPU.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONSTRAINTS := constraints.txt
EXTRAS := train,chat,dev
LLAMA_CPP_PYTHON := 0.3.36
# A GPU that nvidia-smi sees and a CUDA toolkit: llama-cpp-python is then built with CUDA, so
# chat, eval and the export's parity check run on the GPU (a CPU build otherwise).
CUDA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && command -v nvcc >/dev/null 2>&1 && echo 1)
CUDA_WHEELS := $(HOME)/.cache/nastavnik/wheels/llama-cpp-python-$(LLAMA_CPP_PYTHON)-cuda

.PHONY: run test install bench bench-smoke demo clean-venv test-tools constraints fix-torchvision llama-cuda llamacpp-files

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	@$(MAKE) --no-print-directory fix-torchvision
ifeq ($(CUDA),1)
	@$(MAKE) --no-print-directory llama-cuda
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

# llama-cpp-python with CUDA, built once per machine and kept outside the venv (pip's own wheel
# cache would hand back the CPU build it made before).
llama-cuda:
	@ls $(CUDA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_PYTHON)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_CPP_PYTHON) with CUDA (once, several minutes)"; \
	  CMAKE_ARGS="-DGGML_CUDA=on" $(BIN)/pip wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
	    -w $(CUDA_WHEELS) llama-cpp-python==$(LLAMA_CPP_PYTHON); }
	$(BIN)/pip install --quiet --no-deps --force-reinstall $(CUDA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_PYTHON)-*.whl

# llama.cpp's converter, its tokenizer test vocabularies and official chat templates, unpacked
# from the pinned llama-cpp-python source into the venv at install time, so export works on a
# box without internet (see README, "An offline box").
llamacpp-files:
	$(BIN)/python -m core.llamacpp fetch

run: $(STAMP)
	$(BIN)/nastavnik demo --if-missing
	$(BIN)/nastavnik

# -n 2: two test workers; each gets one torch thread (tests/conftest.py). --durations: CI
# prints the slowest tests, to keep the suite inside its time budget (README, Development).
test: $(STAMP) test-tools
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=15

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

# Re-resolve the stack from pyproject.toml's ranges in a scratch venv and write constraints.txt
# (its header comment is kept). Then `make clean-venv test` and commit the file.
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet --upgrade pip
	.venv-constraints/bin/pip install --quiet "torch==2.13.0" -e ".[$(EXTRAS)]"
	{ sed -n '/^#/p' $(CONSTRAINTS); \
	  .venv-constraints/bin/pip freeze --exclude-editable | grep -v '^nastavnik' | sed 's/+cpu$$//' | sort -f; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-constraints

bench: $(STAMP)
	$(BIN)/python bench/store.py

# every bench's --smoke, the chat, export and train ones too (make test smokes the quick ones)
bench-smoke: $(STAMP)
	NASTAVNIK_BENCH_SMOKE=all $(BIN)/python -m pytest -q tests/test_bench_smoke.py

clean-venv:
	rm -rf $(VENV)
