# Two entry points: `make run` (whole nightly flow on the embedded synthetic default)
# and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/crossrec run $(ARGS)

# a worker process per core, at most 4 (each runs its own Prefect test server); a test
# file stays on one worker so its module fixtures (clean reference runs) are built once
XDIST ?= -n auto --maxprocesses 4 --dist loadfile

test: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check crossrec flows tests bench

clean:
	rm -rf $(VENV) data
