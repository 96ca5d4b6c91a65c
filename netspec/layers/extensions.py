"""netspec's own layer types: what BVLC Caffe cannot say, in a marked extension of the schema.

Each type's parameters live in netspec's field range of caffe.proto (10000–10999)
and docs/extensions.md documents them.  None has weights; each counts 0
multiply-adds (they move or compare values, as pooling does, and the zoo's
counts take convolutions and inner products only).

- Unpooling: SegNet's upsampling by the argmax mask of a MAX Pooling layer
  (Caffe-SegNet's "Upsample" layer under a name of netspec's own).
- Maxout: the max over groups of consecutive channels.
- Resize: nearest or bilinear resampling of the spatial axes.

The causal convolution lives with Convolution (conv.py) and L2 pooling with
Pooling (pool.py); their diagnostics share this module's codes, NS0390–NS0398.
"""

from __future__ import annotations

import numpy as np

from netspec.layers.base import LayerType, Shape, ShapeContext, Window, register
from netspec.proto import caffe_pb2

NEAREST, BILINEAR = caffe_pb2.ResizeParameter.NEAREST, caffe_pb2.ResizeParameter.BILINEAR


def _rank(ctx: ShapeContext, index: int, ranks: str, ok: bool, example: str) -> None:
    """NS0396 unless `ok`: bottom `index` has a rank this layer type cannot take."""
    if not ok:
        shape = ctx.bottoms[index]
        raise ctx.error(
            "NS0396",
            f"{ctx.layer.type} takes a {ranks} bottom {index}, got {len(shape)}-D "
            f"({'x'.join(map(str, shape))})",
            ("bottom", index),
            help=f"reshape it to {example} first",
        )


def _ratio(size: int, out: int) -> int | float:
    """out/size, as an int when it is one: a resampling's stride for the receptive field."""
    return out // size if out % size == 0 else out / size


def _reduce_max(ctx, x: str, axis: int, y: str) -> None:
    """ReduceMax over one axis, dropping it: axes is an input from opset 18, an attribute before."""
    if ctx.opset >= 18:
        ctx.node("ReduceMax", [x, ctx.ints([axis], "axes")], [y], keepdims=0)
    else:
        ctx.node("ReduceMax", [x], [y], axes=[axis], keepdims=0)


# ---------------------------------------------------------------------------------------------
# Unpooling


def _unpool_axis(size: int, out: int) -> tuple[int, int, int]:
    """MaxUnpool's (kernel, stride, end pad) whose default output size, (size − 1)·s + k − pad,
    is `out`: the pooling's own 2x2/2 shape where it fits (end pad below the kernel), else a
    stride of out // size with no pad.  They set the size only: the indices place the values."""
    stride = -(-out // size)
    if size * stride - out < stride:
        return stride, stride, size * stride - out
    stride = out // size
    return out - (size - 1) * stride, stride, 0


@register
class Unpooling(LayerType):
    """SegNet's max-unpooling: zeros, with each value written where its MAX pooling found the max.

    Bottoms: values (N, C, H, W), the Pooling's mask top (same shape; Caffe's plane index
    h·W' + w as a float), and optionally a blob whose spatial size is the output's (the
    pooling's input).  0 multiply-adds.
    """

    type = "Unpooling"
    param = "unpooling_param"
    bottoms = (2, 3)

    def out_size(self, ctx: ShapeContext) -> tuple[int, int]:
        values, mask = ctx.bottoms[0], ctx.bottoms[1]
        _rank(ctx, 0, "4-D (N, C, H, W)", len(values) == 4, "N x C x H x W")
        if mask != values:
            raise ctx.error(
                "NS0391",
                f"the mask is {'x'.join(map(str, mask))} but the values are "
                f"{'x'.join(map(str, values))}: each value needs its argmax",
                ("bottom", 1),
                help="bottom 1 must be the second top (the mask) of the MAX Pooling that produced "
                "a blob of the values' shape",
            )
        p = ctx.layer.param.unpooling_param
        has_h, has_w = p.HasField("out_h"), p.HasField("out_w")
        h, w = values[2], values[3]
        if len(ctx.bottoms) == 3:
            if has_h or has_w:
                raise ctx.error(
                    "NS0392",
                    "the output size is given twice: by bottom 2 and by out_h/out_w",
                    f"unpooling_param.{'out_h' if has_h else 'out_w'}",
                    help="keep one of them",
                )
            _rank(ctx, 2, "4-D (N, C, H, W)", len(ctx.bottoms[2]) == 4, "N x C x H x W")
            out, field = ctx.bottoms[2][2:], ("bottom", 2)
        elif has_h or has_w:
            if not (has_h and has_w):
                given, other = ("out_h", "out_w") if has_h else ("out_w", "out_h")
                raise ctx.error(
                    "NS0392",
                    f"{given} is given without {other}",
                    f"unpooling_param.{given}",
                    help=f"give {other} too",
                )
            out, field = (p.out_h, p.out_w), "unpooling_param.out_h"
        else:
            if p.scale < 1:
                raise ctx.error("NS0392", "scale must be at least 1, got 0", "unpooling_param.scale")
            out, field = (h * p.scale, w * p.scale), "unpooling_param.scale"
        if out[0] < h or out[1] < w:
            raise ctx.error(
                "NS0392",
                f"the output {out[0]}x{out[1]} is smaller than the {h}x{w} input: every input cell "
                "must have its own place to go back to",
                field,
                help="the output size is the size of the pooling's input",
            )
        return out[0], out[1]

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [(*ctx.bottoms[0][:2], *self.out_size(ctx))]

    def window(self, ctx: ShapeContext) -> list[Window]:
        """Each output cell comes from one input cell: the jump shrinks by out/in."""
        out = self.out_size(ctx)
        return [Window(1, _ratio(i, o), 0, True) for i, o in zip(ctx.bottoms[0][2:], out)]

    def lower(self, ctx) -> None:
        (_, c, h, w), (oh, ow) = ctx.in_shapes[0], self.out_size(ctx.shape_context)
        values, mask = ctx.inputs[0], ctx.inputs[1]
        # MaxUnpool indexes the flat N x C x H' x W' output, Caffe's mask one H' x W' plane: add plane
        # j's offset j·H'·W', with N read at run time so that any batch size works.
        planes = ctx.node("Div", [*ctx.node("Size", [values]), ctx.ints(h * w, "plane_in")])
        offsets = ctx.node("Range", [ctx.ints(0, "zero"), *planes, ctx.ints(1, "one")])
        offsets = ctx.node("Mul", [*offsets, ctx.ints(oh * ow, "plane_out")])
        offsets = ctx.node("Reshape", [*offsets, ctx.ints([-1, c, 1, 1], "planes")])
        indices = ctx.node("Add", [*ctx.node("Cast", [mask], to=np.int64), *offsets])
        axes = [_unpool_axis(h, oh), _unpool_axis(w, ow)]
        ctx.node(
            "MaxUnpool",
            [values, *indices],
            [ctx.outputs[0]],
            kernel_shape=[a[0] for a in axes],
            strides=[a[1] for a in axes],
            pads=[0, 0] + [a[2] for a in axes] if any(a[2] for a in axes) else None,
        )


# ---------------------------------------------------------------------------------------------
# Maxout


@register
class Maxout(LayerType):
    """Maxout (Goodfellow et al. 2013): output channel j is the max of input channels j·k to j·k + k − 1.

    Any rank from 2 (after an InnerProduct) up; the channel axis is 1.  0 multiply-adds.
    """

    type = "Maxout"
    param = "maxout_param"

    def group(self, ctx: ShapeContext) -> int:
        """k, the number of consecutive channels each output channel takes the max of."""
        shape = ctx.bottoms[0]
        _rank(ctx, 0, "2-D or higher (N, C, ...)", len(shape) >= 2, "N x C")
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

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        shape = ctx.bottoms[0]
        return [(shape[0], shape[1] // self.group(ctx), *shape[2:])]

    def lower(self, ctx) -> None:
        k = self.group(ctx.shape_context)
        shape = ctx.in_shapes[0]
        grouped = ctx.node("Reshape", [ctx.inputs[0], ctx.ints([0, shape[1] // k, k, *shape[2:]], "groups")])
        _reduce_max(ctx, grouped[0], 2, ctx.outputs[0])


# ---------------------------------------------------------------------------------------------
# Resize


@register
class Resize(LayerType):
    """Nearest or bilinear resampling of every axis after the channel axis.  0 multiply-adds.

    Output size per axis: a second bottom's, else out_h x out_w, else floor(size · scale).
    NEAREST: output o reads input floor(o · I / O).  BILINEAR (4-D): input position
    (o + ½)·I/O − ½, or o·(I − 1)/(O − 1) with align_corners, between its two neighbours,
    clamped at the edges.
    """

    type = "Resize"
    param = "resize_param"
    bottoms = (1, 2)

    def out_size(self, ctx: ShapeContext) -> list[int]:
        shape = ctx.bottoms[0]
        p = ctx.layer.param.resize_param
        _rank(ctx, 0, "3-D or higher (N, C, spatial...)", len(shape) >= 3, "N x C x H x W")
        if p.mode == BILINEAR:
            _rank(ctx, 0, "4-D (N, C, H, W) BILINEAR", len(shape) == 4, "N x C x H x W")
        elif p.align_corners:
            raise ctx.error(
                "NS0395",
                "align_corners applies to BILINEAR; NEAREST reads input floor(o · I / O)",
                "resize_param.align_corners",
                help="drop align_corners, or set mode: BILINEAR",
            )
        spatial = list(shape[2:])
        has_h, has_w = p.HasField("out_h"), p.HasField("out_w")
        ways = [
            way
            for way, given in (
                ("a second bottom", len(ctx.bottoms) == 2),
                ("out_h/out_w", has_h or has_w),
                ("scale", bool(p.scale)),
            )
            if given
        ]
        if len(ways) != 1:
            raise ctx.error(
                "NS0394",
                f"the output size is given {len(ways)} ways ({' and '.join(ways)})"
                if ways
                else "the output size is not given",
                "resize_param",
                help="give one: resize_param { scale: 2 }, out_h and out_w, or a second bottom "
                "of the output's size",
            )
        if len(ctx.bottoms) == 2:
            ref = ctx.bottoms[1]
            _rank(ctx, 1, f"{len(shape)}-D (as bottom 0)", len(ref) == len(shape), "bottom 0's rank")
            return list(ref[2:])
        if has_h or has_w:
            if len(spatial) != 2 or not (has_h and has_w):
                given = "out_h" if has_h else "out_w"
                raise ctx.error(
                    "NS0394",
                    f"out_h and out_w size the two axes of a 4-D input together; got {given} alone"
                    if len(spatial) == 2
                    else f"out_h/out_w size 4-D inputs; this one has {len(spatial)} spatial axes",
                    f"resize_param.{given}",
                    help="give both out_h and out_w" if len(spatial) == 2 else "use scale",
                )
            out = [p.out_h, p.out_w]
            field = "resize_param.out_h"
        else:
            scales = list(p.scale)
            if len(scales) not in (1, len(spatial)):
                raise ctx.error(
                    "NS0394",
                    f"scale has {len(scales)} values but the input has {len(spatial)} spatial axes",
                    "resize_param.scale",
                    help=f"give one value, or {len(spatial)}",
                )
            scales = scales * len(spatial) if len(scales) == 1 else scales
            if min(scales) <= 0:
                raise ctx.error(
                    "NS0394", f"scale must be positive, got {min(scales):g}", "resize_param.scale"
                )
            out = [int(np.floor(np.float64(i) * np.float64(np.float32(s)))) for i, s in zip(spatial, scales)]
            field = "resize_param.scale"
        if min(out) < 1:
            raise ctx.error(
                "NS0394",
                f"the output size {'x'.join(map(str, out))} of the {'x'.join(map(str, spatial))} input "
                "is empty",
                field,
                help="use a larger scale or output size",
            )
        return out

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [(*ctx.bottoms[0][:2], *self.out_size(ctx))]

    def window(self, ctx: ShapeContext) -> list[Window]:
        """NEAREST reads one input cell per output cell, BILINEAR two per axis: as a transposed
        window of stride O/I, kernels 1 and O/I + 1."""
        bilinear = ctx.layer.param.resize_param.mode == BILINEAR
        out = self.out_size(ctx)
        ratios = [_ratio(i, o) for i, o in zip(ctx.bottoms[0][2:], out)]
        return [Window(r + 1 if bilinear else 1, r, 0, True) for r in ratios]

    def lower(self, ctx) -> None:
        p = ctx.param.resize_param
        spatial = list(ctx.in_shapes[0][2:])
        out = self.out_size(ctx.shape_context)
        x, y = ctx.inputs[0], ctx.outputs[0]
        whole = all(o % i == 0 for i, o in zip(spatial, out))
        if p.mode == NEAREST and not whole:
            # ONNX Resize finds nearest cells as o / float32(O/I), which floors one cell short for
            # ratios such as 14 -> 2; exact positions are a Gather per axis that changes size.
            axes = [a for a, (i, o) in enumerate(zip(spatial, out)) if i != o]
            for n, a in enumerate(axes):
                index = ctx.ints([o * spatial[a] // out[a] for o in range(out[a])], f"index{a + 2}")
                x = ctx.node("Gather", [x, index], [y] if n == len(axes) - 1 else 1, axis=a + 2)[0]
            return
        attrs: dict = dict(
            mode="nearest" if p.mode == NEAREST else "linear",
            coordinate_transformation_mode="asymmetric"
            if p.mode == NEAREST
            else "align_corners"
            if p.align_corners
            else "half_pixel",
            nearest_mode="floor" if p.mode == NEAREST else None,
        )
        if whole:  # whole ratios are exact as float scales, and keep the batch size open
            scales = ctx.const([1.0, 1.0, *(o / i for i, o in zip(spatial, out))], "scales")
            ctx.node("Resize", [x, "", scales], [y], **attrs)
        elif ctx.opset >= 18:  # sizes of the spatial axes only
            axes = list(range(2, 2 + len(spatial)))
            ctx.node("Resize", [x, "", "", ctx.ints(out, "sizes")], [y], axes=axes, **attrs)
        else:  # before opset 18 sizes covers N and C too: take them from the input at run time
            nc = ctx.node("Slice", [*ctx.node("Shape", [x]), ctx.ints([0], "start"), ctx.ints([2], "end")])
            sizes = ctx.node("Concat", [*nc, ctx.ints(out, "sizes")], axis=0)
            ctx.node("Resize", [x, "", "", *sizes], [y], **attrs)
