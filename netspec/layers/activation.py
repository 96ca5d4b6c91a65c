"""Pointwise activations (Caffe's NeuronLayers): each top has its bottom's shape
(family "activation"), with the forks' ReLU6 and netspec's Maxout (the max over groups of
consecutive channels, docs/extensions.md).

Their multiply-adds are 0: the papers whose totals netspec reproduces count
only the multiply-adds of convolutions and inner products, not the
elementwise work of activations.  Constants are computed in float32, as
Caffe's Dtype arithmetic does, so the ONNX graph scales by the same numbers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from netspec.layers.base import (
    DocRow,
    LayerType,
    Shape,
    ShapeContext,
    WeightSpec,
    bottom_rank,
    register,
    shape_text,
)
from netspec.lazy import numpy as np
from netspec.proto import caffe_pb2

if TYPE_CHECKING:
    from netspec.lower import LowerContext

Step = tuple[str, tuple[str, ...]]  # an ONNX op and its inputs after the running value
SELF = ""  # in a Step's inputs: the running value again (x·x)


def legacy_dim(ctx: ShapeContext, index: int, axis: int) -> int:
    """Caffe's Blob::LegacyShape (num/channels/height/width): at most 4 axes, missing axes are 1."""
    shape = ctx.bottoms[index]
    if len(shape) > 4:
        raise ctx.error(
            "NS0370",
            f"a {ctx.layer.type} layer reads its bottom {index} through Caffe's "
            f"legacy (N, C, H, W) accessors, which allow at most 4 axes; it has "
            f"{len(shape)}: {shape_text(shape)}",
            ("bottom", index),
            help="flatten or reshape the blob to at most 4 axes first",
        )
    return shape[axis] if axis < len(shape) else 1


def _chain(ctx: LowerContext, steps: list[Step]) -> None:
    """Apply `steps` in turn to the bottom; the last writes the top."""
    value = ctx.inputs[0]
    for i, (op, extra) in enumerate(steps):
        inputs = [value, *(value if name == SELF else name for name in extra)]
        value = ctx.node(op, inputs, [ctx.outputs[0]] if i == len(steps) - 1 else 1)[0]


def _fill(ctx: LowerContext, value: float) -> None:
    """A top of the bottom's shape holding `value` everywhere (the input is ignored, as in Caffe)."""
    shape = ctx.op("Shape", [ctx.inputs[0]])
    ctx.node(
        "ConstantOfShape",
        [shape],
        [ctx.outputs[0]],
        value=np.array([value], np.float32),
    )


def _f32(x: float) -> np.float32:
    return np.float32(x)


def _log_base(ctx: ShapeContext, base: float, field: str, *, divisor: bool) -> np.float32:
    """Exp/Log's ln(base) in float32; base −1 means e (exactly 1), as in Caffe's LayerSetUp.

    Log divides by it (`divisor`), so base 1 is an error there."""
    if base == -1:
        return _f32(1)
    if base <= 0:
        raise ctx.error(
            "NS0371",
            f"base {base:g} is not positive (Caffe requires base > 0, or −1 for e)",
            field,
            help="use a positive base, or −1 for e",
        )
    log_base = _f32(math.log(_f32(base)))
    if divisor and log_base == 0:
        raise ctx.error(
            "NS0371",
            "base 1 has no logarithm: Caffe divides by ln(1) = 0",
            field,
            help="use a positive base other than 1, or −1 for e",
        )
    return log_base


class _Simple(LayerType):
    """A pointwise layer that is one parameterless ONNX operator."""

    op: str

    def lower(self, ctx: LowerContext) -> None:
        _chain(ctx, [(self.op, ())])


@register
class ReLU(LayerType):
    """max(x, 0) + negative_slope·min(x, 0): LeakyRelu when the slope is not 0."""

    type = "ReLU"
    family = "activation"
    param = "relu_param"

    def lower(self, ctx: LowerContext) -> None:
        slope = ctx.param.relu_param.negative_slope
        if slope:
            ctx.node("LeakyRelu", [ctx.inputs[0]], [ctx.outputs[0]], alpha=slope)
        else:
            ctx.node("Relu", [ctx.inputs[0]], [ctx.outputs[0]])


@register
class PReLU(LayerType):
    """ReLU with a learned negative slope per channel (axis 1), or one shared by all channels.

    Caffe's slope blob is (C,), or 0-D when channel_shared.  Its default filler is
    constant 0.25 (PReLULayer::LayerSetUp), not the schema's constant 0.
    """

    type = "PReLU"
    family = "activation"
    param = "prelu_param"

    def _channels(self, ctx: ShapeContext) -> int:
        if len(ctx.bottoms[0]) < 2:
            raise ctx.error(
                "NS0370",
                f"PReLU needs a bottom with at least 2 axes (N, C, ...), got "
                f"{len(ctx.bottoms[0])}: {shape_text(ctx.bottoms[0])}",
                ("bottom", 0),
            )
        return legacy_dim(ctx, 0, 1)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        self._channels(ctx)
        return [ctx.bottoms[0]]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        p = ctx.layer.param.prelu_param
        filler = p.filler if p.HasField("filler") else caffe_pb2.FillerParameter(type="constant", value=0.25)
        return [WeightSpec("slopes", () if p.channel_shared else (self._channels(ctx),), filler)]

    def lower(self, ctx: LowerContext) -> None:
        slopes = ctx.blobs[0].reshape(-1)
        if not ctx.param.prelu_param.channel_shared:
            # Per channel on axis 1: (C, 1, ..., 1) broadcasts against (N, C, H, W); a bare (C,)
            # would line up with W instead.
            slopes = slopes.reshape(-1, *([1] * (len(ctx.in_shapes[0]) - 2)))
        ctx.node("PRelu", [ctx.inputs[0], ctx.const(slopes, "slopes")], [ctx.outputs[0]])


@register
class ELU(LayerType):
    type = "ELU"
    family = "activation"
    param = "elu_param"

    def lower(self, ctx: LowerContext) -> None:
        ctx.node("Elu", [ctx.inputs[0]], [ctx.outputs[0]], alpha=ctx.param.elu_param.alpha)


@register
class Sigmoid(_Simple):
    type = "Sigmoid"
    family = "activation"
    param = "sigmoid_param"  # its engine only
    op = "Sigmoid"


@register
class TanH(_Simple):
    type = "TanH"
    family = "activation"
    param = "tanh_param"  # its engine only
    op = "Tanh"


@register
class AbsVal(_Simple):
    type = "AbsVal"
    family = "activation"
    op = "Abs"


@register
class BNLL(_Simple):
    """log(1 + eˣ), which Caffe computes stably (x + log(1 + e⁻ˣ) for x > 0): ONNX Softplus."""

    type = "BNLL"
    family = "activation"
    op = "Softplus"


@register
class Power(LayerType):
    """(shift + scale·x)^power, emitting only the operations that change the value."""

    type = "Power"
    family = "activation"
    param = "power_param"

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.power_param
        if _f32(p.power) * _f32(p.scale) == 0:
            value = 1.0 if p.power == 0 else float(_f32(p.shift) ** _f32(p.power))
            field = "power_param.power" if p.power == 0 else "power_param.scale"
            ctx.warning(
                "NS0374",
                f"with power {p.power:g} and scale {p.scale:g} the output ignores its "
                f"input: every value is {value:g}",
                field,
            )
        return [ctx.bottoms[0]]

    def lower(self, ctx: LowerContext) -> None:
        p = ctx.param.power_param
        power, scale, shift = _f32(p.power), _f32(p.scale), _f32(p.shift)
        if power * scale == 0:  # Caffe's special case: the input is not read
            _fill(ctx, 1.0 if power == 0 else float(shift**power))
            return
        steps: list[Step] = []
        if scale != 1:
            steps.append(("Mul", (ctx.const(scale, "scale"),)))
        if shift != 0:
            steps.append(("Add", (ctx.const(shift, "shift"),)))
        if power == 2:
            steps.append(("Mul", (SELF,)))  # x·x: exact, where Pow may not be
        elif power != 1:
            steps.append(("Pow", (ctx.const(power, "power"),)))
        if steps:
            _chain(ctx, steps)
        else:
            ctx.alias(0, ctx.inputs[0])


@register
class Exp(LayerType):
    """base^(shift + scale·x) = e^(ln(base)·scale·x) · base^shift, as Caffe factors it."""

    type = "Exp"
    family = "activation"
    param = "exp_param"

    def setup(self, ctx: ShapeContext) -> np.float32:
        """ln(base), float32 (−1: e)."""
        return _log_base(ctx, ctx.layer.param.exp_param.base, "exp_param.base", divisor=False)

    def lower(self, ctx: LowerContext) -> None:
        p = ctx.param.exp_param
        inner = ctx.config * _f32(p.scale)
        if p.shift == 0:
            outer = _f32(1)
        else:
            outer = _f32(p.base) ** _f32(p.shift) if p.base != -1 else np.exp(_f32(p.shift))
        steps: list[Step] = []
        if inner != 1:
            steps.append(("Mul", (ctx.const(inner, "inner_scale"),)))
        steps.append(("Exp", ()))
        if outer != 1:
            steps.append(("Mul", (ctx.const(outer, "outer_scale"),)))
        _chain(ctx, steps)


@register
class Log(LayerType):
    """log_base(shift + scale·x) = ln(shift + scale·x) · (1/ln(base)), as Caffe factors it."""

    type = "Log"
    family = "activation"
    param = "log_param"

    def setup(self, ctx: ShapeContext) -> np.float32:
        """ln(base), float32 (−1: e)."""
        return _log_base(ctx, ctx.layer.param.log_param.base, "log_param.base", divisor=True)

    def lower(self, ctx: LowerContext) -> None:
        p = ctx.param.log_param
        base_scale = _f32(1) / ctx.config
        steps: list[Step] = []
        if p.scale != 1:
            steps.append(("Mul", (ctx.const(_f32(p.scale), "scale"),)))
        if p.shift != 0:
            steps.append(("Add", (ctx.const(_f32(p.shift), "shift"),)))
        steps.append(("Log", ()))
        if base_scale != 1:
            steps.append(("Mul", (ctx.const(base_scale, "base_scale"),)))
        _chain(ctx, steps)


@register
class Threshold(LayerType):
    """1 where x > threshold, else 0, as floats."""

    type = "Threshold"
    family = "activation"
    param = "threshold_param"

    def lower(self, ctx: LowerContext) -> None:
        above = ctx.node(
            "Greater", [ctx.inputs[0], ctx.const(_f32(ctx.param.threshold_param.threshold), "threshold")]
        )
        ctx.node("Cast", above, [ctx.outputs[0]], to=np.float32)


@register
class Dropout(LayerType):
    """Identity at inference: Caffe scales by 1/(1 − ratio) while training, so TEST copies.  With
    Fast R-CNN's `scale_train: false` training keeps values unscaled, and TEST multiplies every
    value by (1 − ratio) instead (its DropoutLayer: caffe_scal(count, 1 / scale)).  With Bayesian
    SegNet's `sample_weights_test`, TEST drops values as TRAIN does: each run samples its own mask."""

    type = "Dropout"
    family = "activation"
    param = "dropout_param"
    doc_rows = (
        DocRow(
            parameters="`dropout_param.scale_train` (true; number 2, as the fork)",
            computes=(
                "false: training keeps values unscaled, so TEST multiplies by 1 / scale_ = 1 − "
                "`dropout_ratio` (ZF and VGG_CNN_M Faster R-CNN's fc6, fc7)"
            ),
            onnx="`Mul` by that constant (an alias, as in BVLC, when true)",
            dialect="rcnn",
        ),
        DocRow(
            fork="Caffe-SegNet (Bayesian SegNet)",
            parameters="`dropout_param.sample_weights_test` (false; number 10002, the fork's 2 being "
            "`scale_train`)",
            computes="true: TEST drops values as TRAIN does, a fresh mask each run (Monte Carlo dropout)",
            onnx="`Dropout` with `training_mode` true",
            dialect="forks",
        ),
    )

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        ratio = ctx.layer.param.dropout_param.dropout_ratio
        if not 0 < ratio < 1:
            ctx.warning(
                "NS0373",
                f"dropout_ratio {ratio:g} is outside (0, 1): training would "
                f"{'drop every value' if ratio >= 1 else 'keep every value'}",
                "dropout_param.dropout_ratio",
                help="use a ratio such as 0.5",
            )
        return [ctx.bottoms[0]]

    def lower(self, ctx: LowerContext) -> None:
        p = ctx.param.dropout_param
        if p.sample_weights_test:  # the fork's TRAIN path: a fresh mask each run, kept values scaled
            ratio, sample = ctx.const(p.dropout_ratio, "ratio"), ctx.const(True, "sample", dtype=np.bool_)
            ctx.node("Dropout", [ctx.inputs[0], ratio, sample], ctx.outputs)
        elif p.scale_train:
            ctx.alias(0, ctx.inputs[0])
        else:
            scale = np.float32(1.0 / (1.0 - np.float64(np.float32(p.dropout_ratio))))  # Caffe's scale_
            keep = np.float32(1.0 / np.float64(scale))
            ctx.node("Mul", [ctx.inputs[0], ctx.const(keep, "keep")], ctx.outputs)


@register
class Clip(LayerType):
    """max(min, min(x, max)).  When min > max Caffe outputs min everywhere; ONNX Clip would give max."""

    type = "Clip"
    family = "activation"
    param = "clip_param"

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.clip_param
        if p.min > p.max:
            ctx.warning(
                "NS0372",
                f"min {p.min:g} is greater than max {p.max:g}: every output is {p.min:g}",
                "clip_param.min",
                help="swap min and max",
            )
        return [ctx.bottoms[0]]

    def lower(self, ctx: LowerContext) -> None:
        p = ctx.param.clip_param
        if p.min > p.max:
            _fill(ctx, p.min)
            return
        ctx.node(
            "Clip",
            [ctx.inputs[0], ctx.const(_f32(p.min), "min"), ctx.const(_f32(p.max), "max")],
            [ctx.outputs[0]],
        )


@register
class Swish(LayerType):
    """x · sigmoid(beta·x)."""

    type = "Swish"
    family = "activation"
    param = "swish_param"

    def lower(self, ctx: LowerContext) -> None:
        beta = _f32(ctx.param.swish_param.beta)
        scaled = ctx.op("Mul", [ctx.inputs[0], ctx.const(beta, "beta")]) if beta != 1 else ctx.inputs[0]
        gate = ctx.op("Sigmoid", [scaled])
        ctx.node("Mul", [ctx.inputs[0], gate], [ctx.outputs[0]])


@register
class Maxout(LayerType):
    """Maxout (Goodfellow et al. 2013): output channel j is the max of input channels j·k to j·k + k − 1.

    Any rank from 2 (after an InnerProduct) up; the channel axis is 1.  0 multiply-adds.
    """

    type = "Maxout"
    family = "activation"
    dialect = "netspec"
    param = "maxout_param"

    def group(self, ctx: ShapeContext) -> int:
        """k, the number of consecutive channels each output channel takes the max of."""
        shape = ctx.bottoms[0]
        bottom_rank(ctx, 0, "2-D or higher (N, C, ...)", len(shape) >= 2, "N x C")
        channels = shape[1]
        p = ctx.layer.param.maxout_param
        has_n, has_k = p.HasField("num_output"), p.HasField("group_size")
        if has_n == has_k:
            raise ctx.error(
                "NS0393",
                "give num_output or group_size, not both" if has_n else "the group size is not given",
                "maxout_param.group_size" if has_k else "maxout_param",
                help=f"set maxout_param {{ group_size: K }} (K consecutive channels of {channels} "
                "per output) or { num_output: C/K }",
            )
        name, value = ("group_size", p.group_size) if has_k else ("num_output", p.num_output)
        if value < 1 or channels % value:
            fits = [d for d in range(2, channels + 1) if channels % d == 0][:6]
            raise ctx.error(
                "NS0393",
                f"{channels} channels do not divide into "
                + (f"groups of {value}" if has_k else f"{value} outputs"),
                f"maxout_param.{name}",
                help=f"use a {name} that divides {channels}: " + ", ".join(map(str, fits)),
            )
        return value if has_k else channels // value

    def setup(self, ctx: ShapeContext) -> int:
        return self.group(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        shape = ctx.bottoms[0]
        return [(shape[0], shape[1] // ctx.config, *shape[2:])]

    def lower(self, ctx) -> None:
        k = ctx.config
        shape = ctx.in_shapes[0]
        grouped = ctx.node("Reshape", [ctx.inputs[0], ctx.ints([0, shape[1] // k, k, *shape[2:]], "groups")])
        ctx.reduce("ReduceMax", grouped[0], [2], [ctx.outputs[0]], keepdims=0)


@register
class ReLU6(LayerType):
    """min(max(x, 0), 6)."""

    type = "ReLU6"
    family = "activation"
    dialect = "forks"
    doc_rows = (
        DocRow(
            fork="MobileNet v2 ports",
            parameters="—",
            computes="min(max(x, 0), 6)",
            onnx="`Clip`",
        ),
    )

    def lower(self, ctx) -> None:
        low, high = ctx.const(0.0, "min"), ctx.const(6.0, "max")
        ctx.node("Clip", [ctx.inputs[0], low, high], [ctx.outputs[0]])
