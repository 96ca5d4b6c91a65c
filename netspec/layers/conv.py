"""Convolution and Deconvolution: N-D, grouped, dilated, with Caffe's floor arithmetic.

netspec extension (caffe.proto `causal = 10001`): a causal Convolution pads its
last spatial axis (time) by (k − 1)·d before and 0 after, so output t reads
inputs ≤ t and the output is as long as the input; ONNX Conv's pads say it.
"""

from __future__ import annotations

from netspec.layers.arith import Axis, end_pads, windows
from netspec.layers.base import (
    LayerType,
    Shape,
    ShapeContext,
    WeightSpec,
    Window,
    canonical_axis,
    count,
    register,
)
from netspec.layers.structure import dims


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


class _ConvBase(LayerType):
    param = "convolution_param"
    transposed = False

    def _geometry(self, ctx: ShapeContext):
        """Read once per layer and kept on the context: shapes, weights, macs and window share it."""
        if "conv" not in ctx.memo:
            ctx.memo["conv"] = self._read_geometry(ctx)
        return ctx.memo["conv"]

    def _read_geometry(self, ctx: ShapeContext):
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
                    f"bottom {i} '{ctx.layer.bottoms[i].name}' is {dims(other)} but bottom 0 "
                    f"'{ctx.layer.bottoms[0].name}' is {dims(shape)}: one {ctx.layer.type} layer convolves "
                    "equal-shaped bottoms",
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
        return p, shape, axis, kernel, stride, pad, dilation, channels, group, end

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p, shape, axis, kernel, stride, pad, dilation, _, _, end = self._geometry(ctx)
        extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        spatial = shape[axis + 1 :]
        if self.transposed:
            out = [s * (i - 1) + e - 2 * q for i, e, s, q in zip(spatial, extent, stride, pad)]
            for j, (i, e, s, q, o) in enumerate(zip(spatial, extent, stride, pad, out)):
                if o < 1:
                    field, most = _axis_field(p, "pad", j), (s * (i - 1) + e - 1) // 2
                    raise ctx.error(
                        "NS0301",
                        f"the output would be {dims(out)}: S·(W − 1) + K − 2P = "
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
                    for i, e, s, q, z, d in zip(spatial, extent, stride, pad, end, dilation)
                ],
                pooling=False,
                field=f"convolution_param.{_axis_field(p, 'kernel_size', 0)}",
            )
        return [shape[:axis] + (p.num_output, *out) for _ in ctx.layer.tops]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        p, _, _, kernel, _, _, _, channels, group, _ = self._geometry(ctx)
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
        p, shape, _, kernel, _, _, _, channels, group, _ = self._geometry(ctx)
        per_output = channels // group * count(kernel)
        if self.transposed:  # each input element scatters into num_output/group x kernel outputs
            return count(shape) * (p.num_output // group) * count(kernel) * len(tops)
        return count(tops[0]) * per_output * len(tops)

    def window(self, ctx: ShapeContext) -> list[Window]:
        _, _, _, kernel, stride, pad, dilation, _, _, _ = self._geometry(ctx)
        return [
            Window(d * (k - 1) + 1, s, q, self.transposed)
            for k, s, q, d in zip(kernel, stride, pad, dilation)
        ]

    def lower(self, ctx) -> None:
        p, shape, axis, kernel, stride, pad, dilation, _, group, end = self._geometry(ctx.shape_context)
        weights = [ctx.const(ctx.blobs[0], "weights")]
        if p.bias_term:
            weights.append(ctx.const(ctx.blobs[1].reshape(-1), "bias"))
        if axis != 1:  # ONNX reads (batch, channels, spatial...): fold the leading axes into one
            folded = ctx.ints([-1, *shape[axis:]], "shape")
            top = ctx.out_shapes[0]
            unfolded = ctx.ints([-1, *top[1:]] if axis else list(top), "top_shape")  # axis 0: no batch axis
        if not self.transposed:
            extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
            end = end_pads(list(shape[axis + 1 :]), extent, stride, pad, end, ctx.out_shapes[0][axis + 1 :])
        for x, y in zip(ctx.inputs, ctx.outputs):
            if axis != 1:
                x = ctx.node("Reshape", [x, folded])[0]
            out = ctx.node(
                "ConvTranspose" if self.transposed else "Conv",
                [x, *weights],
                [y] if axis == 1 else 1,
                kernel_shape=kernel,
                strides=stride,
                pads=pad + end,
                dilations=dilation,
                group=group,
            )
            if axis != 1:
                ctx.node("Reshape", [out[0], unfolded], [y])


@register
class Convolution(_ConvBase):
    type = "Convolution"
    bottoms = (1, None)
    tops = (1, None)


@register
class Deconvolution(_ConvBase):
    type = "Deconvolution"
    bottoms = (1, None)
    tops = (1, None)
    transposed = True


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]
