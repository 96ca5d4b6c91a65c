"""Convolution and Deconvolution: N-D, grouped, dilated, with Caffe's floor arithmetic.

netspec extension (caffe.proto `causal = 10001`): a causal Convolution pads its
last spatial axis (time) by (k − 1)·d before and 0 after, so output t reads
inputs ≤ t and the output is as long as the input; ONNX Conv's pads say it.
"""

from __future__ import annotations

from netspec.layers.arith import Axis, windows
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


def conv_geometry(
    ctx: ShapeContext, p, ndim: int
) -> tuple[int, list[int], list[int], list[int], list[int], list[int]]:
    """(channel axis, kernel, stride, pad, dilation, end pad) per spatial axis, as BaseConvolutionLayer
    reads them; the end pad differs from the pad only on a causal convolution's time axis."""
    axis = canonical_axis(ctx, p.axis, ndim, "convolution_param.axis")
    n = ndim - axis - 1
    if n < 1:
        raise ctx.error(
            "NS0303", f"a {ndim}-D input has no spatial axis after channel axis {axis}", ("bottom", 0)
        )

    def read(name: str, h: str, w: str, default: int) -> list[int]:
        field = f"convolution_param.{name}"
        if p.HasField(h) or p.HasField(w):
            if n != 2:
                raise ctx.error(
                    "NS0304",
                    f"{h}/{w} describe 2-D windows, but the input has {n} spatial axes",
                    f"convolution_param.{h}",
                    help=f"use repeated {name} instead",
                )
            if getattr(p, name):
                raise ctx.error("NS0304", f"give either {name} or {h}/{w}, not both", field)
            return [getattr(p, h) if p.HasField(h) else default, getattr(p, w) if p.HasField(w) else default]
        values = list(getattr(p, name))
        if not values:
            return [default] * n
        if len(values) == 1:
            return values * n
        if len(values) != n:
            raise ctx.error(
                "NS0304",
                f"{name} has {len(values)} values but the input has {n} spatial axes",
                field,
                help=f"give one value, or {n}",
            )
        return values

    if not p.kernel_size and not (p.HasField("kernel_h") and p.HasField("kernel_w")):
        raise ctx.error(
            "NS0305",
            "the kernel size is not given",
            "convolution_param",
            help="set convolution_param { kernel_size: K } (or kernel_h and kernel_w)",
        )
    kernel = read("kernel_size", "kernel_h", "kernel_w", 0)
    stride = read("stride", "stride_h", "stride_w", 1)
    pad = read("pad", "pad_h", "pad_w", 0)
    dilation = list(p.dilation) or [1]
    if len(dilation) == 1:
        dilation = dilation * n
    for name, values, low in (("kernel_size", kernel, 1), ("stride", stride, 1), ("dilation", dilation, 1)):
        if any(v < low for v in values):
            raise ctx.error(
                "NS0306", f"{name} must be at least {low}, got {min(values)}", f"convolution_param.{name}"
            )
    end = list(pad)
    if p.causal:
        pad[-1], end[-1] = _causal_pad(ctx, p, kernel[-1], stride[-1], pad[-1], dilation[-1], n), 0
    return axis, kernel, stride, pad, dilation, end


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
            raise ctx.error(
                "NS0307",
                f"num_output {p.num_output} does not divide into group {group}",
                "convolution_param.num_output",
            )
        return p, shape, axis, kernel, stride, pad, dilation, channels, group, end

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p, shape, axis, kernel, stride, pad, dilation, _, _, end = self._geometry(ctx)
        extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        spatial = shape[axis + 1 :]
        if self.transposed:
            out = [s * (i - 1) + e - 2 * q for i, e, s, q in zip(spatial, extent, stride, pad)]
            if min(out) < 1:
                raise ctx.error("NS0301", f"output size {out} is not positive", "convolution_param")
        else:
            # A causal time axis counts its one-sided padding as input (stride 1: it always tiles).
            out = windows(
                ctx,
                [
                    Axis(i, e, s, q) if q == z else Axis(i + q + z, e, s, 0)
                    for i, e, s, q, z in zip(spatial, extent, stride, pad, end)
                ],
                pooling=False,
                field="convolution_param.kernel_size",
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
        p, _, _, kernel, stride, pad, dilation, _, group, end = self._geometry(ctx.shape_context)
        inputs = [ctx.inputs[0], ctx.const(ctx.blobs[0], "weights")]
        if p.bias_term:
            inputs.append(ctx.const(ctx.blobs[1].reshape(-1), "bias"))
        for x, y in zip(ctx.inputs, ctx.outputs):
            inputs[0] = x
            ctx.node(
                "ConvTranspose" if self.transposed else "Conv",
                list(inputs),
                [y],
                kernel_shape=kernel,
                strides=stride,
                pads=pad + end,
                dilations=dilation,
                group=group,
            )


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
