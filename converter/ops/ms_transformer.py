"""ONNX Runtime's transformer ``com.microsoft`` operators (version 1), as its transformer
optimizer (onnxruntime.transformers.optimizer) and graph optimizer write them: Gelu, FastGelu,
BiasGelu, QuickGelu, SkipLayerNormalization, SkipSimplifiedLayerNormalization,
SimplifiedLayerNormalization (which ORT registers in the default domain), EmbedLayerNormalization,
Attention, MultiHeadAttention, RotaryEmbedding.

Float operators: ONNX Runtime's documented formulas, computed in float32 (float16 through
float32), matched to its outputs within float32 rounding. Forms ONNX Runtime's CPU kernels do
not run (packed QKV layouts, shared past/present buffers, rotary inside Attention) are refused.
"""
from __future__ import annotations

import math

import numpy as np
import oneflow as flow

from ..registry import register
from ._util import fp16_via_fp32, require
from .indexing import check_index_range

MS = "com.microsoft"
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


# --- activations --------------------------------------------------------------------------------
def _lookup(table, ids, what):
    """Rows of ``table`` at integer ``ids`` (any shape): ids.shape + table.shape[1:]. An id
    outside [0, rows) is an IndexError, as ORT refuses it (OneFlow's gather would abort the
    process on a negative one: docs/design.md, C++ CHECKs)."""
    check_index_range(ids, table.shape[0], what)
    if not ids.is_lazy and ids.numel() and bool((ids < 0).any().item()):
        raise IndexError(f"{what}: negative id {int(ids.min().item())}")
    rows = flow.index_select(table, 0, ids.reshape(-1).to(flow.int32))
    return rows.reshape(list(ids.shape) + list(table.shape[1:]))


def _gelu(x):
    return 0.5 * x * (1.0 + flow.erf(x / math.sqrt(2.0)))


def _fast_gelu(x):
    return 0.5 * x * (1.0 + flow.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


@register("Gelu", 1, domain=MS, notes="x/2 * (1 + erf(x/sqrt(2)))")
def gelu(ctx):
    return fp16_via_fp32(_gelu)


@register("BiasGelu", 1, domain=MS, notes="Gelu(A + B)")
def bias_gelu(ctx):
    return fp16_via_fp32(lambda a, b: _gelu(a + b))


@register("FastGelu", 1, domain=MS, notes="tanh approximation of Gelu(X + bias)")
def fast_gelu(ctx):
    return fp16_via_fp32(lambda x, bias=None: _fast_gelu(x if bias is None else x + bias))


@register("QuickGelu", 1, domain=MS, notes="x * sigmoid(alpha * x), alpha 1.702 by default")
def quick_gelu(ctx):
    alpha = float(np.float32(ctx.attr("alpha", 1.702)))
    return fp16_via_fp32(lambda x: x * flow.sigmoid(alpha * x))


# --- normalizations -----------------------------------------------------------------------------
def _float32_io(run):
    """Run in float32, give back the first input's dtype (float16 models)."""
    def wrapped(x, *rest):
        if x.dtype != flow.float16:
            return run(x, *rest)
        outs = run(x.to(flow.float32), *[None if r is None else r.to(flow.float32) for r in rest])
        return tuple(o if o is None or i in (1, 2) else o.to(flow.float16) for i, o in enumerate(outs))
    return wrapped


def _layer_norm(s, gamma, beta, eps, simplified):
    """(y, mean, inv_std) over the last axis; ``simplified``: RMS normalization (no mean)."""
    if simplified:
        inv_std = flow.rsqrt(flow.mean(s * s, dim=-1, keepdim=True) + eps)
        mean = None
        y = s * inv_std * gamma
    else:
        mean = flow.mean(s, dim=-1, keepdim=True)
        centred = s - mean
        inv_std = flow.rsqrt(flow.mean(centred * centred, dim=-1, keepdim=True) + eps)
        y = centred * inv_std * gamma
    if beta is not None:
        y = y + beta
    return y, mean, inv_std


def _skip_layer_norm(simplified):
    def build(ctx):
        eps = float(np.float32(ctx.attr("epsilon", 1e-12)))

        def normalize(x, skip, gamma, beta, bias):
            s = x + skip
            if bias is not None:
                s = s + bias
            y, mean, inv_std = _layer_norm(s, gamma, beta, eps, simplified)
            return y, mean, inv_std, s

        if simplified:   # inputs: input, skip, gamma, bias
            return _float32_io(lambda x, skip, gamma, bias=None: normalize(x, skip, gamma, None, bias))
        return _float32_io(lambda x, skip, gamma, beta=None, bias=None: normalize(x, skip, gamma, beta, bias))
    return build


register("SkipLayerNormalization", 1, domain=MS, notes=(
    "LayerNorm(input + skip + bias) over the last axis; outputs mean, inv_std_var and the sum too")
)(_skip_layer_norm(False))
register("SkipSimplifiedLayerNormalization", 1, domain=MS, notes=(
    "RMS normalization of input + skip + bias over the last axis (no mean output)")
)(_skip_layer_norm(True))


@register("SimplifiedLayerNormalization", 1, notes=(
    "ONNX Runtime's RMS normalization, registered by it in the default domain (not an ONNX operator): "
    "X / sqrt(mean(X^2 over axes >= axis) + epsilon) * scale, statistics in float32"))
def simplified_layer_norm(ctx):
    axis, eps = ctx.attr("axis", -1), float(np.float32(ctx.attr("epsilon", 1e-5)))

    def run(x, scale):
        dtype = x.dtype
        xf = x.to(flow.float32)
        dims = list(range(axis % x.ndim, x.ndim))
        inv_std = flow.rsqrt(flow.mean(xf * xf, dim=dims, keepdim=True) + eps)
        y = (xf * inv_std).to(dtype) * scale
        return y, inv_std

    return run


@register("EmbedLayerNormalization", 1, domain=MS, notes=(
    "LayerNorm(word[input_ids] + position[position_ids, default 0..S-1] + segment[segment_ids]); "
    "mask_index = per-row count of mask values equal to 1 (zeros without a mask), as ORT"))
def embed_layer_norm(ctx):
    eps = float(np.float32(ctx.attr("epsilon", 1e-12)))

    def run(input_ids, segment_ids, word, position, segment=None, gamma=None, beta=None, mask=None,
            position_ids=None):
        batch, seq = input_ids.shape
        ids = input_ids.to(flow.int64)
        if position_ids is None:
            pos = flow.arange(seq, dtype=flow.int64, device=ids.device).reshape(1, seq).expand(batch, seq)
        else:
            pos = position_ids.to(flow.int64).expand(batch, seq)
        s = _lookup(word, ids, "input_ids") + _lookup(position, pos, "position_ids")
        if segment is not None and segment_ids is not None:
            s = s + _lookup(segment, segment_ids.to(flow.int64), "segment_ids")
        y, _, _ = _layer_norm(s, gamma, beta, eps, False)
        if mask is None:
            mask_index = flow.zeros(batch, dtype=flow.int32, device=ids.device)
        else:
            mask_index = flow.sum((mask == 1).to(flow.int32), dim=1).to(flow.int32)
        return y, mask_index, s

    return run


# --- attention ----------------------------------------------------------------------------------
def _additive_mask(mask, batch, seq, total, filter_value, device):
    """ORT's mask forms as a float additive mask broadcastable to (B, 1, S, T), or None.
    Raw masks (B, T), (B, S, T), (B, 1, M, M): 0 masks a key; key lengths (B): keys at
    and past the length are masked; (2B): end positions then start positions."""
    if mask is None:
        return None
    if mask.ndim == 1:
        keys = flow.arange(total, device=device).reshape(1, total)
        if mask.shape[0] == batch:
            masked = keys >= mask.to(flow.int64).reshape(batch, 1)
        elif mask.shape[0] == 2 * batch:
            end = mask[:batch].to(flow.int64).reshape(batch, 1)
            start = mask[batch:].to(flow.int64).reshape(batch, 1)
            masked = flow.logical_or(keys >= end, keys < start)
        else:
            raise ValueError(f"mask_index of shape {list(mask.shape)}: expected (batch), (2*batch) or a raw mask")
        return flow.where(masked, filter_value, 0.0).to(flow.float32).reshape(batch, 1, 1, total)
    if mask.ndim == 2:
        raw = mask.reshape(mask.shape[0], 1, 1, total)
    elif mask.ndim == 3:
        raw = mask.reshape(mask.shape[0], 1, seq, total)
    elif mask.ndim == 4:   # (B, 1, max_len, max_len): the top-left corner
        raw = mask[:, :, total - seq:total, :total]
    else:
        raise ValueError(f"mask of rank {mask.ndim}")
    return flow.where(raw > 0, 0.0, filter_value).to(flow.float32)


def _attend(q, k, v, scale, additive, bias, causal, past_len):
    """softmax(scale * q k^T + mask + bias) v for (B, N, S, H) heads; k, v (B, N, T, H)."""
    scores = flow.matmul(q, k.transpose(-1, -2)) * scale
    if additive is not None:
        scores = scores + additive
    if bias is not None:
        scores = scores + bias
    if causal:
        seq, total = q.shape[2], k.shape[2]
        rows = flow.arange(seq, device=q.device).reshape(seq, 1) + past_len
        cols = flow.arange(total, device=q.device).reshape(1, total)
        scores = flow.where(cols > rows, flow.full_like(scores, float(np.finfo(np.float32).min)), scores)
    return flow.matmul(flow.softmax(scores, dim=-1), v)


def _heads(t, num_heads):
    """(B, S, N*H) -> (B, N, S, H)."""
    b, s, d = t.shape
    return t.reshape(b, s, num_heads, d // num_heads).transpose(1, 2)


def _merge(t):
    """(B, N, S, H) -> (B, S, N*H)."""
    b, n, s, h = t.shape
    return t.transpose(1, 2).reshape(b, s, n * h)


def _attention_check(ctx):
    for attr in ("do_rotary", "past_present_share_buffer"):
        if ctx.attr(attr, 0):
            return f"{attr}=1 (ONNX Runtime's CPU kernel does not run it either)" if attr == "do_rotary" \
                else f"{attr}=1"
    if ctx.has_input(6):
        return "past_sequence_length input (shared past/present buffer)"
    return None


@register("Attention", 1, domain=MS, check=_attention_check, notes=(
    "input x merged QKV weights + bias, heads, softmax(scale q k^T + mask + attention_bias) v; masks: "
    "raw (B,T), (B,S,T), (B,1,M,M), key lengths (B), end/start (2B); masked scores get "
    "mask_filter_value, unidirectional hides later keys; past/present (2,B,N,T,H)"))
def attention(ctx):
    require(ctx, _attention_check)
    num_heads = ctx.attr("num_heads")
    sizes = ctx.attr("qkv_hidden_sizes")
    causal = bool(ctx.attr("unidirectional", 0))
    filter_value = float(np.float32(ctx.attr("mask_filter_value", -10000.0)))
    scale_attr = ctx.attr("scale")

    def run(x, weights, bias=None, mask=None, past=None, attention_bias=None):
        qs, ks, vs = sizes or [weights.shape[1] // 3] * 3
        proj = flow.matmul(x, weights)
        if bias is not None:
            proj = proj + bias
        q, k, v = proj[..., :qs], proj[..., qs:qs + ks], proj[..., qs + ks:qs + ks + vs]
        q, k, v = _heads(q, num_heads), _heads(k, num_heads), _heads(v, num_heads)
        past_len = 0
        if past is not None:
            past_len = past.shape[3]
            k = flow.cat([past[0], k], dim=2)
            v = flow.cat([past[1], v], dim=2)
        batch, seq, total = x.shape[0], x.shape[1], k.shape[2]
        scale = scale_attr if scale_attr else 1.0 / math.sqrt(qs // num_heads)
        additive = _additive_mask(mask, batch, seq, total, filter_value, x.device)
        out = _merge(_attend(q, k, v, scale, additive, attention_bias, causal, past_len))
        return out, flow.stack([k, v])

    return fp16_via_fp32_multi(run)


def fp16_via_fp32_multi(run):
    """fp16_via_fp32 for a function with several outputs (float16 results come back float16)."""
    def wrapped(*args):
        if not any(isinstance(a, flow.Tensor) and a.dtype == flow.float16 for a in args):
            return run(*args)
        up = [a.to(flow.float32) if isinstance(a, flow.Tensor) and a.dtype == flow.float16 else a for a in args]
        return tuple(o.to(flow.float16) if o is not None and o.dtype == flow.float32 else o for o in run(*up))
    return wrapped


def _mha_check(ctx):
    for i, what in ((0, "query"), (1, "key")):
        rank = ctx.input_rank(i) if ctx.has_input(i) else None
        if rank is not None and rank not in (3, 4):
            return f"{what} of rank {rank}"
    q_rank = ctx.input_rank(0)
    if q_rank == 5 or (q_rank is not None and q_rank != 3):
        return "packed QKV query (B, S, N, 3, H)"
    if not ctx.has_input(1):
        return "packed QKV (no key input)"
    k_rank = ctx.input_rank(1)
    if k_rank == 5:
        return "packed KV key (B, L, N, 2, H)"
    return None


@register("MultiHeadAttention", 1, domain=MS, check=_mha_check, notes=(
    "query (B,S,D) with key/value (B,L,D) or, for cross attention, (B,N,L,H); bias added to the 3-D "
    "projections; key_padding_mask (B), (B,T) or (B,S,T); attention_bias; past_key/past_value "
    "(B,N,P,H) prepended; packed QKV/KV layouts refused. Matched with ORT 1.19 for a mask with key length = "
    "query length and a full-batch attention_bias; ORT 1.19's CPU kernel reads a batch-1 attention_bias as "
    "batch-sized and departs from this formula for a mask when key and query lengths differ (unverified forms)"))
def multi_head_attention(ctx):
    require(ctx, _mha_check)
    num_heads = ctx.attr("num_heads")
    causal = bool(ctx.attr("unidirectional", 0))
    filter_value = float(np.float32(ctx.attr("mask_filter_value", -10000.0)))
    scale_attr = ctx.attr("scale")

    def run(query, key, value, bias=None, mask=None, attention_bias=None, past_key=None, past_value=None):
        d = query.shape[-1]
        if bias is not None:
            query = query + bias[:d]
        q = _heads(query, num_heads)
        if key.ndim == 4:     # already (B, N, L, H): no bias, no past
            k, v = key, value
        else:
            if bias is not None:
                dk = key.shape[-1]
                key, value = key + bias[d:d + dk], value + bias[d + dk:]
            k, v = _heads(key, num_heads), _heads(value, num_heads)
        past_len = 0
        if past_key is not None:
            past_len = past_key.shape[2]
            k = flow.cat([past_key, k], dim=2)
            v = flow.cat([past_value, v], dim=2)
        batch, seq, total = query.shape[0], query.shape[1], k.shape[2]
        scale = scale_attr if scale_attr else 1.0 / math.sqrt(d // num_heads)
        additive = _additive_mask(mask, batch, seq, total, filter_value, query.device)
        out = _merge(_attend(q, k, v, scale, additive, attention_bias, causal, past_len))
        return out, k, v

    return fp16_via_fp32_multi(run)


def _rotary_check(ctx):
    if ctx.attr("is_packed_batching", 0):
        return "is_packed_batching=1"
    if float(ctx.attr("scale", 1.0)) != 1.0:
        return f"scale={ctx.attr('scale')}"
    return None


@register("RotaryEmbedding", 1, domain=MS, check=_rotary_check, notes=(
    "input (B,S,N*H) or (B,N,S,H); position_ids (B,S), or one offset (positions offset..offset+S-1); "
    "cos/sin caches (max_position, rotary_dim/2); rotates the first rotary_dim values of each head, "
    "halves or (interleaved=1) pairs"))
def rotary_embedding(ctx):
    require(ctx, _rotary_check)
    interleaved = bool(ctx.attr("interleaved", 0))
    num_heads_attr = ctx.attr("num_heads", 0)

    def run(x, position_ids, cos_cache, sin_cache):
        half = cos_cache.shape[-1]
        rot = 2 * half
        four_d = x.ndim == 4
        if four_d:                       # (B, N, S, H)
            b, n, s, h = x.shape
            heads = x
        else:                            # (B, S, N*H)
            b, s, hidden = x.shape
            n = num_heads_attr or hidden // rot
            h = hidden // n
            heads = x.reshape(b, s, n, h).transpose(1, 2)
        if position_ids.numel() == 1:
            pos = position_ids.to(flow.int64).reshape(1, 1) + flow.arange(s, device=x.device).reshape(1, s)
        else:
            pos = position_ids.to(flow.int64)
        cos = _lookup(cos_cache, pos, "position_ids").unsqueeze(1)     # (B|1, 1, S, half)
        sin = _lookup(sin_cache, pos, "position_ids").unsqueeze(1)
        part, rest = heads[..., :rot], heads[..., rot:]
        if interleaved:
            pairs = part.reshape(b, n, s, half, 2)
            x1, x2 = pairs[..., 0], pairs[..., 1]
            turned = flow.stack([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).reshape(b, n, s, rot)
        else:
            x1, x2 = part[..., :half], part[..., half:]
            turned = flow.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
        out = flow.cat([turned, rest], dim=-1) if rot < h else turned
        return out if four_d else out.transpose(1, 2).reshape(b, s, n * h)

    return fp16_via_fp32(run)
