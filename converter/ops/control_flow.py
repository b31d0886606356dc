"""Control flow: If, Loop, Scan, SequenceMap as native OneFlow eager control flow.

Each subgraph attribute is converted by the same builder into a child module
(module.SubgraphModule, see docs/design.md §5); the node's layer runs it with Python control
flow. Outer-scope names a body reads are resolved at run time: the builder appends their
values to the node's inputs (ctx.subgraph), and the layer hands them to the body as its
enclosing scope.

Graph mode: a loop whose iteration count is known when tracing (Scan; Loop with a constant
trip count and a condition that cannot change) and an If whose condition is a build-time
constant unroll into the traced graph. Anything else depends on tensor values, which
OneFlow 0.9's nn.Graph cannot express: the layer says so in ``graph_blocker`` and
``converter.to_graph`` refuses the model before tracing, naming the node.
"""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..dtypes import flow_dtype
from ..registry import register


def _device(values):
    for v in values:
        if isinstance(v, flow.Tensor):
            return v.device
        if isinstance(v, list) and v and isinstance(v[0], flow.Tensor):
            return v[0].device
    return flow.device("cpu")


def _scalar_bool(value) -> bool:
    return bool(value.numpy().reshape(-1)[0])


def _count_problem(what: str, body, inputs: int | None, outputs: int | None):
    """ValueError text when a body's formal input/output count does not match its node."""
    if inputs is not None and len(body.input) != inputs:
        return f"{what} has {len(body.input)} inputs, expected {inputs}"
    if outputs is not None and len(body.output) != outputs:
        return f"{what} has {len(body.output)} outputs, expected {outputs}"
    return None


def _validated(ctx, attr: str, inputs: int | None, outputs: int | None):
    body = ctx.attr(attr)
    problem = None if body is None else _count_problem(f"subgraph {attr!r}", body, inputs, outputs)
    if body is None or problem:
        raise ValueError(problem or f"missing subgraph attribute {attr!r}")
    return ctx.subgraph(attr)


def _empty_stack(body, out_index: int, axis: int, device):
    """A scan output of zero iterations: 0 along ``axis``, the element's declared shape (when
    static) elsewhere, its declared dtype."""
    info = body.output_info(out_index)
    dtype = flow_dtype(info.dtype) if info is not None and info.dtype is not None else flow.float32
    elem = list(info.shape) if info is not None and info.shape is not None and None not in info.shape else []
    axis = axis + len(elem) + 1 if axis < 0 else axis
    return flow.zeros(*(elem[:axis] + [0] + elem[axis:]), dtype=dtype, device=device)


def _through_identity(body, name: str) -> str:
    """The value ``name`` copies when Identity nodes of ``body`` produce it (exporters write
    a loop's unchanged condition as Identity(cond_in))."""
    producers = {n.output[0]: n for n in body.node if n.op_type == "Identity" and n.output}
    while name in producers:
        name = producers[name].input[0]
    return name


class _ControlFlow(flow.nn.Module):
    """Common part: the node's own input count and the outer-scope names passed after them."""

    graph_blocker = None

    def __init__(self, ctx):
        super().__init__()
        self.n_inputs = len(ctx.inputs)
        self.ctx_outer = ctx.outer_inputs     # the same list object: filled as bodies are built

    def split(self, args):
        own, outer = list(args[:self.n_inputs]), args[self.n_inputs:]
        own += [None] * (self.n_inputs - len(own))
        return own, dict(zip(self.ctx_outer, outer))

    def inner_blocker(self, *bodies):
        for body in bodies:
            for node, op, why in body.graph_blockers:
                return f"its subgraph node {node!r} ({op}): {why}"
        return None


# --- If -------------------------------------------------------------------------------------------
class IfLayer(_ControlFlow):
    def __init__(self, ctx):
        super().__init__(ctx)
        n_out = len(ctx.outputs)
        self.then_branch = _validated(ctx, "then_branch", 0, n_out)
        self.else_branch = _validated(ctx, "else_branch", 0, n_out)
        cond = ctx.const(0)
        self.static = None if cond is None else bool(np.asarray(cond).reshape(-1)[0])
        if cond is not None:
            ctx.claim(0)
            taken = self.then_branch if self.static else self.else_branch
            self.graph_blocker = self.inner_blocker(taken)
        else:
            self.graph_blocker = "the branch taken depends on the condition's value"

    def forward(self, *args):
        (cond,), outer = self.split(args)
        take = self.static if self.static is not None else _scalar_bool(cond)
        return tuple((self.then_branch if take else self.else_branch).call(outer, []))


@register("If", 1, 11, 13, 16, 19, 21)
def if_(ctx):
    return IfLayer(ctx)


# --- Loop -----------------------------------------------------------------------------------------
class LoopLayer(_ControlFlow):
    """inputs (M, cond, v_initial...); body (iter, cond, v...) -> (cond, v..., scan elements...)."""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.n_carried = len(ctx.inputs) - 2
        if self.n_carried < 0:
            raise ValueError("Loop needs the inputs M and cond (either may be empty)")
        self.n_scan = len(ctx.outputs) - self.n_carried
        if self.n_scan < 0:
            raise ValueError(f"{len(ctx.outputs)} outputs for {self.n_carried} loop-carried values")
        self.body = _validated(ctx, "body", 2 + self.n_carried, 1 + self.n_carried + self.n_scan)
        body = ctx.attr("body")
        self.trip = self._const(ctx, 0, int)
        self.cond = self._const(ctx, 1, bool)
        if not ctx.has_input(1):
            self.cond = True
        # The body's condition output: the same every iteration when it passes its input on, or is
        # a constant; otherwise it must be read each iteration.
        cond_out = _through_identity(body, body.output[0].name)
        self.cond_passthrough = cond_out == body.input[1].name
        const_out = self.body.constant(cond_out)
        self.cond_out = None if const_out is None else bool(np.asarray(const_out).reshape(-1)[0])
        if not ctx.has_input(0) and self.cond is True and (self.cond_passthrough or self.cond_out):
            raise ctx.unsupported("the loop has no trip count and a condition that stays true: it never ends")
        static_count = (self.trip is not None or not ctx.has_input(0)) and self.cond is not None and \
            (self.cond_passthrough or self.cond_out is not None)
        self.graph_blocker = self.inner_blocker(self.body) if static_count else \
            "its iteration count depends on tensor values (trip count or condition)"

    @staticmethod
    def _const(ctx, i, kind):
        value = ctx.const(i)
        if value is None:
            return None
        ctx.claim(i)
        return kind(np.asarray(value).reshape(-1)[0])

    def forward(self, *args):
        own, outer = self.split(args)
        trip_t, cond_t, carried = own[0], own[1], own[2:]
        device = _device(own)
        trip = self.trip if self.trip is not None else \
            (int(trip_t.numpy().reshape(-1)[0]) if trip_t is not None else None)
        cond = self.cond if self.cond is not None else _scalar_bool(cond_t)
        scans = [[] for _ in range(self.n_scan)]
        i = 0
        while cond and (trip is None or i < trip):
            outs = self.body.call(outer, [flow.tensor(i, dtype=flow.int64, device=device),
                                          flow.tensor(cond, dtype=flow.bool, device=device), *carried])
            carried = outs[1:1 + self.n_carried]
            for k, elem in enumerate(outs[1 + self.n_carried:]):
                scans[k].append(elem)
            if not self.cond_passthrough:
                cond = self.cond_out if self.cond_out is not None else _scalar_bool(outs[0])
            i += 1
        stacked = [flow.stack(s, dim=0) if s else _empty_stack(self.body, 1 + self.n_carried + k, 0, device)
                   for k, s in enumerate(scans)]
        return tuple(carried) + tuple(stacked)


@register("Loop", 1, 11, 13, 16, 19, 21)
def loop(ctx):
    return LoopLayer(ctx)


# --- Scan -----------------------------------------------------------------------------------------
def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


class ScanLayer(_ControlFlow):
    """Scan-9+: inputs (state..., scan input...); body (state..., slice...) -> (state..., element...).
    Scan-8: a leading optional sequence_lens input and a batch axis 0 on every input and output."""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.batched = ctx.version == 8
        first = 1 if self.batched else 0
        m = ctx.attr("num_scan_inputs")
        self.n_state = len(ctx.inputs) - first - m
        self.n_scan_out = len(ctx.outputs) - self.n_state
        if m is None or m < 1 or self.n_state < 0 or self.n_scan_out < 0:
            raise ValueError(f"num_scan_inputs={m} does not fit {len(ctx.inputs)} inputs and "
                             f"{len(ctx.outputs)} outputs")
        self.body = _validated(ctx, "body", self.n_state + m, self.n_state + self.n_scan_out)
        self.in_axes = list(ctx.attr("scan_input_axes") or [0] * m)
        self.in_dirs = list(ctx.attr("directions" if self.batched else "scan_input_directions") or [0] * m)
        self.out_axes = list(ctx.attr("scan_output_axes") or [0] * self.n_scan_out)
        self.out_dirs = list(ctx.attr("scan_output_directions") or [0] * self.n_scan_out)
        if len(self.in_axes) != m or len(self.in_dirs) != m or len(self.out_axes) != self.n_scan_out \
                or len(self.out_dirs) != self.n_scan_out:
            raise ValueError("scan axes/directions attributes must have one entry per scan input/output")
        self.first = first
        self.graph_blocker = self.inner_blocker(self.body)

    def forward(self, *args):
        own, outer = self.split(args)
        states, xs = own[self.first:self.first + self.n_state], own[self.first + self.n_state:]
        if not self.batched:
            return self._scan(outer, states, xs, _device(own))
        lens = own[0]
        batch = xs[0].shape[0]
        full = xs[0].shape[1]
        if lens is not None and any(int(n) != full for n in lens.numpy().reshape(-1)):
            raise ValueError(f"Scan-8 sequence_lens {lens.numpy().tolist()} shorter than the scan axis "
                             f"({full}) are not supported")
        rows = [self._scan(outer, [s[b] for s in states], [x[b] for x in xs], _device(own))
                for b in range(batch)]
        return tuple(flow.stack([r[k] for r in rows], dim=0) for k in range(len(self.body.output_names)))

    def _scan(self, outer, states, xs, device):
        axes = [_axis(a, x.ndim) for a, x in zip(self.in_axes, xs)]
        lengths = {x.shape[a] for a, x in zip(axes, xs)}
        if len(lengths) != 1:
            raise ValueError(f"scan inputs disagree on the sequence length: {sorted(lengths)}")
        length = lengths.pop()
        elems = [[] for _ in range(self.n_scan_out)]
        for t in range(length):
            # narrow + squeeze, not select: nn.Graph has no lazy select
            slices = [flow.narrow(x, a, length - 1 - t if d else t, 1).squeeze(a)
                      for x, a, d in zip(xs, axes, self.in_dirs)]
            outs = self.body.call(outer, [*states, *slices])
            states = outs[:self.n_state]
            for k, e in enumerate(outs[self.n_state:]):
                elems[k].append(e)
        results = []
        for k, (seq, axis, reverse) in enumerate(zip(elems, self.out_axes, self.out_dirs)):
            if not seq:
                results.append(_empty_stack(self.body, self.n_state + k, axis, device))
                continue
            seq = seq[::-1] if reverse else seq
            results.append(flow.stack(seq, dim=_axis(axis, seq[0].ndim + 1)))
        return tuple(states) + tuple(results)


@register("Scan", 8, 9, 11, 16, 19, 21)
def scan(ctx):
    return ScanLayer(ctx)


# --- SequenceMap ------------------------------------------------------------------------------------
class SequenceMapLayer(_ControlFlow):
    """Body applied to element i of every sequence input (tensor inputs passed whole); each output
    is the sequence of the body's results."""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.n_out = len(ctx.outputs)
        self.body = _validated(ctx, "body", len(ctx.inputs), self.n_out)
        self.graph_blocker = self.inner_blocker(self.body)

    def forward(self, *args):
        own, outer = self.split(args)
        lengths = {len(a) for a in own if isinstance(a, list)}
        if len(lengths) > 1:
            raise ValueError(f"input sequences differ in length: {sorted(lengths)}")
        results = [[] for _ in range(self.n_out)]
        for i in range(lengths.pop() if lengths else 0):
            outs = self.body.call(outer, [a[i] if isinstance(a, list) else a for a in own])
            for k, v in enumerate(outs):
                results[k].append(v)
        return tuple(results)


@register("SequenceMap", 17)
def sequence_map(ctx):
    return SequenceMapLayer(ctx)
