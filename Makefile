# The two front-door commands (README): `make test` and `make matrix`.
# Both run the idempotent set-up first (tools/setup_env.sh; seconds when nothing changed).
PY := .venv/bin/python
OUT ?= out
PYTEST_ARGS ?= -n 2 -m "not slow"

.PHONY: setup test matrix smoke reports clean

setup:
	@tools/setup_env.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The CPU support matrix: every catalogue cell, opset 13, CPU (harness defaults). One JSON
# record per case in $(OUT)/results.jsonl; failing cases leave repro bundles in $(OUT)/bundles.
MATRIX_ARGS ?= --jobs 2
# Then the reports, from this very run: the committed results file (reports/results/), the
# README section, and out/reports/support_matrix.{md,json,html}. The harness's exit status
# (non-zero on unexpected failures) is kept, after the reports are written.
MATRIX_RESULTS ?= reports/results/cpu-opset13.jsonl
matrix: setup
	$(PY) -m harness matrix --results $(OUT)/results.jsonl --out $(OUT) $(MATRIX_ARGS); \
	status=$$?; \
	mkdir -p $(dir $(MATRIX_RESULTS)) && cp $(OUT)/results.jsonl $(MATRIX_RESULTS) && \
	$(PY) -m reports --results $(MATRIX_RESULTS) --out $(OUT)/reports --readme README.md && \
	exit $$status

# Regenerate the reports and the README section from the committed results file.
reports: setup
	$(PY) -m reports --results $(MATRIX_RESULTS) --out $(OUT)/reports --readme README.md

# A small zoo subset for pull requests: one small model per source framework, CPU.
SMOKE_ARGS ?= --model squeezenet --model mobilenet_v2 --jobs 2
smoke: setup
	$(PY) -m harness matrix --results $(OUT)/smoke.jsonl --out $(OUT) $(SMOKE_ARGS)

clean:
	rm -rf $(OUT) .pytest_cache
