# Edgeline: `make demo` and `make test` are the only set-up a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB := clients/web
WEB_STAMP := $(WEB)/node_modules/.installed

.PHONY: install demo dev test durations test-fast lint format bench chromium postgresql gateway-lambda pi-wheel clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# the web client's runtime (onnxruntime-web) and Swagger UI's assets, exactly as locked
$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

install: $(STAMP) $(WEB_STAMP)

demo: install chromium  ## the whole lifecycle on the local default (and the page in Chromium)
	$(BIN)/edgeline demo

dev: install  ## the Dagster UI and daemon on http://127.0.0.1:3000
	$(BIN)/edgeline dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m edgeline_contract --check

# the browser tests drive Debian's Chromium: installed here when running as root
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Debian's package 'chromium' (sudo apt-get install chromium); without it they are skipped."; \
	fi

# the Postgres instance test starts Debian's PostgreSQL server binaries
postgresql:
	@if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's postgresql for the instance test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else \
		echo "The Postgres test needs Debian's package 'postgresql'; without it it is skipped."; \
	fi

# three pytest-xdist workers on two cores (tests/conftest.py gives each one OpenMP thread):
# with two, a fifth of the machine idled while tests waited on processes, servers and the
# browser (79 % busy, 488 s of pytest; three: 95 %, 455 s, in one session on 2026-12-04).
# A worker takes the next test when it has two left, longest first by tests/durations.json, and
# a module fixture's tests together (tests/scheduling.py): 439 s twice, against 443, 452 and
# 465 s handed out in file order (--dist worksteal), in one session on 2026-12-04.
PYTEST_DIST = --dist loadgroup --no-loadscope-reorder
PYTEST_WORKERS = -n 3 $(PYTEST_DIST)

test: install lint chromium postgresql  ## the whole suite, slow end-to-end tests included
	$(BIN)/python -m pytest $(PYTEST_WORKERS) --durations=15

# the record that orders `make test`: run again when tests are added or their times change
durations: install chromium postgresql  ## the whole suite, writing tests/durations.json
	$(BIN)/python -m pytest $(PYTEST_WORKERS) --record-durations tests/durations.json

# the unit tests, in well under a minute: no `slow` end-to-end test (training, daemon, browser,
# PostgreSQL, demo, `edgeline dev`) and no `aws` one (moto's server; marked in tests/conftest.py).
# Needs only the venv: made if there is none, never refreshed here (`make install` does that).
test-fast: | $(BIN)/python  ## unit tests only (2 workers: 48 s against 84 s in one process, here)
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_DIST) -m "not slow and not aws"

$(BIN)/python:
	$(MAKE) $(STAMP)

# the gateway alone for AWS Lambda (handler clients.gateway.lambda_handler.handler): its lean
# install (clients/gateway/pyproject.toml: no Dagster, no torch) with the page's npm files, as a
# folder and a zip. Build it on Linux with the Python of the Lambda runtime (x86_64, 3.11 here).
LAMBDA_BUNDLE := build/gateway-lambda
gateway-lambda: $(WEB_STAMP)  ## the gateway's Lambda bundle (build/gateway-lambda.zip)
	rm -rf $(LAMBDA_BUNDLE) $(LAMBDA_BUNDLE).zip
	$(PYTHON) -m pip install --quiet --no-warn-conflicts --target $(LAMBDA_BUNDLE) ./clients/gateway
	$(PYTHON) -c "import shutil; shutil.make_archive('$(LAMBDA_BUNDLE)', 'zip', '$(LAMBDA_BUNDLE)')"
	du -sh $(LAMBDA_BUNDLE) $(LAMBDA_BUNDLE).zip

bench: install  ## every benchmark, and one table of every figure (bench/results/summary.json)
	$(BIN)/python -m bench

# the device agent's wheel (edgeline-agent: numpy and onnxruntime only), to copy to a Pi and
# `pip install` there (README: "On a Raspberry Pi"). pip builds clients/pi in place: a stale
# build/ there could carry deleted modules into the wheel, so it goes before and after.
# Needs only pip (no platform venv): `make pi-wheel PYTHON=python3` on any machine with a checkout.
pi-wheel:  ## dist/edgeline_agent-<version>-py3-none-any.whl
	rm -rf clients/pi/build
	$(PYTHON) -m pip wheel --quiet --no-deps ./clients/pi -w dist
	rm -rf clients/pi/build clients/pi/*.egg-info
	@ls -1 dist/edgeline_agent-*.whl

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .edgeline .pytest_cache .ruff_cache test-artifacts build clients/gateway/build clients/gateway/*.egg-info dist clients/pi/build clients/pi/*.egg-info
