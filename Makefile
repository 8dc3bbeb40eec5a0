# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Offline hygiene: no hub downloads, no telemetry. Override, e.g. `make run HF_HUB_OFFLINE=0`.
export HF_HUB_OFFLINE ?= 1
export MLFLOW_DISABLE_TELEMETRY ?= true
export DVC_NO_ANALYTICS ?= 1
export GX_ANALYTICS_ENABLED ?= false
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help install run test test-full lint dag report-check server server-stop server-status clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,team]'
	touch $(STAMP)

install: $(STAMP) ## Create or update .venv with the project and its dev tools

run: $(STAMP) ## Run the pipeline (dvc repro) on params.yaml
	$(BIN)/dvc repro

test: $(STAMP) ## Run the fast test suite
	$(BIN)/pytest

test-full: $(STAMP) ## Run every test, slow ones included
	$(BIN)/pytest -m ''

lint: $(STAMP) ## Static checks (ruff)
	$(BIN)/ruff check src stages tests benchmarks

dag: $(STAMP) ## Print the pipeline graph
	$(BIN)/dvc dag

server: $(STAMP) ## Start the team's PostgreSQL, S3 store and MLflow server (workspace.yaml `team`)
	$(BIN)/dpiqa server start

server-stop: $(STAMP) ## Stop them (each only if running)
	$(BIN)/dpiqa server stop

server-status: $(STAMP) ## Which of them are running
	$(BIN)/dpiqa server status

CHROMIUM_FLAGS := --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync --hide-scrollbars

report-check: ## Render reports/report.html offline in headless Chromium -> reports/report.png
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	chromium $(CHROMIUM_FLAGS) --user-data-dir=$$(mktemp -d) --window-size=1200,4000 \
		--screenshot=$(abspath reports/report.png) file://$(abspath reports/report.html)
	@test -s reports/report.png && echo "rendered: reports/report.png"

clean: ## Remove run state (keeps .venv and the DVC cache)
	rm -rf mlflow.db mlartifacts data/datasets data/manifests data/splits models/teacher models/student \
		models/checkpoints models/latents.safetensors models/teacher_targets.safetensors \
		reports/validation reports/train reports/metrics.json reports/cost.json reports/predictions \
		reports/figures reports/registry.json reports/report.md reports/report.html reports/report.png
