# Everything runs from a virtual environment at .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: demo test lint bench layer synth deploy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# What `make demo` needs: the library and the local DynamoDB server, not the CDK toolchain.
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[demo]'
	touch $@

# Everything: tests, linters, CDK.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test,lint,cdk]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/python -m scripts.demo

# pytest exits 5 when a selection (PYTEST_ARGS) matches no test: that is not a failure here.
test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) dist cdk.out .pytest_cache .mypy_cache .ruff_cache
