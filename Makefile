# Two commands on a fresh machine:  `make chat` (or `make run`)  and  `make test`.
# Pass options with ARGS, e.g.  make chat ARGS="--admin --team acme".
# After the first `make`, the commands are in .venv/bin (`. .venv/bin/activate`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

ARGS ?=

.PHONY: run chat doctor test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)          ## start every configured platform (Slack and/or Discord)
	$(BIN)/reasonbot run $(ARGS)

chat: $(STAMP)         ## talk to the bot in this terminal
	$(BIN)/reasonbot chat $(ARGS)

doctor: $(STAMP)       ## check configuration, database, models and platforms
	$(BIN)/reasonbot doctor $(ARGS)

test: $(STAMP)         ## lint, format check and the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/quota.py
	$(BIN)/python bench/pipeline.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
