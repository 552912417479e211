PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The tool alone (what `make demo` needs): no test tools, no Spark, no browser.
RUN_STAMP := $(VENV)/.installed-run
SOURCES := pyproject.toml setup.py $(wildcard s3logq/formats/*.c s3logq/formats/*.h)

.PHONY: install install-run demo test lint bench clean mutate

install: $(STAMP)

install-run: $(RUN_STAMP)

$(RUN_STAMP): $(SOURCES)
	@echo "[1/2] creating $(VENV)" && (test -x $(BIN)/python || $(PY) -m venv $(VENV))
	@echo "[2/2] installing s3logq and what it needs to run (a minute on a fresh clone)"
	@$(BIN)/pip install --disable-pip-version-check -e .
	@touch $(RUN_STAMP)

# Everything, for the tests: the test tools, Spark, Trino's parsers and Debian's chromium for the report test.
$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	bash .ci/system-deps
	touch $(STAMP) $(RUN_STAMP)

demo: install-run
	@$(BIN)/s3logq --lake demo-lake demo --dir demo-logs

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check s3logq tests bench
	$(BIN)/mypy s3logq

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/analyses.py
	$(BIN)/python bench/engines.py
	$(BIN)/python bench/s3.py
	$(BIN)/python bench/report.py

# Slow (tens of minutes), so not in `make test`; needs `$(BIN)/pip install -e '.[mutation]'`. docs/mutation.md
mutate:
	$(BIN)/python tools/mutate.py sql
	$(BIN)/python tools/mutate.py python

clean:
	rm -rf demo-lake demo-logs .pytest_cache
