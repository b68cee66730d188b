# gradgen developer commands. Every target does its own set-up (virtualenv, editable install,
# Debian's librust-libm-dev and librust-pyo3-dev for offline no_std and PyO3 builds when missing
# and running as root).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help setup system-deps demo test bench dump fuzz lint clean

help: ## List every target
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) system-deps ## Create .venv with gradgen (editable) and the dev tools

system-deps: ## Install Debian's librust-libm-dev and librust-pyo3-dev (offline builds) if missing
	@for pkg in librust-libm-dev librust-pyo3-dev; do \
	  if ! dpkg -s $$pkg >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkg; \
	    else echo "warning: $$pkg is missing; run as root or install it (offline no_std and PyO3 builds)"; fi; \
	  fi; \
	done
	@command -v cargo >/dev/null || { echo "error: cargo is not installed (https://rustup.rs)"; exit 1; }

demo: setup ## Generate a crate from examples/energy.py, build it with cargo and run it
	$(PY) examples/demo.py --out build/demo

test: setup ## Run the whole test suite
	$(PY) -m pytest -q

bench: setup ## Benchmarks side by side with the peers (tests/benchmarks)
	$(PY) -m tests.benchmarks.run

dump: setup ## Show what every pass does to the example function
	$(VENV)/bin/gradgen-dump examples/energy.py:energy --kernel jacobian --wrt 0 --level medium --print-ir-after-all --stats --time-passes

fuzz: setup ## Random-program tests with many more examples than CI runs
	GRADGEN_FUZZ_EXAMPLES=2000 $(PY) -m pytest -q tests/test_random_programs.py

lint: setup ## mypy --strict, ruff check and ruff format --check
	$(VENV)/bin/mypy --strict -p gradgen
	$(VENV)/bin/ruff check gradgen ir passes backends tests examples
	$(VENV)/bin/ruff format --check gradgen ir passes backends tests examples

clean: ## Remove build output (keeps .venv)
	rm -rf build .pytest_cache .hypothesis
