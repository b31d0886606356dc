"""DPN-68 (Chen et al. 2017): dual path blocks mixing a residual and a dense path."""
from __future__ import annotations

import oneflow as flow
from oneflow import nn

from .. import layouts
from . import register
from .layers import conv_bn_act


def bn_relu_conv(cin, cout, kernel, stride=1, groups=1):
    """DPN blocks are pre-activation: BN → ReLU → conv."""
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(),
                         nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False))


class DualPathBlock(nn.Module):
    def __init__(self, cin, width, res_out, inc, groups, kind):
        super().__init__()
        stride = 2 if kind == "down" else 1
        self.res_out = res_out
        # 'proj'/'down' blocks start a stage: project the input into (residual, dense) parts.
        self.project = (bn_relu_conv(cin, res_out + 2 * inc, 1, stride)
                        if kind in ("proj", "down") else None)
        self.body = nn.Sequential(bn_relu_conv(cin, width, 1),
                                  bn_relu_conv(width, width, 3, stride, groups),
                                  bn_relu_conv(width, res_out + inc, 1))

    def forward(self, residual, dense=None):
        x = residual if dense is None else flow.cat([residual, dense], dim=1)
        if self.project is not None:
            projected = self.project(x)
            residual, dense = projected[:, :self.res_out], projected[:, self.res_out:]
        y = self.body(x)
        return residual + y[:, :self.res_out], flow.cat([dense, y[:, self.res_out:]], dim=1)


class DPN(nn.Module):
    def __init__(self, init, groups, blocks, num_classes=1000):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_act(3, init, 3, 2), nn.MaxPool2d(3, 2, 1))
        self.blocks = nn.ModuleList([DualPathBlock(cin, width, res_out, inc, groups, kind)
                                     for cin, width, res_out, inc, kind, _ in blocks])
        cin = blocks[-1][-1]
        self.final = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Conv2d(cin, num_classes, 1)   # DPN classifies with a 1x1 conv

    def forward(self, x):
        residual, dense = self.stem(x), None   # the first block sees the stem output alone
        for block in self.blocks:
            residual, dense = block(residual, dense)
        return flow.flatten(self.classifier(self.final(flow.cat([residual, dense], dim=1))), 1)


@register("dpn68")
def dpn68(**kw):
    layout = layouts.DPN68
    return DPN(layout["init"], layout["groups"], layouts.dpn_blocks(layout), **kw)
