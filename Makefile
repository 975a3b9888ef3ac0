PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo lint test bench clean

$(VENV): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)

demo: $(VENV)
	$(BIN)/pqdrop demo

# ruff (rules in pyproject.toml) and mypy --strict over the package: the suite runs only on clean code.
lint: $(VENV)
	$(BIN)/ruff check daemon tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: $(VENV)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
