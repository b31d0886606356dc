"""Operator handlers, one module per op family. Importing this package registers them all.

Writing a handler::

    @register("Relu", 6, 13, 14)          # every ONNX schema version it implements
    def relu(ctx):                        # ctx: converter.context.NodeContext
        return flow.relu                  # a callable taking the node's inputs positionally

* Return a plain callable, or a ``oneflow.nn.Module`` when the node owns weights (they then
  become Parameters and move with ``.to(device)``), or ``Folded(values...)`` when every
  output is known at build time.
* ``ctx.const(i)`` is input i's static numpy value (or None); ``ctx.claim(i)`` keeps a
  captured input out of the runtime call: ``None`` is passed in its place, and trailing
  absent or claimed inputs are not passed at all (so a layer can take just ``x``).
* ``raise ctx.unsupported("why")`` for an attribute/input combination OneFlow cannot
  express; it is reported with the node's name instead of converting wrongly.
* Create runtime tensors on the input's device (``x.device``), never on a fixed one.
"""
from . import (  # noqa: F401
    activation, control_flow, detection, indexing, linear, logic, loss, math, ms_fused, ms_quantization, ms_transformer, nn,
    normalization, pad, pooling, quantization, recurrent, reduce, resize, rewritten, sampling, sequence, signal, space_depth,
    stochastic, tensor,
)
