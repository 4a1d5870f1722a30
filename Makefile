# Two commands on a fresh machine: `make run` and `make test`. Both build .venv from the
# pinned requirements.lock first (only when the lock or pyproject changed).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ferflow-installed
# Stage commands in dvc.yaml call `python`: make it the venv's.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup run test test-fast lint ui benchmark lock clean team-up team-down

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src pipeline tests benchmarks

ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --default-artifact-root ./mlartifacts --host 127.0.0.1 --port 5000

# A team's store on this machine (README "Past one machine"): PostgreSQL, an S3 server and
# `mlflow server` behind basic auth on 127.0.0.1; team-up prints the environment to export.
TEAM_DIR ?= .ferflow/team
team-up: $(STAMP)
	$(BIN)/python -m ferflow.tools.team up $(TEAM_DIR)

team-down: $(STAMP)
	$(BIN)/python -m ferflow.tools.team down $(TEAM_DIR)

benchmark: $(STAMP)
	$(BIN)/python benchmarks/preprocess_vs_naive.py

# Re-resolve the pinned set from pyproject's ranges (run by a maintainer, then commit the lock).
lock:
	rm -rf /tmp/ferflow-lock && $(PYTHON) -m venv /tmp/ferflow-lock
	/tmp/ferflow-lock/bin/pip install --quiet -e ".[dev,kaggle]"
	(echo "# Pinned set that CI tested. Regenerate: make lock (see Makefile)."; \
	 /tmp/ferflow-lock/bin/pip freeze --exclude-editable) > requirements.lock

clean:
	rm -rf $(VENV)
