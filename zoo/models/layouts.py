"""Layouts of the zoo's own model definitions: stages, widths, repeats, kernel sizes and block
tables, written once and read by every framework's builder (zoo/models/<framework>/).

Plain data and the width rules that go with it, no framework import: the builders keep only
their framework's idiom (layer classes, forward). A model built in two frameworks therefore
has the same layout by construction, and this file keys the export cache of every `builder:
zoo` cell (zoo/export.py) as the builders do. Sources are the papers' tables, as cited.
"""
from __future__ import annotations

from types import MappingProxyType


def _layout(**fields) -> MappingProxyType:
    """A read-only mapping: builders take a layout's fields as keyword arguments."""
    return MappingProxyType(fields)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10%
    (the MobileNet rounding rule GhostNet uses)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# --- ResNet-50 and its relatives (He et al. 2016; Xie et al. 2017; Hu et al. 2018; Gao et al. 2019)
# 7x7/2 stem + 3x3/2 max-pool, four stages of bottlenecks (planes 64·2^i, 4x expansion),
# stride 2 in the first block of stages 2-4.
RESNET50 = _layout(stem=64, depths=(3, 4, 6, 3), planes=(64, 128, 256, 512), expansion=4)
SE_REDUCTION = 16                                        # squeeze-excite: channels // 16
RESNEXT50_32X4D = _layout(groups=32, base_width=4)       # cardinality 32, 4 channels per group
RES2NET50_26W_4S = _layout(base_width=26, scale=4)       # 26-channel splits, 4 scales

# --- RegNetX-400MF (Radosavovic et al. 2020): the quantised linear rule for 400MF
# (w0=24, wa=24.48, wm=2.54, depth 22) gives these stages; group width 16, bottleneck ratio 1.
REGNETX_400MF = _layout(stem=32, depths=(1, 2, 7, 12), widths=(32, 64, 160, 384), group_width=16)

# --- DPN-68 (Chen et al. 2017), the "small" DPN: 3x3 stem of 10 channels, base residual
# width 64 (bottleneck width factor 1), k_R = 128, G = 32; per stage: blocks and the dense
# path's increment.
DPN68 = _layout(init=10, width=64, k_r=128, groups=32, blocks=(3, 4, 12, 3), incs=(16, 32, 32, 64))

# --- DarkNet-53 (Redmon & Farhadi 2018, Table 1): a 3x3 stem conv, then per stage the
# channels after its strided 3x3 conv and the number of residual blocks.
DARKNET53 = _layout(stem=32, stages=((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)))

# --- RepVGG-A0 (Ding et al. 2021): widths 64·2^i scaled by a = 0.75 (stages 1-3) and
# b = 2.5 (stage 4); the stem is min(64, 64a). Per stage: (channels, blocks).
REPVGG_A0 = _layout(stem=48, stages=((48, 2), (96, 4), (192, 14), (1280, 1)))

# --- ShuffleNet V1 (Zhang et al. 2018, Table 1): stem 24, stages of 4/8/4 units, stage
# widths per group count g at 1.0x; the bottleneck is a quarter of a unit's output.
SHUFFLENET_V1 = _layout(stem=24, repeats=(4, 8, 4), widths=MappingProxyType({
    1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088), 8: (384, 768, 1536)}))

# --- ShuffleNet V2 1.0x (Ma et al. 2018, Table 5): stem 24, stages of 4/8/4 units, a 1x1 conv
# to 1024 before the pool.
SHUFFLENET_V2_X1_0 = _layout(stem=24, repeats=(4, 8, 4), widths=(116, 232, 464), last=1024)

# --- Xception (Chollet 2017): stem convs (channels, stride); blocks of separable convs
# (widths, stride), a strided block ending in a 3x3/2 max-pool: entry flow 3, middle flow
# 8 x 728, exit flow 1; then the exit flow's separable convs.
XCEPTION = _layout(
    stem=((32, 2), (64, 1)),
    blocks=(((128, 128), 2), ((256, 256), 2), ((728, 728), 2))
    + (((728, 728, 728), 1),) * 8 + (((728, 1024), 2),),
    exit_flow=(1536, 2048))

# --- Xception-65 (Chen et al. 2018, DeepLabv3+): as Xception, three separable convs per
# block, the last strided instead of a max-pool; middle flow 16 x 728; output stride 32.
XCEPTION65 = _layout(
    stem=((32, 2), (64, 1)),
    blocks=(((128,) * 3, 2), ((256,) * 3, 2), ((728,) * 3, 2))
    + (((728,) * 3, 1),) * 16 + (((728, 1024, 1024), 2),),
    exit_flow=(1536, 1536, 2048))

# --- GhostNet 1.0x (Han et al. 2020, Table 1): stem 16; per bottleneck (kernel, expansion
# width, output channels, SE ratio, stride); a 1x1 conv to 960, pooled, widened to 1280.
# Widths are scaled and rounded to multiples of 4.
GHOSTNET = _layout(
    stem=16,
    blocks=((3, 16, 16, 0, 1), (3, 48, 24, 0, 2), (3, 72, 24, 0, 1), (5, 72, 40, 0.25, 2),
            (5, 120, 40, 0.25, 1), (3, 240, 80, 0, 2), (3, 200, 80, 0, 1), (3, 184, 80, 0, 1),
            (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1), (5, 672, 160, 0.25, 2),
            (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1)),
    last=960, head=1280, divisor=4, dropout=0.2)

# --- EfficientNet-B0 (Tan & Le 2019, Table 1): stem 32; per stage (expand ratio, kernel,
# first stride, output channels, repeats); a 1x1 conv to 1280; SE ratio 0.25 of a block's input.
EFFICIENTNET_B0 = _layout(
    stem=32,
    stages=((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
            (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)),
    head=1280, dropout=0.2)

# --- MobileNetV1 (Howard et al. 2017, Table 1), width 1.0: a 3x3/2 stem of 32, then per
# depthwise separable block (pointwise output channels, depthwise stride).
MOBILENET_V1 = _layout(stem=32, blocks=(
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)))

# --- GoogLeNet (Szegedy et al. 2015, Table 1): per inception module (1x1, 3x3 reduce, 3x3,
# 5x5 reduce, 5x5, pool proj); None = a 3x3/2 max-pool between modules.
GOOGLENET_MODULES = (
    (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), None,
    (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
    (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), None,
    (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128),
)

# --- U-Net (Ronneberger et al. 2015): double 3x3 convs at these widths, 2x2 max-pool down,
# 2x2 up-convolutions halving the width, skip concatenations.
UNET = _layout(widths=(64, 128, 256, 512, 1024))

# --- ViT-B/16 (Dosovitskiy et al. 2021): 16x16 patches, 12 pre-norm encoder layers of width
# 768, 12 heads, MLP 3072; LayerNorm epsilon 1e-6 (the reference implementation's).
VIT_B16 = _layout(patch=16, dim=768, depth=12, heads=12, mlp=3072, norm_eps=1e-6)


# --- Block tables: a layout expanded to one row per block, with the wiring rules (which block
# is strided, grouped or projects, the channels it takes in) written once. Builders that
# infer a block's input from its tensor (Keras) ignore `cin`.

def resnet_units(layout) -> tuple:
    """(cin, planes, stride, first of its stage) per bottleneck: stride 2 in the first unit of
    stages 2-4; each unit outputs planes x expansion."""
    units, cin = [], layout["stem"]
    for stage, (depth, planes) in enumerate(zip(layout["depths"], layout["planes"])):
        for i in range(depth):
            units.append((cin, planes, 2 if stage > 0 and i == 0 else 1, i == 0))
            cin = planes * layout["expansion"]
    return tuple(units)


def plain_blocks(stem: int, stages) -> tuple:
    """(cin, cout, stride) per block of stages given as (channels, blocks): the first block of
    each stage is strided (RegNet, RepVGG)."""
    blocks, cin = [], stem
    for cout, count in stages:
        for i in range(count):
            blocks.append((cin, cout, 2 if i == 0 else 1))
            cin = cout
    return tuple(blocks)


def repvgg_blocks(layout) -> tuple:
    """(cin, cout, stride) per RepVGG block, the strided stem block first."""
    return ((3, layout["stem"], 2),) + plain_blocks(layout["stem"], layout["stages"])


def regnet_blocks(layout) -> tuple:
    """(cin, cout, stride) per X block after the stem."""
    return plain_blocks(layout["stem"], zip(layout["widths"], layout["depths"]))


def shufflenet_v1_units(layout, groups: int) -> tuple:
    """(cin, cout, stride, grouped first 1x1) per unit: the first unit of a stage is strided;
    stage 2's first 1x1 is not grouped, its 24 input channels being too few."""
    units, cin = [], layout["stem"]
    for stage, (count, cout) in enumerate(zip(layout["repeats"], layout["widths"][groups])):
        for i in range(count):
            units.append((cin, cout, 2 if i == 0 else 1, not (stage == 0 and i == 0)))
            cin = cout
    return tuple(units)


def dpn_blocks(layout) -> tuple:
    """(cin, bottleneck width, residual width, dense increment, kind, cout) per dual path
    block. kind: 'proj' (the first block: projects the stem output into both paths), 'down'
    (the first of a later stage: projects, strided), 'normal'. A block outputs its stage's
    residual width plus the dense path grown so far (2 increments from the projection, one
    per block)."""
    blocks, cin = [], layout["init"]
    for stage, (count, inc) in enumerate(zip(layout["blocks"], layout["incs"])):
        res_out, bottleneck = layout["width"] * 2 ** stage, layout["k_r"] * 2 ** stage
        for i in range(count):
            kind = ("proj" if stage == 0 else "down") if i == 0 else "normal"
            cout = res_out + inc * (i + 3)
            blocks.append((cin, bottleneck, res_out, inc, kind, cout))
            cin = cout
    return tuple(blocks)


def ghostnet_blocks(layout, width: float = 1.0) -> tuple:
    """(cin, kernel, expansion width, cout, SE ratio, stride) per bottleneck, the widths
    scaled by ``width`` and rounded to the layout's divisor."""
    def scaled(channels):
        return make_divisible(channels * width, layout["divisor"])

    blocks, cin = [], scaled(layout["stem"])
    for kernel, exp, cout, se, stride in layout["blocks"]:
        blocks.append((cin, kernel, scaled(exp), scaled(cout), se, stride))
        cin = scaled(cout)
    return tuple(blocks)
