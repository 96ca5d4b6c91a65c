"""Layers that resample the spatial axes (family "resize"):

- Resize (netspec's extension, docs/extensions.md): nearest or bilinear resampling.
- Interp (DeepLab v2, PSPNet): bilinear resize with the corners aligned, after cropping
  -pad_beg / -pad_end rows and columns.
- Unpooling (netspec's extension): SegNet's upsampling by the argmax mask of a MAX Pooling layer.
- Upsample: the YOLOv3 ports' nearest upsampling by `scale` (one bottom), or Caffe-SegNet's
  unpooling by a MAX pooling's mask (two bottoms).

None has weights or multiply-adds.  Diagnostics NS0325-NS0329, NS0390-NS0398.
"""

from __future__ import annotations

from netspec.layers.base import (
    DocRow,
    LayerType,
    Shape,
    ShapeContext,
    Window,
    bottom_rank,
    four_d,
    register,
    shape_text,
)
from netspec.lazy import numpy as np
from netspec.proto import caffe_pb2

NEAREST, BILINEAR = caffe_pb2.ResizeParameter.NEAREST, caffe_pb2.ResizeParameter.BILINEAR


def _ratio(size: int, out: int) -> int | float:
    """out/size, as an int when it is one: a resampling's stride for the receptive field."""
    return out // size if out % size == 0 else out / size


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
    family = "resize"
    dialect = "netspec"
    param = "unpooling_param"
    bottoms = (2, 3)

    def out_size(self, ctx: ShapeContext) -> tuple[int, int]:
        values, mask = ctx.bottoms[0], ctx.bottoms[1]
        bottom_rank(ctx, 0, "4-D (N, C, H, W)", len(values) == 4, "N x C x H x W")
        if mask != values:
            raise ctx.error(
                "NS0391",
                f"the mask is {shape_text(mask)} but the values are {shape_text(values)}: each value "
                "needs its argmax",
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
            bottom_rank(ctx, 2, "4-D (N, C, H, W)", len(ctx.bottoms[2]) == 4, "N x C x H x W")
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

    def setup(self, ctx: ShapeContext) -> tuple[int, int]:
        return self.out_size(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [(*ctx.bottoms[0][:2], *ctx.config)]

    def window(self, ctx: ShapeContext) -> list[Window]:
        """Each output cell comes from one input cell: the jump shrinks by out/in."""
        out = ctx.config
        return [Window(1, _ratio(i, o), 0, True) for i, o in zip(ctx.bottoms[0][2:], out)]

    def lower(self, ctx) -> None:
        (_, c, h, w), (oh, ow) = ctx.in_shapes[0], ctx.config
        values, mask = ctx.inputs[0], ctx.inputs[1]
        # MaxUnpool indexes the flat N x C x H' x W' output, Caffe's mask one H' x W' plane: add plane
        # j's offset j·H'·W', with N read at run time so that any batch size works.
        planes = ctx.node("Div", [ctx.op("Size", [values]), ctx.ints(h * w, "plane_in")])
        offsets = ctx.node("Range", [ctx.ints(0, "zero"), *planes, ctx.ints(1, "one")])
        offsets = ctx.node("Mul", [*offsets, ctx.ints(oh * ow, "plane_out")])
        offsets = ctx.node("Reshape", [*offsets, ctx.ints([-1, c, 1, 1], "planes")])
        indices = ctx.node("Add", [ctx.op("Cast", [mask], to=np.int64), *offsets])
        axes = [_unpool_axis(h, oh), _unpool_axis(w, ow)]
        ctx.node(
            "MaxUnpool",
            [values, *indices],
            [ctx.outputs[0]],
            kernel_shape=[a[0] for a in axes],
            strides=[a[1] for a in axes],
            pads=[0, 0] + [a[2] for a in axes] if any(a[2] for a in axes) else None,
        )


@register
class Resize(LayerType):
    """Nearest or bilinear resampling of every axis after the channel axis.  0 multiply-adds.

    Output size per axis: a second bottom's, else out_h x out_w, else floor(size · scale).
    NEAREST: output o reads input floor(o · I / O).  BILINEAR (4-D): input position
    (o + ½)·I/O − ½, or o·(I − 1)/(O − 1) with align_corners, between its two neighbours,
    clamped at the edges.
    """

    type = "Resize"
    family = "resize"
    dialect = "netspec"
    param = "resize_param"
    bottoms = (1, 2)

    def out_size(self, ctx: ShapeContext) -> list[int]:
        shape = ctx.bottoms[0]
        p = ctx.layer.param.resize_param
        bottom_rank(ctx, 0, "3-D or higher (N, C, spatial...)", len(shape) >= 3, "N x C x H x W")
        if p.mode == BILINEAR:
            bottom_rank(ctx, 0, "4-D (N, C, H, W) BILINEAR", len(shape) == 4, "N x C x H x W")
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
            bottom_rank(ctx, 1, f"{len(shape)}-D (as bottom 0)", len(ref) == len(shape), "bottom 0's rank")
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
                f"the output size {shape_text(out)} of the {shape_text(spatial)} input is empty",
                field,
                help="use a larger scale or output size",
            )
        return out

    def setup(self, ctx: ShapeContext) -> list[int]:
        return self.out_size(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [(*ctx.bottoms[0][:2], *ctx.config)]

    def window(self, ctx: ShapeContext) -> list[Window]:
        """NEAREST reads one input cell per output cell, BILINEAR two per axis: as a transposed
        window of stride O/I, kernels 1 and O/I + 1."""
        bilinear = ctx.layer.param.resize_param.mode == BILINEAR
        out = ctx.config
        ratios = [_ratio(i, o) for i, o in zip(ctx.bottoms[0][2:], out)]
        return [Window(r + 1 if bilinear else 1, r, 0, True) for r in ratios]

    def lower(self, ctx) -> None:
        p = ctx.param.resize_param
        spatial = list(ctx.in_shapes[0][2:])
        out = ctx.config
        x, y = ctx.inputs[0], ctx.outputs[0]
        whole = all(o % i == 0 for i, o in zip(spatial, out))
        if p.mode == NEAREST and not whole:
            # ONNX Resize finds nearest cells as o / float32(O/I), which floors one cell short for
            # ratios such as 14 -> 2; exact positions are a Gather per axis that changes size.
            axes = [a for a, (i, o) in enumerate(zip(spatial, out)) if i != o]
            for n, a in enumerate(axes):
                index = ctx.ints([o * spatial[a] // out[a] for o in range(out[a])], f"index{a + 2}")
                x = ctx.op("Gather", [x, index], y if n == len(axes) - 1 else None, axis=a + 2)
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
        else:
            ctx.resize(x, y, out, **attrs)


@register
class Interp(LayerType):
    """DeepLab's bilinear interpolation with aligned corners: output o reads input position
    o·(I − 1)/(O − 1) of the input cropped by −pad_beg before and −pad_end after.

    Output size (InterpLayer::Reshape), with I = size + pad_beg + pad_end: zoom_factor z gives
    I + (I − 1)(z − 1); shrink_factor s gives (I − 1)/s + 1; both shrink, then zoom; else
    height × width.
    """

    type = "Interp"
    family = "resize"
    dialect = "forks"
    param = "interp_param"
    doc_rows = (
        DocRow(
            fork="DeepLab v2, PSPNet",
            parameters=(
                "`interp_param`: `zoom_factor`, `shrink_factor`, `height`, `width`, `pad_beg`, "
                "`pad_end` (≤ 0: a crop)"
            ),
            computes=(
                "bilinear, corners aligned: output o reads position o·(I − 1)/(O − 1) of the cropped input"
            ),
            onnx="`Slice` (crop), `Resize` linear + align_corners with `sizes`",
        ),
    )

    def geometry(self, ctx: ShapeContext) -> tuple[tuple[int, int], tuple[int, int]]:
        """((cropped H, W), (output H, W))."""
        shape = four_d(ctx, "NS0326")
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

    def setup(self, ctx: ShapeContext) -> tuple[tuple[int, int], tuple[int, int]]:
        return self.geometry(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [(*ctx.bottoms[0][:2], *ctx.config[1])]

    def window(self, ctx: ShapeContext) -> list[Window]:
        (ch, cw), (oh, ow) = ctx.config
        return [Window(2, (o - 1) / max(i - 1, 1) if o > 1 else 1, 0, True) for i, o in ((ch, oh), (cw, ow))]

    def lower(self, ctx) -> None:
        p = ctx.param.interp_param
        (ch, cw), out = ctx.config
        x = ctx.inputs[0]
        if p.pad_beg or p.pad_end:
            start = -p.pad_beg
            x = ctx.op(
                "Slice",
                [
                    x,
                    ctx.ints([start, start], "crop_start"),
                    ctx.ints([start + ch, start + cw], "crop_end"),
                    ctx.ints([2, 3], "hw"),
                ],
            )
        ctx.resize(x, ctx.outputs[0], out, mode="linear", coordinate_transformation_mode="align_corners")


@register
class Upsample(Unpooling):
    """The forks' Upsample.  One bottom (YOLOv3 ports): nearest upsampling, output cell
    (h, w) reads input (h // s, w // s), s = scale (default 1).  Two bottoms (Caffe-SegNet):
    values and a MAX pooling's mask, unpooled to upsample_h × upsample_w, else
    size · scale (default 2, or scale_h/scale_w) − 1 where pad_out_h/pad_out_w."""

    type = "Upsample"
    family = "resize"
    dialect = "forks"
    param = "upsample_param"
    bottoms = (1, 2)
    doc_rows = (
        DocRow(
            fork="YOLOv3 ports (one bottom)",
            parameters="`upsample_param.scale` (1)",
            computes="nearest: output (h, w) reads input (h // s, w // s)",
            onnx="`Resize` nearest, asymmetric, floor",
        ),
        DocRow(
            fork="Caffe-SegNet (values + mask)",
            parameters=(
                "`upsample_param`: `scale` (2), `scale_h`/`scale_w`, `pad_out_h`/`pad_out_w`, "
                "`upsample_h`/`upsample_w`"
            ),
            computes=(
                "zeros, each value written at its mask position (as netspec's `Unpooling`); "
                "output `upsample_h` × `upsample_w`, else size·scale − pad_out"
            ),
            onnx="`MaxUnpool`",
        ),
    )

    def out_size(self, ctx: ShapeContext) -> tuple[int, int]:
        p = ctx.layer.param.upsample_param
        values = four_d(ctx, "NS0327")
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
        out = ctx.config
        ctx.resize(
            ctx.inputs[0],
            ctx.outputs[0],
            out,
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
