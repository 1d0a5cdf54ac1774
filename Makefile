# Everything runs from a virtual environment at .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
# jsii (under aws-cdk-lib) prints an end-of-life banner on Node 20: silenced for every recipe.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: demo test test-unit test-integration test-deploy lint docs docs-serve bench bench-fleet conformance layer synth deploy admin clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# What `make demo` needs: the library and the local DynamoDB server, not the CDK toolchain.
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[demo]'
	touch $@

# What the unit and integration tests need: the library, pytest, the local DynamoDB server.
$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@ $(VENV)/.demo-installed

# Everything: tests, linters, CDK.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test,lint,cdk]'
	touch $@ $(VENV)/.demo-installed $(VENV)/.test-installed

demo: $(VENV)/.demo-installed
	$(BIN)/python -m scripts.demo

# A local DynamoDB server with the cache table, running until Ctrl-C, to try your own function
# and `make admin` against it: prints the environment lines to use it. Another port or table:
# LOCAL_ARGS="--port 8001 --table my_cache".
.PHONY: local
local: $(VENV)/.demo-installed
	$(BIN)/python -m scripts.local_servers $(LOCAL_ARGS)

# The benchmark: local DynamoDB server and origin, every variant side by side, the cold start
# from the built layer (dist/, built first if missing or stale): init, and the time to the
# first response under AWS's runtime interface client (awslambdaric, installed into
# bench/.cache/). Results and chart go to bench/results/; BENCH_ARGS="--quick" is a smoke run
# (written to bench/results/tmp/).
$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[bench]'
	touch $@ $(VENV)/.demo-installed

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Stampede protection on a simulated fleet: 8 processes of 4 threads on hot keys that expire
# every 2 s, every coordination variant side by side, each from an empty table (the first
# fill, all containers at once, is measured); origin calls per key per fill. Then the defaults
# and stale-while-revalidate again beside 2 CPU-bound processes (a loaded machine), and a
# lease holder killed mid-refresh. About 4 minutes; results and chart go to
# bench/results/fleet.*; BENCH_ARGS="--quick" is a smoke run (bench/results/tmp/, a minute and
# a half). Options (--primed, --load N, ...): .venv/bin/python -m bench.fleet --help
bench-fleet: $(VENV)/.bench-installed
	$(BIN)/python -m bench.fleet $(BENCH_ARGS)

# HTTP caching conformance: the public cache-tests suite (npm http-cache-tests, pinned) against
# this project's session, requests-cache and hishel, side by side. The suite is installed into
# bench/.conformance/ (ignored by git); the results go to bench/results/conformance.md and .json.
# About two minutes; not part of `make test`.
CONFORMANCE_SUITE_VERSION := 0.4.5
CONFORMANCE_DIR := bench/.conformance
$(VENV)/.conformance-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[conformance]'
	touch $@ $(VENV)/.demo-installed

$(CONFORMANCE_DIR)/.suite-$(CONFORMANCE_SUITE_VERSION):
	npm install --prefix $(CONFORMANCE_DIR) --no-save --no-audit --no-fund --loglevel=error \
		http-cache-tests@$(CONFORMANCE_SUITE_VERSION)
	touch $@

# Or the suite's current tests, from a checkout of its git source (the npm release is from
# 2020): make conformance CONFORMANCE_SUITE_DIR=/path/to/cache-tests, plus
# CONFORMANCE_SUITE_COMMIT=<sha> when the checkout has no .git to read its commit from. Its npm
# dependencies are installed into it when missing; the results go to conformance-git.md/.json.
CONFORMANCE_SUITE_DIR ?=
CONFORMANCE_SUITE_COMMIT ?=
ifeq ($(CONFORMANCE_SUITE_DIR),)
conformance: $(VENV)/.conformance-installed $(CONFORMANCE_DIR)/.suite-$(CONFORMANCE_SUITE_VERSION)
	$(BIN)/python -m bench.conformance
else
conformance: $(VENV)/.conformance-installed
	npm ls --prefix "$(CONFORMANCE_SUITE_DIR)" --omit=dev >/dev/null 2>&1 || \
		npm install --prefix "$(CONFORMANCE_SUITE_DIR)" --omit=dev --no-package-lock --no-audit \
			--no-fund --loglevel=error
	$(BIN)/python -m bench.conformance --suite "$(CONFORMANCE_SUITE_DIR)" \
		$(if $(CONFORMANCE_SUITE_COMMIT),--suite-commit "$(CONFORMANCE_SUITE_COMMIT)")
endif

# pytest exits 5 when a selection (PYTEST_ARGS) matches no test: that is not a failure here.
test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

# One layer of the suite, by its folder (its tests carry the same marker, for `pytest -m`):
# unit is pure and takes seconds; integration starts the local DynamoDB server and origin;
# deploy builds the layer (wheels from the package registry) and synthesizes the CDK app
# (Node). A folder, not `-m unit`: -m still imports every test module, the CDK's included.
test-unit test-integration: $(VENV)/.test-installed
test-deploy: $(VENV)/.dev-installed
test-unit test-integration test-deploy:
	$(BIN)/python -m pytest tests/$(patsubst test-%,%,$@) $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The docs extra too: mypy checks the site's build hooks against mkdocs' own types.
lint: $(VENV)/.dev-installed $(VENV)/.docs-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The documentation site (docs/, mkdocs.yml): mkdocs-material and mkdocstrings from the docs
# extra, installed on first use. Strict: a broken link, anchor, reference or included example
# fails the build. The site goes to site/ (ignored by git); docs-serve serves it with reload.
$(VENV)/.docs-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[docs]'
	touch $@

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# The Lambda layer zip(s) and their manifest in dist/, built without Docker (a no-op when the
# zips are up to date; FORCE=1 rebuilds).
layer: $(VENV)/.dev-installed
	$(BIN)/python scripts/build_layer.py $(if $(FORCE),--force)

# CloudFormation templates in cdk.out/: no AWS credentials, no npm, no Docker (only the layer
# build, when the zips are missing or stale, fetches wheels from PyPI).
# cdk-nag's AwsSolutions checks run during synthesis; an unsuppressed error fails it.
synth: layer
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out $(BIN)/python cdk/app.py

# A real deploy (credentials for the target account, `cdk bootstrap` done once per account and
# region), through the CDK command line from npm, pinned. Extra options: CDK_ARGS="...".
CDK_CLI_VERSION := 2.1148.1
deploy: layer
	npx --yes aws-cdk@$(CDK_CLI_VERSION) deploy --all $(CDK_ARGS)

# The cache admin command, e.g. make admin ARGS="stats" (uses your AWS credentials).
admin: $(VENV)/.demo-installed
	$(BIN)/python -m lambda_http_cache $(ARGS)

clean:
	rm -rf $(VENV) dist cdk.out site .pytest_cache .mypy_cache .ruff_cache
