# The two commands of the README. Each installs what it needs first.
.PHONY: setup farm test test-fast lint bench

VENV := .venv
PY := $(VENV)/bin/python

setup:
	./scripts/setup.sh

# A local farm: a private ZooKeeper and 3 agents on loopback; submits the examples.
farm: setup
	$(VENV)/bin/puli-mesh up --agents 3 --submit-examples

# The whole suite (unit, integration, chaos), as CI runs it.
test: setup
	$(PY) -m pytest -q

# Everything but the slow chaos/soak tests.
test-fast: setup
	$(PY) -m pytest -q -m 'not slow'

lint: setup
	$(VENV)/bin/ruff check .
