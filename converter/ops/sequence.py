"""Sequences and optionals: a sequence is a Python list of tensors, an empty optional is None.

A handler producing one returns it inside a 1-tuple, because a bare list or tuple result
means "several outputs" to the builder.
"""
from __future__ import annotations

import oneflow as flow

from ..dtypes import to_list
from ..registry import register


def _position(position, length: int, inserting: bool = False) -> int:
    p = to_list(position)[0]
    p = p + length if p < 0 else p
    if not 0 <= p <= (length if inserting else length - 1):
        raise IndexError(f"sequence position {to_list(position)[0]} out of range for length {length}")
    return p


@register("SequenceEmpty", 11)
def sequence_empty(ctx):
    return lambda: ([],)


@register("SequenceConstruct", 11)
def sequence_construct(ctx):
    return lambda *xs: (list(xs),)


@register("SequenceLength", 11)
def sequence_length(ctx):
    return lambda seq: flow.tensor(len(seq), dtype=flow.int64)


@register("SequenceAt", 11)
def sequence_at(ctx):
    return lambda seq, position: seq[_position(position, len(seq))]


@register("SequenceInsert", 11)
def sequence_insert(ctx):
    def run(seq, x, position=None):
        p = len(seq) if position is None else _position(position, len(seq), inserting=True)
        return (seq[:p] + [x] + seq[p:],)
    return run


@register("SequenceErase", 11)
def sequence_erase(ctx):
    def run(seq, position=None):
        p = len(seq) - 1 if position is None else _position(position, len(seq))
        return (seq[:p] + seq[p + 1:],)
    return run


@register("ConcatFromSequence", 11)
def concat_from_sequence(ctx):
    axis, new_axis = ctx.attr("axis"), bool(ctx.attr("new_axis", 0))
    return lambda seq: flow.stack(seq, dim=axis) if new_axis else flow.cat(seq, dim=axis)


@register("SplitToSequence", 11)
def split_to_sequence(ctx):
    axis, keepdims = ctx.attr("axis", 0), bool(ctx.attr("keepdims", 1))

    def run(x, split=None):
        ax = axis + x.ndim if axis < 0 else axis
        dim = x.shape[ax]
        if split is None:   # one element per index; keepdims=0 drops the split axis
            parts = [flow.narrow(x, ax, i, 1) for i in range(dim)]
            return ([p.squeeze(ax) for p in parts] if not keepdims else parts,)
        sizes = to_list(split)
        if split.ndim == 0:  # a chunk size: the last chunk may be smaller
            sizes = [min(sizes[0], dim - i) for i in range(0, dim, sizes[0])]
        out, start = [], 0
        for n in sizes:
            out.append(flow.narrow(x, ax, start, n))
            start += n
        return (out,)

    return run


@register("Optional", 15)
def optional(ctx):
    return lambda x=None: (x,)


@register("OptionalHasElement", 15, 18)
def optional_has_element(ctx):
    return lambda x=None: flow.tensor(x is not None, dtype=flow.bool)


@register("OptionalGetElement", 15, 18)
def optional_get_element(ctx):
    def run(x):
        if x is None:
            raise ValueError("OptionalGetElement on an empty optional")
        return (x,)
    return run
