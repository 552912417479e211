PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean mutate

install: $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard s3logq/formats/*.c s3logq/formats/*.h)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	bash .ci/system-deps
	touch $(STAMP)

demo: install
	$(BIN)/s3logq --lake demo-lake demo --dir demo-logs

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
