# CineLibre developer entry points. The README's quickstart is `make run` and `make test`;
# each sets up what it needs (Python 3.13 virtual environment, dependencies from uv.lock, model layer,
# and for the tests the pinned Supabase CLI from the npm registry).
#
# Dependencies are locked in uv.lock (every version, with hashes). After editing pyproject.toml's
# dependencies, run `make lock` and commit uv.lock; `make setup` refuses a lock that is out of date.

VENV        := .venv
PY          := $(VENV)/bin/python
MODEL_DIR   := layers/model/build/model
STAMP       := $(VENV)/.installed

# Lambda runs Python 3.13, so the project does too. Prefer python3.13 on PATH, then pyenv's.
PYTHON313 ?= $(shell for c in python3.13 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -1); do \
                 $$c -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { command -v $$c || echo $$c; } && break; done)

UV_VERSION  := 0.13.9
# uv on PATH if there is one, else the one `make setup` installs into the virtual environment with pip.
UV          ?= $(shell command -v uv 2>/dev/null || echo $(VENV)/bin/uv)
# uv uses the Python 3.13 found here and never downloads an interpreter of its own.
export UV_PYTHON_DOWNLOADS := never
SUPABASE_CLI_VERSION := 2.117.0
SUPABASE_CLI := .cache/supabase-cli/node_modules/.bin/supabase

.PHONY: run test test-fast setup layer lint typecheck sam-build clean lock supabase-cli browser-deps

run: setup layer
	$(VENV)/bin/cinelibre serve

test: setup layer browser-deps supabase-cli typecheck
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: setup layer browser-deps
	$(VENV)/bin/pytest -m 'not slow' $(PYTEST_ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml uv.lock
	@if [ -z "$(PYTHON313)" ]; then \
	  echo "CineLibre needs Python 3.13 (the AWS Lambda runtime it deploys to) and found none."; \
	  echo "Install it, e.g. 'pyenv install 3.13' or your OS package python3.13, then run make again."; \
	  echo "Or point at one: make PYTHON313=/path/to/python3.13 ..."; exit 1; fi
	@[ -x $(PY) ] || $(PYTHON313) -m venv $(VENV)
	@command -v $(UV) >/dev/null 2>&1 || $(PY) -m pip install --quiet "uv==$(UV_VERSION)"
	# --locked: install exactly uv.lock, and fail if pyproject.toml changed without `make lock`.
	$(UV) sync --locked --extra dev --python $(PYTHON313)
	@touch $@

# Re-resolve uv.lock from pyproject.toml (keeping current pins where they still fit); `make lock
# LOCK_ARGS=--upgrade` moves everything to the newest allowed versions.
lock:
	@command -v $(UV) >/dev/null 2>&1 || { [ -x $(PY) ] || $(PYTHON313) -m venv $(VENV); $(PY) -m pip install --quiet "uv==$(UV_VERSION)"; }
	$(UV) lock --python 3.13 $(LOCK_ARGS)

# The Supabase CLI the migration-compatibility tests run (tests/db/test_supabase_cli.py), from the npm
# registry, in a git-ignored folder. Without npm the tests say so and skip.
supabase-cli: $(SUPABASE_CLI)

$(SUPABASE_CLI):
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p .cache/supabase-cli && \
	  npm install --prefix .cache/supabase-cli --no-audit --no-fund --save-exact supabase@$(SUPABASE_CLI_VERSION); \
	else echo "npm not found: the Supabase CLI compatibility tests will be skipped"; fi

typecheck: setup
	$(VENV)/bin/mypy

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
