"""DepthToSpace (DCR and CRD) and SpaceToDepth, as reshape/transpose."""
from __future__ import annotations

from ..registry import register


@register("DepthToSpace", 1, 11, 13)
def depth_to_space(ctx):
    b = ctx.attr("blocksize")
    crd = ctx.attr("mode", "DCR") == "CRD"

    def run(x):
        n, c, h, w = x.shape
        if crd:   # channel blocks are (C', b, b): PyTorch's pixel_shuffle order
            y = x.reshape(n, c // (b * b), b, b, h, w).permute(0, 1, 4, 2, 5, 3)
        else:     # DCR: (b, b, C')
            y = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
        return y.reshape(n, c // (b * b), h * b, w * b)

    return run


@register("SpaceToDepth", 1, 13)
def space_to_depth(ctx):
    b = ctx.attr("blocksize")

    def run(x):
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
        return y.reshape(n, c * b * b, h // b, w // b)

    return run
