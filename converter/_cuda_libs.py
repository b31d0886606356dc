"""Load OneFlow's CUDA 11 libraries from the installed ``nvidia-*-cu11`` wheels.

oneflow 0.9.0 is a CUDA 11.8 build: importing it needs ``libcublas.so.11`` and
``libcudnn*.so.8`` even on a machine without a GPU. Its RPATH finds them only when the
wheels sit in the same site-packages; loading them by absolute path with RTLD_GLOBAL
first makes the import work wherever they are, with no LD_LIBRARY_PATH.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os

# Dependency order: cublasLt before cublas; cudnn's ops libraries before cnn/adv.
_LIBS = (
    ("cublas", "libcublasLt.so.11"),
    ("cublas", "libcublas.so.11"),
    ("cudnn", "libcudnn_ops_infer.so.8"),
    ("cudnn", "libcudnn_ops_train.so.8"),
    ("cudnn", "libcudnn_cnn_infer.so.8"),
    ("cudnn", "libcudnn_cnn_train.so.8"),
    ("cudnn", "libcudnn_adv_infer.so.8"),
    ("cudnn", "libcudnn_adv_train.so.8"),
    ("cudnn", "libcudnn.so.8"),
)

_loaded: list[str] = []


def _nvidia_dirs() -> list[str]:
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    return list(spec.submodule_search_locations)


def load_cuda_libraries() -> list[str]:
    """Preload the CUDA 11 libraries that exist; return the paths loaded (idempotent)."""
    if _loaded:
        return list(_loaded)
    roots = _nvidia_dirs()
    for package, soname in _LIBS:
        for root in roots:
            path = os.path.join(root, package, "lib", soname)
            if os.path.exists(path):
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                _loaded.append(path)
                break
    return list(_loaded)
