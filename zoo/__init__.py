"""The model catalogue as data, with one builder + exporter per source framework.

    python -m zoo list [--json] [--framework F] [--model M]     # the cells (zoo/catalogue.yaml)
    python -m zoo.export --framework F --model M --opset 13 --cache-dir DIR   # one case, cached

zoo never imports the converter: exports must not depend on the thing under test.
"""
