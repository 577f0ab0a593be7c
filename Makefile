# Customer-service workbench. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYNTH  := data/processed/synthetic/customers.parquet
JOBS   ?= $(shell nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
TEST_JOBS ?= $(JOBS)

.DEFAULT_GOAL := help
.PHONY: help install data report test test-fast lint lab clean-reports

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv (if missing) and install the project with its test tools

$(SYNTH): src/helpers/data/synth.py src/helpers/data/segments.py src/helpers/data/schema.py | $(STAMP)
	$(BIN)/workbench data synth

data: $(SYNTH) ## Generate the synthetic data set if missing (data/processed/synthetic/)

report: $(STAMP) $(SYNTH) ## Run every notebook on the synthetic data, JOBS at a time (default: cores); index at reports/index.html
	$(BIN)/workbench run --all --jobs $(JOBS)

# a test file per worker at once, the files that took longest last time first (tests/conftest.py)
XDIST := -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

test: $(STAMP) ## Run the whole test suite, a test file per core at once (TEST_JOBS=1: one at a time)
	$(BIN)/python -m pytest $(XDIST)

test-fast: $(STAMP) ## Run the tests that start no notebook kernel, a file per core
	$(BIN)/python -m pytest -m "not slow" $(XDIST)

lint: $(STAMP) ## Check the code and the notebooks with ruff (rules in pyproject.toml)
	$(BIN)/ruff check .

lab: $(STAMP) $(SYNTH) ## Start JupyterLab with the project's kernel registered as "Python (cs-workbench)"
	$(BIN)/python -m ipykernel install --user --name cs-workbench --display-name "Python (cs-workbench)"
	$(BIN)/jupyter lab notebooks/

clean-reports: ## Delete every run under reports/ (keeps reports/.gitkeep)
	find reports -mindepth 1 -not -name .gitkeep -delete
