# LIBRA: the two set-up commands are `make run` and `make test`.
# `make run` installs LIBRA alone (what a daemon needs); `make test` adds the test tools and
# every optional extra the suite exercises (pyarrow, optuna, freqtrade, ray).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/libra.toml
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint bench clean install constraints container-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# --no-compile: byte-compiling every module of every dependency (ccxt ships thousands) is
# two thirds of the install's time; Python compiles the few the daemon imports on first use.
$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --no-compile -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP) $(RUN_STAMP)

install: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/libra run --config $(CONFIG)

test: $(DEV_STAMP)
	sh scripts/ensure-test-tools.sh
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(DEV_STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# Pin the Docker image's dependencies (every platform, with hashes) to the newest versions
# pyproject.toml allows; commit the result. The image installs nothing else.
UV_COMPILE := $(BIN)/uv pip compile --quiet --upgrade --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make constraints'
constraints: $(DEV_STAMP)
	$(UV_COMPILE) pyproject.toml -o requirements/constraints.txt
	$(UV_COMPILE) pyproject.toml --extra notify --extra nats -c requirements/constraints.txt \
		-o requirements/constraints-extras.txt
	$(UV_COMPILE) requirements/build.in -o requirements/build.txt

# Build the image from a local Debian base and run it as an operator would (needs root).
container-test:
	bash scripts/container-test.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build dist *.egg-info
