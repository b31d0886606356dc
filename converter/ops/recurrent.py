"""Recurrent layers: RNN, GRU, LSTM (every direction, layout, clip, activation list, peepholes).

OneFlow's nn.LSTM/GRU fix the activations and gate order, and have no peepholes, clip or
GRU's linear_before_reset=0, so the cell equations of the ONNX spec are unrolled over time
with OneFlow matmuls. Sequences are short at inference; the input projection of every step
is one batched matmul up front.
"""
from __future__ import annotations

import oneflow as flow
import oneflow.nn.functional as F

from ..registry import register
from ._util import require

_ACTIVATIONS = {
    "Relu": lambda a, b: flow.relu,
    "Tanh": lambda a, b: flow.tanh,
    "Sigmoid": lambda a, b: flow.sigmoid,
    "Affine": lambda a, b: (lambda x: a * x + b),
    "LeakyRelu": lambda a, b: (lambda x: F.leaky_relu(x, a)),
    "ThresholdedRelu": lambda a, b: (lambda x: flow.where(x > a, x, flow.zeros_like(x))),
    "ScaledTanh": lambda a, b: (lambda x: a * flow.tanh(b * x)),
    "HardSigmoid": lambda a, b: (lambda x: flow.clamp(a * x + b, 0.0, 1.0)),
    "Elu": lambda a, b: (lambda x: flow.where(x > 0, x, a * (flow.exp(x) - 1))),
    "Softsign": lambda a, b: (lambda x: x / (1 + flow.abs(x))),
    "Softplus": lambda a, b: (lambda x: flow.log1p(flow.exp(x))),
}
# ONNX defaults for alpha/beta where the attribute lists leave them out
_DEFAULT_ALPHA_BETA = {"Affine": (1.0, 0.0), "LeakyRelu": (0.01, 0.0), "ThresholdedRelu": (1.0, 0.0),
                       "ScaledTanh": (1.0, 1.0), "HardSigmoid": (0.2, 0.5), "Elu": (1.0, 0.0)}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}


_NOTES = ("layout=1 is layout 0 transposed, as the spec (ONNX Runtime 1.19 does not implement it; tested "
          "against its layout-0 result); reverse directions reverse each sequence within its sequence_lens")


def _directions(ctx):
    return 2 if ctx.attr("direction", "forward") == "bidirectional" else 1


def _activation_list(ctx):
    names = list(ctx.attr("activations") or _DEFAULT_ACTIVATIONS[ctx.op_type] * _directions(ctx))
    alphas, betas = list(ctx.attr("activation_alpha") or []), list(ctx.attr("activation_beta") or [])
    fns = []
    for i, name in enumerate(names):
        a, b = _DEFAULT_ALPHA_BETA.get(name, (0.0, 0.0))
        a = alphas[i] if i < len(alphas) else a
        b = betas[i] if i < len(betas) else b
        fns.append(_ACTIVATIONS[name](a, b))
    return fns


def _recurrent_check(ctx):
    names = ctx.attr("activations") or []
    unknown = sorted(set(names) - set(_ACTIVATIONS))
    if unknown:
        return f"activations {unknown}"
    if ctx.op_type == "LSTM" and ctx.attr("input_forget", 0):
        return "input_forget=1"
    return None


def _cell(op_type, acts, clip, hidden, linear_before_reset, recur=None):
    """step(x_proj, h, c, r, rb, p) -> (h, c) for one direction; x_proj = X W^T + Wb.
    ``recur(h, r)`` (LSTM only) replaces h R^T (DynamicQuantizeLSTM's quantized product)."""
    def clipped(v):
        return v if clip is None else flow.clamp(v, -clip, clip)

    if op_type == "RNN":
        f = acts[0]

        def step(xp, h, c, r, rb, p):
            return f(clipped(xp + flow.matmul(h, r.T) + rb)), c
    elif op_type == "GRU":
        f, g = acts

        def step(xp, h, c, r, rb, p):
            xz, xr, xh = xp.chunk(3, dim=-1)
            rz, rr, rh = r.chunk(3, dim=0)
            bz, br, bh = rb.chunk(3, dim=-1)
            z = f(clipped(xz + flow.matmul(h, rz.T) + bz))
            rt = f(clipped(xr + flow.matmul(h, rr.T) + br))
            if linear_before_reset:
                cand = g(clipped(xh + rt * (flow.matmul(h, rh.T) + bh)))
            else:
                cand = g(clipped(xh + flow.matmul(rt * h, rh.T) + bh))
            return (1 - z) * cand + z * h, c
    else:
        f, g, act_h = acts

        def step(xp, h, c, r, rb, p):
            gates = xp + (flow.matmul(h, r.T) if recur is None else recur(h, r)) + rb
            gi, go, gf, gc = gates.chunk(4, dim=-1)
            pi, po, pf = (None, None, None) if p is None else p.chunk(3, dim=-1)
            i = f(clipped(gi if pi is None else gi + pi * c))
            fg = f(clipped(gf if pf is None else gf + pf * c))
            c_new = fg * c + i * g(clipped(gc))
            o = f(clipped(go if po is None else go + po * c_new))
            return o * act_h(c_new), c_new
    return step


def _build(ctx, project=None, recur=None):
    """The layer's run(); ``project(x, w)`` and ``recur(h, r)`` replace the input and recurrent
    products x W^T and h R^T of one direction (DynamicQuantizeLSTM: quantized, W/R as it stores them)."""
    require(ctx, _recurrent_check)
    op_type, hidden = ctx.op_type, ctx.attr("hidden_size")
    gates, n_dir = _GATES[op_type], _directions(ctx)
    direction, layout, clip = ctx.attr("direction", "forward"), ctx.attr("layout", 0), ctx.attr("clip")
    acts = _activation_list(ctx)
    per_dir = len(acts) // n_dir
    cells = [_cell(op_type, acts[d * per_dir:(d + 1) * per_dir], clip, hidden,
                   ctx.attr("linear_before_reset", 0), recur) for d in range(n_dir)]
    is_lstm = op_type == "LSTM"

    def run(x, w, r, b=None, seq_lens=None, h0=None, c0=None, p=None):
        if layout:
            x = x.transpose(0, 1)                      # -> [seq, batch, input]
            h0 = None if h0 is None else h0.transpose(0, 1)
            c0 = None if c0 is None else c0.transpose(0, 1)
        seq, batch = x.shape[0], x.shape[1]
        lens = None if seq_lens is None else seq_lens.to(flow.int64)
        outs, last_h, last_c = [], [], []
        for d in range(n_dir):
            reverse = direction == "reverse" or d == 1
            wb = rb = flow.zeros(gates * hidden, dtype=x.dtype, device=x.device)
            if b is not None:
                wb, rb = b[d, :gates * hidden], b[d, gates * hidden:]
            xp = (flow.matmul(x, w[d].T) if project is None else project(x, w[d])) + wb   # [seq, batch, 4h]
            h = flow.zeros(batch, hidden, dtype=x.dtype, device=x.device) if h0 is None else h0[d]
            c = flow.zeros_like(h) if c0 is None else c0[d]
            peep = None if p is None else p[d]
            ys = [None] * seq
            for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
                h_new, c_new = cells[d](xp[t], h, c, r[d], rb, peep)
                if lens is not None:
                    # Past a sequence's end: keep the state, emit zeros. Run backwards, the
                    # kept initial state is where each sequence's reversal starts (t = len-1).
                    live = (lens > t).reshape(-1, 1)
                    h_new = flow.where(live, h_new, h)
                    c_new = flow.where(live, c_new, c)
                    ys[t] = flow.where(live, h_new, flow.zeros_like(h_new))
                else:
                    ys[t] = h_new
                h, c = h_new, c_new
            outs.append(flow.stack(ys))                     # [seq, batch, hidden]
            last_h.append(h)
            last_c.append(c)
        y = flow.stack(outs, dim=1)                         # [seq, dirs, batch, hidden]
        y_h, y_c = flow.stack(last_h), flow.stack(last_c)  # [dirs, batch, hidden]
        if layout:
            y, y_h, y_c = y.permute(2, 0, 1, 3), y_h.transpose(0, 1), y_c.transpose(0, 1)
        return (y, y_h, y_c) if is_lstm else (y, y_h)

    return run


@register("RNN", 1, 7, 14, 22, check=_recurrent_check, notes=_NOTES)
def rnn(ctx):
    return _build(ctx)


@register("GRU", 1, 3, 7, 14, 22, check=_recurrent_check, notes=_NOTES)
def gru(ctx):
    return _build(ctx)


@register("LSTM", 1, 7, 14, 22, check=_recurrent_check, notes=_NOTES)
def lstm(ctx):
    return _build(ctx)
