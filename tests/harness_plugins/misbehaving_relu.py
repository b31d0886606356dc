"""TEST-ONLY converter plugin: a Relu handler that misbehaves on purpose, by node name.

Imported only inside the harness's OneFlow-side process, and only when a test sets
HARNESS_TEST_PLUGINS=tests.harness_plugins.misbehaving_relu. Relu nodes named

* ``relu_segfault`` crash the process while the module is being built (convert stage),
* ``relu_abort``    abort the process (SIGABRT, as OneFlow's C++ CHECKs do) in the convert stage,
* ``relu_hang``     never finish building (convert stage),
* ``relu_wrong``    convert to leaky_relu(0.1): wrong for negative inputs (parity stage),
* ``relu_offset``   convert to relu(x) + 1e-4: a small converter bug that a loose
                    source-side tolerance would hide, but the OneFlow-vs-ORT gate catches;
* ``relu_float64``  convert to relu in float64: the right values in the wrong dtype;

every other Relu converts with the real handler, so an unnamed model is unaffected.
"""
import ctypes
import os
import time

import oneflow as flow

from converter import registry


def _segfault():
    ctypes.string_at(0)   # a genuine SIGSEGV: reads address 0


def _hang():
    while True:
        time.sleep(60)


MISBEHAVIOUR = {
    "relu_segfault": _segfault,
    "relu_abort": os.abort,
    "relu_hang": _hang,
}


def _wrap(real_build):
    def build(ctx):
        if ctx.name in MISBEHAVIOUR:
            MISBEHAVIOUR[ctx.name]()
        if ctx.name == "relu_wrong":
            return lambda x: flow.nn.functional.leaky_relu(x, 0.1)
        if ctx.name == "relu_offset":
            return lambda x: flow.relu(x) + 1e-4
        if ctx.name == "relu_float64":
            return lambda x: flow.relu(x).to(flow.float64)
        return real_build(ctx)

    return build


# The registry refuses a second handler for a registered version, so the real ones are taken
# out (private API: acceptable in a test-only plugin) and re-registered wrapped.
for _handler in registry._REGISTRY.pop(("", "Relu")):
    registry.register("Relu", *_handler.versions, check=_handler.check)(_wrap(_handler.build))
