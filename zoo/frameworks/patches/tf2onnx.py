"""tf2onnx 1.16.1 conversion fixes: handlers for TF's Erfc and for Einsum at opset 11
(see PATCHES in __init__.py).

Registered through tf2onnx's own ``tf_op`` registry, as a handler shipped in the package
would be. Registration is idempotent.
"""
from __future__ import annotations

from . import fired

_registered: set = set()  # names of the handlers registered in this process


def erfc() -> None:
    if "erfc" in _registered:
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

    _registered.add("erfc")


def parse_einsum(equation: str):
    """Split a two-operand einsum equation into (left, right, out) index strings.

    Raises ValueError naming the equation when it is outside what the opset-11 lowering covers:
    exactly two operands, an explicit output, no ellipsis, no index repeated inside one term
    (a diagonal), every output index taken from an operand.
    """
    eq = equation.replace(" ", "")
    why = None
    if "->" not in eq:
        why = "no explicit output ('->')"
    elif "." in eq:
        why = "an ellipsis"
    else:
        lhs, out = eq.split("->")
        terms = lhs.split(",")
        if len(terms) != 2:
            why = f"{len(terms)} operand(s), not 2"
        elif any(len(set(t)) != len(t) for t in (*terms, out)):
            why = "an index repeated inside one term"
        elif set(out) - set(terms[0]) - set(terms[1]):
            why = "an output index in neither operand"
    if why:
        raise ValueError(f"Einsum equation {equation!r} has {why}: tf2onnx-einsum-opset11 lowers "
                         "only two-operand equations without repeated indices")
    return terms[0], terms[1], out


def einsum_plan(left: str, right: str, out: str) -> dict:
    """The MatMul lowering of ``left,right->out``: which indices play which part.

    batch: in both operands and the output; contracted: in both operands, not the output;
    left/right free: in one operand and the output; summed: in one operand only (reduced first).
    Each operand is brought to [batch, free, contracted] (left) / [batch, contracted, free]
    (right), flattened to 3-D for one batched MatMul, and the product unflattened to
    [batch, left free, right free] and transposed to the output order.
    """
    batch = [c for c in left if c in right and c in out]
    contracted = [c for c in left if c in right and c not in out]
    left_free = [c for c in left if c not in right and c in out]
    right_free = [c for c in right if c not in left and c in out]
    product = batch + left_free + right_free
    return {"batch": batch, "contracted": contracted, "left_free": left_free, "right_free": right_free,
            "left_summed": [i for i, c in enumerate(left) if c not in right and c not in out],
            "right_summed": [i for i, c in enumerate(right) if c not in left and c not in out],
            "out_perm": [product.index(c) for c in out]}


def einsum_opset11() -> None:
    """TF Einsum at opset 11 (ONNX Einsum is opset 12+) as Transpose/Reshape/MatMul."""
    if "einsum" in _registered:
        return
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    def const(ctx, node, values):
        return ctx.make_const(utils.make_name(f"{node.name}_shape"), np.array(values, dtype=np.int64)).output[0]

    def transpose(ctx, node, x, perm):
        if list(perm) == list(range(len(perm))):
            return x
        return ctx.make_node("Transpose", [x], attr={"perm": list(perm)}, name=utils.make_name(node.name)).output[0]

    def reshape(ctx, node, x, shape):
        return ctx.make_node("Reshape", [x, shape], name=utils.make_name(node.name)).output[0]

    def group_sizes(ctx, node, x, static, groups):
        """A 1-D int64 tensor [prod(dims of group) for each group] of ``x``'s shape: constants when
        tf2onnx knows the dims, else Shape/Gather/ReduceProd at run time."""
        if static is not None and all(static[i] >= 0 for g in groups for i in g):
            return const(ctx, node, [int(np.prod([static[i] for i in g])) for g in groups])
        shape = ctx.make_node("Shape", [x], name=utils.make_name(node.name)).output[0]
        parts = []
        for g in groups:
            if not g:
                parts.append(const(ctx, node, [1]))
                continue
            dims = ctx.make_node("Gather", [shape, const(ctx, node, list(g))], attr={"axis": 0},
                                 name=utils.make_name(node.name)).output[0]
            parts.append(ctx.make_node("ReduceProd", [dims], attr={"axes": [0], "keepdims": 1},
                                       name=utils.make_name(node.name)).output[0])
        return ctx.make_node("Concat", parts, attr={"axis": 0}, name=utils.make_name(node.name)).output[0]

    def operand(ctx, node, x, term, summed, order):
        """``x`` with its summed indices reduced away, transposed to ``order``; (tensor, shape)."""
        shape = ctx.get_shape(x)
        if summed:
            x = ctx.make_node("ReduceSum", [x], attr={"axes": summed, "keepdims": 0},
                              name=utils.make_name(node.name)).output[0]
            term = "".join(c for i, c in enumerate(term) if i not in summed)
            shape = None if shape is None else [d for i, d in enumerate(shape) if i not in summed]
        perm = [term.index(c) for c in order]
        return transpose(ctx, node, x, perm), (None if shape is None else [shape[i] for i in perm])

    @tf_op("Einsum")
    class EinsumOpset11:
        @classmethod
        def version_11(cls, ctx, node, **kwargs):
            equation = node.get_attr_value("equation")
            equation = equation.decode() if isinstance(equation, bytes) else equation
            try:
                left, right, out = parse_einsum(equation)
            except ValueError as e:
                raise ValueError(f"node {node.name}: {e}") from None
            if len(node.input) != 2:
                raise ValueError(f"node {node.name}: Einsum {equation!r} has {len(node.input)} inputs, not 2")
            plan = einsum_plan(left, right, out)
            nb, nc = len(plan["batch"]), len(plan["contracted"])
            nl, nr = len(plan["left_free"]), len(plan["right_free"])
            a, a_shape = operand(ctx, node, node.input[0], left, plan["left_summed"],
                                 plan["batch"] + plan["left_free"] + plan["contracted"])
            b, b_shape = operand(ctx, node, node.input[1], right, plan["right_summed"],
                                 plan["batch"] + plan["contracted"] + plan["right_free"])
            batch, lfree = list(range(nb)), list(range(nb, nb + nl))
            a3 = reshape(ctx, node, a, group_sizes(ctx, node, a, a_shape,
                                                    [batch, lfree, list(range(nb + nl, nb + nl + nc))]))
            b3 = reshape(ctx, node, b, group_sizes(ctx, node, b, b_shape,
                                                    [batch, list(range(nb, nb + nc)),
                                                     list(range(nb + nc, nb + nc + nr))]))
            product = ctx.make_node("MatMul", [a3, b3], name=utils.make_name(node.name)).output[0]
            # [batch..., left free...] dims from the left operand, [right free...] from the right.
            unflat = group_sizes(ctx, node, a, a_shape, [[i] for i in batch + lfree]) if nb + nl else None
            rdims = group_sizes(ctx, node, b, b_shape, [[i] for i in range(nb + nc, nb + nc + nr)]) if nr else None
            dims = [t for t in (unflat, rdims) if t is not None]
            if not dims:
                dims = [const(ctx, node, [])]
            full = dims[0] if len(dims) == 1 else ctx.make_node(
                "Concat", dims, attr={"axis": 0}, name=utils.make_name(node.name)).output[0]
            shapes, dtypes = node.output_shapes, node.output_dtypes
            ctx.remove_node(node.name)
            perm = plan["out_perm"]
            if perm == list(range(len(perm))):
                ctx.make_node("Reshape", [product, full], name=node.name, outputs=node.output,
                              shapes=shapes, dtypes=dtypes)
            else:
                ctx.make_node("Transpose", [reshape(ctx, node, product, full)], attr={"perm": perm},
                              name=node.name, outputs=node.output, shapes=shapes, dtypes=dtypes)
            fired("tf2onnx-einsum-opset11")

    _registered.add("einsum")
