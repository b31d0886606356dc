"""More op families for the property tests: indexing/scatter, tensor utilities, variadic
elementwise, quantization and recurrent ops (the ops prop_strategies.py does not draw).

Same discipline as prop_strategies.py: the opset first, then only ops onnx.defs defines
there, dtypes from the op's type constraints, attributes/inputs in that opset's form, and
values valid for the op (indices in [-s, s-1], no duplicate scatter targets without a
reduction: the spec leaves those undefined).
"""
from __future__ import annotations

import string

import numpy as np
from hypothesis import strategies as st

from prop_oracle import Example
from prop_strategies import (FLOATS, allowed_dtypes, broadcast_shape, dtype_of, i64, node, op_at_opset, rng_of,
                             shapes, since, values, _onnx_type)

_ANY = [np.dtype(t) for t in (np.float32, np.float64, np.float16, np.int8, np.uint8, np.int32, np.int64,
                              np.bool_)]


def _index_dtype(draw):
    return np.dtype(draw(st.sampled_from([np.int64, np.int32])))


# --- gather / scatter ------------------------------------------------------------------------------
@st.composite
def gather_scatter(draw):
    op, opset = draw(op_at_opset(["GatherElements", "GatherND", "ScatterElements", "ScatterND"]))
    dt = dtype_of(draw, op, opset, only=_ANY)
    shape = draw(shapes(min_rank=1, max_rank=4))
    rank = len(shape)
    rng = rng_of(draw)
    x = values(rng, shape, dt)
    fed = draw(st.booleans())        # indices fed at run time, or an initializer (build-time checks)

    def out(nodes, ins, idx_name, idx, extra=None):
        feeds, consts = {"x": x, **(extra or {})}, {}
        (feeds if fed else consts)[idx_name] = idx
        return Example(opset, nodes, feeds, consts)

    if op in ("GatherElements", "ScatterElements"):
        axis = draw(st.integers(-rank, rank - 1))
        ax = axis % rank
        reduction = None
        if op == "ScatterElements" and since(op, opset) >= 16:
            reduction = draw(st.sampled_from([None, "none", "add", "mul"] + (["max", "min"] if opset >= 18 else [])))
        if op == "GatherElements":
            ishape = tuple(draw(st.integers(1, 4)) if i == ax else draw(st.integers(1, d))
                           for i, d in enumerate(shape))
            idx = rng.integers(-shape[ax], shape[ax], size=ishape)
        else:
            ishape = tuple(draw(st.integers(1, d)) for d in shape)
            if reduction in (None, "none"):
                # distinct targets along the axis for each position (duplicates are undefined)
                idx = np.stack([rng.permutation(shape[ax])[:ishape[ax]]
                                for _ in range(int(np.prod(ishape)) // ishape[ax])])
                idx = np.moveaxis(idx.reshape(tuple(d for i, d in enumerate(ishape) if i != ax) + (ishape[ax],)),
                                  -1, ax)
                idx = np.where(rng.random(idx.shape) < 0.3, idx - shape[ax], idx)
            else:
                idx = rng.integers(-shape[ax], shape[ax], size=ishape)
        idx = idx.astype(_index_dtype(draw))
        if op == "GatherElements":
            return out([node(op, ["x", "i"], axis=axis)], ["x", "i"], "i", idx)
        upd = values(rng, idx.shape, dt)
        return out([node(op, ["x", "i", "u"], axis=axis, reduction=reduction)], None, "i", idx, {"u": upd})
    if op == "GatherND":
        b = draw(st.integers(0, rank - 1)) if since(op, opset) >= 12 else 0
        k = draw(st.integers(1, rank - b))
        inner = draw(shapes(min_rank=0, max_rank=2, max_dim=3))
        ishape = tuple(shape[:b]) + inner
        cols = [rng.integers(-shape[b + j], shape[b + j], size=ishape) for j in range(k)]
        idx = np.stack(cols, axis=-1).astype(np.int64)
        return out([node(op, ["x", "i"], batch_dims=b if b or draw(st.booleans()) else None)], None, "i", idx)
    # ScatterND
    k = draw(st.integers(1, rank))
    reduction = None
    if since(op, opset) >= 16:
        reduction = draw(st.sampled_from([None, "none", "add", "mul"] + (["max", "min"] if opset >= 18 else [])))
    cells = int(np.prod(shape[:k]))
    n = draw(st.integers(1, min(cells, 4)))
    if reduction in (None, "none"):
        flat = rng.permutation(cells)[:n]
    else:
        flat = rng.integers(0, cells, size=n)
    idx = np.stack(np.unravel_index(flat, shape[:k]), axis=-1)
    idx = np.where(rng.random(idx.shape) < 0.3, idx - np.asarray(shape[:k]), idx).astype(np.int64)
    if draw(st.booleans()) and n % 2 == 0:
        idx = idx.reshape(2, n // 2, k)
    upd = values(rng, idx.shape[:-1] + tuple(shape[k:]), dt)
    return out([node(op, ["x", "i", "u"], reduction=reduction)], None, "i", idx, {"u": upd})


# --- selection: OneHot, Compress, NonZero, Unique, Trilu, ReverseSequence, Range ------------------
@st.composite
def selection(draw):
    op, opset = draw(op_at_opset(["OneHot", "Compress", "NonZero", "Unique", "Trilu", "ReverseSequence", "Range",
                                  "EyeLike"]))
    rng = rng_of(draw)
    if op == "OneHot":
        t1 = dtype_of(draw, op, opset, "T1", only=_ANY)
        t2 = dtype_of(draw, op, opset, "T2", only=_ANY)
        t3 = dtype_of(draw, op, opset, "T3", only=_ANY)
        depth = draw(st.integers(1, 5))
        ishape = draw(shapes(min_rank=1, max_rank=3))      # rank >= 1 (spec)
        lo = 0 if t1.kind == "u" else -depth - 1
        idx = rng.integers(lo, depth + 2, size=ishape)          # outside [-depth, depth-1]: all "off"
        if t1.kind == "f":
            idx = idx + rng.choice([0.0, 0.25, 0.75], size=ishape) * (draw(st.booleans()))
        axis = draw(st.integers(-len(ishape) - 1, len(ishape)))
        vals = values(rng, (2,), t3)
        d = np.asarray(depth if draw(st.booleans()) else [depth]).astype(t2)
        feeds, consts = {"i": np.asarray(idx).astype(t1)}, {"values": vals}
        (feeds if draw(st.booleans()) else consts)["depth"] = d
        return Example(opset, [node(op, ["i", "depth", "values"], axis=axis if draw(st.booleans()) else None)],
                       feeds, consts)
    if op == "Range":
        dt = dtype_of(draw, op, opset, only=_ANY)
        if dt.kind == "f":
            start, limit = (float(v) for v in rng.integers(-12, 13, size=2) / 2)
            delta = float(draw(st.sampled_from([0.5, 1.0, -1.0, 1.5, -0.75, 2.0])))
        else:
            start, limit = (int(v) for v in rng.integers(-8, 9, size=2))
            delta = draw(st.sampled_from([1, 2, -1, -3, 5]))
        vals = {n: np.asarray(v, dtype=dt) for n, v in (("start", start), ("limit", limit), ("delta", delta))}
        feeds = {n: v for n, v in vals.items() if draw(st.booleans())}
        if not feeds:
            feeds = {"start": vals.pop("start")}
        return Example(opset, [node(op, ["start", "limit", "delta"])], feeds,
                       {n: v for n, v in vals.items() if n not in feeds})
    if op == "EyeLike":
        dt = dtype_of(draw, op, opset, "T1", only=_ANY)
        x = values(rng, draw(shapes(min_rank=2, max_rank=2)), dt)
        attrs = {"k": draw(st.sampled_from([None, 0, 1, -1, 2, -3, 5]))}
        if draw(st.booleans()):
            attrs["dtype"] = int(_onnx_type(dtype_of(draw, op, opset, "T2", only=_ANY)))
        return Example(opset, [node(op, ["x"], **attrs)], {"x": x})
    dt = dtype_of(draw, op, opset, only=_ANY)
    if op == "Trilu":
        x = values(rng, draw(shapes(min_rank=2, max_rank=4)), dt)
        ins, consts = ["x"], {}
        if draw(st.booleans()):
            ins.append("k")
            consts["k"] = i64(draw(st.integers(-5, 5)))
        return Example(opset, [node(op, ins, upper=draw(st.sampled_from([None, 0, 1])))], {"x": x}, consts)
    if op == "ReverseSequence":
        shape = draw(shapes(min_rank=2, max_rank=4))
        time_axis = draw(st.sampled_from([0, 1]))
        batch_axis = 1 - time_axis
        lens = rng.integers(1, shape[time_axis] + 1, size=shape[batch_axis])
        return Example(opset, [node(op, ["x", "lens"], time_axis=time_axis, batch_axis=batch_axis)],
                       {"x": values(rng, shape, dt)}, {"lens": i64(lens)})
    shape = draw(shapes(min_rank=0 if op in ("NonZero",) else 1, max_rank=3))
    x = values(rng, shape, dt)
    if dt.kind in "iu":       # repeats for Unique
        x = (x % 3).astype(dt)
    if op == "NonZero":
        return Example(opset, [node(op, ["x"])], {"x": x})
    if op == "Compress":
        axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
        n = x.size if axis is None else shape[axis]
        cond = rng.random(draw(st.integers(0, n))) < 0.5
        feeds, consts = {"x": x}, {}
        (feeds if draw(st.booleans()) else consts)["c"] = cond
        return Example(opset, [node(op, ["x", "c"], axis=axis)], feeds, consts)
    # Unique
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    outs = ["y", "indices", "inverse", "counts"][:draw(st.integers(1, 4))]
    return Example(opset, [node(op, ["x"], outs, axis=axis, sorted=draw(st.sampled_from([None, 0, 1])))], {"x": x})


# --- tensor utilities -----------------------------------------------------------------------------
_EINSUM = ["ij,jk->ik", "bij,bjk->bik", "ii->i", "ij->ji", "ij->", "i,i->", "i,j->ij", "...ij,...jk->...ik",
           "bhqd,bhkd->bhqk", "ij,ij->ij", "ij,jk", "ijk->kj", "i->i", "ij->i", "...i->...", "a,ab,bc->ac"]


@st.composite
def tensor_misc(draw):
    op, opset = draw(op_at_opset(["DepthToSpace", "SpaceToDepth", "Shape", "Size", "CastLike", "ConstantOfShape",
                                  "Einsum", "CenterCropPad", "Dropout", "Det", "GlobalLpPool", "Sum", "Mean",
                                  "Max", "Min", "Identity", "Mod", "Div"]))
    rng = rng_of(draw)
    if op in ("Sum", "Mean", "Max", "Min"):
        dt = dtype_of(draw, op, opset, only=_ANY)
        full = draw(shapes(max_rank=3))
        n = draw(st.integers(1, 4))
        ins = {f"x{i}": values(rng, draw(broadcast_shape(full)) if i else full, dt) for i in range(n)}
        if n > 1 and draw(st.booleans()):
            ins = dict(reversed(list(ins.items())))
        return Example(opset, [node(op, list(ins))], ins)
    if op in ("Mod", "Div"):
        # integer division and remainder with both signs, every fmod form valid for the dtype
        dt = dtype_of(draw, op, opset, only=[np.dtype(t) for t in (np.int8, np.int32, np.int64, np.float32,
                                                                   np.float64, np.uint8)])
        a_shape = draw(shapes(max_rank=3))
        a = values(rng, a_shape, dt) * (7 if dt.kind == "i" else 1)
        b = values(rng, draw(broadcast_shape(a_shape)), dt, "nonzero")
        attrs = {}
        if op == "Mod":
            attrs["fmod"] = 1 if dt.kind == "f" else draw(st.sampled_from([None, 0, 1]))
        return Example(opset, [node(op, ["a", "b"], **attrs)], {"a": a.astype(dt), "b": b})
    if op in ("DepthToSpace", "SpaceToDepth"):
        dt = dtype_of(draw, op, opset, only=_ANY)
        bs = draw(st.integers(1, 3))
        n, c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        attrs = {"blocksize": bs}
        if op == "DepthToSpace":
            shape = (n, c * bs * bs, h, w)
            if since(op, opset) >= 11:
                attrs["mode"] = draw(st.sampled_from([None, "DCR", "CRD"]))
        else:
            shape = (n, c, h * bs, w * bs)
        return Example(opset, [node(op, ["x"], **attrs)], {"x": values(rng, shape, dt)})
    if op in ("Shape", "Size", "Identity"):
        dt = draw(st.sampled_from(_ANY))
        shape = draw(shapes(max_rank=4))
        attrs = {}
        if op == "Shape" and opset >= 15:
            r = len(shape)
            attrs = {"start": draw(st.none() | st.integers(-r - 2, r + 2)),
                     "end": draw(st.none() | st.integers(-r - 2, r + 2))}
        return Example(opset, [node(op, ["x"], **attrs)], {"x": values(rng, shape, dt)})
    if op == "CastLike":
        src = dtype_of(draw, op, opset, "T1", only=_ANY)
        dst = dtype_of(draw, op, opset, "T2", only=_ANY)
        x = values(rng, draw(shapes(max_rank=3)), src)
        if src.kind == "f" and dst.kind in "iub":
            x = (np.abs(x) if dst.kind == "u" else x)
            x = (np.trunc(x) + np.where(x >= 0, 0.25, -0.25)).astype(src)
        if src.kind == "i" and dst.kind == "u":
            x = np.abs(x)
        like = values(rng, draw(shapes(max_rank=2)), dst)
        feeds, consts = {"x": x}, {}
        (feeds if draw(st.booleans()) else consts)["like"] = like
        return Example(opset, [node(op, ["x", "like"])], feeds, consts)
    if op == "ConstantOfShape":
        dims = draw(shapes(max_rank=3, min_dim=0))
        attrs = {}
        if draw(st.booleans()):
            dt = dtype_of(draw, op, opset, "T2", only=_ANY)
            from onnx import numpy_helper
            attrs["value"] = numpy_helper.from_array(values(rng, (1,), dt), "value")
        shape_in = {"shape": i64(list(dims))}
        fed = draw(st.booleans())     # fed: the output shape is known only at run time
        return Example(opset, [node(op, ["shape"], **attrs)], shape_in if fed else {}, {} if fed else shape_in)
    if op == "Einsum":
        eq = draw(st.sampled_from(_EINSUM))
        dt = dtype_of(draw, op, opset, only=[np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64)])
        letters = {c: draw(st.integers(1, 3)) for c in string.ascii_lowercase}
        ell = draw(shapes(max_rank=2, max_dim=3))
        lhs = eq.split("->")[0].split(",")
        feeds = {}
        for i, term in enumerate(lhs):
            dims = []
            if term.startswith("..."):
                # one ellipsis rank for every operand: onnx 1.17's Einsum shape inference
                # segfaults on ellipses of different ranks (e.g. [3,2] with [2,2,2]).
                dims += [1 if draw(st.booleans()) and draw(st.booleans()) else d for d in ell]
                term = term[3:]
            dims += [letters[c] for c in term]
            feeds[f"x{i}"] = values(rng, tuple(dims), dt)
        return Example(opset, [node(op, list(feeds), equation=eq)], feeds)
    if op == "CenterCropPad":
        dt = dtype_of(draw, op, opset, only=_ANY)
        shape = draw(shapes(min_rank=1, max_rank=3))
        rank = len(shape)
        axes = draw(st.none() | st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank,
                                         unique_by=lambda a: a % rank))
        n = rank if axes is None else len(axes)
        target = [draw(st.integers(1, 6)) for _ in range(n)]
        return Example(opset, [node(op, ["x", "s"], axes=axes)], {"x": values(rng, shape, dt)}, {"s": i64(target)})
    if op == "Dropout":
        dt = dtype_of(draw, op, opset, only=FLOATS)
        x = values(rng, draw(shapes(max_rank=3)), dt)
        outs = ["y", "mask"][:draw(st.integers(1, 2))]
        if since(op, opset) >= 12:
            ins, consts = ["x"], {}
            if draw(st.booleans()):
                ins.append("ratio")
                consts["ratio"] = np.asarray(draw(st.sampled_from([0.0, 0.5])), dtype=np.float32)
                if draw(st.booleans()):
                    ins.append("training")
                    consts["training"] = np.asarray(False)
            return Example(opset, [node(op, ins, outs)], {"x": x}, consts)
        return Example(opset, [node(op, ["x"], outs, ratio=draw(st.sampled_from([None, 0.3])))], {"x": x})
    if op == "Det":
        dt = dtype_of(draw, op, opset, only=[np.dtype(np.float32), np.dtype(np.float64)])
        m = draw(st.integers(1, 4))
        return Example(opset, [node(op, ["x"])], {"x": values(rng, draw(shapes(max_rank=2, max_dim=3)) + (m, m), dt)})
    # GlobalLpPool
    dt = dtype_of(draw, op, opset, only=[np.dtype(np.float32), np.dtype(np.float64)])
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + draw(shapes(min_rank=1, max_rank=2))
    return Example(opset, [node(op, ["x"], p=draw(st.sampled_from([None, 1, 2, 3])))], {"x": values(rng, shape, dt)})


# --- quantization ---------------------------------------------------------------------------------
@st.composite
def quantization(draw):
    op, opset = draw(op_at_opset(["QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger",
                                  "QLinearMatMul"]))
    rng = rng_of(draw)
    q = np.dtype(draw(st.sampled_from([np.uint8, np.int8])))
    info = np.iinfo(q)
    if op in ("QuantizeLinear", "DequantizeLinear"):
        shape = draw(shapes(min_rank=1, max_rank=3))
        per_axis = since(op, opset) >= 13 and draw(st.booleans())
        axis = draw(st.integers(-len(shape), len(shape) - 1)) if per_axis else None
        sshape = (shape[axis],) if per_axis else ()
        scale = (rng.uniform(0.05, 0.5, size=sshape)).astype(np.float32)
        zp = rng.integers(info.min // 2, info.max // 2, size=sshape).astype(q)
        ins, consts = ["x", "s"], {"s": scale}
        if draw(st.booleans()):
            ins.append("zp")
            consts["zp"] = zp
        if op == "QuantizeLinear":
            x = (rng.standard_normal(shape) * 20).astype(np.float32)
            if draw(st.booleans()):     # ties: x / scale exactly .5 (rounding half to even)
                x = ((rng.integers(-40, 40, size=shape) + 0.5) * scale.reshape(
                    [-1 if i == (axis or 0) % len(shape) and per_axis else 1 for i in range(len(shape))])
                     ).astype(np.float32)
        else:
            x = rng.integers(info.min, info.max + 1, size=shape).astype(q)
            if "zp" not in consts and q == np.int8 and draw(st.booleans()):
                x = rng.integers(-50, 50, size=shape).astype(np.int32)    # int32 input, no zero point
        return Example(opset, [node(op, ins, axis=axis)], {"x": x}, consts)
    if op == "DynamicQuantizeLinear":
        x = (rng.standard_normal(draw(shapes(min_rank=1, max_rank=3))) * 3).astype(np.float32)
        if draw(st.booleans()):
            x = np.abs(x)
        return Example(opset, [node(op, ["x"], ["y", "scale", "zp"])], {"x": x})
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    qb = np.dtype(draw(st.sampled_from([np.uint8, np.int8]))) if op == "MatMulInteger" else q
    a = rng.integers(np.iinfo(q).min, np.iinfo(q).max + 1, size=draw(shapes(max_rank=1, max_dim=2)) + (m, k)).astype(q)
    b = rng.integers(np.iinfo(qb).min, np.iinfo(qb).max + 1, size=(k, n)).astype(qb)
    if op == "MatMulInteger":
        ins, consts = ["a", "b"], {"b": b}
        if draw(st.booleans()):
            ins += ["azp", "bzp"]
            consts.update(azp=np.asarray(rng.integers(-3, 4) + (3 if q == np.uint8 else 0), dtype=q),
                          bzp=np.asarray(rng.integers(-3, 4) + (3 if qb == np.uint8 else 0), dtype=qb))
        return Example(opset, [node(op, ins)], {"a": a}, consts)
    f = lambda lo, hi: np.asarray(rng.uniform(lo, hi), dtype=np.float32)  # noqa: E731
    zp = lambda: np.asarray(rng.integers(-5, 6) + (128 if q == np.uint8 else 0), dtype=q)  # noqa: E731
    consts = {"as": f(0.01, 0.1), "azp": zp(), "b": b, "bs": f(0.01, 0.1), "bzp": zp(),
              "ys": f(0.05, 0.5), "yzp": zp()}
    return Example(opset, [node(op, ["a", "as", "azp", "b", "bs", "bzp", "ys", "yzp"])], {"a": a}, consts)


# --- recurrent ------------------------------------------------------------------------------------
@st.composite
def recurrent(draw):
    op, opset = draw(op_at_opset(["RNN", "GRU", "LSTM"]))
    rng = rng_of(draw)
    # ORT 1.19.2 runs RNN, GRU and LSTM on float32 only (no double kernels): nothing to compare with.
    dt = np.dtype(np.float32)
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    seq, batch, inp, hid = (draw(st.integers(1, 3)) for _ in range(4))
    direction = draw(st.sampled_from([None, "forward", "reverse", "bidirectional"]))
    dirs = 2 if direction == "bidirectional" else 1
    layout = draw(st.sampled_from([None, 0, 1])) if since(op, opset) >= 14 else None
    x_shape = (batch, seq, inp) if layout == 1 else (seq, batch, inp)
    w = values(rng, (dirs, gates * hid, inp), dt, "unit")
    r = values(rng, (dirs, gates * hid, hid), dt, "unit")
    ins, consts = ["x", "w", "r"], {"w": w, "r": r}
    if draw(st.booleans()):
        ins.append("b")
        consts["b"] = values(rng, (dirs, 2 * gates * hid), dt, "unit")
    feeds = {"x": values(rng, x_shape, dt, "unit")}
    if draw(st.booleans()):
        ins += [""] * (4 - len(ins)) + ["lens"]
        consts["lens"] = rng.integers(1, seq + 1, size=batch).astype(np.int32)
    if draw(st.booleans()):
        ins += [""] * (5 - len(ins)) + ["h0"]
        h_shape = (batch, dirs, hid) if layout == 1 else (dirs, batch, hid)
        feeds["h0"] = values(rng, h_shape, dt, "unit")
        if op == "LSTM" and draw(st.booleans()):
            ins.append("c0")
            feeds["c0"] = values(rng, h_shape, dt, "unit")
    attrs = {"hidden_size": hid, "direction": direction, "layout": layout}
    if op == "GRU":
        attrs["linear_before_reset"] = draw(st.sampled_from([None, 0, 1]))
    if draw(st.booleans()):
        attrs["clip"] = draw(st.sampled_from([0.5, 2.0]))
    outs = ["y", "yh", "yc"][:draw(st.integers(1, 3 if op == "LSTM" else 2))]
    if draw(st.booleans()) and len(outs) > 1:
        outs[0] = ""
    return Example(opset, [node(op, ins, outs, **attrs)], feeds, consts, outputs=[o for o in outs if o])


EXT_FAMILIES = {
    "gather_scatter": gather_scatter(), "selection": selection(), "tensor_misc": tensor_misc(),
    "quantization": quantization(), "recurrent": recurrent(),
}


# --- sampling and signal --------------------------------------------------------------------------
@st.composite
def sampling_signal(draw):
    op, opset = draw(op_at_opset(["GridSample", "AffineGrid", "HannWindow", "HammingWindow", "BlackmanWindow",
                                  "DFT", "MaxUnpool", "RoiAlign", "Col2Im"]))
    rng = rng_of(draw)
    f32 = np.dtype(np.float32)
    if op == "GridSample":
        n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        hw = [draw(st.integers(1, 5)) for _ in range(2)]
        out_hw = [draw(st.integers(1, 4)) for _ in range(2)]
        x = values(rng, (n, c, *hw), f32)
        grid = rng.uniform(-1.2, 1.2, size=(n, *out_hw, 2)).astype(np.float32)
        modes = ["bilinear", "nearest", "bicubic"] if since(op, opset) < 20 else ["linear", "nearest", "cubic"]
        attrs = {"mode": draw(st.sampled_from([None] + modes)),
                 "padding_mode": draw(st.sampled_from([None, "zeros", "border", "reflection"])),
                 "align_corners": draw(st.sampled_from([None, 0, 1]))}
        return Example(opset, [node(op, ["x", "grid"], **attrs)], {"x": x, "grid": grid})
    if op == "AffineGrid":
        nd = draw(st.sampled_from([2, 3]))
        n = draw(st.integers(1, 2))
        size = [n, draw(st.integers(1, 2))] + [draw(st.integers(1, 4)) for _ in range(nd)]
        theta = values(rng, (n, nd, nd + 1), f32, "unit")
        return Example(opset, [node(op, ["theta", "size"], align_corners=draw(st.sampled_from([None, 0, 1])))],
                       {"theta": theta}, {"size": i64(size)})
    if op.endswith("Window"):
        attrs = {"periodic": draw(st.sampled_from([None, 0, 1]))}
        if draw(st.booleans()):
            attrs["output_datatype"] = int(_onnx_type(draw(st.sampled_from([f32, np.dtype(np.float64)]))))
        size = np.asarray(draw(st.integers(1, 8)), dtype=draw(st.sampled_from([np.int64, np.int32])))
        # A constant size: fed at run time, strict shape inference cannot type the output.
        return Example(opset, [node(op, ["n"], **attrs)], {}, {"n": size})
    if op == "DFT":
        batch = draw(st.integers(1, 2))
        signal = draw(st.integers(1, 6))
        complex_in = draw(st.booleans())
        x = values(rng, (batch, signal, draw(st.integers(1, 3)), 2 if complex_in else 1), f32)
        inverse = draw(st.sampled_from([None, 0, 1]))
        onesided = draw(st.sampled_from([None, 0, 1])) if not complex_in and not inverse else None
        ins, consts = ["x"], {}
        if draw(st.booleans()):
            ins.append("len")
            consts["len"] = i64(draw(st.integers(1, 7)))
        axis = draw(st.sampled_from([1, 2]))
        attrs = {"inverse": inverse, "onesided": onesided}
        if since(op, opset) >= 20:
            ins += [""] * (2 - len(ins)) + ["axis"]
            consts["axis"] = i64(axis if draw(st.booleans()) else axis - 4)
        else:
            attrs["axis"] = axis
        return Example(opset, [node(op, ins, **attrs)], {"x": x}, consts)
    if op == "MaxUnpool":
        n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        kernel = [draw(st.integers(1, 3)) for _ in range(2)]
        strides = [draw(st.integers(1, 3)) for _ in range(2)]
        pooled = [draw(st.integers(1, 3)) for _ in range(2)]
        out = [(p - 1) * s + k for p, s, k in zip(pooled, strides, kernel)]
        x = values(rng, (n, c, *pooled), f32)
        per = out[0] * out[1]
        flat = np.stack([rng.permutation(per)[:pooled[0] * pooled[1]] + (i * per) for i in range(n * c)])
        idx = flat.reshape(n, c, *pooled).astype(np.int64)
        ins, consts = ["x", "i"], {}
        if draw(st.booleans()):
            ins.append("shape")
            consts["shape"] = i64([n, c] + [o + draw(st.integers(0, s - 1)) for o, s in zip(out, strides)])
        return Example(opset, [node(op, ins, kernel_shape=kernel, strides=strides)], {"x": x, "i": idx}, consts)
    if op == "RoiAlign":
        n, c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 6)), draw(st.integers(2, 6))
        num = draw(st.integers(1, 3))
        x1, y1 = rng.uniform(0, w - 1, num), rng.uniform(0, h - 1, num)
        rois = np.stack([x1, y1, x1 + rng.uniform(0.5, w, num), y1 + rng.uniform(0.5, h, num)], 1).astype(np.float32)
        attrs = {"output_height": draw(st.sampled_from([None, 1, 2, 3])), "output_width": draw(st.sampled_from([None, 1, 2])),
                 "sampling_ratio": draw(st.sampled_from([None, 0, 1, 2])),
                 "spatial_scale": draw(st.sampled_from([None, 0.5, 1.0])), "mode": draw(st.sampled_from([None, "avg"]))}
        if since(op, opset) >= 16:
            attrs["coordinate_transformation_mode"] = draw(st.sampled_from([None, "half_pixel", "output_half_pixel"]))
        return Example(opset, [node(op, ["x", "rois", "bi"], **attrs)], {"x": values(rng, (n, c, h, w), f32)},
                       {"rois": rois, "bi": rng.integers(0, n, num).astype(np.int64)})
    # Col2Im
    image = [draw(st.integers(2, 5)) for _ in range(2)]
    block = [draw(st.integers(1, 2)) for _ in range(2)]
    strides = [draw(st.integers(1, 2)) for _ in range(2)]
    dil = [draw(st.integers(1, 2)) for _ in range(2)]
    pads = [draw(st.integers(0, 1)) for _ in range(4)]
    counts = [(i + pads[a] + pads[a + 2] - d * (b - 1) - 1) // s + 1
              for a, (i, b, s, d) in enumerate(zip(image, block, strides, dil))]
    if min(counts) < 1:
        pads, dil, counts = [0] * 4, [1, 1], [(i - b) // s + 1 for i, b, s in zip(image, block, strides)]
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    x = values(rng, (n, c * block[0] * block[1], counts[0] * counts[1]), f32)
    return Example(opset, [node(op, ["x", "img", "blk"], strides=strides, dilations=dil, pads=pads)], {"x": x},
                   {"img": i64(image), "blk": i64(block)})


EXT_FAMILIES["sampling_signal"] = sampling_signal()


# --- chains through shape and indexing ops ---------------------------------------------------------
@st.composite
def chain_shapes(draw):
    """2-5 float32 steps mixing layout, indexing and arithmetic ops, in each opset's form (the
    mixes a random-model fuzzer builds: folding, claimed constants and shapes carried along)."""
    opset = draw(st.sampled_from(list(range(11, 22))))
    rng = rng_of(draw)
    shape = list(draw(shapes(min_rank=1, max_rank=3, max_dim=4)))
    inputs, consts, nodes, cur = {"x": values(rng, tuple(shape), np.float32, "unit")}, {}, [], "x"

    def const(name, value):
        consts[name] = value
        return name

    for i in range(draw(st.integers(2, 5))):
        out, rank = f"t{i}", len(shape)
        kind = draw(st.sampled_from(["reshape", "transpose", "unsqueeze", "slice", "concat", "gather", "pad",
                                     "matmul", "clip", "softmax", "flatten", "expand", "reduce", "where", "split"]))
        if kind == "reshape":
            n = int(np.prod(shape))
            target = [n] if draw(st.booleans()) else [-1, shape[-1]]
            nodes.append(node("Reshape", [cur, const(f"s{i}", i64(target))], [out]))
            shape = [n] if len(target) == 1 else [n // shape[-1], shape[-1]]
        elif kind == "transpose":
            perm = list(draw(st.permutations(range(rank))))
            nodes.append(node("Transpose", [cur], [out], perm=perm))
            shape = [shape[p] for p in perm]
        elif kind == "unsqueeze":
            ax = draw(st.integers(-rank - 1, rank))
            args = ([cur, const(f"a{i}", i64([ax]))], {}) if opset >= 13 else ([cur], {"axes": [ax]})
            nodes.append(node("Unsqueeze", args[0], [out], **args[1]))
            shape.insert(ax % (rank + 1), 1)
        elif kind == "slice":
            ax = draw(st.integers(0, rank - 1))
            start, end = sorted(draw(st.lists(st.integers(0, shape[ax]), min_size=2, max_size=2)))
            end = max(end, start + 1) if start < shape[ax] else shape[ax]
            start = min(start, shape[ax] - 1)
            nodes.append(node("Slice", [cur, const(f"b{i}", i64([start])), const(f"e{i}", i64([end])),
                                        const(f"ax{i}", i64([ax]))], [out]))
            shape[ax] = end - start
        elif kind == "concat":
            ax = draw(st.integers(-rank, rank - 1))
            nodes.append(node("Concat", [cur, cur], [out], axis=ax))
            shape[ax % rank] *= 2
        elif kind == "gather":
            ax = draw(st.integers(0, rank - 1))
            idx = rng.integers(-shape[ax], shape[ax], size=draw(st.integers(1, 3)))
            nodes.append(node("Gather", [cur, const(f"g{i}", i64(idx))], [out], axis=ax))
            shape[ax] = len(idx)
        elif kind == "pad":
            pads = [draw(st.integers(0, 2)) for _ in range(2 * rank)]
            ins = [cur, const(f"p{i}", i64(pads))]
            if draw(st.booleans()):
                ins.append(const(f"v{i}", np.float32(draw(st.sampled_from([0.5, -1.0])))))
            nodes.append(node("Pad", ins, [out], mode=draw(st.sampled_from(["constant", "edge"]))))
            shape = [d + pads[j] + pads[j + rank] for j, d in enumerate(shape)]
        elif kind == "matmul":
            n = draw(st.integers(1, 3))
            nodes.append(node("MatMul", [cur, const(f"w{i}", values(rng, (shape[-1], n), np.float32, "unit"))], [out]))
            shape[-1] = n
        elif kind == "clip":
            nodes.append(node("Clip", [cur, const(f"lo{i}", np.float32(-0.5)), const(f"hi{i}", np.float32(0.6))], [out]))
        elif kind == "softmax":
            ax = draw(st.integers(-rank, rank - 1))
            nodes.append(node(draw(st.sampled_from(["Softmax", "LogSoftmax"])), [cur], [out], axis=ax))
        elif kind == "flatten":
            ax = draw(st.integers(0, rank))
            nodes.append(node("Flatten", [cur], [out], axis=ax))
            shape = [int(np.prod(shape[:ax])), int(np.prod(shape[ax:]))]
        elif kind == "expand":
            target = [2] + shape
            nodes.append(node("Expand", [cur, const(f"x{i}", i64(target))], [out]))
            shape = target
        elif kind == "reduce":
            ax = draw(st.integers(-rank, rank - 1))
            keep = draw(st.sampled_from([0, 1])) if rank > 1 else 1
            if opset >= 13:
                nodes.append(node("ReduceSum", [cur, const(f"r{i}", i64([ax]))], [out], keepdims=keep))
            else:
                nodes.append(node("ReduceSum", [cur], [out], axes=[ax], keepdims=keep))
            shape = [1 if j == ax % rank else d for j, d in enumerate(shape)] if keep else \
                [d for j, d in enumerate(shape) if j != ax % rank]
        elif kind == "where":
            nodes.append(node("Greater", [cur, const(f"z{i}", np.float32(0.1))], [f"c{i}"]))
            nodes.append(node("Where", [f"c{i}", cur, const(f"o{i}", np.float32(-2.0))], [out]))
        else:   # split, then concatenate the parts in reverse
            ax = draw(st.integers(0, rank - 1))
            if shape[ax] < 2:
                nodes.append(node("Identity", [cur], [out]))
            else:
                k = draw(st.integers(1, shape[ax] - 1))
                parts = [f"sp{i}a", f"sp{i}b"]
                sizes = i64([k, shape[ax] - k])
                args = ([cur, const(f"sz{i}", sizes)], {}) if opset >= 13 else ([cur], {"split": list(sizes)})
                nodes.append(node("Split", args[0], parts, axis=ax, **args[1]))
                nodes.append(node("Concat", parts[::-1], [out], axis=ax))
        cur = out
    return Example(opset, nodes, inputs, consts, outputs=[cur])


EXT_FAMILIES["chain_shapes"] = chain_shapes()


# --- losses, detection, integer convolution, Constant ---------------------------------------------
@st.composite
def misc_ops(draw):
    op, opset = draw(op_at_opset(["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "NonMaxSuppression",
                                  "MaxRoiPool", "ConvInteger", "QLinearConv", "Constant"]))
    rng = rng_of(draw)
    f32 = np.dtype(np.float32)
    if op in ("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"):
        n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
        extra = draw(shapes(max_rank=2, max_dim=3))
        x = values(rng, (n, c, *extra), np.dtype(draw(st.sampled_from([np.float32, np.float64]))))
        labels = rng.integers(0, c, size=(n, *extra)).astype(np.int64)
        attrs = {"reduction": draw(st.sampled_from([None, "none", "sum", "mean"]))}
        if draw(st.booleans()):
            attrs["ignore_index"] = int(draw(st.sampled_from([0, 1, -1])))
            labels[rng.random(labels.shape) < 0.3] = attrs["ignore_index"]
            if attrs["ignore_index"] < 0:
                labels[labels < 0] = attrs["ignore_index"]
        ins, consts = ["x", "t"], {}
        if draw(st.booleans()):
            ins.append("w")
            consts["w"] = np.abs(values(rng, (c,), x.dtype)) + 0.1
        outs = ["y"] + (["logp"] if op == "SoftmaxCrossEntropyLoss" and draw(st.booleans()) else [])
        return Example(opset, [node(op, ins, outs, **attrs)], {"x": x, "t": labels}, consts)
    if op == "NonMaxSuppression":
        b, c, k = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 6))
        corners = rng.uniform(0, 4, size=(b, k, 2))
        sizes = rng.uniform(0.5, 3, size=(b, k, 2))
        center = draw(st.sampled_from([None, 0, 1]))
        if center:
            boxes = np.concatenate([corners, sizes], -1)
        else:
            boxes = np.concatenate([corners, corners + sizes], -1)
            if draw(st.booleans()):    # corners given in either order
                boxes = boxes[..., [2, 3, 0, 1]]
        scores = rng.permutation(b * c * k).reshape(b, c, k) / (b * c * k)   # distinct: a defined order
        ins = ["boxes", "scores"]
        consts = {}
        for name, value in (("max", i64(draw(st.integers(0, 4)))), ("iou", np.float32(draw(st.sampled_from([0.0, 0.3, 0.7])))),
                            ("score", np.float32(draw(st.sampled_from([0.0, 0.4]))))):
            if draw(st.booleans()) or len(ins) > 2:
                ins.append(name)
                consts[name] = value
            else:
                break
        return Example(opset, [node(op, ins, center_point_box=center)],
                       {"boxes": boxes.astype(np.float32), "scores": scores.astype(np.float32)}, consts)
    if op == "MaxRoiPool":
        n, c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 6)), draw(st.integers(2, 6))
        num = draw(st.integers(1, 3))
        x1, y1 = rng.integers(0, w, num), rng.integers(0, h, num)
        rois = np.stack([rng.integers(0, n, num), x1, y1, x1 + rng.integers(0, 3, num), y1 + rng.integers(0, 3, num)],
                        1).astype(np.float32)
        pooled = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
        return Example(opset, [node(op, ["x", "rois"], pooled_shape=pooled,
                                    spatial_scale=draw(st.sampled_from([None, 1.0, 0.5])))],
                       {"x": values(rng, (n, c, h, w), f32)}, {"rois": rois})
    if op == "Constant":
        dt = draw(st.sampled_from(_ANY))
        value = values(rng, draw(shapes(max_rank=3)), dt)
        from onnx import numpy_helper
        nodes = [node(op, [], ["k"], value=numpy_helper.from_array(value, "k")), node("Identity", ["k"], ["y"])]
        if dt.kind == "f" and draw(st.booleans()):
            nodes = [node(op, [], ["k"], value_float=float(draw(st.sampled_from([0.5, -2.25])))),
                     node("Identity", ["k"], ["y"])]
        return Example(opset, nodes + [node("Add", ["x", "x"], ["x2"])], {"x": np.float32([1.0])}, outputs=["y"])
    # ConvInteger / QLinearConv (2-D)
    q = np.dtype(np.uint8) if op == "QLinearConv" or draw(st.booleans()) else np.dtype(np.int8)
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    hw = [draw(st.integers(2, 5)) for _ in range(2)]
    kernel = [draw(st.integers(1, 2)) for _ in range(2)]
    m = draw(st.integers(1, 3))
    info = np.iinfo(q)
    x = rng.integers(info.min, info.max + 1, size=(n, c, *hw)).astype(q)
    wq = np.dtype(np.int8) if op == "ConvInteger" and draw(st.booleans()) else q
    w = rng.integers(np.iinfo(wq).min, np.iinfo(wq).max + 1, size=(m, c, *kernel)).astype(wq)
    attrs = {"pads": [draw(st.integers(0, 1)) for _ in range(4)], "strides": [draw(st.integers(1, 2)) for _ in range(2)]}
    if op == "ConvInteger":
        ins, consts = ["x", "w"], {"w": w}
        if draw(st.booleans()):
            ins += ["xzp", "wzp"]
            consts.update(xzp=np.asarray(3 if q == np.uint8 else -2, dtype=q),
                          wzp=np.asarray(1 if wq == np.uint8 else -1, dtype=wq))
        return Example(opset, [node(op, ins, **attrs)], {"x": x}, consts)
    f = lambda lo, hi: np.float32(rng.uniform(lo, hi))  # noqa: E731
    consts = {"xs": f(0.01, 0.05), "xzp": np.asarray(128, q), "w": w, "ws": f(0.01, 0.05), "wzp": np.asarray(128, q),
              "ys": f(0.05, 0.3), "yzp": np.asarray(120, q)}
    ins = ["x", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp"]
    if draw(st.booleans()):
        ins.append("bias")
        consts["bias"] = rng.integers(-100, 100, size=m).astype(np.int32)
    return Example(opset, [node(op, ins, **attrs)], {"x": x}, consts)


EXT_FAMILIES["misc_ops"] = misc_ops()
