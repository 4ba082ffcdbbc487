# Two entry points (see README): `make chaos` runs the main job, `make test` runs the tests.
# Both create and fill .venv themselves, so they work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: chaos test provider bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

chaos: $(STAMP)
	$(BIN)/pstnsim chaos run $(ARGS)

provider: $(STAMP)
	$(BIN)/pstnsim provider --seed 7 $(ARGS)

test: $(STAMP)
	$(BIN)/pytest $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/provider_throughput.py
	$(BIN)/python benchmarks/core_throughput.py
	$(BIN)/python benchmarks/harness_power.py

clean:
	rm -rf $(VENV) reports/*/
