"""ONNX -> OneFlow converter.

    import converter
    module = converter.convert("model.onnx", device="cpu")   # a oneflow.nn.Module
    missing = converter.inventory("model.onnx")              # unsupported ops, all at once
"""
import os as _os
import sys as _sys
import types as _types

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

# The API (and with it OneFlow, seconds to import) loads on first use (PEP 562), so the
# OneFlow-free parts -- converter.numerics, the one output comparison -- import without it.
_LAZY = {"convert": ".api", "inventory": ".api", "to_graph": ".graph_mode", "GraphModeError": ".graph_mode"}

from .errors import (  # noqa: E402
    CodegenError, ConverterError, DeviceError, InputError, InvalidModelError, ModelLoadError, NodeBuildError,
    NodeExecutionError, TensorTooLarge, Unsupported, UnsupportedOperatorError,
)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'converter' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"codegen"})


class _Package(_types.ModuleType):
    """``converter.codegen`` is the function, though a subpackage has that name too: importing
    the subpackage would bind the module over the attribute, so the function is a property."""

    @property
    def codegen(self):
        import importlib

        return importlib.import_module(".codegen", __name__).codegen

    @codegen.setter
    def codegen(self, value):   # the import system binding the subpackage: keep the function
        pass


_sys.modules[__name__].__class__ = _Package


__all__ = ["convert", "inventory", "codegen", "to_graph", "CodegenError", "ConverterError", "DeviceError",
           "GraphModeError", "InputError", "InvalidModelError", "ModelLoadError", "NodeBuildError",
           "NodeExecutionError", "TensorTooLarge", "Unsupported", "UnsupportedOperatorError"]
