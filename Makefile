# The two front-door commands (README): `make test` and `make matrix`.
# Both run the idempotent set-up first (tools/setup_env.sh; seconds when nothing changed).
PY := .venv/bin/python
OUT ?= out
PYTEST_ARGS ?= -n 2 -m "not slow"

.PHONY: setup test matrix matrix-graph smoke reports clean

setup:
	@tools/setup_env.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The CPU support matrix: every catalogue cell at each of MATRIX_OPSETS on MATRIX_DEVICE,
# strict (a stale xfail row fails the run). Empty MATRIX_OPSETS (the default) is the harness's
# own set: 11, 13, 17 and each cell's catalogue extra_opsets (the seed's OneFlow2ONNX models at
# opset 10); naming opsets runs just those. One JSON record per case in $(OUT)/results.jsonl;
# failing cases leave repro bundles in $(OUT)/bundles. Only a complete run (one final record
# per catalogue cell per opset, device and mode; `python -m harness complete`) replaces the
# committed results, one file per slice: reports/results/<device>-opset<N>.jsonl (graph mode:
# <device>-opset<N>-graph.jsonl). Then the reports, from every committed results file: the
# README section and out/reports/support_matrix.{md,json,html}. The harness's exit status
# (non-zero on unexpected failures or an xpass) is kept, after the reports are written.
# Selectors in MATRIX_ARGS (--model, --framework) make an incomplete run: it is refused,
# nothing is copied.
MATRIX_OPSETS ?=
MATRIX_DEVICE ?= cpu
MATRIX_ARGS ?= --jobs 2
MATRIX_RESULTS_DIR ?= reports/results
# $(1): the run's results file; $(2): more harness matrix arguments; $(3): the opsets the run
# publishes (`harness complete --opset`; none: every catalogue opset of the mode).
define run_matrix
	$(PY) -m harness matrix --strict --results $(1) --out $(OUT) --device $(MATRIX_DEVICE) $(2) $(MATRIX_ARGS); \
	status=$$?; \
	$(PY) -m harness complete $(1) $(3) --publish $(MATRIX_RESULTS_DIR) && \
	$(PY) -m reports --results $(MATRIX_RESULTS_DIR)/*.jsonl --out $(OUT)/reports --readme README.md && \
	exit $$status
endef
matrix: setup
	$(call run_matrix,$(OUT)/results.jsonl,$(foreach o,$(MATRIX_OPSETS),--opset $(o)),$(foreach o,$(MATRIX_OPSETS),--opset $(o)))

# Graph mode: the same cells with the converted model run as oneflow.nn.Graph, at opset 13,
# published beside the eager slices as reports/results/<device>-opset13-graph.jsonl; the README
# table shows it as one more mark per framework ("nn.Graph 13").
MATRIX_GRAPH_OPSETS ?= 13
matrix-graph: setup
	$(call run_matrix,$(OUT)/results-graph.jsonl,--mode graph $(foreach o,$(MATRIX_GRAPH_OPSETS),--opset $(o)),$(foreach o,$(MATRIX_GRAPH_OPSETS),--opset $(o)))

# Regenerate the reports and the README section from the committed results files.
reports: setup
	$(PY) -m reports --results $(MATRIX_RESULTS_DIR)/*.jsonl --out $(OUT)/reports --readme README.md

# A small zoo subset for pull requests: one small model per source framework, CPU.
SMOKE_ARGS ?= --model squeezenet --model mobilenet_v2 --jobs 2
smoke: setup
	$(PY) -m harness matrix --results $(OUT)/smoke.jsonl --out $(OUT) $(SMOKE_ARGS)

clean:
	rm -rf $(OUT) .pytest_cache
