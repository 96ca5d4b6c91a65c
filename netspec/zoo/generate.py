"""Writes every zoo spec from Python: one function per network family.

    python -m netspec.zoo.generate            # rewrite netspec/zoo/*.prototxt
    python -m netspec.zoo.generate --check    # exit 1 if a committed file differs
    python -m netspec.zoo.generate resnet50   # just some of them

Each spec is a deploy net: an ``Input`` layer named ``data`` with the paper's
input size at batch 1, no data or loss layers, a filler on every learnable
layer.  Its header comment cites the paper, quotes the figures it publishes,
and gives netspec's own count: the totals of netspec's checker
(netspec.pipeline.check) over the spec's text.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import textwrap
from collections.abc import Callable

from netspec.builder import L, NetSpec, P, Top
from netspec.diagnostics import Severity, render_all
from netspec.infer import Analysis
from netspec.pipeline import check
from netspec.zoo import ENTRIES, HERE

# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------

MSRA = dict(type="msra")
XAVIER = dict(type="xavier")
ZERO = dict(type="constant", value=0)


def gaussian(std: float) -> dict:
    return dict(type="gaussian", std=std)


def constant(value: float) -> dict:
    return dict(type="constant", value=value)


def data(n: NetSpec, shape: tuple[int, ...]) -> Top:
    n.data = L.Input(shape=dict(dim=list(shape)))
    return n.data


def conv(
    bottom: Top,
    num_output: int,
    kernel_size: int,
    *,
    stride: int = 1,
    pad: int = 0,
    group: int = 1,
    weight_filler: dict,
    bias_filler: dict | None = None,
    bias_term: bool = True,
    **extra,
) -> Top:
    """A Convolution with the fields Caffe files usually spell out, and no defaults repeated."""
    fields: dict = dict(num_output=num_output)
    if not bias_term:
        fields["bias_term"] = False
    if pad:
        fields["pad"] = pad
    fields["kernel_size"] = kernel_size
    if group != 1:
        fields["group"] = group
    if stride != 1:
        fields["stride"] = stride
    fields["weight_filler"] = weight_filler
    if bias_term:
        fields["bias_filler"] = bias_filler if bias_filler is not None else ZERO
    fields.update(extra)
    return L.Convolution(bottom, **fields)


def fc(bottom: Top, num_output: int, *, weight_filler: dict, bias_filler: dict | None = None) -> Top:
    return L.InnerProduct(
        bottom,
        num_output=num_output,
        weight_filler=weight_filler,
        bias_filler=bias_filler if bias_filler is not None else ZERO,
    )


def max_pool(bottom: Top, kernel_size: int, stride: int, pad: int = 0) -> Top:
    if pad:
        return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=kernel_size, stride=stride, pad=pad)
    return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=kernel_size, stride=stride)


def ave_pool(bottom: Top, kernel_size: int, stride: int) -> Top:
    return L.Pooling(bottom, pool=P.Pooling.AVE, kernel_size=kernel_size, stride=stride)


def global_ave_pool(bottom: Top) -> Top:
    return L.Pooling(bottom, pool=P.Pooling.AVE, global_pooling=True)


def bn_scale(n: NetSpec, bottom: Top, bn: str, scale: str, *, top: str | None = None) -> Top:
    """BatchNorm (running statistics) + Scale (learned gamma and beta): Caffe's batch normalisation.

    In place on `bottom` unless `top` names a new blob for the BatchNorm's output."""
    if top is None:
        n[bn] = L.BatchNorm(bottom, in_place=True, use_global_stats=True)
    else:
        n[top] = L.BatchNorm(bottom, use_global_stats=True, name=bn)
    n[scale] = L.Scale(
        n[top] if top else n[bn], in_place=True, bias_term=True, filler=constant(1), bias_filler=ZERO
    )
    return n[scale]


def relu(n: NetSpec, name: str, bottom: Top) -> Top:
    n[name] = L.ReLU(bottom, in_place=True)
    return n[name]


def relu6(n: NetSpec, name: str, bottom: Top) -> Top:
    """ReLU6 as Caffe can write it: Clip to [0, 6] (BVLC Caffe has no ReLU6 layer)."""
    n[name] = L.Clip(bottom, in_place=True, min=0, max=6)
    return n[name]


def softmax(n: NetSpec, bottom: Top) -> Top:
    n.prob = L.Softmax(bottom)
    return n.prob


# ---------------------------------------------------------------------------
# LeNet
# ---------------------------------------------------------------------------


def lenet5() -> NetSpec:
    """LeNet-5 as LeCun et al. (1998) describe it, in what Caffe can express."""
    n = NetSpec("LeNet-5")
    data(n, ENTRIES["lenet5"]["input"])
    # C1: 6 maps, 5x5, 32x32 -> 28x28
    n.c1 = conv(n.data, 6, 5, weight_filler=XAVIER)
    n.tanh1 = L.TanH(n.c1, in_place=True)
    # S2: 2x2 subsampling by averaging (the paper's trainable coefficient and bias per map are absent)
    n.s2 = ave_pool(n.tanh1, 2, 2)
    # C3: 16 maps, 5x5; fully connected to S2's 6 maps (the paper's Table I connects each to 3 or 4 or 6)
    n.c3 = conv(n.s2, 16, 5, weight_filler=XAVIER)
    n.tanh3 = L.TanH(n.c3, in_place=True)
    n.s4 = ave_pool(n.tanh3, 2, 2)
    # C5: 120 maps, 5x5 convolution over the 5x5 S4 maps -> 1x1
    n.c5 = conv(n.s4, 120, 5, weight_filler=XAVIER)
    n.tanh5 = L.TanH(n.c5, in_place=True)
    n.f6 = fc(n.tanh5, 84, weight_filler=XAVIER)
    n.tanh6 = L.TanH(n.f6, in_place=True)
    # Output: 10 units (the paper's Euclidean RBF units are an InnerProduct here)
    n.output = fc(n.tanh6, 10, weight_filler=XAVIER)
    softmax(n, n.output)
    return n


def lenet() -> NetSpec:
    """Caffe's MNIST LeNet (examples/mnist/lenet.prototxt), at batch 1."""
    n = NetSpec("LeNet")
    data(n, ENTRIES["lenet"]["input"])
    n.conv1 = conv(n.data, 20, 5, weight_filler=XAVIER)
    n.pool1 = max_pool(n.conv1, 2, 2)
    n.conv2 = conv(n.pool1, 50, 5, weight_filler=XAVIER)
    n.pool2 = max_pool(n.conv2, 2, 2)
    n.ip1 = fc(n.pool2, 500, weight_filler=XAVIER)
    n.relu1 = L.ReLU(n.ip1, in_place=True)
    n.ip2 = fc(n.relu1, 10, weight_filler=XAVIER)
    softmax(n, n.ip2)
    return n


# ---------------------------------------------------------------------------
# AlexNet, VGG, NIN
# ---------------------------------------------------------------------------


def alexnet() -> NetSpec:
    """BVLC's bvlc_alexnet deploy, with the fillers of its train_val."""
    n = NetSpec("AlexNet")
    data(n, ENTRIES["alexnet"]["input"])
    lrn = dict(local_size=5, alpha=0.0001, beta=0.75)
    g01, one = gaussian(0.01), constant(0.1)
    n.conv1 = conv(n.data, 96, 11, stride=4, weight_filler=g01)
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.norm1 = L.LRN(n.relu1, **lrn)
    n.pool1 = max_pool(n.norm1, 3, 2)
    n.conv2 = conv(n.pool1, 256, 5, pad=2, group=2, weight_filler=g01, bias_filler=one)
    n.relu2 = L.ReLU(n.conv2, in_place=True)
    n.norm2 = L.LRN(n.relu2, **lrn)
    n.pool2 = max_pool(n.norm2, 3, 2)
    n.conv3 = conv(n.pool2, 384, 3, pad=1, weight_filler=g01)
    n.relu3 = L.ReLU(n.conv3, in_place=True)
    n.conv4 = conv(n.relu3, 384, 3, pad=1, group=2, weight_filler=g01, bias_filler=one)
    n.relu4 = L.ReLU(n.conv4, in_place=True)
    n.conv5 = conv(n.relu4, 256, 3, pad=1, group=2, weight_filler=g01, bias_filler=one)
    n.relu5 = L.ReLU(n.conv5, in_place=True)
    n.pool5 = max_pool(n.relu5, 3, 2)
    top = n.pool5
    for i in (6, 7):
        n[f"fc{i}"] = fc(top, 4096, weight_filler=gaussian(0.005), bias_filler=one)
        n[f"relu{i}"] = L.ReLU(n[f"fc{i}"], in_place=True)
        n[f"drop{i}"] = top = L.Dropout(n[f"relu{i}"], in_place=True, dropout_ratio=0.5)
    n.fc8 = fc(top, 1000, weight_filler=g01)
    softmax(n, n.fc8)
    return n


VGG_STAGES = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
VGG_WIDTHS = (64, 128, 256, 512, 512)


def vgg_features(n: NetSpec, bottom: Top, depth: int, *, first_pad: int = 1) -> Top:
    """VGG's 13 (16) or 16 (19) 3x3 convolutions with ReLU, and five 2x2 max pools."""
    top = bottom
    for stage, (count, width) in enumerate(zip(VGG_STAGES[depth], VGG_WIDTHS), start=1):
        for i in range(1, count + 1):
            pad = first_pad if (stage, i) == (1, 1) else 1
            n[f"conv{stage}_{i}"] = conv(top, width, 3, pad=pad, weight_filler=gaussian(0.01))
            top = relu(n, f"relu{stage}_{i}", n[f"conv{stage}_{i}"])
        n[f"pool{stage}"] = top = max_pool(top, 2, 2)
    return top


def vgg(depth: int) -> NetSpec:
    """VGG-16 / VGG-19 as the authors' Caffe deploy files (VGG_ILSVRC_{16,19}_layers) lay them out;
    weights from N(0, 0.01^2) and zero biases, the paper's initialisation."""
    n = NetSpec(f"VGG_ILSVRC_{depth}_layers")
    top = vgg_features(n, data(n, ENTRIES[f"vgg{depth}"]["input"]), depth)
    for i in (6, 7):
        n[f"fc{i}"] = fc(top, 4096, weight_filler=gaussian(0.01))
        n[f"relu{i}"] = L.ReLU(n[f"fc{i}"], in_place=True)
        n[f"drop{i}"] = top = L.Dropout(n[f"relu{i}"], in_place=True, dropout_ratio=0.5)
    n.fc8 = fc(top, 1000, weight_filler=gaussian(0.01))
    softmax(n, n.fc8)
    return n


def nin() -> NetSpec:
    """The ImageNet Network-in-Network of the Caffe model zoo (layer and blob names as there)."""
    n = NetSpec("nin_imagenet")
    data(n, ENTRIES["nin"]["input"])
    layers = [  # (layer, blob, num_output, kernel, stride, pad, std, relu)
        [
            ("conv1", "conv1", 96, 11, 4, 0, 0.01, "relu0"),
            ("cccp1", "cccp1", 96, 1, 1, 0, 0.05, "relu1"),
            ("cccp2", "cccp2", 96, 1, 1, 0, 0.05, "relu2"),
        ],
        [
            ("conv2", "conv2", 256, 5, 1, 2, 0.05, "relu3"),
            ("cccp3", "cccp3", 256, 1, 1, 0, 0.05, "relu5"),
            ("cccp4", "cccp4", 256, 1, 1, 0, 0.05, "relu6"),
        ],
        [
            ("conv3", "conv3", 384, 3, 1, 1, 0.01, "relu7"),
            ("cccp5", "cccp5", 384, 1, 1, 0, 0.05, "relu8"),
            ("cccp6", "cccp6", 384, 1, 1, 0, 0.05, "relu9"),
        ],
        [
            ("conv4-1024", "conv4", 1024, 3, 1, 1, 0.05, "relu10"),
            ("cccp7-1024", "cccp7", 1024, 1, 1, 0, 0.05, "relu11"),
            ("cccp8-1024", "cccp8", 1000, 1, 1, 0, 0.01, "relu12"),
        ],
    ]
    pools = ("pool0", "pool2", "pool3")
    top = n.data
    for stage, group in enumerate(layers):
        for layer, blob, num, kernel, stride, pad, std, act in group:
            name = None if layer == blob else layer
            n[blob] = conv(
                top,
                num,
                kernel,
                stride=stride,
                pad=pad,
                weight_filler=gaussian(std),
                **({"name": name} if name else {}),
            )
            top = relu(n, act, n[blob])
        if stage < 3:
            n[pools[stage]] = top = max_pool(top, 3, 2)
        if stage == 2:
            n.drop = top = L.Dropout(top, in_place=True, dropout_ratio=0.5)
    n.pool4 = ave_pool(top, 6, 1)
    softmax(n, n.pool4)
    return n


# ---------------------------------------------------------------------------
# GoogLeNet
# ---------------------------------------------------------------------------

# name: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) from the paper's Table 1
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def googlenet() -> NetSpec:
    """BVLC's bvlc_googlenet deploy (no auxiliary classifiers), with its fillers."""
    n = NetSpec("GoogleNet")
    data(n, ENTRIES["googlenet"]["input"])
    lrn = dict(local_size=5, alpha=0.0001, beta=0.75)

    def cr(name: str, relu_name: str, bottom: Top, num: int, kernel: int, std: float, **kw) -> Top:
        n[name] = conv(
            bottom, num, kernel, weight_filler=dict(type="xavier", std=std), bias_filler=constant(0.2), **kw
        )
        return relu(n, relu_name, n[name])

    top = cr("conv1/7x7_s2", "conv1/relu_7x7", n.data, 64, 7, 0.1, stride=2, pad=3)
    n["pool1/3x3_s2"] = max_pool(top, 3, 2)
    n["pool1/norm1"] = L.LRN(n["pool1/3x3_s2"], **lrn)
    top = cr("conv2/3x3_reduce", "conv2/relu_3x3_reduce", n["pool1/norm1"], 64, 1, 0.1)
    top = cr("conv2/3x3", "conv2/relu_3x3", top, 192, 3, 0.03, pad=1)
    n["conv2/norm2"] = L.LRN(top, **lrn)
    n["pool2/3x3_s2"] = top = max_pool(n["conv2/norm2"], 3, 2)
    for name, (c1, r3, c3, r5, c5, pp) in INCEPTION.items():
        p = f"inception_{name}"
        b1 = cr(f"{p}/1x1", f"{p}/relu_1x1", top, c1, 1, 0.03)
        b3 = cr(f"{p}/3x3_reduce", f"{p}/relu_3x3_reduce", top, r3, 1, 0.09)
        b3 = cr(f"{p}/3x3", f"{p}/relu_3x3", b3, c3, 3, 0.03, pad=1)
        b5 = cr(f"{p}/5x5_reduce", f"{p}/relu_5x5_reduce", top, r5, 1, 0.2)
        b5 = cr(f"{p}/5x5", f"{p}/relu_5x5", b5, c5, 5, 0.03, pad=2)
        n[f"{p}/pool"] = max_pool(top, 3, 1, pad=1)
        bp = cr(f"{p}/pool_proj", f"{p}/relu_pool_proj", n[f"{p}/pool"], pp, 1, 0.1)
        n[f"{p}/output"] = top = L.Concat(b1, b3, b5, bp)
        if name == "3b":
            n["pool3/3x3_s2"] = top = max_pool(top, 3, 2)
        elif name == "4e":
            n["pool4/3x3_s2"] = top = max_pool(top, 3, 2)
    n["pool5/7x7_s1"] = ave_pool(top, 7, 1)
    n["pool5/drop_7x7_s1"] = L.Dropout(n["pool5/7x7_s1"], in_place=True, dropout_ratio=0.4)
    n["loss3/classifier"] = fc(n["pool5/drop_7x7_s1"], 1000, weight_filler=XAVIER)
    softmax(n, n["loss3/classifier"])
    return n


# ---------------------------------------------------------------------------
# ResNet
# ---------------------------------------------------------------------------

RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _resnet_block_names(depth: int, stage: int, count: int) -> list[str]:
    """KaimingHe's block names: a, b, c, ... or, in 101/152's long stages 3 and 4, a, b1, b2, ..."""
    if depth >= 101 and stage in (3, 4):
        return ["a"] + [f"b{i}" for i in range(1, count)]
    return [chr(ord("a") + i) for i in range(count)]


def _resnet_conv(
    n: NetSpec, suffix: str, bottom: Top, num: int, kernel: int, stride: int, *, act: bool = True
) -> Top:
    """res<suffix> (conv, no bias) + bn<suffix> + scale<suffix> [+ res<suffix>_relu], in place."""
    n[f"res{suffix}"] = conv(
        bottom, num, kernel, stride=stride, pad=kernel // 2, bias_term=False, weight_filler=MSRA
    )
    top = bn_scale(n, n[f"res{suffix}"], f"bn{suffix}", f"scale{suffix}")
    return relu(n, f"res{suffix}_relu", top) if act else top


def resnet(depth: int) -> NetSpec:
    """ResNet-18/34 (basic blocks) and ResNet-50/101/152 (bottlenecks), as KaimingHe's Caffe files
    write them: conv (no bias) + BatchNorm + Scale + ReLU, stride 2 on a stage's first 1x1 (bottleneck)
    or first 3x3 (basic), projection shortcuts (1x1 conv + BN + Scale) where the shape changes."""
    n = NetSpec(f"ResNet-{depth}")
    data(n, ENTRIES[f"resnet{depth}"]["input"])
    bottleneck = depth >= 50
    # conv1 has a bias in KaimingHe's ResNet-50 file only (its 101/152 files and torchvision have none)
    n.conv1 = conv(n.data, 64, 7, stride=2, pad=3, bias_term=depth == 50, weight_filler=MSRA)
    top = bn_scale(n, n.conv1, "bn_conv1", "scale_conv1")
    top = relu(n, "conv1_relu", top)
    n.pool1 = top = max_pool(top, 3, 2)
    channels = 64
    for stage, count in enumerate(RESNET_BLOCKS[depth], start=2):
        width = 64 * 2 ** (stage - 2)
        out = width * 4 if bottleneck else width
        for i, block in enumerate(_resnet_block_names(depth, stage, count)):
            b = f"{stage}{block}"
            stride = 2 if i == 0 and stage > 2 else 1
            if i == 0 and (stride != 1 or channels != out):
                shortcut = _resnet_conv(n, f"{b}_branch1", top, out, 1, stride, act=False)
            else:
                shortcut = top
            if bottleneck:
                x = _resnet_conv(n, f"{b}_branch2a", top, width, 1, stride)
                x = _resnet_conv(n, f"{b}_branch2b", x, width, 3, 1)
                x = _resnet_conv(n, f"{b}_branch2c", x, out, 1, 1, act=False)
            else:
                x = _resnet_conv(n, f"{b}_branch2a", top, width, 3, stride)
                x = _resnet_conv(n, f"{b}_branch2b", x, width, 3, 1, act=False)
            n[f"res{b}"] = L.Eltwise(shortcut, x, operation=P.Eltwise.SUM)
            top = relu(n, f"res{b}_relu", n[f"res{b}"])
            channels = out
    n.pool5 = ave_pool(top, 7, 1)
    n.fc1000 = fc(n.pool5, 1000, weight_filler=gaussian(0.01))
    softmax(n, n.fc1000)
    return n


# ---------------------------------------------------------------------------
# MobileNet v1 and v2
# ---------------------------------------------------------------------------


def _bn_conv(
    n: NetSpec,
    name: str,
    relu_name: str | None,
    bottom: Top,
    num: int,
    kernel: int,
    *,
    stride: int = 1,
    group: int = 1,
    six: bool = False,
) -> Top:
    """shicai/MobileNet-Caffe's unit: <name> (conv, no bias) + <name>/bn + <name>/scale + <relu_name>."""
    n[name] = conv(
        bottom, num, kernel, stride=stride, pad=kernel // 2, group=group, bias_term=False, weight_filler=MSRA
    )
    top = bn_scale(n, n[name], f"{name}/bn", f"{name}/scale")
    if relu_name is None:
        return top
    return relu6(n, relu_name, top) if six else relu(n, relu_name, top)


# (name, output channels, depthwise stride), after the 32-channel stride-2 stem
MOBILENET_V1 = [
    ("2_1", 64, 1),
    ("2_2", 128, 2),
    ("3_1", 128, 1),
    ("3_2", 256, 2),
    ("4_1", 256, 1),
    ("4_2", 512, 2),
    ("5_1", 512, 1),
    ("5_2", 512, 1),
    ("5_3", 512, 1),
    ("5_4", 512, 1),
    ("5_5", 512, 1),
    ("5_6", 1024, 2),
    ("6", 1024, 1),
]


def mobilenet_v1() -> NetSpec:
    """MobileNet v1, width 1.0, as shicai/MobileNet-Caffe writes it (depthwise = group == channels)."""
    n = NetSpec("MobileNet-v1")
    data(n, ENTRIES["mobilenet_v1"]["input"])
    top = _bn_conv(n, "conv1", "relu1", n.data, 32, 3, stride=2)
    channels = 32
    for name, out, stride in MOBILENET_V1:
        top = _bn_conv(n, f"conv{name}/dw", f"relu{name}/dw", top, channels, 3, stride=stride, group=channels)
        top = _bn_conv(n, f"conv{name}/sep", f"relu{name}/sep", top, out, 1)
        channels = out
    n.pool6 = global_ave_pool(top)
    n.fc7 = conv(n.pool6, 1000, 1, weight_filler=MSRA)
    softmax(n, n.fc7)
    return n


# (expansion t, output channels c, repeats n, first stride s): the paper's Table 2
MOBILENET_V2 = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def mobilenet_v2() -> NetSpec:
    """MobileNet v2, width 1.0: inverted residuals with linear bottlenecks, ReLU6 as Clip [0, 6].

    Names follow shicai/MobileNet-Caffe (conv<stage>_<i>/expand, /dwise, /linear, block_<stage>_<i>);
    the first block (t=1) has no expansion convolution, as in the paper and torchvision."""
    n = NetSpec("MobileNet-v2")
    data(n, ENTRIES["mobilenet_v2"]["input"])
    top = _bn_conv(n, "conv1", "relu1", n.data, 32, 3, stride=2, six=True)
    channels, stage, index = 32, 2, 1
    for t, c, repeats, s in MOBILENET_V2:
        for r in range(repeats):
            stride = s if r == 0 else 1
            b = f"{stage}_{index}"
            x = top
            hidden = channels * t
            if t != 1:
                x = _bn_conv(n, f"conv{b}/expand", f"relu{b}/expand", x, hidden, 1, six=True)
            x = _bn_conv(
                n, f"conv{b}/dwise", f"relu{b}/dwise", x, hidden, 3, stride=stride, group=hidden, six=True
            )
            x = _bn_conv(n, f"conv{b}/linear", None, x, c, 1)
            if stride == 1 and channels == c:
                n[f"block_{b}"] = x = L.Eltwise(top, x, operation=P.Eltwise.SUM)
            top, channels = x, c
            if stride == 2:
                stage, index = stage + 1, 1
            else:
                index += 1
    top = _bn_conv(n, "conv6_4", "relu6_4", top, 1280, 1, six=True)
    n.pool6 = global_ave_pool(top)
    n.fc7 = conv(n.pool6, 1000, 1, weight_filler=MSRA)
    softmax(n, n.fc7)
    return n


# ---------------------------------------------------------------------------
# MobileNet-SSD
# ---------------------------------------------------------------------------

# chuanqi305/MobileNet-SSD's names for MobileNet v1's blocks: conv0, then conv<i>/dw + conv<i>
# (output channels, depthwise stride) for i = 1 .. 13, as the rows of MOBILENET_V1
MOBILENET_SSD_BODY = [(out, stride) for _, out, stride in MOBILENET_V1]
# the extra feature layers after conv13: (name, 1x1 channels, 3x3 stride-2 channels)
MOBILENET_SSD_EXTRAS = [("conv14", 256, 512), ("conv15", 128, 256), ("conv16", 128, 256), ("conv17", 64, 128)]
# the source maps and their priors: (blob, min_size, max_size, aspect ratios); 300x300 input
MOBILENET_SSD_SOURCES = [
    ("conv11", 60, None, (2,)),
    ("conv13", 105, 150, (2, 3)),
    ("conv14_2", 150, 195, (2, 3)),
    ("conv15_2", 195, 240, (2, 3)),
    ("conv16_2", 240, 285, (2, 3)),
    ("conv17_2", 285, 300, (2, 3)),
]
COCO_CLASSES = 91  # TensorFlow's ssd_mobilenet_v1_coco: 90 COCO ids and the background


def _priors_per_cell(max_size: int | None, ratios: tuple[int, ...]) -> int:
    """PriorBox's boxes per cell with flip: the min_size square, sqrt(min*max) square, r and 1/r."""
    return 1 + (max_size is not None) + 2 * len(ratios)


def mobilenet_ssd() -> NetSpec:
    """SSD300 on MobileNet v1 as chuanqi305/MobileNet-SSD's deploy.prototxt writes it (BatchNorm + Scale
    after every body and extra convolution), over TensorFlow's 91 COCO classes."""
    n = NetSpec("MobileNet-SSD")
    data(n, ENTRIES["mobilenet_ssd"]["input"])
    top = _bn_conv(n, "conv0", "conv0/relu", n.data, 32, 3, stride=2)
    channels = 32
    for i, (out, stride) in enumerate(MOBILENET_SSD_BODY, start=1):
        top = _bn_conv(n, f"conv{i}/dw", f"conv{i}/dw/relu", top, channels, 3, stride=stride, group=channels)
        top = _bn_conv(n, f"conv{i}", f"conv{i}/relu", top, out, 1)
        channels = out
    for name, reduce, out in MOBILENET_SSD_EXTRAS:
        top = _bn_conv(n, f"{name}_1", f"{name}_1/relu", top, reduce, 1)
        top = _bn_conv(n, f"{name}_2", f"{name}_2/relu", top, out, 3, stride=2)
    heads: dict[str, list[Top]] = dict(loc=[], conf=[], priorbox=[])
    for source, min_size, max_size, ratios in MOBILENET_SSD_SOURCES:
        priors = _priors_per_cell(max_size, ratios)
        for head, num in (("loc", priors * 4), ("conf", priors * COCO_CLASSES)):
            p = f"{source}_mbox_{head}"
            n[p] = conv(n[source], num, 1, weight_filler=MSRA)
            n[f"{p}_perm"] = L.Permute(n[p], order=[0, 2, 3, 1])
            n[f"{p}_flat"] = L.Flatten(n[f"{p}_perm"], axis=1)
            heads[head].append(n[f"{p}_flat"])
        sizes = dict(min_size=min_size) | (dict(max_size=max_size) if max_size else {})
        n[f"{source}_mbox_priorbox"] = L.PriorBox(
            n[source], n.data, **sizes, aspect_ratio=list(ratios), flip=True, clip=False,
            variance=[0.1, 0.1, 0.2, 0.2], offset=0.5,
        )  # fmt: skip
        heads["priorbox"].append(n[f"{source}_mbox_priorbox"])
    n.mbox_loc = L.Concat(*heads["loc"], axis=1)
    n.mbox_conf = L.Concat(*heads["conf"], axis=1)
    n.mbox_priorbox = L.Concat(*heads["priorbox"], axis=2)
    n.mbox_conf_reshape = L.Reshape(n.mbox_conf, shape=dict(dim=[0, -1, COCO_CLASSES]))
    n.mbox_conf_softmax = L.Softmax(n.mbox_conf_reshape, axis=2)
    n.mbox_conf_flatten = L.Flatten(n.mbox_conf_softmax, axis=1)
    n.detection_out = L.DetectionOutput(
        n.mbox_loc, n.mbox_conf_flatten, n.mbox_priorbox,
        num_classes=COCO_CLASSES, share_location=True, background_label_id=0,
        nms_param=dict(nms_threshold=0.45, top_k=100), code_type="CENTER_SIZE", keep_top_k=100,
        confidence_threshold=0.25,
    )  # fmt: skip
    return n


# ---------------------------------------------------------------------------
# SqueezeNet 1.1
# ---------------------------------------------------------------------------

# fire module: (squeeze 1x1, expand 1x1 = expand 3x3)
SQUEEZENET_FIRES = {
    2: (16, 64),
    3: (16, 64),
    4: (32, 128),
    5: (32, 128),
    6: (48, 192),
    7: (48, 192),
    8: (64, 256),
    9: (64, 256),
}


def squeezenet() -> NetSpec:
    """SqueezeNet v1.1 as forresti/SqueezeNet's deploy.prototxt, with its train_val's fillers."""
    n = NetSpec("SqueezeNet-v1.1")
    data(n, ENTRIES["squeezenet1_1"]["input"])
    n.conv1 = conv(n.data, 64, 3, stride=2, weight_filler=XAVIER)
    n.relu_conv1 = L.ReLU(n.conv1, in_place=True)
    n.pool1 = top = max_pool(n.relu_conv1, 3, 2)
    for i, (squeeze, expand) in SQUEEZENET_FIRES.items():
        f = f"fire{i}"
        n[f"{f}/squeeze1x1"] = conv(top, squeeze, 1, weight_filler=XAVIER)
        s = relu(n, f"{f}/relu_squeeze1x1", n[f"{f}/squeeze1x1"])
        n[f"{f}/expand1x1"] = conv(s, expand, 1, weight_filler=XAVIER)
        e1 = relu(n, f"{f}/relu_expand1x1", n[f"{f}/expand1x1"])
        n[f"{f}/expand3x3"] = conv(s, expand, 3, pad=1, weight_filler=XAVIER)
        e3 = relu(n, f"{f}/relu_expand3x3", n[f"{f}/expand3x3"])
        n[f"{f}/concat"] = top = L.Concat(e1, e3)
        if i in (3, 5):
            n[f"pool{i}"] = top = max_pool(top, 3, 2)
    n.drop9 = L.Dropout(top, in_place=True, dropout_ratio=0.5)
    n.conv10 = conv(n.drop9, 1000, 1, weight_filler=dict(type="gaussian", mean=0.0, std=0.01))
    n.relu_conv10 = L.ReLU(n.conv10, in_place=True)
    n.pool10 = global_ave_pool(n.relu_conv10)
    softmax(n, n.pool10)
    return n


# ---------------------------------------------------------------------------
# DenseNet-121
# ---------------------------------------------------------------------------


def densenet121() -> NetSpec:
    """DenseNet-121 (growth 32, bottleneck 4k, compression 0.5), BN-ReLU-Conv, as
    shicai/DenseNet-Caffe names it; BatchNorm writes a new blob so each concatenation stays unchanged."""
    n = NetSpec("DenseNet-121")
    data(n, ENTRIES["densenet121"]["input"])
    growth = 32

    def bn_relu_conv(bottom: Top, stem: str, relu_name: str, num: int, kernel: int) -> Top:
        x = bn_scale(n, bottom, f"{stem}/bn", f"{stem}/scale", top=f"{stem}/bn")
        x = relu(n, relu_name, x)
        n[stem] = conv(x, num, kernel, pad=kernel // 2, bias_term=False, weight_filler=MSRA)
        return n[stem]

    n.conv1 = conv(n.data, 64, 7, stride=2, pad=3, bias_term=False, weight_filler=MSRA)
    x = bn_scale(n, n.conv1, "conv1/bn", "conv1/scale", top="conv1/bn")
    x = relu(n, "relu1", x)
    # 3x3/2 max pooling, 112 -> 56: without padding, as Caffe's ceiling arithmetic gives 56 (pad 1 gives 57)
    n.pool1 = top = max_pool(x, 3, 2)
    channels = 64
    for block, layers in enumerate((6, 12, 24, 16), start=2):
        for i in range(1, layers + 1):
            x = bn_relu_conv(top, f"conv{block}_{i}/x1", f"relu{block}_{i}/x1", 4 * growth, 1)
            x = bn_relu_conv(x, f"conv{block}_{i}/x2", f"relu{block}_{i}/x2", growth, 3)
            n[f"concat_{block}_{i}"] = top = L.Concat(top, x)
            channels += growth
        if block < 5:
            channels //= 2
            x = bn_relu_conv(top, f"conv{block}_blk", f"relu{block}_blk", channels, 1)
            n[f"pool{block}"] = top = ave_pool(x, 2, 2)
    x = bn_scale(n, top, "conv5_blk/bn", "conv5_blk/scale", top="conv5_blk/bn")
    x = relu(n, "relu5_blk", x)
    n.pool5 = global_ave_pool(x)
    n.fc6 = conv(n.pool5, 1000, 1, weight_filler=MSRA)
    softmax(n, n.fc6)
    return n


# ---------------------------------------------------------------------------
# FCN
# ---------------------------------------------------------------------------


def fcn(variant: str) -> NetSpec:
    """FCN-32s / FCN-8s for PASCAL VOC as shelhamer/fcn.berkeleyvision.org's voc-fcn32s and voc-fcn8s."""
    if variant not in ("32s", "8s"):
        raise ValueError(f"fcn variant must be '32s' or '8s', not {variant!r}")
    classes = 21
    n = NetSpec(f"FCN-{variant}")
    top = vgg_features(n, data(n, ENTRIES[f"fcn{variant}"]["input"]), 16, first_pad=100)
    n.fc6 = conv(top, 4096, 7, weight_filler=gaussian(0.01))
    top = relu(n, "relu6", n.fc6)
    if variant == "32s":  # fcn32s's net.py keeps the dropout; voc-fcn8s/deploy.prototxt has none
        n.drop6 = top = L.Dropout(top, in_place=True, dropout_ratio=0.5)
    n.fc7 = conv(top, 4096, 1, weight_filler=gaussian(0.01))
    top = relu(n, "relu7", n.fc7)
    if variant == "32s":
        n.drop7 = top = L.Dropout(top, in_place=True, dropout_ratio=0.5)
    # class scores start at zero, as the paper initialises them
    n.score_fr = conv(top, classes, 1, weight_filler=ZERO)

    def upsample(bottom: Top, factor: int) -> Top:
        # fixed bilinear interpolation (lr_mult 0), as the reference nets train it
        return L.Deconvolution(
            bottom,
            param=[dict(lr_mult=0)],
            num_output=classes,
            bias_term=False,
            kernel_size=2 * factor,
            stride=factor,
            weight_filler=dict(type="bilinear"),
        )

    if variant == "32s":
        n.upscore = upsample(n.score_fr, 32)
        n.score = L.Crop(n.upscore, n.data, axis=2, offset=19)
        return n
    n.upscore2 = upsample(n.score_fr, 2)
    n.score_pool4 = conv(n.pool4, classes, 1, weight_filler=ZERO)
    n.score_pool4c = L.Crop(n.score_pool4, n.upscore2, axis=2, offset=5)
    n.fuse_pool4 = L.Eltwise(n.upscore2, n.score_pool4c, operation=P.Eltwise.SUM)
    n.upscore_pool4 = upsample(n.fuse_pool4, 2)
    n.score_pool3 = conv(n.pool3, classes, 1, weight_filler=ZERO)
    n.score_pool3c = L.Crop(n.score_pool3, n.upscore_pool4, axis=2, offset=9)
    n.fuse_pool3 = L.Eltwise(n.upscore_pool4, n.score_pool3c, operation=P.Eltwise.SUM)
    n.upscore8 = upsample(n.fuse_pool3, 8)
    n.score = L.Crop(n.upscore8, n.data, axis=2, offset=31)
    return n


# ---------------------------------------------------------------------------
# Beyond BVLC Caffe: SegNet, dilated context, DeepBind, WaveNet
# ---------------------------------------------------------------------------


def segnet_basic() -> NetSpec:
    """SegNet-Basic as alexgkendall/SegNet-Tutorial's Models/segnet_basic_inference.prototxt writes it,
    with BVLC's BatchNorm + Scale for the fork's BN and netspec's Unpooling for its Upsample."""
    n = NetSpec("segnet_basic")
    data(n, ENTRIES["segnet_basic"]["input"])
    n.norm = L.LRN(n.data, local_size=5, alpha=0.0001, beta=0.75)
    top = n.norm
    for i in range(1, 5):
        n[f"conv{i}"] = conv(top, 64, 7, pad=3, weight_filler=MSRA)
        top = relu(n, f"relu{i}", bn_scale(n, n[f"conv{i}"], f"conv{i}_bn", f"conv{i}_scale"))
        pooled = L.Pooling(top, pool=P.Pooling.MAX, kernel_size=2, stride=2, ntop=2)
        n[f"pool{i}"], n[f"pool{i}_mask"] = pooled
        top = n[f"pool{i}"]
    for i in range(4, 0, -1):
        # the encoder's blob gives the output size: 23 rows unpool to 45 (SegNet's pad_out_h), not 46
        n[f"upsample{i}"] = L.Unpooling(top, n[f"pool{i}_mask"], n[f"conv{i}"])
        n[f"conv_decode{i}"] = conv(n[f"upsample{i}"], 64, 7, pad=3, weight_filler=MSRA)
        top = bn_scale(n, n[f"conv_decode{i}"], f"conv_decode{i}_bn", f"conv_decode{i}_scale")
    n.conv_classifier = conv(top, 11, 1, weight_filler=MSRA)
    softmax(n, n.conv_classifier)
    return n


# The basic context module of Yu & Koltun's Table 1: (layer, its ReLU, dilation); then a 1x1 layer.
CONTEXT_LAYERS = (
    ("ctx_conv1_1", "ctx_relu1_1", 1),
    ("ctx_conv1_2", "ctx_relu1_2", 1),
    ("ctx_conv2_1", "ctx_relu2_1", 2),
    ("ctx_conv3_1", "ctx_relu3_1", 4),
    ("ctx_conv4_1", "ctx_relu4_1", 8),
    ("ctx_conv5_1", "ctx_relu5_1", 16),
    ("ctx_fc1", "ctx_fc1_relu", 1),
)


def dilated_context() -> NetSpec:
    """The basic context module over C = 21 class maps, with fyu/dilation's names (network.py
    build_context): 3x3 convolutions padded by their dilation, each truncated by a ReLU, then a 1x1."""
    n = NetSpec("dilated_context_basic")
    top = data(n, ENTRIES["dilated_context"]["input"])
    classes = ENTRIES["dilated_context"]["input"][1]
    for name, relu_name, dilation in CONTEXT_LAYERS:
        extra = {"dilation": dilation} if dilation > 1 else {}
        n[name] = conv(top, classes, 3, pad=dilation, weight_filler=gaussian(0.01), **extra)
        top = relu(n, relu_name, n[name])
    n.ctx_final = conv(top, classes, 1, weight_filler=gaussian(0.01))
    return n


def deepbind() -> NetSpec:
    """DeepBind's model for 101-base ChIP-seq sequences, one-hot (A, C, G, T) as 4 channels of a 1 x 101
    image: 16 motif detectors of length 24, ReLU, max over positions, 32 ReLU units with dropout, 1 score."""
    n = NetSpec("DeepBind")
    data(n, ENTRIES["deepbind"]["input"])
    n.conv1 = L.Convolution(
        n.data,
        num_output=16,
        kernel_h=1,
        kernel_w=24,
        pad_h=0,
        pad_w=23,
        weight_filler=MSRA,
        bias_filler=ZERO,
    )
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.pool1 = L.Pooling(n.relu1, pool=P.Pooling.MAX, global_pooling=True)
    n.fc1 = fc(n.pool1, 32, weight_filler=XAVIER)
    n.relu2 = L.ReLU(n.fc1, in_place=True)
    n.drop1 = L.Dropout(n.relu2, in_place=True, dropout_ratio=0.5)
    n.score = fc(n.drop1, 1, weight_filler=XAVIER)
    return n


# WaveNet: residual, dilation (gate), skip and output (mu-law) channels; kernel 2, dilations 1 to 512
WAVENET = dict(residual=32, dilation=32, skip=256, levels=256, dilations=tuple(2**i for i in range(10)))


def wavenet_causal() -> NetSpec:
    """One stack of WaveNet's gated residual blocks, every convolution over time causal (netspec's
    convolution_param.causal): a causal input convolution, then per dilation d a filter and a gate
    convolution (kernel 2), tanh ⊙ sigmoid, a 1x1 skip and (but in the last block) a 1x1 residual added
    to the block's input; the skips summed, ReLU, 1x1, ReLU, 1x1 and a softmax over 256 mu-law levels."""
    w = WAVENET
    n = NetSpec("WaveNet")
    data(n, ENTRIES["wavenet_causal"]["input"])
    n.causal_conv = x = conv(n.data, w["residual"], 2, weight_filler=XAVIER, causal=True)
    skips = []
    for i, dilation in enumerate(w["dilations"]):
        p, extra = f"block{i}", {"dilation": dilation} if dilation > 1 else {}
        for part in ("filter", "gate"):
            n[f"{p}/{part}"] = conv(x, w["dilation"], 2, weight_filler=XAVIER, causal=True, **extra)
        n[f"{p}/tanh"] = L.TanH(n[f"{p}/filter"], in_place=True)
        n[f"{p}/sigmoid"] = L.Sigmoid(n[f"{p}/gate"], in_place=True)
        n[f"{p}/gated"] = L.Eltwise(n[f"{p}/tanh"], n[f"{p}/sigmoid"], operation=P.Eltwise.PROD)
        n[f"{p}/skip"] = conv(n[f"{p}/gated"], w["skip"], 1, weight_filler=XAVIER)
        skips.append(n[f"{p}/skip"])
        if i < len(w["dilations"]) - 1:  # the last block's residual output would be read by nothing
            n[f"{p}/dense"] = conv(n[f"{p}/gated"], w["residual"], 1, weight_filler=XAVIER)
            n[f"{p}/residual"] = x = L.Eltwise(n[f"{p}/dense"], x, operation=P.Eltwise.SUM)
    n.skip_sum = L.Eltwise(*skips, operation=P.Eltwise.SUM)
    top = relu(n, "skip_relu", n.skip_sum)
    n.postprocess1 = conv(top, w["levels"], 1, weight_filler=XAVIER)
    top = relu(n, "postprocess1_relu", n.postprocess1)
    n.postprocess2 = conv(top, w["levels"], 1, weight_filler=XAVIER)
    softmax(n, n.postprocess2)
    return n


# ---------------------------------------------------------------------------
# Headers and files
# ---------------------------------------------------------------------------

# name -> (builder, what the spec follows and how it departs from the paper; wrapped into the header)
NOTES: dict[str, tuple[Callable[[], NetSpec], str]] = {
    "lenet5": (
        lenet5,
        (
            "Follows the paper's Figure 2 and Section II.B: 32x32 input, 5x5 convolutions at stride 1 "
            "with no padding, 2x2 stride-2 subsampling by averaging (Caffe AVE pooling), tanh units, "
            "C5 as a 5x5 convolution with 120 maps, F6 with 84 units, 10 outputs.\n"
            "Departures (Caffe cannot express them):\n"
            "- C3 is fully connected to S2's 6 maps; the paper's Table I connects each of its 16 maps "
            "to only 3, 4 or 6 of them (1,516 parameters instead of 2,416 here: +900).\n"
            "- S2/S4 average without the paper's trainable coefficient and bias per map (-12 and "
            "-32).\n"
            "- The output is a 10-way InnerProduct (850 learned parameters) plus Softmax, not the "
            "paper's 84x10 Euclidean RBF units with fixed weights (not counted among its trainable "
            "parameters).\n"
            "So this spec has 61,706 parameters, 1,706 more than the paper's 60,000 (+900 - 44 + "
            "850).\n"
            "The paper's squashing function is a scaled tanh, 1.7159 tanh(2x/3); TanH here is plain "
            "tanh."
        ),
    ),
    "lenet": (
        lenet,
        (
            "Caffe's examples/mnist/lenet.prototxt written anew, at batch 1: 28x28 input, conv 20 "
            "5x5, max pool 2x2/2, conv 50 5x5, max pool 2x2/2, ip 500 + ReLU, ip 10, Softmax 'prob'.\n"
            "Xavier weights and zero biases as there."
        ),
    ),
    "alexnet": (
        alexnet,
        (
            "Follows BVLC's models/bvlc_alexnet/deploy.prototxt (227x227 crops, LRN before pooling, "
            "conv2/4/5 in two groups as the paper's two GPUs, dropout 0.5 on fc6/fc7), with the "
            "fillers of its train_val.prototxt."
        ),
    ),
    "vgg16": (
        lambda: vgg(16),
        (
            "Configuration D of the paper's Table 1: thirteen 3x3 convolutions (stride 1, pad 1) in "
            "five stages ending in 2x2/2 max pooling, fc6/fc7 with 4096 units and dropout, fc8 with "
            "1000.\n"
            "Layer names as the authors' Caffe deploy file VGG_ILSVRC_16_layers_deploy.prototxt."
        ),
    ),
    "vgg19": (
        lambda: vgg(19),
        (
            "Configuration E of the paper's Table 1: sixteen 3x3 convolutions (stride 1, pad 1) in "
            "five stages ending in 2x2/2 max pooling, fc6/fc7 with 4096 units and dropout, fc8 with "
            "1000.\n"
            "Layer names as the authors' Caffe deploy file VGG_ILSVRC_19_layers_deploy.prototxt."
        ),
    ),
    "googlenet": (
        googlenet,
        (
            "Follows BVLC's models/bvlc_googlenet/deploy.prototxt: nine inception modules with the "
            "widths of the paper's Table 1, LRN after the stem's pooling and conv2, 7x7 average "
            "pooling, dropout 0.4, a 1024x1000 classifier; no auxiliary classifiers (they are "
            "training-only). Fillers as there. Caffe's pooling rounds up, so the stride-2 max pools "
            "need no padding to give 56, 28, 14 and 7."
        ),
    ),
    "resnet18": (
        lambda: resnet(18),
        (
            "Basic blocks (two 3x3 convolutions) in stages of 2, 2, 2, 2, written in the Caffe style "
            "of KaimingHe/deep-residual-networks: Convolution (bias_term false) + BatchNorm "
            "(use_global_stats) + Scale (bias_term) + ReLU; stride 2 on a stage's first 3x3; "
            "projection shortcuts (1x1 convolution + BN + Scale, option B) where the shape changes, "
            "identity elsewhere.\n"
            "There is no Caffe file from the authors for this depth; conv1 has no bias, as in their "
            "101/152 files and in torchvision, so the count equals torchvision's."
        ),
    ),
    "resnet34": (
        lambda: resnet(34),
        (
            "Basic blocks (two 3x3 convolutions) in stages of 3, 4, 6, 3, written in the Caffe style "
            "of KaimingHe/deep-residual-networks: Convolution (bias_term false) + BatchNorm "
            "(use_global_stats) + Scale (bias_term) + ReLU; stride 2 on a stage's first 3x3; "
            "projection shortcuts (1x1 convolution + BN + Scale, option B) where the shape changes, "
            "identity elsewhere.\n"
            "There is no Caffe file from the authors for this depth; conv1 has no bias, as in their "
            "101/152 files and in torchvision, so the count equals torchvision's."
        ),
    ),
    "resnet50": (
        lambda: resnet(50),
        (
            "Follows KaimingHe/deep-residual-networks prototxt/ResNet-50-deploy.prototxt: bottleneck "
            "blocks (1x1, 3x3, 1x1) in stages of 3, 4, 6, 3; Convolution (bias_term false) + "
            "BatchNorm (use_global_stats) + Scale (bias_term) + ReLU; stride 2 on the first 1x1 of a "
            "stage's first block (torchvision's 'v1.5' puts it on the 3x3, at 4.1 G multiply-adds); "
            "projection shortcuts.\n"
            "conv1 keeps its bias as there: 64 parameters more than torchvision's 25,557,032."
        ),
    ),
    "resnet101": (
        lambda: resnet(101),
        (
            "Follows KaimingHe/deep-residual-networks prototxt/ResNet-101-deploy.prototxt: bottleneck "
            "blocks in stages of 3, 4, 23, 3 (blocks named a, b1, b2, ... in stages 3 and 4); "
            "Convolution (bias_term false) + BatchNorm (use_global_stats) + Scale (bias_term) + ReLU; "
            "stride 2 on the first 1x1 of a stage's first block; projection shortcuts; conv1 without "
            "a bias, as there."
        ),
    ),
    "resnet152": (
        lambda: resnet(152),
        (
            "Follows KaimingHe/deep-residual-networks prototxt/ResNet-152-deploy.prototxt: bottleneck "
            "blocks in stages of 3, 8, 36, 3 (blocks named a, b1, b2, ... in stages 3 and 4); "
            "Convolution (bias_term false) + BatchNorm (use_global_stats) + Scale (bias_term) + ReLU; "
            "stride 2 on the first 1x1 of a stage's first block; projection shortcuts; conv1 without "
            "a bias, as there."
        ),
    ),
    "mobilenet_v1": (
        mobilenet_v1,
        (
            "Width multiplier 1.0, the paper's Table 1; as shicai/MobileNet-Caffe writes it: "
            "depthwise convolutions are Convolution with group == channels, each convolution (no "
            "bias) followed by BatchNorm + Scale + ReLU; global average pooling and a 1x1 convolution "
            "as the classifier."
        ),
    ),
    "mobilenet_v2": (
        mobilenet_v2,
        (
            "Width multiplier 1.0, the paper's Table 2: inverted residual blocks (1x1 expansion by 6, "
            "3x3 depthwise, linear 1x1 projection) with identity shortcuts where stride is 1 and "
            "widths match. ReLU6 is a Clip layer (clip_param min 0 max 6; BVLC Caffe has no ReLU6, "
            "and Clip is in BVLC master). Names as shicai/MobileNet-Caffe; that file departs from the "
            "paper in three ways this spec does not follow: plain ReLU, a 32x32 expansion in the "
            "first (t=1) block, and stride 2 on the first 96-channel block instead of the first "
            "64-channel one (429 M multiply-adds there)."
        ),
    ),
    "mobilenet_ssd": (
        mobilenet_ssd,
        (
            "Follows chuanqi305/MobileNet-SSD deploy.prototxt, the Caffe port of TensorFlow's "
            "ssd_mobilenet_v1_coco, with TensorFlow's 91 classes (90 COCO ids and the background) where "
            "the port has VOC's 21. MobileNet v1 conv0 to conv13 (depthwise convolutions are Convolution "
            "with group == channels); four extra pairs of a 1x1 and a 3x3 stride-2 convolution (conv14_1/2 "
            "256/512 maps, conv15 128/256, conv16 128/256, conv17 64/128); every body and extra "
            "convolution without bias, then BatchNorm + Scale + ReLU. 1x1 box (4 per prior) and class "
            "(91 per prior) predictors with biases on conv11 (19x19, 3 priors: min_size 60, ratios 1, 2, "
            "1/2) and on conv13, conv14_2, conv15_2, conv16_2, conv17_2 (10x10 to 1x1, 6 priors: min_size "
            "105, 150, 195, 240, 285, max_size 150, 195, 240, 285, 300, ratios 1, 2, 1/2, 3, 1/3): "
            "1917 priors (TensorFlow's anchors), variances 0.1, 0.1, 0.2, 0.2, offset 0.5, no clip; "
            "Permute + Flatten + Concat, Softmax over the classes, DetectionOutput (CENTER_SIZE, NMS 0.45, "
            "top_k 100, keep_top_k 100, confidence 0.25).\n"
            "Needs SSD's Caffe fork (weiliu89/caffe, branch ssd) for Permute, PriorBox and "
            "DetectionOutput; BVLC Caffe does not run it.\n"
            "Departures: the port includes DetectionOutput in phase TEST only (a deploy net here has no "
            "rule); TensorFlow pads its stride-2 3x3 windows over even sizes after the input (SAME), "
            "Caffe before it (`check --warn tiling` shows where), which moves the values, not the counts.\n"
            "Counts: body 3,206,976 parameters and 1,055,206,336 multiply-adds, extra layers 2,223,488 "
            "and 61,612,032, predictors 1,389,375 and 120,311,040. PriorBox's 15,336 values are a "
            "constant of the shapes (neither parameters nor buffers); Permute, Flatten, Concat, Reshape, "
            "Softmax and DetectionOutput count no multiply-adds. Against the paper's 6.8 M and 1.2 G: "
            "+0.3% and +3.1%. The layers are TensorFlow's map for map and depth for depth, so the "
            "residual is the paper's rounding to one decimal (1.237 G is within its 1.15 to 1.25 G); the "
            "paper does not say how it counts."
        ),
    ),
    "squeezenet1_1": (
        squeezenet,
        (
            "Follows forresti/SqueezeNet SqueezeNet_v1.1/deploy.prototxt at batch 1 (227x227 input, "
            "3x3 conv1 with 64 maps, pooling after conv1, fire3 and fire5), with its train_val's "
            "fillers.\n"
            "torchvision's 0.349 G figure is at 224x224, where Caffe's pooling gives 55/27/13 maps; "
            "at 227x227 they are 56/28/14 (349,151,936 multiply-adds at 224x224 by this spec)."
        ),
    ),
    "densenet121": (
        densenet121,
        (
            "Growth rate 32, dense blocks of 6, 12, 24, 16 layers, each BN-ReLU-Conv 1x1 (4k maps) "
            "then BN-ReLU-Conv 3x3 (k maps); transitions BN-ReLU-Conv 1x1 with compression 0.5 and "
            "2x2 average pooling. Names as shicai/DenseNet-Caffe. BN is BatchNorm + Scale. The stem's "
            "3x3/2 max pool has no padding (shicai's pad 1 with ceil_mode false needs a fork; BVLC's "
            "ceiling arithmetic gives the same 56x56 without padding)."
        ),
    ),
    "nin": (
        nin,
        (
            "The ImageNet model of the Caffe model zoo (mavenlin's gist, 'nin_imagenet'): four "
            "mlpconv stages (a 11x11/5x5/3x3/3x3 convolution followed by two 1x1 'cccp' convolutions, "
            "all with ReLU), 3x3/2 max pooling, dropout, and 6x6 global average pooling over 1000 "
            "maps in place of fully connected layers. Layer and blob names as there ('conv4-1024' "
            "writes blob 'conv4')."
        ),
    ),
    "fcn32s": (
        lambda: fcn("32s"),
        (
            "Follows shelhamer/fcn.berkeleyvision.org voc-fcn32s/net.py as a deploy net: VGG-16 with "
            "conv1_1 padded by 100, fc6/fc7 as 7x7 and 1x1 convolutions, score_fr over 21 classes, a "
            "64x64 stride-32 Deconvolution with bilinear weights held fixed (lr_mult 0, bias_term "
            "false), and a Crop to the input (axis 2, offset 19). Score layers start at zero, as in "
            "the paper.\n"
            "Parameters include the upsampling's 1,806,336 fixed bilinear weights (the paper's 134M "
            "do not)."
        ),
    ),
    "fcn8s": (
        lambda: fcn("8s"),
        (
            "Follows shelhamer/fcn.berkeleyvision.org voc-fcn8s (net.py, deploy.prototxt): VGG-16 "
            "with conv1_1 padded by 100, fc6/fc7 as convolutions, scores from fc7, pool4 and pool3 "
            "fused by 2x, 2x and 8x bilinear Deconvolutions (fixed, bias_term false) with Crops at "
            "axis 2, offsets 5, 9 and 31, 21 classes. Score layers start at zero, as in the paper.\n"
            "Parameters include the upsamplings' 127,008 fixed bilinear weights (the paper's 134M do "
            "not)."
        ),
    ),
    "segnet_basic": (
        segnet_basic,
        (
            "Follows alexgkendall/SegNet-Tutorial Models/segnet_basic_inference.prototxt (the paper's "
            "SegNet-Basic): LRN on the input for the paper's local contrast normalisation; four encoders "
            "of a 7x7 convolution with 64 maps (pad 3), batch normalisation and ReLU, then 2x2/2 MAX "
            "pooling that keeps its argmax mask (the second Pooling top); four decoders of unpooling by "
            "those masks, a 7x7 convolution with 64 maps and batch normalisation, without ReLU, as the "
            "paper's decoders; a 1x1 classifier over CamVid's 11 classes and Softmax.\n"
            "Departures (written for BVLC Caffe plus netspec):\n"
            "- The fork's BN layer (bn_mode INFERENCE) is BatchNorm (use_global_stats) + Scale.\n"
            "- The fork's Upsample (upsample_param scale 2, pad_out_h on the 45-row map) is netspec's "
            "Unpooling, sized by the encoder's blob as its third bottom."
        ),
    ),
    "dilated_context": (
        dilated_context,
        (
            "The basic context module of the paper's Table 1 over C = 21 feature maps (PASCAL VOC's "
            "classes) at the front end's 64x64 output: seven 3x3 convolutions with dilations 1, 1, 2, "
            "4, 8, 16, 1, each padded by its dilation and truncated by a ReLU, then a 1x1 convolution; "
            "C maps throughout. Receptive field 67x67 (Table 1). Names as fyu/dilation's network.py.\n"
            "Departure: the paper initialises every layer to the identity (fyu/dilation's Caffe fork "
            "has an 'identity' filler); BVLC Caffe has none, so the weights here are gaussian "
            "(std 0.01)."
        ),
    ),
    "deepbind": (
        deepbind,
        (
            "The paper's Figure 1 model for ChIP-seq: a 101-base sequence one-hot encoded as 4 channels "
            "of a 1x101 image; 16 motif detectors of length 24 (a 1x24 convolution padded by 23 each "
            "side, so a motif is found overhanging either end), rectification (ReLU, the threshold is "
            "the bias), max pooling over all 124 positions, 32 rectified hidden units with dropout, "
            "one output score.\n"
            "Departure: DeepBind pads with 'N' bases, 0.25 in every channel; Caffe pads with zeros, so "
            "the 23 edge positions each side differ by 0.25 times the sum of the padded taps."
        ),
    ),
    "wavenet_causal": (
        wavenet_causal,
        (
            "One stack of the paper's gated residual blocks (Figure 4) over 4096 samples of 256 mu-law "
            "levels, one-hot: a causal 2-tap input convolution to 32 residual channels; per dilation 1, "
            "2, 4, ..., 512 a causal 2-tap filter and gate convolution (32 channels), tanh(filter) * "
            "sigmoid(gate) as Eltwise PROD, a 1x1 to 256 skip channels and a 1x1 residual added to the "
            "block's input (Eltwise SUM); the ten skips summed, ReLU, 1x1, ReLU, 1x1 to 256 and a "
            "softmax over the levels at every step. The last block has no residual 1x1: nothing would "
            "read it.\n"
            "Receptive field: 2 + (1 + 2 + ... + 512) = 1025 samples, the paper's 2^10 = 1024 for the "
            "stack plus one for the input convolution. The paper gives no channel counts; these are "
            "small."
        ),
    ),
}

# netspec extensions a spec uses (ENTRIES' "extensions"), as its header names them
EXTENSIONS = {
    "causal": "causal convolution (convolution_param.causal, field 10001)",
    "Unpooling": "the Unpooling layer type (netspec's own; its unpooling_param is field 10002)",
}


def _wrap(text: str, width: int = 98) -> list[str]:
    """Header lines from a note: paragraphs split on newlines, wrapped; '- ' items hang."""
    lines = []
    for para in text.split("\n"):
        indent = "  " if para.startswith("- ") else ""
        lines += textwrap.wrap(para, width, subsequent_indent=indent)
    return lines


def _human(n: int) -> str:
    if n >= 10**9:
        return f"{n / 10**9:.3g} G"
    if n >= 10**6:
        return f"{n / 10**6:.3g} M"
    if n >= 10**3:
        return f"{n / 10**3:.3g} K"
    return str(n)


def _paper_figures(entry: dict) -> str:
    parts = []
    if entry["paper_params"]:
        parts.append(f"{entry['paper_params']:,} parameters")
    if entry["paper_macs"]:
        parts.append(f"{_human(entry['paper_macs'])} multiply-adds")
    return ", ".join(parts) if parts else "none published"


def _extension_lines(entry: dict) -> list[str]:
    """What the spec needs beyond BVLC Caffe, for the specs whose entry says ("extensions")."""
    if "extensions" not in entry:
        return []
    used = [EXTENSIONS[e] for e in entry["extensions"]]
    text = "netspec extensions: " + ("; ".join(used) if used else "none (plain BVLC Caffe)") + "."
    return [*textwrap.wrap(text, 100, subsequent_indent="  "), ""]


def analyse(name: str, text: str) -> Analysis:
    """The checker's analysis of zoo spec `name` written as `text`; a spec with errors is a bug here."""
    checked = check(ENTRIES[name]["file"], content=text)
    if checked.analysis is None or checked.diagnostics.errors:
        raise ValueError(
            f"zoo spec {name} does not check:\n{render_all(checked.diagnostics, checked.spec.sources)}"
        )
    return checked.analysis


# Why a zoo spec may carry a warning: each code the checker gives on a zoo spec is explained here,
# and the header lists where it fires (a code with no explanation stops the generator).
WARNINGS_EXPLAINED = {
    "NS0320": "windows that do not tile their input, as the reference design has them (stride-2 "
    "windows over even sizes); Caffe's floor for convolution and ceil for pooling decide the "
    "border exactly as the checker's message says, and the figures above include it",
}


def _warning_lines(analysis: Analysis) -> list[str]:
    where: dict[str, list[str]] = {}
    for d in analysis.diagnostics:
        if d.severity is Severity.WARNING:
            where.setdefault(d.code, []).append(d.layer or "?")
    lines = []
    for code, layers in where.items():
        if code not in WARNINGS_EXPLAINED:
            raise ValueError(f"zoo spec warning {code} at {', '.join(layers)} has no explanation")
        text = f"Warnings: {code} at {', '.join(layers)}: {WARNINGS_EXPLAINED[code]}."
        lines += [*textwrap.wrap(text, 100, subsequent_indent="  "), ""]
    return lines


def header(name: str, analysis: Analysis) -> str:
    entry = ENTRIES[name]
    totals = analysis.totals
    published = "x".join(str(d) for d in entry["input"])
    shape = "x".join(str(d) for d in analysis.info("data").tops[0])
    lines = [
        f"{entry['title']}.",
        *textwrap.wrap(f"Paper: {entry['paper']}.", 100, subsequent_indent="  "),
        f"Published figures: {_paper_figures(entry)}; input {published}.",
        *textwrap.wrap(f"({entry['note']})", 100, initial_indent="  ", subsequent_indent="   "),
        "",
        *_wrap(NOTES[name][1]),
        "",
        *_extension_lines(entry),
        "Counting: parameters are learnable blobs (conv/fc weights and biases, Scale's gamma and beta;",
        "BatchNorm's mean/variance are buffers, not parameters); multiply-adds are those of",
        "convolutions, deconvolutions and inner products at batch 1.",
        f"netspec: {totals['params']:,} parameters, {totals['macs']:,} multiply-adds "
        f"({_human(totals['macs'])}) at {shape}",
        "",
        *_warning_lines(analysis),
        "Generated by netspec/zoo/generate.py; edit that, then run `python -m netspec.zoo.generate`.",
    ]
    return "\n".join(lines)


def build(name: str) -> NetSpec:
    if name not in NOTES:
        near = difflib.get_close_matches(name, list(NOTES), n=3)
        raise KeyError(f"no zoo network {name!r}" + (f"; did you mean {', '.join(near)}?" if near else ""))
    return NOTES[name][0]()


def render(name: str) -> str:
    """The text of zoo file `name`, as generate writes it: the header states the checker's figures."""
    spec = build(name)
    return spec.to_text(header(name, analyse(name, spec.to_text())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m netspec.zoo.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("names", nargs="*", help="networks to write (default: all)")
    parser.add_argument("--check", action="store_true", help="compare with the files; exit 1 if any differs")
    parser.add_argument("--out", default=HERE, help="directory to write to (default: the zoo's)")
    args = parser.parse_args(argv)
    selected = args.names or list(ENTRIES)
    for name in selected:
        if name not in ENTRIES:
            parser.error(f"unknown network {name!r}; known: {', '.join(ENTRIES)}")
    stale = []
    for name in selected:
        text = render(name)
        target = os.path.join(args.out, ENTRIES[name]["file"])
        if args.check:
            try:
                with open(target, encoding="utf-8") as handle:
                    current = handle.read()
            except FileNotFoundError:
                current = None
            if current != text:
                stale.append(target)
                print(f"{target}: {'missing' if current is None else 'differs from generate.py'}")
        else:
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
            print(f"wrote {target}")
    if args.check and stale:
        print(f"{len(stale)} file(s) out of date; run `python -m netspec.zoo.generate`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
