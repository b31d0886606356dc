"""ONNX -> OneFlow converter.

    import converter
    module = converter.convert("model.onnx", device="cpu")   # a oneflow.nn.Module
    missing = converter.inventory("model.onnx")              # unsupported ops, all at once
"""
import os as _os
import sys as _sys

from ._cuda_libs import load_cuda_libraries as _load_cuda_libraries

# OneFlow's glog prints CUDA-driver warnings on CPU-only machines; keep errors visible.
_os.environ.setdefault("GLOG_minloglevel", "2")
_load_cuda_libraries()
# OneFlow's import fails under the pure-Python protobuf backend (which TensorFlow needs):
# drop the setting while protobuf is not imported yet, otherwise say what is wrong.
if _os.environ.get("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION") == "python":
    if "google.protobuf" in _sys.modules:
        raise ImportError("converter: OneFlow cannot be imported in a process that uses the pure-Python "
                          "protobuf backend (PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python, as TensorFlow "
                          "needs); import it in a separate process")
    del _os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"]

import oneflow as _oneflow  # noqa: E402,F401 - fails here, clearly, if the runtime is broken

from .api import convert, inventory  # noqa: E402
from .codegen import codegen  # noqa: E402
from .graph_mode import GraphModeError, to_graph  # noqa: E402
from .errors import (  # noqa: E402
    CodegenError, ConverterError, InputError, InvalidModelError, ModelLoadError, NodeBuildError,
    NodeExecutionError, Unsupported, UnsupportedOperatorError,
)

__all__ = ["convert", "inventory", "codegen", "to_graph", "CodegenError", "ConverterError", "GraphModeError",
           "InputError", "InvalidModelError", "ModelLoadError", "NodeBuildError", "NodeExecutionError",
           "Unsupported", "UnsupportedOperatorError"]
