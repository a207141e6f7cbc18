# Two commands matter: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The gpu extra (unsloth, bitsandbytes) only where nvidia-smi sees a GPU.
EXTRAS := train,chat,dev$(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo ,gpu)

.PHONY: run test install bench demo clean-venv tmux

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/nastavnik demo --if-missing
	$(BIN)/nastavnik

test: $(STAMP) tmux
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# The end-to-end terminal tests drive the real binary in tmux. Install it where we can
# (root with apt); elsewhere those tests say they were skipped and why.
tmux:
	@command -v tmux >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq tmux >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq tmux >/dev/null 2>&1)); } || \
	  echo "tmux is not installed: the tmux end-to-end tests will be skipped"

bench: $(STAMP)
	$(BIN)/python bench/store.py

clean-venv:
	rm -rf $(VENV)
