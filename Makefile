# Everything a fresh machine needs: `make demo` and `make test` create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.polyhead-installed

.PHONY: demo test test-fast lint format bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The machine carries a CPU build of torch 2.13.0; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "torch==2.13.0"
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m polyhead.demo

# Two workers (pytest-xdist), a test file each at a time: files share module fixtures.
# TEST_WORKERS=0 runs in one process (for pdb / -s); tests/conftest.py gives each worker its threads.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test: $(STAMP)
	$(PY) -m pytest $(XDIST)

# The edit-test loop: everything but the real-model / real-data tests (under 90 s here).
test-fast: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

clean-venv:
	rm -rf $(VENV)
