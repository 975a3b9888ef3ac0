PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(VENV): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)

demo: $(VENV)
	$(BIN)/pqdrop demo

test: $(VENV)
	$(BIN)/python -m pytest -q

bench: $(VENV)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
