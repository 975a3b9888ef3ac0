PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: $(VENV) demo lint check test bench docs clean service-test image-test browser

# One venv, two stamps: the project alone (all `make demo` needs), then its test tools for everything
# else (`make .venv`, lint, test, ...). Each is installed again when pyproject.toml changes.
PROJECT := $(VENV)/.project-installed
WITH_TESTS := $(VENV)/.test-tools-installed

$(PROJECT): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(WITH_TESTS): $(PROJECT)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(VENV): $(WITH_TESTS)

demo: $(PROJECT)
	$(BIN)/pqdrop demo

# ruff (rules in pyproject.toml), mypy --strict over the package, and the house's import contracts
# (pyproject's [tool.importlinter]): the suite runs only on clean code.
lint: $(VENV)
	$(BIN)/ruff check daemon tests bench container
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The inner loop: lint and every test not marked slow.
check: lint browser
	$(BIN)/python -m pytest -q -n 2 -m 'not slow'

# Everything, over both cores.
test: lint browser
	$(BIN)/python -m pytest -q -n 2

# The status page is read in a real headless Chromium (tests/web): Debian's, with its driver. Installed
# when missing and we are root (CI's fresh clone runs as root); anyone else is told what to install.
browser:
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	    else \
	        echo "make: the status page test needs Debian's chromium and chromium-driver (apt-get install" \
	             "chromium chromium-driver, as root)" >&2; exit 1; \
	    fi; }

# The units under a real systemd (systemd-box) and the container image (podman-here); both need
# root and a few minutes, so plain `make test` leaves them out. The box and the base image are
# built once per machine and reused.
# The workplace's tools (systemd-box, podman-here) sit beside the checkout, in ../shared/tools; a clone
# made elsewhere (CI's fresh clone) finds them beside the repository it was cloned from.
ORIGIN := $(patsubst %/.git,%,$(patsubst %/.,%,$(shell git config --get remote.origin.url 2>/dev/null)))
TOOLS ?= $(firstword $(wildcard $(CURDIR)/../shared/tools $(ORIGIN)/../shared/tools))
NO_TOOLS = echo "$@: systemd-box and podman-here not found in ../shared/tools beside the checkout; set TOOLS=DIR" >&2; exit 1

service-test: $(VENV)
	@test -n "$(TOOLS)" || { $(NO_TOOLS); }
	PQDROP_TOOLS=$(TOOLS) $(BIN)/python -m pytest -q -p no:cacheprovider tests/service

# compose.yaml is checked and run by podman-compose (Debian's package), installed here when missing.
image-test: $(VENV)
	@test -n "$(TOOLS)" || { $(NO_TOOLS); }
	@command -v podman-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq podman-compose >/dev/null; }
	PQDROP_TOOLS=$(TOOLS) $(BIN)/python -m pytest -q -p no:cacheprovider tests/image

bench: $(VENV)
	$(BIN)/python bench/run.py

# The reference pages' generated tables (CLI, config, platforms, exit codes), from the code; tests/test_docs.py
# fails when they drift.
docs: $(VENV)
	$(BIN)/python -m pqdrop.commands.docs

clean:
	rm -rf $(VENV) build *.egg-info
