# Quickstart: `make run` (sample landing zone → warehouse → report) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AIRFLOW := $(VENV)/bin/airflow

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)/dags
export GX_ANALYTICS_ENABLED := false

.PHONY: venv airflow-db run test lint

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $@

venv: $(VENV)/.installed

$(AIRFLOW_HOME)/airflow.db: $(VENV)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(AIRFLOW) db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -20 $(AIRFLOW_HOME)/db-migrate.log; exit 1)

airflow-db: $(AIRFLOW_HOME)/airflow.db

# Runs news_ingest for every day that has data in the landing zone, then reports from the warehouse.
run: venv airflow-db
	@mkdir -p $(AIRFLOW_HOME)/runs
	@for day in $$($(PY) -m khabar.cli days); do \
	  log=$(AIRFLOW_HOME)/runs/news_ingest-$$day.log; \
	  if $(AIRFLOW) dags test news_ingest $$day > $$log 2>&1 && grep -q "state=success" $$log; then \
	    echo "news_ingest $$day: success (log: $$log)"; \
	  else \
	    echo "news_ingest $$day: FAILED (log: $$log)"; grep -E "GateFailed|Error|error" $$log | tail -5; exit 1; \
	  fi; \
	done
	@$(PY) -m khabar.report

test: venv airflow-db
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check dags plugins tests

# Date tagging beside dateparser: labelled set, then Fars and Varzesh3 records of ../shared/corpus
# (KHABAR_SHARED_DIR=/path/to/shared when the checkout is not next to it).
bench-dates: venv
	$(PY) benchmarks/bench_dates.py

# Soak (not a test): thousands of mixed good and bad files over many simulated days; must report lost 0, duplicated 0.
soak: venv
	$(PY) benchmarks/soak.py --days 30 --files-per-day 150

# Boilerplate removal: ours against trafilatura on Persian pages (needs ../shared/corpus; KHABAR_SHARED_DIR moves it).
bench-strip: venv
	PYTHONPATH=plugins $(PY) benchmarks/bench_strip.py

# Half-space restoration (precision/recall on ../shared/corpus) and throughput: ours against hazm's Normalizer.
.PHONY: bench-normalize
bench-normalize: venv
	$(PY) benchmarks/bench_normalize.py

# Dedup quality (labelled set, beside datasketch; --sweep chooses thresholds) and scale (10k, 100k on 127.0.0.1:5432).
.PHONY: bench-dedup
bench-dedup: venv
	$(PY) benchmarks/bench_dedup.py --sweep
	$(PY) benchmarks/bench_dedup_scale.py --sizes 10000 100000 --prepare-workers 2

# Pipeline throughput (`make bench`): generated landing zones of 1k, 10k and 100k documents from ../shared/corpus
# through every stage and gate on 127.0.0.1:5432; per-stage docs/s, time in psycopg2 and gates, peak RSS.
.PHONY: bench bench-pipeline
bench-pipeline: venv
	PYTHONPATH=plugins $(PY) benchmarks/bench_pipeline.py --sizes 1000 10000 100000

bench: bench-pipeline

# The Airflow UI on http://127.0.0.1:$(AIRFLOW_PORT) (api-server, scheduler, DAG processor, triggerer), every
# visitor an admin (SimpleAuthManager, local use only). Metadata in $(AIRFLOW_HOME); Ctrl-C stops it.
AIRFLOW_PORT ?= 8080
.PHONY: airflow screenshot-grid
airflow: venv airflow-db
	PATH=$(abspath $(VENV))/bin:$$PATH AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	  AIRFLOW__API__BASE_URL=http://127.0.0.1:$(AIRFLOW_PORT) \
	  AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$(AIRFLOW_PORT)/execution/ \
	  $(AIRFLOW) standalone

# With `make airflow` running: backfill the sample days through the REST API, then screenshot the grid.
screenshot-grid: venv
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  (echo "installing chromium (apt-get)"; $$(command -v sudo) apt-get update && $$(command -v sudo) apt-get install -y chromium)
	$(PY) scripts/screenshot_grid.py --url http://127.0.0.1:$(AIRFLOW_PORT) --backfill 2022-01-25 2022-01-26 --out docs/backfill_grid.png

# Data Docs: what rendering the site adds to a gate, and that it stays flat as results accumulate (127.0.0.1:5432).
.PHONY: bench-data-docs
bench-data-docs: venv
	PYTHONPATH=plugins $(PY) benchmarks/bench_data_docs.py

# The throughput goals (plain text, HTML) at 10k documents: batches one after another in one process, then
# in two worker processes (as two Celery workers run news_ingest's mapped batch tasks).
.PHONY: bench-goals
bench-goals: venv
	PYTHONPATH=plugins $(PY) benchmarks/bench_pipeline.py --sizes 10000 --mix txt
	PYTHONPATH=plugins $(PY) benchmarks/bench_pipeline.py --sizes 10000 --mix txt --workers 2
	PYTHONPATH=plugins $(PY) benchmarks/bench_pipeline.py --sizes 10000 --mix html
	PYTHONPATH=plugins $(PY) benchmarks/bench_pipeline.py --sizes 10000 --mix html --workers 2
	PYTHONPATH=plugins $(PY) benchmarks/bench_pipeline.py --sizes 10000 --workers 2

# news_ingest under the CeleryExecutor (scheduler, DAG processor, api-server, one worker of 2 slots; Redis at
# 127.0.0.1:6379, metadata and warehouse on 127.0.0.1:5432): what Airflow adds per task instance at 10k documents.
.PHONY: bench-celery
bench-celery: venv
	PYTHONPATH=plugins $(PY) benchmarks/bench_celery.py --sizes 10000 --in-process
