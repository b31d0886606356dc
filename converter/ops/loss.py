"""Loss operators: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss."""
from __future__ import annotations

import oneflow as flow

from ..registry import register
from ._util import require


def nll_loss(log_prob, target, weight=None, reduction="mean", ignore_index=None):
    """ONNX NLL: -log_prob[n, target[n, ...], ...] * weight[target], ignored targets count 0."""
    target = target.to(flow.int64)
    keep = flow.ones_like(target, dtype=flow.bool) if ignore_index is None else target != ignore_index
    # ignored targets may lie outside [0, C): gather a harmless class instead
    safe = flow.where(keep, target, flow.zeros_like(target))
    picked = flow.gather(log_prob, 1, safe.unsqueeze(1)).squeeze(1)
    if weight is None:
        w = flow.ones_like(picked)
    else:
        w = flow.gather(weight.to(log_prob.dtype), 0, safe.reshape(-1)).reshape(safe.shape)
    w = flow.where(keep, w, flow.zeros_like(w))
    loss = -picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


def _reduction_check(ctx):
    reduction = ctx.attr("reduction", "mean")
    return None if reduction in ("mean", "sum", "none") else f"reduction={reduction!r}"


def _reduction(ctx):
    require(ctx, _reduction_check)
    return ctx.attr("reduction", "mean")


@register("NegativeLogLikelihoodLoss", 12, 13, 22, check=_reduction_check)
def negative_log_likelihood_loss(ctx):
    reduction, ignore = _reduction(ctx), ctx.attr("ignore_index")
    return lambda x, target, weight=None: nll_loss(x, target, weight, reduction, ignore)


@register("SoftmaxCrossEntropyLoss", 12, 13, check=_reduction_check)
def softmax_cross_entropy_loss(ctx):
    reduction, ignore = _reduction(ctx), ctx.attr("ignore_index")

    def run(scores, labels, weights=None):
        log_prob = flow.log_softmax(scores, dim=1)
        return nll_loss(log_prob, labels, weights, reduction, ignore), log_prob

    return run
