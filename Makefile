# brevo-hooks: the commands of the README.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The tests flush this Redis database; keep it apart from the one `make run` uses.
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run web worker test lint format bench bench-automations clean messages screenshots

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	@echo "Installing the Python packages of requirements.txt into $(VENV)/ (about a minute, the first time only)..."
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --upgrade pip
	@$(VENV)/bin/pip install --quiet -r requirements.txt
	@touch $@
	@echo "Installed."

install: $(VENV)/.installed

## Everything for a newcomer: install, migrate, demo account, web and worker on http://127.0.0.1:$(PORT).
run: install
	PORT=$(PORT) bin/run

## One web process in the foreground (gunicorn), configured by the environment. Its settings,
## metrics across its worker processes (PROMETHEUS_MULTIPROC_DIR) included: brevo_hooks/gunicorn_conf.py.
web: install
	$(PY) manage.py collectstatic --noinput -v0
	exec $(VENV)/bin/gunicorn brevo_hooks.wsgi -c python:brevo_hooks.gunicorn_conf --bind 0.0.0.0:$(PORT) --workers $${WEB_CONCURRENCY:-2} --threads 4 --access-logfile - --graceful-timeout 20

## One worker process in the foreground, serving the fast lane (test sends) first; its
## sweeper thread re-enqueues due retries and reclaims deliveries of dead workers.
worker: install
	$(PY) manage.py check_redis
	exec $(PY) manage.py rqworker tests deliveries --worker-class webhooks.worker.DeliveryWorker

# The tests post to receivers on 127.0.0.1 (the SSRF tests turn the rule back on) and talk
# plain HTTP to the test server.
test: install
	REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=$${SECRET_KEY:-test-only-secret-key} DEBUG=false \
	WEBHOOKS_ALLOW_PRIVATE_URLS=true ALLOW_PLAIN_HTTP=true $(VENV)/bin/pytest $(PYTEST_ARGS)

## The Italian catalogue: collect every marked string of the code and templates into
## locale/it/LC_MESSAGES/django.po, then compile django.mo (both are committed). Needs GNU
## gettext (apt-get install gettext). After it, translate each new or fuzzy entry, run it again,
## and `make test` checks that nothing is left untranslated and that the .mo matches the .po.
messages: install
	DEBUG=true $(PY) manage.py makemessages -l it --no-obsolete --add-location=file --ignore='tests/*' --ignore='bench/*'
	DEBUG=true $(PY) manage.py compilemessages -l it --ignore='.venv/*'

## Refresh the README's screenshots (docs/*.png) with headless Chromium: each page in English and
## Italian, at 1100 px and 390 px, with axe-core on each (a serious or critical violation fails it).
screenshots: install
	REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=$${SECRET_KEY:-test-only-secret-key} DEBUG=false \
	WEBHOOKS_ALLOW_PRIVATE_URLS=true ALLOW_PLAIN_HTTP=true SCREENSHOTS=docs $(VENV)/bin/pytest tests/test_screenshots.py -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## End-to-end deliveries/s and latency against the raw limit, in under 3 minutes (bench/run.py).
## It flushes BENCH_REDIS_URL and uses a fresh database. Its default, database 14, is apart
## from the tests' (15) so that a bench never flushes a test run's queues.
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14

bench: install
	BENCH_REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/run.py

## An active automation with one Call a webhook step against a webhook, per event (bench/automations.py).
bench-automations: install
	BENCH_REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/automations.py

clean:
	rm -rf $(VENV) .staticfiles .pytest_cache .ruff_cache .test-db.sqlite3*
