"""tf2onnx 1.16.1 conversion fix: a handler for TF's Erfc (see PATCHES in __init__.py).

Registered through tf2onnx's own ``tf_op`` registry, as a handler shipped in the package
would be. Registration is idempotent.
"""
from __future__ import annotations

from . import fired

_registered: list = []


def erfc() -> None:
    if _registered:
        return
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            # erfc(x) = 1 - erf(x); Erf is an ONNX op since opset 9. For large x the exact
            # erfc is tiny and 1 - erf rounds it to 0: Keras' GELU multiplies it by x/2 -> 0,
            # an absolute error below float32's resolution of the other branch.
            node.type = "Erf"
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            sub = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(node.name),
                                                inputs=[one.output[0], node.output[0]])
            ctx.copy_shape(node.output[0], sub.output[0])
            ctx.set_dtype(sub.output[0], ctx.get_dtype(node.output[0]))
            fired("tf2onnx-erfc")

    _registered.append(Erfc)
