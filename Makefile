# malloc-lab: `make run` runs the lab on this machine, `make test` runs every test, `make quick` the fast ones.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ANSIBLE_ARGS ?=

.PHONY: run test quick test-deps unit lint pyz venv venv-run collections bench lock clean help

help:
	@echo "make run    - run the lab on this machine (ansible-playbook run.yml), results under runs/"
	@echo "make test   - every test, linters included, in parallel (TEST_WORKERS=$(TEST_WORKERS))"
	@echo "make quick  - unit, report and light lint tests, none marked slow: under a minute, while you work"
	@echo "make bench  - benchmarks, written to docs/benchmarks.md"
	@echo "make pyz    - build build/labagent.pyz (the agent as one file)"

# What a run needs (make run); the tests' and linters' packages on top (make venv, test, lint, ...).
$(STAMP): requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(STAMP)-dev: $(STAMP) requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

venv-run: $(STAMP)

venv: $(STAMP)-dev

collections: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/install-collections.sh

pyz: build/labagent.pyz

build/labagent.pyz: $(wildcard labagent/*.py) labagent/allocate.c scripts/build-pyz.py
	$(PYTHON) scripts/build-pyz.py $@

run: venv-run collections
	$(BIN)/ansible-playbook run.yml $(ANSIBLE_ARGS)

# The system packages of tests/system-packages.txt: installed when root, named otherwise.
test-deps:
	scripts/install-test-deps.sh

# Parallel workers for `make test` (pytest-xdist). Many tests wait (sleep-paced workloads, sshd, moto),
# but the suite is CPU-bound and a worker more than that costs more CPU than its overlap saves: one more
# than the CPUs, at least 3 and at most 8 (on 2 cores: 3 workers 220 s, 4 workers 233 s, 2 workers 246 s).
# Tests that share a module-scoped fixture run on one worker (--dist loadgroup, tests/conftest.py).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); w=$$((n + 1)); [ $$w -lt 3 ] && w=3; [ $$w -gt 8 ] && w=8; echo $$w)

PYTEST_ARGS ?=

# The suite starts about a thousand Pythons (ansible-playbook and its workers, the agent, the tests'
# helpers). Where the environment sets PYTHONDONTWRITEBYTECODE (some CI images and sandboxes do), every
# one of them compiles the checkout's modules (labagent, the plugins, the tests) again; the test targets
# let Python keep that bytecode in __pycache__ (gitignored): about 9 % of the suite's CPU on this machine.
PYTEST = env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest

test: test-deps venv collections
	$(PYTEST) -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS) tests

# What a developer runs while working: no real runs, no ansible-playbook, no ansible-lint.
quick: venv
	$(PYTEST) -m "not slow" $(PYTEST_ARGS) tests/unit tests/report tests/lint

unit: venv
	$(PYTEST) tests/unit

lint: venv collections
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --profile production

bench: venv collections
	$(BIN)/python -m bench

lock: venv
	$(BIN)/pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf build .pytest_cache
