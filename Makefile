# The README's commands: `make run` (the mail drop on loopback), `make test` (the whole suite),
# `make bench` (bench/), `make demo` (send one message in, fetch it back, stop).
# Each creates or reuses the virtual environment in .venv, built from Debian's python3 so that
# programs started as another user (tcpserver -u, checkpassword) can run it.
SYSPY := $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: venv bytecode run demo test bench clean

# Per-connection programs start a fresh interpreter: with PYTHONDONTWRITEBYTECODE set (as on
# some machines) nothing would ever cache their bytecode, so compile it up front (quick when current).
venv: $(VENV)/.installed bytecode

bytecode: $(VENV)/.installed
	$(BIN)/python -m compileall -q rules tcpserver qmail examples

$(VENV)/.installed: setup.cfg pyproject.toml
	$(SYSPY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $@

run: venv
	$(BIN)/python -m examples.maildrop run

demo: venv
	$(BIN)/python -m examples.maildrop demo

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info run
