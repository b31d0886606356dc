"""``python -m converter``: the ``onnx2oneflow`` command (converter/cli.py)."""
from .cli import run

run()
