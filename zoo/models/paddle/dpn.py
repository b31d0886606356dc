"""DPN-68 (Chen et al. 2017): dual path blocks mixing a residual and a dense path."""
from __future__ import annotations

import paddle
from paddle import nn

from .. import layouts
from . import register
from .layers import ConvBNAct


class BNReLUConv(nn.Sequential):
    """DPN blocks are pre-activation: BN → ReLU → conv."""

    def __init__(self, cin, cout, kernel, stride=1, groups=1):
        super().__init__(nn.BatchNorm2D(cin), nn.ReLU(),
                         nn.Conv2D(cin, cout, kernel, stride, kernel // 2, groups=groups,
                                   bias_attr=False))


class DualPathBlock(nn.Layer):
    def __init__(self, cin, width, res_out, inc, groups, kind):
        super().__init__()
        stride = 2 if kind == "down" else 1
        self.res_out = res_out
        # 'proj'/'down' blocks start a stage: project the input into (residual, dense) parts.
        self.project = (BNReLUConv(cin, res_out + 2 * inc, 1, stride)
                        if kind in ("proj", "down") else None)
        self.body = nn.Sequential(BNReLUConv(cin, width, 1),
                                  BNReLUConv(width, width, 3, stride, groups),
                                  BNReLUConv(width, res_out + inc, 1))

    def forward(self, residual, dense=None):
        x = residual if dense is None else paddle.concat([residual, dense], axis=1)
        if self.project is not None:
            projected = self.project(x)
            residual, dense = projected[:, :self.res_out], projected[:, self.res_out:]
        y = self.body(x)
        return residual + y[:, :self.res_out], paddle.concat([dense, y[:, self.res_out:]], axis=1)


class DPN(nn.Layer):
    def __init__(self, init, groups, blocks, num_classes=1000):
        super().__init__()
        self.stem = nn.Sequential(ConvBNAct(3, init, 3, 2), nn.MaxPool2D(3, 2, 1))
        self.blocks = nn.LayerList([DualPathBlock(cin, width, res_out, inc, groups, kind)
                                    for cin, width, res_out, inc, kind, _ in blocks])
        cin = blocks[-1][-1]
        self.final = nn.Sequential(nn.BatchNorm2D(cin), nn.ReLU(), nn.AdaptiveAvgPool2D(1))
        self.classifier = nn.Conv2D(cin, num_classes, 1)   # DPN classifies with a 1x1 conv

    def forward(self, x):
        x = self.stem(x)
        residual, dense = x, None   # the first block sees the stem output alone
        for block in self.blocks:
            residual, dense = block(residual, dense)
        y = self.classifier(self.final(paddle.concat([residual, dense], axis=1)))
        return paddle.flatten(y, 1)


@register("dpn68")
def dpn68(**kw):
    layout = layouts.DPN68
    return DPN(layout["init"], layout["groups"], layouts.dpn_blocks(layout), **kw)
