# Two commands: `make run` (the pipeline) and `make test` (the test suite). Both set up .venv first.
# `make test-configs` runs only the .test/ matrix (one small config per stage); `make lint` the checkers.
# TORCH=... picks the torch build (default: the CPU wheel pinned below; e.g. TORCH="torch==2.13.0" with
# --index-url for CUDA builds on a GPU machine). Extra snakemake arguments: make run ARGS="--dry-run".
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CORES ?= 8
ARGS ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.embedlab-installed

.PHONY: setup run test test-configs lint report clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e '.[dev,formats]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1 $(ARGS)

test: setup
	$(BIN)/pytest $(ARGS)

test-configs: setup
	$(BIN)/pytest tests/test_configs.py $(ARGS)

lint: setup
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	for c in .test/*.yaml; do $(BIN)/snakemake --lint --configfile $$c || exit 1; done

report: setup
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1 report $(ARGS)
	$(BIN)/snakemake --report results/report.html

clean:
	rm -rf results logs .snakemake
