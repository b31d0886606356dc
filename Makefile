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

# Vertical slice until the harness lands: export resnet18 from PyTorch and check OneFlow parity.
matrix: setup
	@echo "[matrix] the harness is not built yet: running the vertical slice (torch resnet18, opset 13, cpu)"
	$(PY) -m zoo.export --framework torch --model resnet18 --opset 13 --out $(OUT)/cases/torch-resnet18-13
	$(PY) -m harness.oneflow_side $(OUT)/cases/torch-resnet18-13 --device cpu > $(OUT)/slice.json
	@echo "[matrix] result written to $(OUT)/slice.json"

clean:
	rm -rf $(OUT) .pytest_cache
