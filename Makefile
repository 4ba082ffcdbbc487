# Two entry points (see README): `make chaos` runs the main job, `make test` runs the tests.
# Both create and fill .venv themselves, so they work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup chaos test provider bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Only the .venv with pstnsim installed in it.
setup: $(STAMP)

# make turns any failed recipe into its own exit 2, so this says pstnsim's code (1: a check is violated,
# 2: usage or harness error). To gate on 0/1/2, run `make setup` once, then `.venv/bin/pstnsim chaos run`.
chaos: $(STAMP)
	@echo "$(BIN)/pstnsim chaos run $(ARGS)"
	@$(BIN)/pstnsim chaos run $(ARGS) || { code=$$?; echo "make chaos: pstnsim exited $$code (make reports it as 2)" >&2; exit $$code; }

provider: $(STAMP)
	$(BIN)/pstnsim provider --seed 7 $(ARGS)

test: $(STAMP)
	$(BIN)/pytest $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/provider_throughput.py
	$(BIN)/python benchmarks/core_throughput.py
	$(BIN)/python benchmarks/harness_power.py

clean:
	rm -rf $(VENV) reports/*/ .bench-cache
