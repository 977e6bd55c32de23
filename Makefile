# CineLibre developer entry points. The README's quickstart is `make run` and `make test`;
# each sets up what it needs (Python 3.13 virtual environment, dependencies, model layer).

VENV        := .venv
PY          := $(VENV)/bin/python
MODEL_DIR   := layers/model/build/model
STAMP       := $(VENV)/.installed

# Lambda runs Python 3.13, so the project does too. Prefer python3.13 on PATH, then pyenv's.
PYTHON313 ?= $(shell for c in python3.13 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -1); do \
                 $$c -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { command -v $$c || echo $$c; } && break; done)

.PHONY: run test test-fast setup layer lint sam-build clean browser-deps

run: setup layer
	$(VENV)/bin/cinelibre serve

test: setup layer browser-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: setup layer browser-deps
	$(VENV)/bin/pytest -m 'not slow' $(PYTEST_ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON313)" ]; then \
	  echo "CineLibre needs Python 3.13 (the AWS Lambda runtime it deploys to) and found none."; \
	  echo "Install it, e.g. 'pyenv install 3.13' or your OS package python3.13, then run make again."; \
	  echo "Or point at one: make PYTHON313=/path/to/python3.13 ..."; exit 1; fi
	@[ -x $(PY) ] || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

layer: $(MODEL_DIR)/manifest.json

# Rebuilt when the recipe changes, so a local layer never goes stale.
$(MODEL_DIR)/manifest.json: layers/model/build.py layers/model/bert_graph.py | $(STAMP)
	$(PY) layers/model/build.py --out layers/model/build

# `sam build` needs python3.13 on PATH: the virtual environment provides it.
sam-build: setup layer
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build

lint: setup
	$(VENV)/bin/ruff check src functions tests bench layers

clean:
	rm -rf $(VENV) .aws-sam layers/model/build .pytest_cache

# Debian's chromium and Noto fonts for tests/web (installed when missing and root; otherwise those tests skip).
browser-deps:
	@tests/web/install-browser.sh
