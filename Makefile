# The two commands of README.md: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
DATA_DIR ?= .pilothouse
PYTEST_ARGS ?=
## pytest-xdist: two workers; the e2e and infrastructure tests keep to one (tests/conftest.py). XDIST= runs serially.
XDIST ?= -n 2 --dist loadgroup --no-loadscope-reorder
## the dashboard's htmx (copied from node_modules at set-up) and the Chromium its browser tests drive
HTMX := shared/pilothouse/dashboard/static/htmx.min.js
CHROMIUM := /usr/bin/chromium

.PHONY: run test test-fast bench setup setup-dev lock lint typecheck clean layer sls-package infra azure-package gcp-package

## Two locks from one resolution: requirements.lock is what the product needs (all `make run`
## installs); requirements-dev.lock adds the AWS, Azure and GCP SDKs and the test, lint and type-check tools.
$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(BIN)/.dev-installed: $(BIN)/.installed requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	touch $@

setup: $(BIN)/.installed $(HTMX)

setup-dev: $(BIN)/.dev-installed $(HTMX)

## Node tools for the infrastructure checks (serverless@3 packages serverless.yml offline).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## htmx, the dashboard's one script library: an npm package (package.json pins it), copied into the
## dashboard's package data here, at set-up time, so the wheel, the Lambda layer and `pilothouse dev`
## serve it from the package and nothing runs Node at run time (the copy is not committed).
$(HTMX): node_modules/.installed
	cp node_modules/htmx.org/dist/htmx.min.js $@

## Debian's Chromium, which Playwright drives in the dashboard's browser tests (no browser download).
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

## The Lambda layer serverless.yml ships: pilothouse + its dependencies for arm64/python3.13
## (`sam build` builds template.yaml's layers itself). Needs the package index.
LAYER_DIR := build/layer
## the layer's .pyc files are compiled by the runtime's Python (a read-only layer without them
## compiles every module at each cold start; tools/compile_layer.py)
LAYER_PYTHON ?= python3.13
$(LAYER_DIR)/.built: $(HTMX) infra/layer/requirements.txt $(shell find shared/pilothouse -name '*.py' -o -name '*.json' 2>/dev/null)
	rm -rf $(LAYER_DIR) && mkdir -p $(LAYER_DIR)/python
	cp -R shared/pilothouse $(LAYER_DIR)/python/pilothouse
	find $(LAYER_DIR) -name __pycache__ -prune -exec rm -rf {} +
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(LAYER_DIR)/python \
		--platform manylinux2014_aarch64 --implementation cp --python-version 3.13 --only-binary=:all: \
		--no-compile -r infra/layer/requirements.txt
	if command -v $(LAYER_PYTHON) >/dev/null; then $(LAYER_PYTHON) tools/compile_layer.py $(LAYER_DIR)/python; \
	else echo "note: $(LAYER_PYTHON) not found: the layer ships without .pyc (slower cold starts); set LAYER_PYTHON"; fi
	touch $@

layer: $(LAYER_DIR)/.built

## `serverless package` of serverless.yml; LAYER_ARN = the published build/layer (see serverless.yml).
STAGE ?= dev
LAYER_ARN ?= arn:aws:lambda:us-east-1:123456789012:layer:pilothouse-$(STAGE):1
sls-package: node_modules/.installed
	SLS_TELEMETRY_DISABLED=1 node_modules/.bin/serverless package --stage $(STAGE) --param="layerArn=$(LAYER_ARN)"

## checkov (IaC scanner of tests/infrastructure/test_checkov.py) in its own tool venv: its strict
## pins would clash with the product's. Lock: tools/checkov.in -> requirements-checkov.lock.
.tools/checkov/bin/checkov: requirements-checkov.lock
	rm -rf .tools/checkov && $(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-checkov.lock
	touch $@

## The main job: the local control plane on the embedded default, plus the demo.
run: setup
	PILOTHOUSE_PROG=./pilothouse $(BIN)/pilothouse demo --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

## The whole suite, slow tests included (what CI runs), after lint, format, the import-layer
## contract and the type check.
test: lint typecheck node_modules/.installed .tools/checkov/bin/checkov $(CHROMIUM)
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

## The quick loop: everything but the tests marked slow.
test-fast: setup-dev
	$(BIN)/python -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

bench: setup-dev
	$(BIN)/python -m pytest tests/benchmarks -m benchmark -s $(PYTEST_ARGS)

## Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv
	.tools/bin/uv lock --upgrade
	.tools/bin/uv export --frozen --no-emit-project --no-header -o requirements.lock
	.tools/bin/uv export --frozen --extra dev --extra aws --extra azure --extra gcp --no-emit-project --no-header -o requirements-dev.lock

## The function entries of template.yaml and serverless.yml, from shared/pilothouse/catalogue.py.
infra: setup-dev
	$(BIN)/python tools/gen_infra.py

## Lint: ruff's rules and formatting, and the import layers (pyproject.toml [tool.importlinter]).
lint: setup-dev
	$(BIN)/ruff check shared functions tests tools infra
	$(BIN)/ruff format --check shared functions tests tools infra
	$(BIN)/lint-imports

typecheck: setup-dev
	$(BIN)/mypy shared/pilothouse

clean:
	rm -rf $(VENV) .tools .pytest_cache node_modules build .serverless

## The Azure function app as `func azure functionapp publish` (or a zip deploy) takes it: function_app.py,
## host.json and requirements.txt of infra/azure, the functions, template.yaml (the task invoker's
## table) and the pilothouse package, in build/azure. Deploy the resources first (infra/azure/main.bicep).
AZURE_DIR := build/azure
azure-package:
	rm -rf $(AZURE_DIR) && mkdir -p $(AZURE_DIR)
	cp infra/azure/function_app.py infra/azure/host.json infra/azure/requirements.txt template.yaml $(AZURE_DIR)/
	cp -R functions $(AZURE_DIR)/functions
	cp -R shared/pilothouse $(AZURE_DIR)/pilothouse
	find $(AZURE_DIR) -name __pycache__ -prune -exec rm -rf {} +

## The Cloud Run functions' source, zipped as infra/gcp's Terraform uploads it (build/gcp.zip):
## main.py and requirements.txt of infra/gcp, the functions, template.yaml and the pilothouse package.
GCP_DIR := build/gcp
gcp-package:
	rm -rf $(GCP_DIR) $(GCP_DIR).zip && mkdir -p $(GCP_DIR)
	cp infra/gcp/main.py infra/gcp/requirements.txt template.yaml $(GCP_DIR)/
	cp -R functions $(GCP_DIR)/functions
	cp -R shared/pilothouse $(GCP_DIR)/pilothouse
	find $(GCP_DIR) -name __pycache__ -prune -exec rm -rf {} +
	$(PYTHON) -c "import shutil; shutil.make_archive('$(GCP_DIR)', 'zip', '$(GCP_DIR)')"
