"""Small layer types several Caffe forks share, with the forks' fields (caffe.proto, "Fork
dialects"; docs/dialects.md):

- ReLU6 (MobileNet v2 ports): min(max(x, 0), 6).
- ShuffleChannel (ShuffleNet, farmingyard): the channels as a group × C/group matrix, transposed.
- Interp (DeepLab v2, PSPNet): bilinear resize with the corners aligned, after cropping
  -pad_beg / -pad_end rows and columns.
- ConvolutionDepthwise (MobileNet ports): a Convolution of each channel by its own filter.
- Upsample: the YOLOv3 ports' nearest upsampling by `scale` (one bottom), or Caffe-SegNet's
  unpooling by a MAX pooling's mask (two bottoms).
- Axpy (SENet ports): a · x + y with a of shape (N, C, 1, 1).
- BN (PSPNet, Caffe-SegNet): two forks' batch normalisations under one name, told apart by
  their bn_param fields.

Diagnostics NS0325–NS0329, NS0396, NS0398.  Only ConvolutionDepthwise and BN have weights; only
ConvolutionDepthwise counts multiply-adds.
"""

from __future__ import annotations

import numpy as np

from netspec.frontend.select import TEST
from netspec.layers.base import LayerType, Shape, ShapeContext, WeightSpec, Window, register, shape_text
from netspec.layers.conv import Convolution
from netspec.layers.extensions import Unpooling
from netspec.layers.structure import reduce_node
from netspec.proto import caffe_pb2


def _four_d(ctx: ShapeContext, code: str, index: int = 0) -> Shape:
    shape = ctx.bottoms[index]
    if len(shape) != 4:
        raise ctx.error(
            code,
            f"{ctx.layer.type} takes a 4-D (N, C, H, W) bottom {index}, got {shape_text(shape)}",
            ("bottom", index),
            help="reshape it to N x C x H x W first",
        )
    return shape


def resize(ctx, x: str, y: str, out: tuple[int, int], **attrs) -> None:
    """ONNX Resize of the two spatial axes of a 4-D x to exactly `out` (sizes, not scales, so no
    rounding can change the size); the batch stays open."""
    if ctx.opset >= 18:
        ctx.node("Resize", [x, "", "", ctx.ints(list(out), "sizes")], [y], axes=[2, 3], **attrs)
        return
    nc = ctx.node("Slice", [*ctx.node("Shape", [x]), ctx.ints([0], "start"), ctx.ints([2], "end")])
    sizes = ctx.node("Concat", [*nc, ctx.ints(list(out), "sizes")], axis=0)
    ctx.node("Resize", [x, "", "", *sizes], [y], **attrs)


@register
class ReLU6(LayerType):
    """min(max(x, 0), 6)."""

    type = "ReLU6"

    def lower(self, ctx) -> None:
        low, high = ctx.const(0.0, "min"), ctx.const(6.0, "max")
        ctx.node("Clip", [ctx.inputs[0], low, high], [ctx.outputs[0]])


@register
class ShuffleChannel(LayerType):
    """Output channel i·g + j is input channel j·(C/g) + i, for group g (ShuffleNet)."""

    type = "ShuffleChannel"
    param = "shuffle_channel_param"

    def group(self, ctx: ShapeContext) -> int:
        channels = _four_d(ctx, "NS0325")[1]
        group = ctx.layer.param.shuffle_channel_param.group
        if group < 1 or channels % group:
            fits = [d for d in range(1, channels + 1) if channels % d == 0][:8]
            raise ctx.error(
                "NS0325",
                f"{channels} channels do not divide into {group} groups",
                "shuffle_channel_param.group",
                help="use a group that divides the channels: " + ", ".join(map(str, fits)),
            )
        return group

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        self.group(ctx)
        return [ctx.bottoms[0]]

    def lower(self, ctx) -> None:
        g = self.group(ctx.shape_context)
        _, c, h, w = ctx.in_shapes[0]
        grid = ctx.node("Reshape", [ctx.inputs[0], ctx.ints([0, g, c // g, h * w], "groups")])[0]
        swapped = ctx.node("Transpose", [grid], perm=[0, 2, 1, 3])[0]
        ctx.node("Reshape", [swapped, ctx.ints([0, c, h, w], "shape")], [ctx.outputs[0]])


@register
class Interp(LayerType):
    """DeepLab's bilinear interpolation with aligned corners: output o reads input position
    o·(I − 1)/(O − 1) of the input cropped by −pad_beg before and −pad_end after.

    Output size (InterpLayer::Reshape), with I = size + pad_beg + pad_end: zoom_factor z gives
    I + (I − 1)(z − 1); shrink_factor s gives (I − 1)/s + 1; both shrink, then zoom; else
    height × width.
    """

    type = "Interp"
    param = "interp_param"

    def geometry(self, ctx: ShapeContext) -> tuple[tuple[int, int], tuple[int, int]]:
        """((cropped H, W), (output H, W))."""
        shape = _four_d(ctx, "NS0326")
        p = ctx.layer.param.interp_param
        for name in ("pad_beg", "pad_end"):
            if getattr(p, name) > 0:
                raise ctx.error(
                    "NS0326",
                    f"{name} must be 0 or negative (a crop), got {getattr(p, name)}",
                    f"interp_param.{name}",
                    help="the fork pads by cropping only (CHECK_LE 0)",
                )
        cropped = tuple(s + p.pad_beg + p.pad_end for s in shape[2:])
        if min(cropped) < 1:
            raise ctx.error(
                "NS0326",
                f"the crop leaves {cropped[0]}x{cropped[1]} of {shape[2]}x{shape[3]}",
                "interp_param.pad_beg",
            )
        zoom, shrink = p.HasField("zoom_factor"), p.HasField("shrink_factor")
        for name, given in (("zoom_factor", zoom), ("shrink_factor", shrink)):
            if given and getattr(p, name) < 1:
                raise ctx.error(
                    "NS0326", f"{name} must be at least 1, got {getattr(p, name)}", f"interp_param.{name}"
                )
        if zoom or shrink:
            out = cropped
            if shrink:
                out = tuple((s - 1) // p.shrink_factor + 1 for s in out)
            if zoom:
                out = tuple(s + (s - 1) * (p.zoom_factor - 1) for s in out)
        elif p.HasField("height") and p.HasField("width"):
            out = (p.height, p.width)
        else:
            given = "height" if p.HasField("height") else "width" if p.HasField("width") else None
            raise ctx.error(
                "NS0326",
                f"{given} is given without {'width' if given == 'height' else 'height'}"
                if given
                else "the output size is not given",
                f"interp_param.{given}" if given else ctx.block("interp_param"),
                help="give zoom_factor, shrink_factor (or both), or height and width",
            )
        if min(out) < 1:
            raise ctx.error("NS0326", f"the output would be {out[0]}x{out[1]}", ctx.block("interp_param"))
        return cropped, out

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [(*ctx.bottoms[0][:2], *self.geometry(ctx)[1])]

    def window(self, ctx: ShapeContext) -> list[Window]:
        (ch, cw), (oh, ow) = self.geometry(ctx)
        return [Window(2, (o - 1) / max(i - 1, 1) if o > 1 else 1, 0, True) for i, o in ((ch, oh), (cw, ow))]

    def lower(self, ctx) -> None:
        p = ctx.param.interp_param
        (ch, cw), out = self.geometry(ctx.shape_context)
        x = ctx.inputs[0]
        if p.pad_beg or p.pad_end:
            start = -p.pad_beg
            x = ctx.node(
                "Slice",
                [
                    x,
                    ctx.ints([start, start], "crop_start"),
                    ctx.ints([start + ch, start + cw], "crop_end"),
                    ctx.ints([2, 3], "hw"),
                ],
            )[0]
        resize(ctx, x, ctx.outputs[0], out, mode="linear", coordinate_transformation_mode="align_corners")


@register
class ConvolutionDepthwise(Convolution):
    """A Convolution with one filter per channel: convolution_param with group = channels, and
    num_output equal to the channels; weights (C, 1, kh, kw)."""

    type = "ConvolutionDepthwise"
    bottoms = (1, 1)
    tops = (1, 1)

    def _read_geometry(self, ctx: ShapeContext):
        p, shape, axis, kernel, stride, pad, dilation, channels, group, end = super()._read_geometry(ctx)
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
        return p, shape, axis, kernel, stride, pad, dilation, channels, channels, end


@register
class Upsample(Unpooling):
    """The forks' Upsample.  One bottom (YOLOv3 ports): nearest upsampling, output cell
    (h, w) reads input (h // s, w // s), s = scale (default 1).  Two bottoms (Caffe-SegNet):
    values and a MAX pooling's mask, unpooled to upsample_h × upsample_w, else
    size · scale (default 2, or scale_h/scale_w) − 1 where pad_out_h/pad_out_w."""

    type = "Upsample"
    param = "upsample_param"
    bottoms = (1, 2)

    def out_size(self, ctx: ShapeContext) -> tuple[int, int]:
        p = ctx.layer.param.upsample_param
        values = _four_d(ctx, "NS0327")
        if len(ctx.bottoms) == 1:
            extra = [
                f
                for f in ("scale_h", "scale_w", "upsample_h", "upsample_w", "pad_out_h", "pad_out_w")
                if p.HasField(f)
            ]
            if extra:
                raise ctx.error(
                    "NS0327",
                    f"{extra[0]} belongs to SegNet's Upsample, which takes the pooling mask as bottom 1",
                    f"upsample_param.{extra[0]}",
                    help="add the mask bottom, or give scale only",
                )
            scale = p.scale if p.HasField("scale") else 1
            if scale < 1:
                raise ctx.error("NS0327", "scale must be at least 1, got 0", "upsample_param.scale")
            return values[2] * scale, values[3] * scale
        if ctx.bottoms[1] != values:
            raise ctx.error(
                "NS0327",
                f"the mask is {shape_text(ctx.bottoms[1])} but the values are {shape_text(values)}",
                ("bottom", 1),
                help="bottom 1 is the mask top of the MAX Pooling whose output is bottom 0",
            )
        if p.HasField("upsample_h") or p.HasField("upsample_w"):
            if not (p.HasField("upsample_h") and p.HasField("upsample_w")):
                given = "upsample_h" if p.HasField("upsample_h") else "upsample_w"
                raise ctx.error(
                    "NS0327",
                    f"{given} is given alone",
                    f"upsample_param.{given}",
                    help="give upsample_h and upsample_w together",
                )
            out, field = (p.upsample_h, p.upsample_w), "upsample_param.upsample_h"
        else:
            if p.HasField("scale") and (p.HasField("scale_h") or p.HasField("scale_w")):
                raise ctx.error("NS0327", "scale and scale_h/scale_w are both given", "upsample_param.scale")
            default = p.scale if p.HasField("scale") else 2
            scales = (
                p.scale_h if p.HasField("scale_h") else default,
                p.scale_w if p.HasField("scale_w") else default,
            )
            if min(scales) < 1:
                raise ctx.error("NS0327", "a scale of 0", ctx.block("upsample_param"))
            out = (values[2] * scales[0] - p.pad_out_h, values[3] * scales[1] - p.pad_out_w)
            field = ctx.block("upsample_param")
        if out[0] < values[2] or out[1] < values[3]:
            raise ctx.error(
                "NS0327",
                f"the output {out[0]}x{out[1]} is smaller than the {values[2]}x{values[3]} input",
                field,
                help="the output size is the size of the pooling's input",
            )
        return out

    def lower(self, ctx) -> None:
        if len(ctx.inputs) == 2:
            super().lower(ctx)
            return
        out = self.out_size(ctx.shape_context)
        resize(
            ctx,
            ctx.inputs[0],
            ctx.outputs[0],
            out,
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )


@register
class Axpy(LayerType):
    """a · x + y (SENet's scaled residual): a (N, C, 1, 1), x and y (N, C, H, W)."""

    type = "Axpy"
    bottoms = (3, 3)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        a, x, y = ctx.bottoms
        if x != y:
            raise ctx.error(
                "NS0328",
                f"x is {shape_text(x)} but y is {shape_text(y)}",
                ("bottom", 2),
                help="bottoms 1 and 2 are added: give them one shape",
            )
        if len(a) != len(x) or a[:2] != x[:2] or any(d != 1 for d in a[2:]):
            raise ctx.error(
                "NS0328",
                f"the scale a is {shape_text(a)}; it must be {x[0]}x{x[1]}x1x1, one "
                "value per image and channel",
                ("bottom", 0),
                help="bottom 0 is the (N, C, 1, 1) excitation, e.g. a Sigmoid after the "
                "squeeze-and-excitation InnerProduct or 1x1 Convolution",
            )
        return [x]

    def lower(self, ctx) -> None:
        scaled = ctx.node("Mul", [ctx.inputs[0], ctx.inputs[1]])[0]
        ctx.node("Add", [scaled, ctx.inputs[2]], [ctx.outputs[0]])


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
    param = "bn_param"
    tops = (1, 3)

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

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        shape = _four_d(ctx, "NS0396")
        p = ctx.layer.param.bn_param
        if self.segnet(ctx) and p.bn_mode == BNMode.LEARN and ctx.options.get("phase", TEST) == TEST:
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
        if self.segnet(ctx):  # an absent filler is Caffe's default, constant 0
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
        if self.segnet(ctx.shape_context):
            self._lower_segnet(ctx)
            return
        slope, bias, mean, variance = (np.asarray(b, np.float32).reshape(1, -1, 1, 1) for b in ctx.blobs)
        inverse = (variance + np.float32(ctx.param.bn_param.eps)) ** np.float32(-0.5)
        centred = ctx.node("Sub", [ctx.inputs[0], ctx.const(mean, "mean")])[0]
        scaled = ctx.node("Mul", [centred, ctx.const(slope * inverse, "scale")])[0]
        ctx.node("Add", [scaled, ctx.const(bias, "bias")], [ctx.outputs[0]])

    def _lower_segnet(self, ctx) -> None:
        scale, shift = (
            ctx.const(np.asarray(b, np.float32).reshape(1, -1, 1, 1), name)
            for b, name in zip(ctx.blobs, ("scale", "shift"))
        )
        x, outputs = ctx.inputs[0], ctx.outputs
        if ctx.param.bn_param.bn_mode == BNMode.LEARN:  # BNLayer::Forward_cpu's LEARN branch
            axes = [0, 2, 3]
            mean = reduce_node(ctx, "ReduceMean", x, axes, outputs[1:2] or 1, keepdims=1)[0]
            squares = reduce_node(ctx, "ReduceMean", ctx.node("Mul", [x, x])[0], axes, keepdims=1)[0]
            variance = ctx.node("Sub", [squares, ctx.node("Mul", [mean, mean])[0]], outputs[2:3] or 1)[0]
            root = ctx.node("Sqrt", [ctx.node("Add", [variance, ctx.const(np.float32(1e-9), "eps")])[0]])[0]
            x = ctx.node("Div", [ctx.node("Sub", [x, mean])[0], root])[0]
        ctx.node("Add", [ctx.node("Mul", [x, scale])[0], shift], [outputs[0]])
