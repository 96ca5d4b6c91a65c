"""Convolution, Deconvolution, the MobileNet ports' ConvolutionDepthwise and DepthwiseConvolution,
and Im2col (family "convolution"): N-D, grouped, dilated, with Caffe's floor arithmetic.  Im2col
lays each window of a convolution out as channels.  caffe_ocr's DenseBlock is a fused DenseNet block,
BN-ReLU(-Conv1x1-BN-ReLU)-Conv3x3 per transition, concatenated.

netspec extension (caffe.proto `causal = 10001`): a causal Convolution pads its
last spatial axis (time) by (k − 1)·d before and 0 after, so output t reads
inputs ≤ t and the output is as long as the input; ONNX Conv's pads say it.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace

from netspec.layers.arith import Axis, end_pads, windows
from netspec.layers.base import (
    DocRow,
    LayerType,
    Shape,
    ShapeContext,
    WeightSpec,
    Window,
    canonical_axis,
    count,
    register,
    shape_text,
)
from netspec.lazy import numpy as np
from netspec.proto import caffe_pb2


def conv_geometry(
    ctx: ShapeContext, p, ndim: int
) -> tuple[int, list[int], list[int], list[int], list[int], list[int]]:
    """(channel axis, kernel, stride, pad, dilation, end pad) per spatial axis, as BaseConvolutionLayer
    reads them; the end pad differs from the pad only on a causal convolution's time axis."""
    axis = canonical_axis(ctx, p.axis, ndim, "convolution_param.axis")
    n = ndim - axis - 1
    if n < 1:
        raise ctx.error(
            "NS0303",
            f"a {ndim}-D input has no spatial axis after channel axis {axis}",
            ("bottom", 0),
            help="Caffe runs this as an inner product over the channels, which netspec does not compile "
            "as a convolution: write an InnerProduct layer",
        )
    axes = f"{n} spatial ax{'i' if n == 1 else 'e'}s"

    def per_axis(name: str, default: int) -> list[int]:
        values = list(getattr(p, name))
        if not values:
            return [default] * n
        if len(values) == 1:
            return values * n
        if len(values) != n:
            raise ctx.error(
                "NS0304",
                f"{name} has {len(values)} values but the input has {axes}",
                f"convolution_param.{name}",
                help=f"give one value, or {n}",
            )
        return values

    def read(name: str, h: str, w: str, default: int) -> list[int]:
        if p.HasField(h) or p.HasField(w):
            if n != 2:
                raise ctx.error(
                    "NS0304",
                    f"{h}/{w} describe 2-D windows, but the input has {axes}",
                    f"convolution_param.{h if p.HasField(h) else w}",
                    help=f"use repeated {name} instead",
                )
            if getattr(p, name):
                raise ctx.error(
                    "NS0304", f"give either {name} or {h}/{w}, not both", f"convolution_param.{name}"
                )
            return [getattr(p, h) if p.HasField(h) else default, getattr(p, w) if p.HasField(w) else default]
        return per_axis(name, default)

    given = [f for f in ("kernel_h", "kernel_w") if p.HasField(f)]
    if len(given) == 1 and not p.kernel_size:
        other = "kernel_w" if given == ["kernel_h"] else "kernel_h"
        raise ctx.error(
            "NS0305",
            f"{given[0]} is given without {other}",
            f"convolution_param.{given[0]}",
            help=f"set {other}",
        )
    if not p.kernel_size and not given:
        raise ctx.error(
            "NS0305",
            "the kernel size is not given",
            "convolution_param",
            help="set convolution_param { kernel_size: K } (or kernel_h and kernel_w)",
        )
    kernel = read("kernel_size", "kernel_h", "kernel_w", 0)
    stride = read("stride", "stride_h", "stride_w", 1)
    pad = read("pad", "pad_h", "pad_w", 0)
    dilation = per_axis("dilation", 1)
    for name, values in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        i = values.index(min(values))
        if values[i] < 1:
            field = _axis_field(p, name, i)
            listed = field == name and len(getattr(p, name)) > 1  # point at the value in a per-axis list
            at = ("convolution_param", field, i) if listed else ("convolution_param", field)
            raise ctx.error("NS0306", f"{field} must be at least 1, got {values[i]}", at)
    end = list(pad)
    if p.causal:
        pad[-1], end[-1] = _causal_pad(ctx, p, kernel[-1], stride[-1], pad[-1], dilation[-1], n), 0
    return axis, kernel, stride, pad, dilation, end


def _axis_field(p, name: str, i: int) -> str:
    """The field that sets spatial axis i of kernel_size, stride, pad or dilation: its _h/_w form
    where the spec uses that form."""
    base = name.removesuffix("_size")
    if name != "dilation" and (p.HasField(f"{base}_h") or p.HasField(f"{base}_w")):
        return f"{base}_{'hw'[i]}"
    return name


def _causal_pad(ctx: ShapeContext, p, kernel: int, stride: int, pad: int, dilation: int, n: int) -> int:
    """The time axis's left padding, (k − 1)·d, once its own pad and stride are checked."""
    time = "the time axis (the last spatial axis)"
    if pad:
        own = "pad_w" if p.HasField("pad_w") else "pad"
        raise ctx.error(
            "NS0390",
            f"causal pads {time} by (k − 1)·d = {(kernel - 1) * dilation} before and 0 after, "
            f"but {own} gives it {pad} as well",
            f"convolution_param.{own}",
            help="drop the time axis's pad"
            + ("" if n == 1 else " (pad_h, or one pad per axis ending in 0, pads the others)"),
        )
    if stride != 1:
        field = "stride_w" if p.HasField("stride_w") else "stride"
        raise ctx.error(
            "NS0390",
            f"causal takes stride 1 along {time}, got {stride}: output t must read inputs up to t",
            f"convolution_param.{field}",
            help="use stride 1 and subsample after the convolution",
        )
    return (kernel - 1) * dilation


@dataclass(frozen=True)
class Conv:
    """A convolution's parameters as BaseConvolutionLayer::LayerSetUp reads them, per spatial axis."""

    p: caffe_pb2.ConvolutionParameter
    shape: Shape  # bottom 0's (every bottom's)
    axis: int  # the channel axis
    kernel: list[int]
    stride: list[int]
    pad: list[int]
    dilation: list[int]
    channels: int
    group: int
    end: list[int]  # the end pad: the pad but on a causal convolution's time axis

    @property
    def spatial(self) -> Shape:
        return self.shape[self.axis + 1 :]

    @property
    def extent(self) -> list[int]:
        """Each kernel's extent, its dilation included."""
        return [d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation)]


class _ConvBase(LayerType):
    param = "convolution_param"
    transposed = False

    def setup(self, ctx: ShapeContext) -> Conv:
        p = ctx.layer.param.convolution_param
        shape = ctx.bottoms[0]
        bottoms, tops = len(ctx.layer.param.bottom), len(ctx.layer.param.top)
        if bottoms != tops:  # Caffe's EqualNumBottomTopBlobs
            raise ctx.error(
                "NS0300",
                f"a {ctx.layer.type} layer writes one top per bottom, got {bottoms} bottoms and {tops} "
                f"top{'s' if tops != 1 else ''}",
                ("top", tops - 1),
                help="each bottom is convolved with the same weights into its own top",
            )
        for i, other in enumerate(ctx.bottoms[1:], 1):
            if other != shape:
                raise ctx.error(
                    "NS0300",
                    f"bottom {i} '{ctx.layer.bottoms[i].name}' is {shape_text(other)} but bottom 0 "
                    f"'{ctx.layer.bottoms[0].name}' is {shape_text(shape)}: one {ctx.layer.type} layer "
                    "convolves equal-shaped bottoms",
                    ("bottom", i),
                    help="give each shape its own layer (share the weights with param { name: ... })",
                )
        if p.causal and self.transposed:
            raise ctx.error(
                "NS0390",
                "causal padding is for Convolution; a Deconvolution's output steps do not "
                "map one-to-one onto its input steps",
                "convolution_param.causal",
                help="drop causal, or use a Convolution",
            )
        axis, kernel, stride, pad, dilation, end = conv_geometry(ctx, p, len(shape))
        channels = shape[axis]
        if p.num_output < 1:
            raise ctx.error(
                "NS0305",
                "num_output is not given",
                "convolution_param",
                help="set convolution_param { num_output: N }",
            )
        group = p.group
        if group < 1 or channels % group:
            raise ctx.error(
                "NS0307",
                f"{channels} input channels do not divide into group {group}",
                "convolution_param.group",
                help=f"use a group that divides {channels}: "
                + ", ".join(str(g) for g in _divisors(channels)[:6]),
            )
        if p.num_output % group:
            below = p.num_output - p.num_output % group
            raise ctx.error(
                "NS0307",
                f"num_output {p.num_output} does not divide into group {group}",
                "convolution_param.num_output",
                help=f"use a multiple of {group}: "
                + " or ".join(str(m) for m in (below, below + group) if m),
            )
        return Conv(p, shape, axis, kernel, stride, pad, dilation, channels, group, end)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        c: Conv = ctx.config
        p, stride, pad, extent, spatial = c.p, c.stride, c.pad, c.extent, c.spatial
        if self.transposed:
            out = [s * (i - 1) + e - 2 * q for i, e, s, q in zip(spatial, extent, stride, pad)]
            for j, (i, e, s, q, o) in enumerate(zip(spatial, extent, stride, pad, out)):
                if o < 1:
                    field, most = _axis_field(p, "pad", j), (s * (i - 1) + e - 1) // 2
                    raise ctx.error(
                        "NS0301",
                        f"the output would be {shape_text(out)}: S·(W − 1) + K − 2P = "
                        f"{s}·({i} − 1) + {e} − 2·{q} = {o}, not a positive size",
                        f"convolution_param.{field}",
                        help=f"use {field} {most}" + (" or less" if most else ""),
                    )
        else:
            # A causal time axis counts its one-sided padding as input (stride 1: it always tiles).
            out = windows(
                ctx,
                [
                    Axis(i, e, s, q, d) if q == z else Axis(i + q + z, e, s, 0, d)
                    for i, e, s, q, z, d in zip(spatial, extent, stride, pad, c.end, c.dilation)
                ],
                pooling=False,
                field=f"convolution_param.{_axis_field(p, 'kernel_size', 0)}",
            )
        return [c.shape[: c.axis] + (p.num_output, *out) for _ in ctx.layer.tops]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        c: Conv = ctx.config
        p, kernel, channels, group = c.p, c.kernel, c.channels, c.group
        if self.transposed:
            shape = (channels, p.num_output // group, *kernel)
        else:
            shape = (p.num_output, channels // group, *kernel)
        specs = [WeightSpec("weights", shape, p.weight_filler if p.HasField("weight_filler") else None)]
        if p.bias_term:
            specs.append(
                WeightSpec("bias", (p.num_output,), p.bias_filler if p.HasField("bias_filler") else None)
            )
        return specs

    def macs(self, ctx: ShapeContext, tops: list[Shape]) -> int:
        c: Conv = ctx.config
        per_output = c.channels // c.group * count(c.kernel)
        if self.transposed:  # each input element scatters into num_output/group x kernel outputs
            return count(c.shape) * (c.p.num_output // c.group) * count(c.kernel) * len(tops)
        return count(tops[0]) * per_output * len(tops)

    def window(self, ctx: ShapeContext) -> list[Window]:
        c: Conv = ctx.config
        return [Window(e, s, q, self.transposed) for e, s, q in zip(c.extent, c.stride, c.pad)]

    def lower(self, ctx) -> None:
        c: Conv = ctx.config
        axis, end = c.axis, c.end
        weights = [ctx.const(ctx.blobs[0], "weights")]
        if ctx.param.convolution_param.bias_term:  # a fold turns it on (netspec.fold)
            weights.append(ctx.const(ctx.blobs[1].reshape(-1), "bias"))
        if axis != 1:  # ONNX reads (batch, channels, spatial...): fold the leading axes into one
            folded = ctx.ints([-1, *c.shape[axis:]], "shape")
            top = ctx.out_shapes[0]
            unfolded = ctx.ints([-1, *top[1:]] if axis else list(top), "top_shape")  # axis 0: no batch axis
        if not self.transposed:
            end = end_pads(list(c.spatial), c.extent, c.stride, c.pad, end, ctx.out_shapes[0][axis + 1 :])
        for x, y in zip(ctx.inputs, ctx.outputs):
            if axis != 1:
                x = ctx.op("Reshape", [x, folded])
            out = ctx.node(
                "ConvTranspose" if self.transposed else "Conv",
                [x, *weights],
                [y] if axis == 1 else 1,
                kernel_shape=c.kernel,
                strides=c.stride,
                pads=c.pad + end,
                dilations=c.dilation,
                group=c.group,
            )
            if axis != 1:
                ctx.node("Reshape", [out[0], unfolded], [y])


@register
class Convolution(_ConvBase):
    type = "Convolution"
    absorbs_affine = True
    has_filters = True
    param_share = "conv"
    family = "convolution"
    bottoms = (1, None)
    tops = (1, None)


@register
class Deconvolution(_ConvBase):
    type = "Deconvolution"
    param_share = "conv"
    family = "convolution"
    bottoms = (1, None)
    tops = (1, None)
    transposed = True


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@register
class ConvolutionDepthwise(Convolution):
    """A Convolution with one filter per channel: convolution_param with group = channels, and
    num_output equal to the channels; weights (C, 1, kh, kw)."""

    type = "ConvolutionDepthwise"
    family = "convolution"
    dialect = "forks"
    bottoms = (1, 1)
    tops = (1, 1)
    doc_rows = (
        DocRow(
            fork="MobileNet ports",
            parameters="`convolution_param`",
            computes=(
                "a Convolution with group = channels; `num_output` must equal the channels; "
                "weights (C, 1, kh, kw)"
            ),
            onnx="`Conv` with `group`",
        ),
    )

    def setup(self, ctx: ShapeContext) -> Conv:
        c = super().setup(ctx)
        p, channels, group = c.p, c.channels, c.group
        if p.num_output != channels:
            raise ctx.error(
                "NS0329",
                f"num_output {p.num_output} differs from the {channels} input channels: each channel "
                "is convolved by its own filter into its own output",
                "convolution_param.num_output",
                help=f"set num_output: {channels}, or use a Convolution with group",
            )
        if group not in (1, channels):
            raise ctx.error(
                "NS0329",
                f"group {group} is neither 1 nor the {channels} channels",
                "convolution_param.group",
                help="leave group out: it is the channels",
            )
        return replace(c, group=channels)


@register
class DepthwiseConvolution(Convolution):
    """yonghenglh6/DepthwiseConvolution's type, which the MobileNet-YOLO and MobileNetV2-SSDLite
    ports write: a drop-in Convolution (its CPU path is Caffe's own, with `group` as written; only
    its GPU kernel is specialised), so it is checked and lowered as one."""

    type = "DepthwiseConvolution"
    dialect = "forks"
    doc_rows = (
        DocRow(
            fork="DepthwiseConvolution ports (MobileNet-YOLO, SSDLite)",
            parameters="`convolution_param`",
            computes="Caffe's Convolution, `group` as written (the files set it to the channels)",
            onnx="`Conv` with `group`",
        ),
    )


@register
class Im2col(LayerType):
    """Every kernel window of a convolution as a column: (N, C, H, W) becomes (N, C·kh·kw, H', W'),
    channel c·kh·kw + i·kw + j holding input channel c at kernel offset (i, j), as Caffe's
    im2col (2-D and N-D alike; force_nd_im2col changes Caffe's code path, not the values).

    Lowered to one grouped ONNX Conv (group = C) whose constant one-hot weight copies each
    input channel to its kh·kw output channels: every output is one input value times 1 plus
    zeros, so it is exact."""

    type = "Im2col"
    family = "convolution"
    param = "convolution_param"

    def setup(self, ctx: ShapeContext) -> tuple[int, list[int], list[int], list[int], list[int], list[int]]:
        """(channel axis, kernel, stride, pad, dilation, end pad)."""
        return conv_geometry(ctx, ctx.layer.param.convolution_param, len(ctx.bottoms[0]))

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        axis, kernel, stride, pad, dilation, end = ctx.config
        shape = ctx.bottoms[0]
        extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        # A causal time axis counts its one-sided padding as input, as Convolution does.
        out = windows(
            ctx,
            [
                Axis(i, e, s, q) if q == z else Axis(i + q + z, e, s, 0)
                for i, e, s, q, z in zip(shape[axis + 1 :], extent, stride, pad, end)
            ],
            pooling=False,
            field="convolution_param.kernel_size",
        )
        return [(*shape[:axis], shape[axis] * count(kernel), *out)]

    def window(self, ctx: ShapeContext) -> list[Window]:
        _, kernel, stride, pad, dilation, _ = ctx.config
        return [Window(d * (k - 1) + 1, s, q) for k, s, q, d in zip(kernel, stride, pad, dilation)]

    def lower(self, ctx) -> None:
        axis, kernel, stride, pad, dilation, end = ctx.config
        shape, top = ctx.in_shapes[0], ctx.out_shapes[0]
        channels, k = shape[axis], count(kernel)
        extent = [d * (t - 1) + 1 for t, d in zip(kernel, dilation)]
        end = end_pads(list(shape[axis + 1 :]), extent, stride, pad, end, top[axis + 1 :])
        # Output channel c·k + i (i: the kernel offset, row-major) reads input channel c at offset i.
        one_hot = np.eye(k, dtype=np.float32)[np.arange(channels * k) % k].reshape(channels * k, 1, *kernel)
        x, y = ctx.inputs[0], ctx.outputs[0]
        if axis != 1:  # ONNX Conv reads (batch, channels, spatial...): fold the leading axes into one
            x = ctx.op("Reshape", [x, ctx.ints([-1, *shape[axis:]], "shape")])
            y = ctx.tmp("columns")
        ctx.node(
            "Conv",
            [x, ctx.const(one_hot, "one_hot")],
            [y],
            kernel_shape=kernel,
            strides=stride,
            pads=pad + end,
            dilations=dilation,
            group=channels,
        )
        if axis != 1:
            target = [-1, *top[1:]] if axis else list(top)  # axis 0: the input has no batch axis
            ctx.node("Reshape", [y, ctx.ints(target, "top_shape")], ctx.outputs)


BN_EPS = 1e-5  # DenseBlock's epsilon (BN_inf_Fwd's, and cuDNN's CUDNN_BN_MIN_EPSILON its GPU path passes)


IGNORED = {
    "pad_h": 1,
    "pad_w": 1,
    "conv_verticalStride": 1,
    "conv_horizentalStride": 1,
    "filter_H": 3,
    "filter_W": 3,
}


@dataclass(frozen=True)
class Block:
    """A DenseBlock's setup: the bottom's channels, the transitions, the growth rate, use_BC."""

    channels: int
    transitions: int
    growth: int
    bc: bool


@register
class DenseBlock(LayerType):
    """caffe_ocr's DenseBlockLayer at TEST: numTransition times, on the channels so far, BN (the stored
    statistics, eps 1e-5, scale and bias), ReLU, with use_BC a 1 × 1 convolution to 4·growthRate and
    BN, ReLU again, then a 3 × 3 convolution (pad 1, no bias, the kernel flipped: both the CPU loop
    and cuDNN's CUDNN_CONVOLUTION mode convolve rather than correlate) to growthRate channels,
    concatenated after them.  Blobs, in the fork's order: the 3 × 3 filters, scales, biases, means,
    variances, one per transition each; with use_BC the 1 × 1 filters and the inner BN's scales,
    biases, means, variances; then one scale-factor blob.

    The GPU path (cudnnBatchNormalizationForwardInference) uses the stored statistics as they are;
    the CPU path divides them by the scale-factor blob, which only CPU training counts up (the GPU
    path leaves it 0, and the CPU path then reads statistics of 0).  netspec follows the GPU path,
    the one the published models were trained and run with."""

    type = "DenseBlock"
    family = "convolution"
    dialect = "ocr"
    param = "denseblock_param"
    doc_rows = (
        DocRow(
            parameters=(
                "`denseblock_param`: `numTransition` (40), `growthRate` (12), `use_BC` (false), "
                "`Filter_Filler`, `BN_Scaler_Filler`, `BN_Bias_Filler`"
            ),
            computes="see below: a fused DenseNet block",
            onnx="`Mul`, `Add`, `Relu`, `Conv`, `Concat` per transition",
        ),
    )

    def setup(self, ctx: ShapeContext) -> Block:
        p = ctx.layer.param.denseblock_param
        x = ctx.bottoms[0]
        if len(x) != 4:
            raise ctx.error(
                "NS0609",
                f"DenseBlock takes an (N, C, H, W) bottom, got {shape_text(x)}",
                ("bottom", 0),
                help="the fork reads the bottom's shape as N, C, H, W",
            )
        for name in ("numTransition", "growthRate"):
            if getattr(p, name) < 1:
                raise ctx.error(
                    "NS0609",
                    f"{name} is {getattr(p, name)}: a block needs at least one transition of one channel",
                    f"denseblock_param.{name}",
                    help="caffe_ocr's DenseNet writes numTransition: 8 growthRate: 8",
                )
        if ctx.layer.param.param:
            raise ctx.error(
                "NS0609",
                "the fork's DenseBlock stops on param { } entries: its LayerSetUp writes its own ('Nope')",
                ("param", 0),
                help="remove the param blocks: the block sets its statistics' learning rates itself",
            )
        for name, value in IGNORED.items():
            if getattr(p, name) != value:
                ctx.warning(
                    "NS0610",
                    f"{name} is {getattr(p, name)}, but the fork convolves 3 x 3 with pad 1 and stride 1 "
                    "whatever it says; netspec does as the fork",
                    f"denseblock_param.{name}",
                    help=f"remove {name}",
                )
        return Block(x[1], p.numTransition, p.growthRate, p.use_BC)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        block: Block = ctx.config
        n, _, h, w = ctx.bottoms[0]
        return [(n, block.channels + block.transitions * block.growth, h, w)]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        channels, transitions, growth, bc = astuple(ctx.config)
        p = ctx.layer.param.denseblock_param

        def filler(name: str) -> caffe_pb2.FillerParameter | None:
            return getattr(p, name) if p.HasField(name) else None

        def norms(widths: list[int]) -> list[WeightSpec]:  # kind by kind, one per transition each
            kinds = [("scale", filler("BN_Scaler_Filler"), True), ("bias", filler("BN_Bias_Filler"), True),
                     ("mean", None, False), ("variance", None, False)]  # fmt: skip
            return [WeightSpec(n, (1, w, 1, 1), f, learnable=learn) for n, f, learn in kinds for w in widths]

        widths, wide = [channels + t * growth for t in range(transitions)], 4 * growth
        specs = [
            WeightSpec("filter", (growth, wide if bc else w, 3, 3), filler("Filter_Filler")) for w in widths
        ]
        specs += norms(widths)
        if bc:
            specs += [WeightSpec("filter_1x1", (wide, w, 1, 1), filler("Filter_Filler")) for w in widths]
            specs += norms([wide] * transitions)
        zero = caffe_pb2.FillerParameter(type="constant", value=0)  # the fork's; only CPU training counts it
        return [*specs, WeightSpec("scale_factor", (1,), zero, learnable=False)]

    def macs(self, ctx: ShapeContext, tops: list[Shape]) -> int:
        channels, transitions, growth, bc = astuple(ctx.config)
        n, _, h, w = ctx.bottoms[0]
        per_pixel = sum(
            (4 * growth * c + growth * 4 * growth * 9) if bc else growth * c * 9
            for c in (channels + t * growth for t in range(transitions))
        )
        return n * h * w * per_pixel

    def window(self, ctx: ShapeContext) -> list[Window]:
        transitions = ctx.config.transitions
        return [Window(2 * transitions + 1, 1, transitions)] * 2  # the 3 x 3 convolutions in a chain

    def lower(self, ctx) -> None:
        transitions, bc = ctx.config.transitions, ctx.config.bc
        blobs = [np.asarray(b, np.float32) for b in ctx.blobs]
        per = transitions
        x = ctx.inputs[0]
        for t in range(transitions):
            y = _bn_relu(ctx, x, *(blobs[k * per + t] for k in range(1, 5)))
            if bc:
                y = ctx.op("Conv", [y, ctx.const(blobs[5 * per + t], "filter_1x1")], kernel_shape=[1, 1])
                y = _bn_relu(ctx, y, *(blobs[k * per + t] for k in range(6, 10)))
            flipped = np.ascontiguousarray(blobs[t][:, :, ::-1, ::-1])  # convolution, not correlation
            y = ctx.op("Conv", [y, ctx.const(flipped, "filter")], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
            last = t == transitions - 1
            x = ctx.node("Concat", [x, y], [ctx.outputs[0]] if last else 1, axis=1)[0]


def _bn_relu(ctx, x: str, scale, bias, mean, variance) -> str:
    """ReLU(scale · (x − mean) / sqrt(variance + eps) + bias), per channel, as one Mul and one Add."""
    factor = scale.astype(np.float64) / np.sqrt(variance.astype(np.float64) + BN_EPS)
    shift = bias.astype(np.float64) - mean.astype(np.float64) * factor
    y = ctx.op("Mul", [x, ctx.const(factor.astype(np.float32), "bn_scale")])
    y = ctx.op("Add", [y, ctx.const(shift.astype(np.float32), "bn_shift")])
    return ctx.op("Relu", [y])
