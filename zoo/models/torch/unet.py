"""U-Net (Ronneberger et al., 2015): the classic encoder-decoder for segmentation.

Four 2x2 max-pool downsamplings with double 3x3 convs at widths 64-128-256-512-1024, four
2x2 up-convolutions halving the width, skip connections concatenated, a final 1x1 conv
to the class maps. Departure from the paper: the 3x3 convs are padded, so the output has
the input's spatial size and no cropping is needed. Weights use the paper's He-normal
initialisation (std sqrt(2/N)); PyTorch's default would shrink activations over 23 layers.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import layouts
from . import register


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, widths: tuple, in_channels: int = 3, num_classes: int = 2):
        super().__init__()
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.down.append(double_conv(cin, w))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, w, 2, stride=2))
            self.merge.append(double_conv(2 * w, w))
            cin = w
        self.head = nn.Conv2d(cin, num_classes, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):
            x = merge(torch.cat([skip, up(x)], dim=1))
        return self.head(x)


@register("unet")
def unet(in_channels: int = 3, num_classes: int = 2) -> UNet:
    return UNet(layouts.UNET["widths"], in_channels, num_classes)
