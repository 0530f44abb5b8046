# DealPulse — two commands: `make demo` and `make test`. Everything else here is what they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test install services chromium bench clean

demo: install  ## set up everything and serve the seeded demo at http://127.0.0.1:5000
	HF_HUB_OFFLINE=1 $(BIN)/dealpulse demo

test: install services chromium  ## set up everything and run every test
	HF_HUB_OFFLINE=1 bash scripts/run-tests.sh

install: $(INSTALLED)

# torch first, pinned to the CPU wheel on disk, so pip never resolves a CUDA build; then the project.
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(INSTALLED)

services:  ## start PostgreSQL and Redis if they are down (tests need both)
	bash scripts/ensure-services.sh

chromium:  ## Debian's Chromium for the browser tests (never a downloaded browser)
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

bench: install  ## every benchmark (tables on stdout, JSON under var/bench/)
	for name in sync scoring api alerts train; do HF_HUB_OFFLINE=1 $(BIN)/dealpulse bench $$name || exit 1; done

clean:
	rm -rf var/ test-output/
