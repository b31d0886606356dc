"""First divergence: where, node by node, the converted module leaves ONNX Runtime.

ORT runs a copy of the model with every node output exposed as a graph output (and graph
optimisations off, so no exposed value is fused away); the converted module runs with
``keep=True``, which returns every intermediate by ONNX value name. Walking the nodes in
graph order, the first node whose output differs beyond the tolerance is the suspect.
Runs inside the OneFlow-side process (no source framework).
"""
from __future__ import annotations

import numpy as np
import onnx

from .parity import compare


def expose_all_values(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose graph outputs include every node output."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    try:
        typed = onnx.shape_inference.infer_shapes(model)
        known = {vi.name: vi for vi in typed.graph.value_info}
    except Exception:  # noqa: BLE001 - types are a nicety; ORT infers them without
        known = {}
    present = {o.name for o in exposed.graph.output}
    for node in exposed.graph.node:
        for name in node.output:
            if name and name not in present:
                vi = known.get(name) or onnx.helper.ValueInfoProto(name=name)
                exposed.graph.output.append(vi)
                present.add(name)
    return exposed


def ort_intermediates(model: onnx.ModelProto, inputs: dict, providers: list) -> dict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(expose_all_values(model).SerializeToString(), opts, providers=providers)
    names = [o.name for o in sess.get_outputs()]
    feed = {i.name: inputs[i.name] for i in sess.get_inputs()}
    return dict(zip(names, sess.run(names, feed)))


def first_divergence(model: onnx.ModelProto, reference: dict, actual: dict, rtol: float, atol: float):
    """The first node (graph order) with an output outside tolerance, as a dict; None when
    every compared intermediate agrees. ``reference``/``actual`` map value name -> array."""
    compared = 0
    for index, node in enumerate(model.graph.node):
        for name in node.output:
            if not name or name not in reference or name not in actual:
                continue   # folded constants and optional outputs have no runtime value
            compared += 1
            got = np.asarray(actual[name])
            p = compare(name, got, reference[name], rtol, atol)
            if not p.passed:
                return {"node": node.name or f"#{index}:{node.op_type}", "op_type": node.op_type,
                        "node_index": index, "output": name, "inputs": list(node.input),
                        "shape_ok": p.shape_ok, "max_abs": p.max_abs, "max_rel": p.max_rel,
                        "values_compared": compared}
    return None
