"""Normalisation and per-channel affine layers: LRN, BatchNorm, Scale, Bias, MVN; the forks' BN
(PSPNet, Caffe-SegNet); Normalize, SSD's (ParseNet's L2 normalisation) and
happynear/caffe-windows' (NormFace's plain L2 / L1 normalisation), told apart by their block.

Caffe's formulas, with the places earlier converters slipped:

- LRN ACROSS_CHANNELS: y = x · (k + alpha/size · Σ x²)^-beta over `size` channels centred on c.
  WITHIN_CHANNEL is built in Caffe from a size x size AVE pooling of x² (pad (size − 1)/2,
  stride 1, so the divisor is always size²) and a Power layer with shift 1 and scale alpha:
  y = x · (1 + alpha/size² · Σ x²)^-beta.  Not k, and alpha over size², not size.
- BatchNorm at TEST uses its stored statistics divided by the third blob, a scale factor
  (0 meaning 0): y = (x − mean/s) / sqrt(var/s + eps).  No learnable affine part; that is
  the following Scale layer.
- MVN adds eps to the standard deviation, not to the variance: y = (x − mean) / (std + eps),
  so ONNX's MeanVarianceNormalization (no eps at all) is not it.

Multiply-adds: LRN and MVN count their window sums; BatchNorm, Scale and Bias count none,
as they fold into the convolution before them at inference and published counts leave them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from netspec.layers.activation import legacy_dim
from netspec.layers.base import (
    GLOBAL,
    Affine,
    DocRow,
    LayerType,
    Shape,
    ShapeContext,
    WeightSpec,
    Window,
    canonical_axis,
    count,
    four_d,
    register,
    shape_text,
)
from netspec.lazy import numpy as np
from netspec.proto import caffe_pb2

TEST = caffe_pb2.TEST
WITHIN = caffe_pb2.LRNParameter.WITHIN_CHANNEL


def _normalize(
    ctx, x: str, out: str, axes: list[int], eps: float, *, variance: bool, eps_in_sqrt: bool
) -> None:
    """out = (x − mean) [/ sqrt(var + eps) or / (sqrt(var) + eps)] over `axes`, var = E((x − mean)²)."""
    mean = ctx.reduce("ReduceMean", x, axes, keepdims=1)[0]
    if not variance:
        ctx.node("Sub", [x, mean], [out])
        return
    centred = ctx.op("Sub", [x, mean])
    var = ctx.reduce("ReduceMean", ctx.op("Mul", [centred, centred]), axes, keepdims=1)[0]
    eps_name = ctx.const(np.float32(eps), "eps")
    if eps_in_sqrt:
        denom = ctx.op("Sqrt", ctx.node("Add", [var, eps_name]))
    else:
        denom = ctx.op("Add", [ctx.op("Sqrt", [var]), eps_name])
    ctx.node("Div", [centred, denom], [out])


@register
class LRN(LayerType):
    type = "LRN"
    family = "normalization"
    param = "lrn_param"

    def _checked(self, ctx: ShapeContext):
        p = ctx.layer.param.lrn_param
        size = p.local_size
        if size % 2 == 0:
            raise ctx.error(
                "NS0340",
                f"local_size {size} is even; Caffe's LRN centres its window "
                f"((size − 1)/2 on each side) and only takes odd sizes",
                "lrn_param.local_size",
                help=f"use local_size {size + 1}" + (f" or {size - 1}" if size > 1 else ""),
            )
        shape = ctx.bottoms[0]
        if len(shape) != 4:
            raise ctx.error(
                "NS0341",
                f"LRN needs a 4-D input (N, C, H, W), got the {len(shape)}-D shape {shape_text(shape)}",
                ("bottom", 0),
                help="reshape the input to 4-D first",
            )
        return p

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        self._checked(ctx)
        return [ctx.bottoms[0]]

    def window(self, ctx: ShapeContext) -> list[Window] | None:
        p = self._checked(ctx)
        if p.norm_region != WITHIN:
            return None
        return [Window(p.local_size, 1, (p.local_size - 1) // 2)] * 2

    def lower(self, ctx) -> None:
        p = ctx.param.lrn_param
        x, y = ctx.inputs[0], ctx.outputs[0]
        if p.norm_region != WITHIN:
            # ONNX's window [c − floor((size−1)/2), c + ceil((size−1)/2)] is Caffe's for odd sizes.
            ctx.node("LRN", [x], [y], size=p.local_size, alpha=p.alpha, beta=p.beta, bias=p.k)
            return
        size, pad = p.local_size, (p.local_size - 1) // 2
        # Stride 1 and pad (size − 1)/2 keep every window inside the padded input, so Caffe's
        # divisor (padding counted) is size² everywhere: count_include_pad=1 is exact.
        pooled = ctx.op(
            "AveragePool",
            ctx.node("Mul", [x, x]),
            kernel_shape=[size, size],
            pads=[pad] * 4,
            count_include_pad=1,
        )
        if p.alpha != 1:
            pooled = ctx.op("Mul", [pooled, ctx.const(np.float32(p.alpha), "alpha")])
        base = ctx.op("Add", [pooled, ctx.const(np.float32(1), "one")])
        factor = ctx.op("Pow", [base, ctx.const(np.float32(-p.beta), "minus_beta")])
        ctx.node("Mul", [x, factor], [y])


def uses_global_stats(ctx: ShapeContext) -> bool:
    """Caffe: the stored statistics at TEST, the batch's at TRAIN, unless use_global_stats says."""
    p = ctx.layer.param.batch_norm_param
    if p.HasField("use_global_stats"):
        return p.use_global_stats
    return ctx.options.get("phase", TEST) == TEST


def global_stats(blobs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, variance) from BatchNorm's blobs: both divided by the scale factor, 0 meaning 0."""
    factor = float(np.asarray(blobs[2]).ravel()[0])
    factor = 0.0 if factor == 0 else 1.0 / factor
    return (
        np.asarray(blobs[0], np.float64).ravel() * factor,
        np.asarray(blobs[1], np.float64).ravel() * factor,
    )


@dataclass(frozen=True)
class BatchNormConfig:
    """What lowering and folding read: they build the inference graph, so the statistics are the
    stored ones (TEST's default) unless use_global_stats says, whatever phase was checked."""

    eps: float
    stored_stats: bool


@register
class BatchNorm(LayerType):
    type = "BatchNorm"
    family = "normalization"
    param = "batch_norm_param"

    def setup(self, ctx: ShapeContext) -> BatchNormConfig:
        p = ctx.layer.param.batch_norm_param
        return BatchNormConfig(p.eps, p.use_global_stats if p.HasField("use_global_stats") else True)

    def _channels(self, ctx: ShapeContext) -> int:
        shape = ctx.bottoms[0]
        if len(shape) < 2:
            raise ctx.error(
                "NS0342",
                f"BatchNorm normalises over axis 1, but its input {shape_text(shape)} is {len(shape)}-D",
                ("bottom", 0),
                help="give it an input of at least 2 axes (N, C, ...)",
            )
        return shape[1]

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        self._channels(ctx)
        for i, spec in enumerate(ctx.layer.param.param[:3]):
            if spec.lr_mult != 0:
                ctx.error(
                    "NS0343",
                    f"param {i} has lr_mult {spec.lr_mult:g}, but BatchNorm's statistics "
                    f"are not learnable parameters: Caffe refuses the net",
                    ("param", i, "lr_mult") if spec.HasField("lr_mult") else ("param", i),
                    help="set lr_mult: 0 in each of BatchNorm's param blocks, or drop them",
                )
        if ctx.options.get("phase", TEST) == TEST and not uses_global_stats(ctx):
            ctx.warning(
                "NS0344",
                "use_global_stats is false: Caffe normalises with this batch's own mean "
                "and variance, not the stored statistics, so each output depends on the whole batch",
                "batch_norm_param.use_global_stats",
                help="for inference, set use_global_stats: true (or leave it out)",
            )
        return [ctx.bottoms[0]]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        c = self._channels(ctx)
        return [
            WeightSpec("mean", (c,), learnable=False),
            WeightSpec("variance", (c,), learnable=False),
            WeightSpec("scale_factor", (1,), learnable=False),
        ]

    def window(self, ctx: ShapeContext) -> str | None:
        return None if uses_global_stats(ctx) else GLOBAL

    def channel_affine(self, ctx: ShapeContext, blobs: list[np.ndarray]) -> Affine | None:
        """(a, b) of y = a·x + b per channel, when this layer is such a map (for netspec.fold)."""
        if not ctx.config.stored_stats:
            return None
        mean, var = global_stats(blobs)
        a = 1.0 / np.sqrt(var + ctx.config.eps)
        return a, -mean * a

    def lower(self, ctx) -> None:
        c = ctx.config
        x, y = ctx.inputs[0], ctx.outputs[0]
        if not c.stored_stats:
            axes = [0, *range(2, len(ctx.in_shapes[0]))]
            _normalize(ctx, x, y, axes, c.eps, variance=True, eps_in_sqrt=True)
            return
        mean, var = global_stats(ctx.blobs)
        ctx.node(
            "BatchNormalization",
            [
                x,
                ctx.const(np.ones(mean.size), "gamma"),
                ctx.const(np.zeros(mean.size), "beta"),
                ctx.const(mean, "mean"),
                ctx.const(var, "variance"),
            ],
            [y],
            epsilon=c.eps,
        )


class _Broadcast(LayerType):
    """Scale and Bias: an operand (bottom[1], or a blob) applied from `axis` over its own axes."""

    bottoms = (1, 2)
    op: str
    what: str

    def _operand(self, ctx: ShapeContext) -> tuple[int, Shape]:
        """(axis, operand shape), as Caffe's LayerSetUp and Reshape check them."""
        p = self.params(ctx.layer)
        shape = ctx.bottoms[0]
        n = len(shape)
        if len(ctx.bottoms) > 1:
            operand = ctx.bottoms[1]
            k = len(operand)
            if k == 0:
                return 0, ()
            axis = canonical_axis(ctx, p.axis, n, f"{self.param}.axis")
            if axis + k > n:
                raise ctx.error(
                    "NS0345",
                    f"bottom[1] {shape_text(operand)} has {k} axes, which from axis {axis} "
                    f"extend past the {n}-D bottom[0] {shape_text(shape)}",
                    ("bottom", 1),
                    help=f"give bottom[1] at most {n - axis} axes, or a smaller axis",
                )
            if tuple(shape[axis : axis + k]) != tuple(operand):
                raise ctx.error(
                    "NS0346",
                    f"{self.what} shape {shape_text(operand)} does not match bottom[0] shape "
                    f"{shape_text(shape)} at axis {axis}",
                    ("bottom", 1),
                    help=f"bottom[1] must have the shape {shape_text(shape[axis : axis + k])} "
                    f"(bottom[0]'s axes {axis} to {axis + k - 1})",
                )
            if p.HasField("num_axes") and p.num_axes != k:
                ctx.warning(
                    "NS0349",
                    f"num_axes {p.num_axes} is ignored: with two bottoms, bottom[1]'s {k} axes decide",
                    f"{self.param}.num_axes",
                    help="remove num_axes",
                )
            return axis, operand
        axis = canonical_axis(ctx, p.axis, n, f"{self.param}.axis")
        k = p.num_axes
        if k < -1:
            raise ctx.error(
                "NS0345",
                f"num_axes must be -1 (to the last axis) or at least 0, got {k}",
                f"{self.param}.num_axes",
            )
        if k > n - axis:
            raise ctx.error(
                "NS0345",
                f"num_axes {k} from axis {axis} extends past the {n}-D input {shape_text(shape)}",
                f"{self.param}.num_axes",
                help=f"use num_axes at most {n - axis}, or -1 for all axes from {axis}",
            )
        operand = tuple(shape[axis:]) if k == -1 else tuple(shape[axis : axis + k])
        return (axis if operand else 0), operand

    def setup(self, ctx: ShapeContext) -> tuple[int, Shape]:
        return self._operand(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [ctx.bottoms[0]]

    def _blob(self, ctx: ShapeContext, name: str, filler_field: str, default=None) -> WeightSpec:
        p = self.params(ctx.layer)
        filler = getattr(p, filler_field) if p.HasField(filler_field) else default
        return WeightSpec(name, ctx.config[1], filler)

    def channel_affine(self, ctx: ShapeContext, blobs: list[np.ndarray]) -> Affine | None:
        """(a, b) of y = a·x + b per channel, when the operand is a blob over axis 1 alone."""
        axis, operand = ctx.config
        if len(ctx.bottoms) > 1 or axis != 1 or len(operand) != 1:
            return None
        values = [np.asarray(b, np.float64).ravel() for b in blobs]
        return self._affine(values, operand[0])

    def lower(self, ctx) -> None:
        axis, operand = ctx.config
        trailing = (1,) * (len(ctx.in_shapes[0]) - axis - len(operand)) if operand else ()
        if len(ctx.inputs) > 1:
            first = ctx.inputs[1]
            if trailing:
                first = ctx.op(
                    "Reshape", [first, ctx.ints([0] * len(operand) + [1] * len(trailing), "shape")]
                )
            rest = ctx.blobs
        else:
            first = ctx.const(ctx.blobs[0].reshape(operand + trailing), self.what)
            rest = ctx.blobs[1:]
        if not rest:
            ctx.node(self.op, [ctx.inputs[0], first], [ctx.outputs[0]])
            return
        scaled = ctx.op(self.op, [ctx.inputs[0], first])
        ctx.node("Add", [scaled, ctx.const(rest[0].reshape(operand + trailing), "bias")], [ctx.outputs[0]])


@register
class Scale(_Broadcast):
    type = "Scale"
    family = "normalization"
    param = "scale_param"
    op = "Mul"
    what = "scale"

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        specs = []
        if len(ctx.bottoms) == 1:
            # Caffe fills an unspecified scale with 1 (the identity), not the usual constant 0.
            one = caffe_pb2.FillerParameter(type="constant", value=1)
            specs.append(self._blob(ctx, "scale", "filler", one))
        if ctx.layer.param.scale_param.bias_term:
            specs.append(self._blob(ctx, "bias", "bias_filler"))
        return specs

    @staticmethod
    def _affine(values: list[np.ndarray], channels: int) -> Affine:
        return values[0], values[1] if len(values) > 1 else np.zeros(channels)


@register
class Bias(_Broadcast):
    type = "Bias"
    family = "normalization"
    param = "bias_param"
    op = "Add"
    what = "bias"

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        return [self._blob(ctx, "bias", "filler")] if len(ctx.bottoms) == 1 else []

    @staticmethod
    def _affine(values: list[np.ndarray], channels: int) -> Affine:
        return np.ones(channels), values[0]


@register
class MVN(LayerType):
    type = "MVN"
    family = "normalization"
    param = "mvn_param"

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        shape = ctx.bottoms[0]
        if len(shape) > 4:
            raise ctx.error(
                "NS0347",
                f"MVN reads its input as (N, C, H, W), but it is {len(shape)}-D {shape_text(shape)}",
                ("bottom", 0),
                help="reshape the input to at most 4 axes",
            )
        # Caffe reshapes the top to (num, channels, height, width), missing axes read as 1.
        top = (*shape, *(1,) * (4 - len(shape)))
        p = ctx.layer.param.mvn_param
        group = count(top[1:]) if p.across_channels else count(top[2:])
        if group == 1:
            each = "sample" if p.across_channels else "channel of each sample"
            ctx.warning(
                "NS0348",
                f"MVN normalises each {each} over its own values, and the input {shape_text(shape)} has "
                f"only one value for each: every output is 0",
                "mvn_param",
                help=None
                if p.across_channels
                else "set mvn_param { across_channels: true } to normalise over the channels",
            )
        return [top]

    def window(self, ctx: ShapeContext) -> str:
        return GLOBAL

    def lower(self, ctx) -> None:
        p = ctx.param.mvn_param
        x, rank = ctx.inputs[0], len(ctx.in_shapes[0])
        if rank < 4:
            x = ctx.op("Reshape", [x, ctx.ints([0] * rank + [1] * (4 - rank), "shape")])
        axes = [1, 2, 3] if p.across_channels else [2, 3]
        _normalize(ctx, x, ctx.outputs[0], axes, p.eps, variance=p.normalize_variance, eps_in_sqrt=False)


SEGNET_BN = ("bn_mode", "scale_filler", "shift_filler")


PSPNET_BN = ("slope_filler", "bias_filler", "momentum", "eps", "frozen", "engine")


BNMode = caffe_pb2.BNParameter


@register
class BN(LayerType):
    """The forks' "BN", two layers under one name, told apart by their fields (bn_param):

    - PSPNet's (bn_layer.cpp), at inference: y = slope · (x − mean) · (variance + eps)^−½ + bias
      per channel; blobs slope, bias, mean, variance, each (1, C, 1, 1).
    - Caffe-SegNet's (bn_mode, scale_filler, shift_filler, or more than one top): blobs scale and
      shift (1, C, 1, 1).  INFERENCE: y = scale · x + shift (the statistics folded in);
      LEARN: the batch's own mean and variance E(x²) − E(x)² over N, H, W, eps 1e-9, and tops
      1 and 2 (optional) the batch mean and variance.
    A BN with neither fork's fields is PSPNet's."""

    type = "BN"
    family = "normalization"
    dialect = "forks"
    param = "bn_param"
    tops = (1, 3)
    doc_rows = (
        DocRow(
            fork="PSPNet",
            parameters="`bn_param`: `slope_filler`, `bias_filler`, `eps` (1e-5), `frozen`, `momentum`",
            computes=(
                "slope·(x − mean)·(variance + eps)^−½ + bias per channel; blobs slope, bias, "
                "mean, variance, each (1, C, 1, 1)"
            ),
            onnx="`Sub`, `Mul`, `Add` (the factor computed when compiling)",
        ),
        DocRow(
            fork="Caffe-SegNet",
            parameters="`bn_param`: `bn_mode` (LEARN), `scale_filler`, `shift_filler`",
            computes=(
                "INFERENCE: scale·x + shift (the statistics folded in by SegNet's "
                "compute_bn_statistics.py); LEARN: scale·(x − μ)/sqrt(σ² + 1e-9) + shift with the"
                " batch's μ and σ² = E(x²) − μ² over N, H, W, tops 1 and 2 (optional) μ and σ², "
                "(1, C, 1, 1); blobs scale, shift (1, C, 1, 1)"
            ),
            onnx="`Mul`, `Add`; LEARN adds `ReduceMean`, `Sub`, `Sqrt`, `Div`",
        ),
    )

    def segnet(self, ctx: ShapeContext) -> bool:
        p = ctx.layer.param.bn_param
        segnet = [f for f in SEGNET_BN if p.HasField(f)]
        pspnet = [f for f in PSPNET_BN if p.HasField(f)]
        if segnet and pspnet:
            raise ctx.error(
                "NS0398",
                f"bn_param mixes Caffe-SegNet's {segnet[0]} with PSPNet's {pspnet[0]}: the two forks' BN "
                "layers differ (blobs, formula)",
                f"bn_param.{pspnet[0]}",
                help="keep one fork's fields: SegNet's bn_mode, scale_filler, shift_filler, or PSPNet's "
                "slope_filler, bias_filler, momentum, eps, frozen",
            )
        if not segnet and len(ctx.layer.tops) > 1:
            raise ctx.error(
                "NS0398",
                "only Caffe-SegNet's BN writes the batch mean and variance as tops 1 and 2",
                ("top", 1),
                help="set bn_param { bn_mode: LEARN } for SegNet's BN, or keep one top",
            )
        return bool(segnet)

    def setup(self, ctx: ShapeContext) -> bool:
        """Whether the layer is Caffe-SegNet's BN (else PSPNet's), on a 4-D bottom."""
        four_d(ctx, "NS0396")
        return self.segnet(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        shape = ctx.bottoms[0]
        p = ctx.layer.param.bn_param
        if ctx.config and p.bn_mode == BNMode.LEARN and ctx.options.get("phase", TEST) == TEST:
            ctx.warning(
                "NS0344",
                "bn_mode is LEARN: Caffe-SegNet normalises with this batch's own mean and variance, so "
                "each output depends on the whole batch",
                "bn_param.bn_mode" if p.HasField("bn_mode") else ctx.block("bn_param"),
                help="for inference, fold the statistics in (SegNet's compute_bn_statistics.py) and set "
                "bn_mode: INFERENCE",
            )
        stats = (1, shape[1], 1, 1)
        return [shape, stats, stats][: len(ctx.layer.tops)]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        p = ctx.layer.param.bn_param
        shape = (1, ctx.bottoms[0][1], 1, 1)
        if ctx.config:  # an absent filler is Caffe's default, constant 0
            return [WeightSpec("scale", shape, p.scale_filler), WeightSpec("shift", shape, p.shift_filler)]

        def constant(value: float) -> caffe_pb2.FillerParameter:
            return caffe_pb2.FillerParameter(type="constant", value=value)

        return [
            WeightSpec("slope", shape, p.slope_filler),  # the fork fills an absent filler with 0
            WeightSpec("bias", shape, p.bias_filler),
            WeightSpec("mean", shape, constant(0), learnable=False),
            WeightSpec("variance", shape, constant(1 if p.frozen else 0), learnable=False),
        ]

    def lower(self, ctx) -> None:
        if ctx.config:
            self._lower_segnet(ctx)
            return
        slope, bias, mean, variance = (np.asarray(b, np.float32).reshape(1, -1, 1, 1) for b in ctx.blobs)
        inverse = (variance + np.float32(ctx.param.bn_param.eps)) ** np.float32(-0.5)
        centred = ctx.op("Sub", [ctx.inputs[0], ctx.const(mean, "mean")])
        scaled = ctx.op("Mul", [centred, ctx.const(slope * inverse, "scale")])
        ctx.node("Add", [scaled, ctx.const(bias, "bias")], [ctx.outputs[0]])

    def _lower_segnet(self, ctx) -> None:
        scale, shift = (
            ctx.const(np.asarray(b, np.float32).reshape(1, -1, 1, 1), name)
            for b, name in zip(ctx.blobs, ("scale", "shift"))
        )
        x, outputs = ctx.inputs[0], ctx.outputs
        if ctx.param.bn_param.bn_mode == BNMode.LEARN:  # BNLayer::Forward_cpu's LEARN branch
            axes = [0, 2, 3]
            mean = ctx.reduce("ReduceMean", x, axes, outputs[1:2] or 1, keepdims=1)[0]
            squares = ctx.reduce("ReduceMean", ctx.op("Mul", [x, x]), axes, keepdims=1)[0]
            variance = ctx.node("Sub", [squares, ctx.op("Mul", [mean, mean])], outputs[2:3] or 1)[0]
            root = ctx.op("Sqrt", [ctx.op("Add", [variance, ctx.const(np.float32(1e-9), "eps")])])
            x = ctx.op("Div", [ctx.op("Sub", [x, mean]), root])
        ctx.node("Add", [ctx.op("Mul", [x, scale]), shift], [outputs[0]])


class HappynearNorm(NamedTuple):
    """happynear/caffe-windows' Normalize, as its setup reads it."""

    norm_type: str  # "L2" or "L1"
    shape: Shape  # the bottom through the legacy (N, C, H, W) accessors: the top's shape


HAPPYNEAR_EPS = 1e-6  # added to Σx² (L2) or Σ|x| (L1) in NormalizeLayer::Forward_cpu


@register
class Normalize(LayerType):
    """Two layers under one name, told apart by the block written:

    - SSD's (norm_param, or neither block): y = x / sqrt(Σ x² + eps) · scale, Σ over the channels
      at each position, or over C·H·W (across_spatial); scale one learned value (channel_shared)
      or one per channel.
    - happynear/caffe-windows' (normalize_param; NormFace, AM-Softmax): y = x / ‖x‖ at each
      position over the channels, ‖x‖ = sqrt(Σ x² + 1e-6) (L2) or Σ |x| + 1e-6 (L1), read through
      the legacy (N, C, H, W) accessors, so the top is 4-D; top 1 (optional) holds ‖x‖,
      (N, 1, H, W).  No blobs."""

    type = "Normalize"
    family = "normalization"
    dialect = "ssd"
    param = "norm_param"
    extra_params = ("normalize_param",)
    tops = (1, 2)
    doc_rows = (
        DocRow(
            parameters=(
                "`norm_param`: `across_spatial` (true), `channel_shared` (true), `scale_filler` "
                "(constant 1), `eps` (1e-10)"
            ),
            computes=(
                "x / sqrt(Σx² + eps) · scale; Σ over the channels at each position, or over C·H·W"
                " with `across_spatial`; scale one learned value, or one per channel"
            ),
            onnx="`ReduceSumSquare`, `Add`, `Sqrt`, `Div`, `Mul`",
        ),
        DocRow(
            fork="NormFace, AM-Softmax (happynear/caffe-windows)",
            dialect="forks",
            parameters=(
                "`normalize_param` (told from SSD's `norm_param` by the block written): "
                '`normalize_type` ("L2" or "L1"), `fix_gradient`, `bp_norm` (backward only)'
            ),
            computes=(
                "x / ‖x‖ at each position over the channels, ‖x‖ = sqrt(Σx² + 1e-6) or Σ|x| + 1e-6;"
                " the top is (N, C, H, W) through the legacy accessors (an (N, C) bottom gives "
                "(N, C, 1, 1)); top 1 (optional) ‖x‖, (N, 1, H, W)"
            ),
            onnx="`ReduceSumSquare`, `Add`, `Sqrt` (or `ReduceL1`, `Add`), `Div`",
        ),
    )

    def settings(self, ctx: ShapeContext) -> tuple[str, Any]:
        """(the field the layer's parameters come from, its message)."""
        param = ctx.layer.param
        if not param.HasField("normalize_param"):
            return "norm_param", param.norm_param
        if param.HasField("norm_param"):
            raise ctx.error(
                "NS0321",
                "both norm_param (SSD's Normalize) and normalize_param (happynear/caffe-windows') are "
                "given: the two forks' Normalize layers differ (blobs, formula, output shape)",
                "normalize_param",
                help="keep one: norm_param for SSD's learned-scale L2 normalisation, normalize_param "
                "for the fork's plain L2 / L1 one",
            )
        return "normalize_param", param.normalize_param

    def setup(self, ctx: ShapeContext) -> caffe_pb2.NormalizeParameter | HappynearNorm:
        field, p = self.settings(ctx)
        if field == "normalize_param":
            return self._setup_happynear(ctx, p)
        if len(ctx.layer.tops) > 1:
            raise ctx.error(
                "NS0321",
                "only happynear/caffe-windows' Normalize writes the norms as top 1; SSD's writes one top",
                ("top", 1),
                help='set normalize_param { normalize_type: "L2" } for the fork\'s layer, or keep one top',
            )
        shape = ctx.bottoms[0]
        if len(shape) < 2:
            raise ctx.error(
                "NS0321",
                f"{self.type} takes an (N, C, ...) bottom, got {shape_text(shape)}",
                ("bottom", 0),
                help="reshape it to N x C x H x W first",
            )
        if not p.eps > 0:
            raise ctx.error(
                "NS0321",
                f"eps must be positive, got {p.eps:g}",
                f"{field}.eps",
                help="leave eps out: the fork's default is 1e-10",
            )
        return p

    def _setup_happynear(self, ctx: ShapeContext, p: caffe_pb2.HappynearNormalizeParameter) -> HappynearNorm:
        if p.normalize_type not in ("L2", "L1"):
            raise ctx.error(
                "NS0321",
                f'normalize_type must be "L2" or "L1", got "{p.normalize_type}" (the fork stops with '
                "NOT_IMPLEMENTED)",
                "normalize_param.normalize_type",
                help='write normalize_type: "L2" (the default) or "L1"',
            )
        shape = tuple(legacy_dim(ctx, 0, axis) for axis in range(4))
        return HappynearNorm(p.normalize_type, shape)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        if isinstance(ctx.config, HappynearNorm):
            n, c, h, w = ctx.config.shape
            return [(n, c, h, w), (n, 1, h, w)][: len(ctx.layer.tops)]
        return [ctx.bottoms[0]]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        p = ctx.config
        if isinstance(p, HappynearNorm):
            return []
        one = caffe_pb2.FillerParameter(type="constant", value=1)  # the fork's default scale
        filler = p.scale_filler if p.HasField("scale_filler") else one
        return [WeightSpec("scale", (1,) if p.channel_shared else (ctx.bottoms[0][1],), filler)]

    def lower(self, ctx) -> None:
        p = ctx.config
        if isinstance(p, HappynearNorm):
            self._lower_happynear(ctx, p)
            return
        x, rank = ctx.inputs[0], len(ctx.in_shapes[0])
        axes = list(range(1, rank)) if p.across_spatial else [1]
        sums = ctx.reduce("ReduceSumSquare", x, axes, keepdims=1)[0]
        norm = ctx.op("Sqrt", [ctx.op("Add", [sums, ctx.const(np.float32(p.eps), "eps")])])
        scale = ctx.blobs[0].reshape(-1) if p.channel_shared else ctx.blobs[0].reshape(-1, *[1] * (rank - 2))
        normed = ctx.op("Div", [x, norm])
        ctx.node("Mul", [normed, ctx.const(scale, "scale")], [ctx.outputs[0]])

    def _lower_happynear(self, ctx, p: HappynearNorm) -> None:
        x, rank, outputs = ctx.inputs[0], len(ctx.in_shapes[0]), ctx.outputs
        if rank < 4:  # the legacy accessors' missing axes, 1 each
            x = ctx.op("Reshape", [x, ctx.ints([0] * rank + [1] * (4 - rank), "shape")])
        l2 = p.norm_type == "L2"
        sums = ctx.reduce("ReduceSumSquare" if l2 else "ReduceL1", x, [1], keepdims=1)[0]
        padded = [sums, ctx.const(np.float32(HAPPYNEAR_EPS), "eps")]
        if l2:
            norm = ctx.node("Sqrt", [ctx.op("Add", padded)], outputs[1:2] or 1)[0]
        else:
            norm = ctx.node("Add", padded, outputs[1:2] or 1)[0]
        ctx.node("Div", [x, norm], [outputs[0]])


@register
class NormalizeBBox(Normalize):
    """The SSD port's first name for Normalize (OpenCV's dnn module, whose sample SSD deploy files
    write it): the same arithmetic, its parameters in `normalize_bbox_param` or, as OpenCV's
    caffe.proto names that field, `norm_param`."""

    type = "NormalizeBBox"
    family = "normalization"
    dialect = "ssd"
    param = "normalize_bbox_param"
    extra_params = ("norm_param",)
    tops = (1, 1)
    doc_rows = (
        DocRow(
            parameters="`normalize_bbox_param` or `norm_param`, the same fields",
            computes="Normalize under the first SSD port's name (OpenCV's samples)",
            onnx="as Normalize",
        ),
    )

    def settings(self, ctx: ShapeContext) -> tuple[str, caffe_pb2.NormalizeBBoxParameter]:
        given = [f for f in ("normalize_bbox_param", "norm_param") if ctx.layer.param.HasField(f)]
        if len(given) == 2:
            raise ctx.error(
                "NS0321",
                "both normalize_bbox_param and norm_param are given; NormalizeBBox reads one",
                "norm_param",
                help="keep normalize_bbox_param (or norm_param, as OpenCV's files write it), not both",
            )
        field = given[0] if given else "normalize_bbox_param"
        return field, getattr(ctx.layer.param, field)
