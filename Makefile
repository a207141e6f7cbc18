# Two commands matter: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The gpu extra (unsloth, bitsandbytes) only where nvidia-smi sees a GPU.
EXTRAS := train,chat,dev$(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo ,gpu)

.PHONY: run test install bench demo clean-venv test-tools

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

test: $(STAMP) test-tools
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# Tools some tests need, installed where we can (root with apt); elsewhere those tests say
# they were skipped and why. tmux: the end-to-end terminal tests drive the real binary in it.
# go: the Ollama Modelfile tests check our Go-template evaluator against text/template itself.
test-tools:
	@for pair in tmux:tmux go:golang-go; do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get install -y -qq $$pkg >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $$pkg >/dev/null 2>&1)); } || \
	    echo "$$pkg is not installed: the tests that need $$cmd will be skipped"; \
	done

bench: $(STAMP)
	$(BIN)/python bench/store.py

clean-venv:
	rm -rf $(VENV)
