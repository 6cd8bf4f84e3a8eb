# The two commands of the README. Each installs what it needs first.
.PHONY: setup farm test test-fast lint bench

VENV := .venv
PY := $(VENV)/bin/python

setup:
	./scripts/setup.sh

# A local farm: a private ZooKeeper and 3 agents on loopback; submits the examples.
farm: setup
	$(VENV)/bin/puli-mesh up --agents 3 --submit-examples

# The whole suite (unit, integration, chaos), as CI runs it. Two workers (pytest-xdist): the
# integration tests mostly wait on agents and ZooKeeper, so one process used about half a core.
# Each worker has its own ZooKeeper; tests isolate themselves by cluster name and free ports.
test: setup
	$(PY) -m pytest -q -n 2 --dist worksteal

# Everything but the slow chaos/soak tests.
test-fast: setup
	$(PY) -m pytest -q -n 2 --dist worksteal -m 'not slow'

lint: setup
	$(VENV)/bin/ruff check .
