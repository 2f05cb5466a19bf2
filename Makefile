# reckon: `make run` starts the demo cluster, `make test` runs every check.
# Both create .venv with Python 3.11 and install the project on first use.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint unit bench clean test-hosts deploy-test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "reckon needs Python 3.11+"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,deploy]'
	@touch $(STAMP)

# The deployment test boots real systemd hosts with systemd-nspawn; as root on Debian, install
# what it needs. Anywhere else this does nothing and that test skips with its reason.
test-hosts:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    ! { command -v systemd-nspawn && command -v debootstrap; } >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    systemd-container debootstrap openssh-client >/dev/null || \
	  echo "could not install the test-host tools; the deployment test will skip"; \
	fi

install: $(STAMP)

run: install
	$(BIN)/reckon demo $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	cd ansible && ../$(BIN)/ansible-lint -q -c .ansible-lint

test: lint test-hosts
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

deploy-test: install test-hosts
	$(BIN)/python -m pytest -q -p no:cacheprovider -m deploy tests/deploy

unit: install
	$(BIN)/python -m pytest -q -m "not integration" $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench.http_load $(ARGS)

clean:
	rm -rf $(VENV) .reckon .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
