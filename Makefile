# mambano: set up a virtual environment, run the demo, run the tests.
#   make demo    set up, generate a small Poisson set, train MambaNO on the CPU (25 epochs, ~4 min), print the table
#   make test    set up and run the test suite (what CI runs)
# GPU users: make setup TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu124"

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
EXTRAS ?= test
PIP := $(VENV)/bin/python -m pip
MAMBANO := $(VENV)/bin/mambano
STAMP := $(VENV)/.mambano-installed
DEMO_DIR ?= demo
PYTEST_ARGS ?= -m "not slow"

.PHONY: setup demo test test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet $(TORCH_SPEC) $(TORCH_PIP_ARGS)
	$(PIP) install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: setup
	$(MAMBANO) generate poisson --resolution 32 --n-train 128 --n-val 32 --n-test-id 64 --n-test-ood 64 --out $(DEMO_DIR)/data
	$(VENV)/bin/python -c "from mambano_core.ops.native import compile_all; from mambano_core.ops.scan.fused import compile_kernels; all(compile_all().values()) or compile_kernels()"  # build the native kernels once (or JIT the numba fallback), outside the training budget
	$(MAMBANO) train examples/demo.yaml --overwrite --set data.root=$(DEMO_DIR)/data --set output.runs_dir=$(DEMO_DIR)/runs
	$(MAMBANO) eval --ood --runs-dir $(DEMO_DIR)/runs

test: setup
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

test-all: setup
	$(VENV)/bin/python -m pytest -q -m ""

bench: setup
	$(VENV)/bin/python benchmarks/bench_scan.py
	$(VENV)/bin/python benchmarks/bench_models.py
	$(VENV)/bin/python benchmarks/bench_generate.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) *.egg-info .pytest_cache
