# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow test-browser lab doctor bench down clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: run make PYTHON=python3.11 (or newer)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[lab,dev]"
	@touch $(STAMP)

run: $(STAMP)  ## execute every notebook headless into build/
	$(BIN)/labsupport run $(NOTEBOOKS)

test: $(STAMP)  ## the whole test suite, notebooks included, on all cores
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

test-slow: $(STAMP)  ## every reproduction 20x beside a CPU hog, the quick isolation and parallel benches (CI runs it after make test)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	@rm -f build/reproductions.txt
	$(BIN)/python -m pytest -n 2 -m slow $(PYTEST_ARGS)
	@cat build/reproductions.txt

test-browser: $(STAMP)  ## every lesson run in JupyterLab in headless Chromium; screenshots in build/screenshots/
	LAB_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

lab: $(STAMP)  ## start the server and open JupyterLab on notebooks/
	$(BIN)/labsupport lab

doctor: $(STAMP)
	$(BIN)/labsupport doctor

bench: $(STAMP)  ## server, isolation, parallel and lab figures into build/bench/ (installs pytest-postgresql, the peer)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/labsupport bench all

down:
	@test -x $(BIN)/labsupport && $(BIN)/labsupport down || true

clean:  ## stop and delete the lab's cluster (also its files in /dev/shm), build/ and .venv
	@test -x $(BIN)/python && $(BIN)/python -c "from labsupport import server; server.current().destroy()" || true
	rm -rf build .lab $(VENV)
