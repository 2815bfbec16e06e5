# The two commands of README.md: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
DATA_DIR ?= .pilothouse
PYTEST_ARGS ?=

.PHONY: run test test-fast bench setup lock lint clean

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

setup: $(BIN)/.installed

## The main job: the local control plane on the embedded default, plus the demo.
run: setup
	$(BIN)/pilothouse demo --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

## The whole suite, slow tests included (what CI runs).
test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The quick loop: everything but the tests marked slow.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m pytest tests/benchmarks -m benchmark -s $(PYTEST_ARGS)

## Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv
	.tools/bin/uv lock --upgrade
	.tools/bin/uv export --frozen --extra dev --extra aws --no-emit-project --no-header -o requirements.lock

lint: setup
	$(BIN)/ruff check shared functions tests

clean:
	rm -rf $(VENV) .tools .pytest_cache
