"""Layers that reorder values without changing them (family "layout"):

- Permute (SSD): a transpose of the axes; the axes not listed follow in order.
- Transpose (OCR forks): output axis i is input axis dim[i].
- Reverse (OCR forks): the order along one axis reversed (the time axis, for a backward LSTM).
- ReverseTime (caffe_ocr): each stream's time reversed over its own length (the lengths are bottom 1).
- ShuffleChannel (ShuffleNet): the channels as a group x C/group matrix, transposed.
- Reorg (YOLOv2 ports): darknet's reorg, space to depth by a stride (depth to space with `reverse`).
"""

from __future__ import annotations

from netspec.layers.activation import legacy_dim
from netspec.layers.base import (
    DocRow,
    LayerType,
    Shape,
    ShapeContext,
    four_d,
    register,
    shape_text,
)
from netspec.layers.structure import _not_in_place, last_axis
from netspec.lazy import numpy as np


@register
class ShuffleChannel(LayerType):
    """Output channel i·g + j is input channel j·(C/g) + i, for group g (ShuffleNet)."""

    type = "ShuffleChannel"
    family = "layout"
    dialect = "forks"
    param = "shuffle_channel_param"
    doc_rows = (
        DocRow(
            fork="ShuffleNet (farmingyard)",
            parameters="`shuffle_channel_param.group` (1)",
            computes="output channel i·g + j is input channel j·(C/g) + i",
            onnx="`Reshape` (N, g, C/g, H·W), `Transpose`, `Reshape`",
        ),
    )

    def group(self, ctx: ShapeContext) -> int:
        channels = four_d(ctx, "NS0325")[1]
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

    def setup(self, ctx: ShapeContext) -> int:
        return self.group(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [ctx.bottoms[0]]

    def lower(self, ctx) -> None:
        g = ctx.config
        _, c, h, w = ctx.in_shapes[0]
        grid = ctx.op("Reshape", [ctx.inputs[0], ctx.ints([0, g, c // g, h * w], "groups")])
        swapped = ctx.op("Transpose", [grid], perm=[0, 2, 1, 3])
        ctx.node("Reshape", [swapped, ctx.ints([0, c, h, w], "shape")], [ctx.outputs[0]])


@register
class Reorg(LayerType):
    """eric612/MobileNet-YOLO's Reorg (darknet's reorg_cpu).  Without `reverse` the output,
    read as (N, C, H, W), takes at (c, h, w) the input read as (N, C/s², H·s, W·s) at
    (c mod C/s², h·s + k div s, w·s + k mod s), k = c div (C/s²), and is shaped
    (N, C·s², H/s, W/s); `reverse` writes the input there instead: (N, C/s², H·s, W·s)."""

    type = "Reorg"
    family = "layout"
    dialect = "forks"
    param = "reorg_param"
    doc_rows = (
        DocRow(
            fork="YOLOv2 ports (eric612/MobileNet-YOLO)",
            parameters="`reorg_param.stride` (required), `reverse` (false)",
            computes="darknet's reorg: (N, C, H, W) to (N, C·s², H/s, W/s), or back with `reverse`",
            onnx="`Reshape` to 6-D, `Transpose`, `Reshape`",
        ),
    )

    def setup(self, ctx: ShapeContext) -> tuple[int, bool]:
        _not_in_place(ctx)
        _, c, h, w = four_d(ctx, "NS0612")
        p = ctx.layer.param.reorg_param
        s = p.stride
        if s < 1:
            raise ctx.error(
                "NS0612",
                "Reorg needs a stride of 1 or more" + ("" if p.HasField("stride") else " (none is given)"),
                "reorg_param.stride" if p.HasField("stride") else "type",
                help="set reorg_param { stride: 2 }, YOLOv2's",
            )
        if c % (s * s) or (not p.reverse and (h % s or w % s)):
            sides = "" if p.reverse else f" and {h} x {w} by {s}"
            raise ctx.error(
                "NS0612",
                f"Reorg by stride {s} regroups {c} channels by {s * s}{sides}: they do not divide, "
                "and the fork would read and write past its blobs",
                "reorg_param.stride",
                help="use a stride whose square divides the channels"
                + ("" if p.reverse else " and which divides the height and width"),
            )
        return s, p.reverse

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        s, reverse = ctx.config
        n, c, h, w = ctx.bottoms[0]
        if reverse:
            return [(n, c // (s * s), h * s, w * s)]
        return [(n, c * s * s, h // s, w // s)]

    def lower(self, ctx) -> None:
        s, reverse = ctx.config
        _, c, h, w = ctx.in_shapes[0]
        t = c // (s * s)
        if reverse:
            grid, perm, out = [0, s, s, t, h, w], [0, 3, 4, 1, 5, 2], [0, t, h * s, w * s]
        else:
            grid, perm, out = [0, t, h, s, w, s], [0, 3, 5, 1, 2, 4], [0, c * s * s, h // s, w // s]
        cells = ctx.op("Reshape", [ctx.inputs[0], ctx.ints(grid, "cells")])
        moved = ctx.op("Transpose", [cells], perm=perm)
        ctx.node("Reshape", [moved, ctx.ints(out, "shape")], [ctx.outputs[0]])


@register
class Permute(LayerType):
    """Output axis i is input axis order[i]; the axes order leaves out follow in their own order."""

    type = "Permute"
    family = "layout"
    dialect = "ssd"
    param = "permute_param"
    doc_rows = (
        DocRow(
            parameters="`permute_param.order`",
            computes="output axis i is input axis order[i]; axes not listed follow in order",
            onnx="`Transpose`",
        ),
    )

    def perm(self, ctx: ShapeContext) -> list[int]:
        rank = len(ctx.bottoms[0])
        order = list(ctx.layer.param.permute_param.order)
        for i, axis in enumerate(order):
            if axis >= rank or axis in order[:i]:
                raise ctx.error(
                    "NS0322",
                    f"order {axis} is out of range for a {rank}-D input (0 to {rank - 1})"
                    if axis >= rank
                    else f"order {axis} is given twice",
                    ("permute_param", "order", i),
                    help="list each axis once, e.g. order: 0 order: 2 order: 3 order: 1 "
                    "for N x C x H x W -> N x H x W x C",
                )
        return order + [a for a in range(rank) if a not in order]

    def setup(self, ctx: ShapeContext) -> list[int]:
        return self.perm(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        shape = ctx.bottoms[0]
        return [tuple(shape[a] for a in ctx.config)]

    def lower(self, ctx) -> None:
        ctx.node("Transpose", [ctx.inputs[0]], [ctx.outputs[0]], perm=ctx.config)


INT64_MIN = -(2**63)


@register
class Transpose(LayerType):
    """Output axis i is input axis dim[i] (TransposeLayer::permute); one dim per axis."""

    type = "Transpose"
    family = "layout"
    dialect = "ocr"
    param = "transpose_param"
    doc_rows = (
        DocRow(
            parameters="`transpose_param.dim`, one per axis",
            computes="output axis i is input axis dim[i]",
            onnx="`Transpose`",
        ),
    )

    def perm(self, ctx: ShapeContext) -> list[int]:
        _not_in_place(ctx)
        rank = len(ctx.bottoms[0])
        dims = list(ctx.layer.param.transpose_param.dim)
        if len(dims) != rank:
            raise ctx.error(
                "NS0602",
                f"{len(dims)} dims for a {rank}-D bottom ({shape_text(ctx.bottoms[0])}): "
                "the fork needs one per axis",
                ctx.block("transpose_param"),
                help="list every axis once, e.g. dim: 3 dim: 2 dim: 0 dim: 1 "
                "for N x C x H x W -> W x H x N x C",
            )
        for i, axis in enumerate(dims):
            if not 0 <= axis < rank or axis in dims[:i]:
                raise ctx.error(
                    "NS0602",
                    f"dim {axis} is given twice"
                    if axis in dims[:i]
                    else f"dim {axis} is out of range for a {rank}-D bottom (0 to {rank - 1})",
                    ("transpose_param", "dim", i),
                    help=f"dims are a permutation of 0 to {rank - 1}",
                )
        return dims

    def setup(self, ctx: ShapeContext) -> list[int]:
        return self.perm(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [tuple(ctx.bottoms[0][a] for a in ctx.config)]

    def lower(self, ctx) -> None:
        ctx.node("Transpose", [ctx.inputs[0]], [ctx.outputs[0]], perm=ctx.config)


@register
class Reverse(LayerType):
    """y[..., i, ...] = x[..., S − 1 − i, ...] along reverse_param.axis (ReverseLayer::Forward_cpu)."""

    type = "Reverse"
    family = "layout"
    dialect = "ocr"
    param = "reverse_param"
    doc_rows = (
        DocRow(
            parameters="`reverse_param.axis` (0)",
            computes="the order along `axis` reversed",
            onnx="`Slice` with step −1",
        ),
    )

    def axis(self, ctx: ShapeContext) -> int:
        _not_in_place(ctx)
        axis, rank = ctx.layer.param.reverse_param.axis, len(ctx.bottoms[0])
        if not 0 <= axis < rank:
            raise ctx.error(
                "NS0602",
                f"axis {axis} is {'negative' if axis < 0 else 'out of range'} for a {rank}-D bottom "
                f"(the fork takes 0 to {rank - 1})",
                "reverse_param.axis",
                help="axis 0 reverses the time of a (T, N, ...) sequence",
            )
        return axis

    def setup(self, ctx: ShapeContext) -> int:
        return self.axis(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [ctx.bottoms[0]]

    def lower(self, ctx) -> None:
        axis = ctx.config
        bounds = [ctx.ints([-1], "start"), ctx.ints([INT64_MIN], "end"), ctx.ints([axis], "axis")]
        ctx.node("Slice", [ctx.inputs[0], *bounds, ctx.ints([-1], "step")], [ctx.outputs[0]])


@register
class Flip(LayerType):
    """happynear/caffe-windows' FlipLayer: y[n, c, h, w] = x[n, c, H − 1 − h, W − 1 − w], each
    axis only where flip_height / flip_width say, through Caffe's legacy (N, C, H, W) accessors
    (a missing H or W is 1, so nothing to flip)."""

    type = "Flip"
    family = "layout"
    dialect = "forks"
    param = "flip_param"
    doc_rows = (
        DocRow(
            fork="NormFace, AM-Softmax (happynear/caffe-windows)",
            parameters="`flip_param`: `flip_width` (true), `flip_height` (false)",
            computes="the mirror image: W (and / or H) reversed, for test-time mirrored features",
            onnx="`Slice` with step −1 per flipped axis",
        ),
    )

    def setup(self, ctx: ShapeContext) -> list[int]:
        legacy_dim(ctx, 0, 0)  # at most 4 axes
        p, rank = ctx.layer.param.flip_param, len(ctx.bottoms[0])
        return [axis for axis, on in ((2, p.flip_height), (3, p.flip_width)) if on and axis < rank]

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [ctx.bottoms[0]]

    def lower(self, ctx) -> None:
        axes = ctx.config
        if not axes:
            ctx.node("Identity", [ctx.inputs[0]], [ctx.outputs[0]])
            return
        n = len(axes)
        bounds = [ctx.ints([-1] * n, "start"), ctx.ints([INT64_MIN] * n, "end"), ctx.ints(axes, "axes")]
        ctx.node("Slice", [ctx.inputs[0], *bounds, ctx.ints([-1] * n, "step")], [ctx.outputs[0]])


@register
class ReverseTime(LayerType):
    """ReverseTimeLayer: each stream n of x (T, N, ...) reversed over its own first L_n steps,
    y[t, n] = x[L_n − 1 − t, n] for t < L_n, L_n = the lengths bottom's n-th value truncated; the
    steps after it copied (copy_remaining) or left unwritten by the fork, which leaves the zeros a
    fresh blob holds on its first pass (netspec writes those zeros, NS0608)."""

    type = "ReverseTime"
    family = "layout"
    dialect = "ocr"
    param = "reverse_time_param"
    bottoms = (2, 2)
    doc_rows = (
        DocRow(
            parameters="`reverse_time_param.copy_remaining` (false)",
            computes=(
                "bottoms x (T, N, ...) and lengths (N); stream n's first L_n = ⌊lengths[n]⌋ steps"
                " reversed, y[t, n] = x[L_n − 1 − t, n]; the steps after copied with "
                "`copy_remaining`, else 0 (NS0608)"
            ),
            onnx=(
                "`Cast`, `Min`/`Max`, `Less`, `Sub`, `Where` (the source step), `GatherElements` "
                "along time, `Where`"
            ),
        ),
    )

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        _not_in_place(ctx)
        x, lengths = ctx.bottoms
        if len(x) < 2:
            raise ctx.error(
                "NS0607",
                f"x is {shape_text(x)}; ReverseTime reads (T, N, ...): time first, then the streams",
                ("bottom", 0),
                help="give x with its streams as axis 1, e.g. (T, 1, features) for one sequence",
            )
        if len(lengths) != 1 or lengths[0] != x[1]:
            raise ctx.error(
                "NS0607",
                f"the lengths are {shape_text(lengths)}; the fork wants one axis, one length per each of "
                f"x's {x[1]} streams (CHECK_EQ)",
                ("bottom", 1),
                help=f"give the sequence lengths as a 1-D blob of {x[1]}",
            )
        if not ctx.layer.param.reverse_time_param.copy_remaining:
            ctx.warning(
                "NS0608",
                "the steps after a stream's length are left unwritten by the fork (zeros on its first "
                "pass, the last pass's values after); netspec writes zeros there",
                ctx.block("reverse_time_param"),
                help="set reverse_time_param { copy_remaining: true } to copy them unreversed",
            )
        return [x]

    def index_bounds(self, ctx: ShapeContext) -> dict[int, int]:
        return {1: ctx.bottoms[0][0] + 1}  # lengths 0 to T

    def lower(self, ctx) -> None:
        steps, streams = ctx.in_shapes[0][:2]
        rows = ctx.op("Reshape", [ctx.inputs[0], ctx.ints([steps, streams, -1], "rows")])
        # L_n truncated as the fork's int does, kept to [0, T]: outside it the fork reads and writes
        # outside its blobs.
        length = ctx.op("Cast", [ctx.inputs[1]], to=np.int64)
        length = ctx.op("Min", [ctx.op("Max", [length, ctx.ints(0, "zero")]), ctx.ints(steps, "T")])
        time = ctx.ints(np.arange(steps)[:, None], "time")  # (T, 1) against (N,)
        inside = ctx.op("Less", [time, length])  # (T, N)
        mirrored = ctx.op("Sub", [ctx.op("Sub", [length, ctx.ints(1, "one")]), time])
        source = ctx.op("Where", [inside, mirrored, time])
        source = ctx.op("Expand", [last_axis(ctx, source), ctx.op("Shape", [rows])])
        moved = ctx.op("GatherElements", [rows, source], axis=0)
        if not ctx.param.reverse_time_param.copy_remaining:
            unwritten = ctx.const(np.float32(0), "unwritten")
            moved = ctx.op("Where", [last_axis(ctx, inside), moved, unwritten])
        ctx.node("Reshape", [moved, ctx.ints(ctx.in_shapes[0], "shape")], [ctx.outputs[0]])
