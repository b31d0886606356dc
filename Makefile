# The two front-door commands (README): `make test` and `make matrix`.
# Both run the idempotent set-up first (tools/setup_env.sh; seconds when nothing changed).
PY := .venv/bin/python
OUT ?= out
PYTEST_ARGS ?= -n 2

.PHONY: setup test matrix clean

setup:
	@tools/setup_env.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The CPU support matrix: every catalogue cell, opset 13, CPU (harness defaults). One JSON
# record per case in $(OUT)/results.jsonl; failing cases leave repro bundles in $(OUT)/bundles.
MATRIX_ARGS ?= --jobs 2
matrix: setup
	$(PY) -m harness matrix --results $(OUT)/results.jsonl --out $(OUT) $(MATRIX_ARGS)

clean:
	rm -rf $(OUT) .pytest_cache
