"""Layers that move, copy, combine or reduce values without weights.

Concat, Slice, Split, Flatten, Reshape, Crop, Eltwise, Tile, Softmax, ArgMax,
Reduction and the SENet ports' Axpy (a·x + y), each with the shape rule of Caffe's Reshape() and a lowering
that keeps the batch axis free (0 or -1 in Reshape targets, no slicing of
axes a layer leaves alone).
"""

from __future__ import annotations

import itertools
from typing import ClassVar

from netspec.layers.base import (
    GLOBAL,
    DocRow,
    LayerType,
    Shape,
    ShapeContext,
    canonical_axis,
    count,
    register,
    shape_text,
)
from netspec.lazy import numpy as np
from netspec.proto import caffe_pb2

ELTWISE = caffe_pb2.EltwiseParameter
REDUCTION = caffe_pb2.ReductionParameter


def _bottom(ctx: ShapeContext, i: int) -> str:
    return f"bottom {i} '{ctx.layer.bottoms[i].name}'"


def _legacy_axis(ctx: ShapeContext, param: str, legacy: str) -> int:
    """The axis of Concat/Slice: `axis`, or the older unsigned alias (concat_dim, slice_dim)."""
    p = getattr(ctx.layer.param, param)
    ndim = len(ctx.bottoms[0])
    if p.HasField("axis") and p.HasField(legacy):
        raise ctx.error(
            "NS0350",
            f"give either axis or {legacy}, not both",
            f"{param}.{legacy}",
            help=f"{legacy} is the older name of axis; keep axis: {p.axis}",
        )
    if p.HasField(legacy):
        return canonical_axis(ctx, getattr(p, legacy), ndim, f"{param}.{legacy}")
    return canonical_axis(ctx, p.axis, ndim, f"{param}.axis")


def _not_in_place(ctx: ShapeContext) -> None:
    """Split, Flatten and Reshape refuse top == bottom in Caffe (CHECK_NE in their Reshape)."""
    bottom = ctx.layer.bottoms[0].name
    for i, top in enumerate(ctx.layer.param.top):
        if top == bottom:
            raise ctx.error(
                "NS0364",
                f"a {ctx.layer.type} layer cannot work in place (top '{top}' is its bottom)",
                ("top", i),
                help=f"give the top its own name, e.g. '{bottom}_{ctx.layer.type.lower()}'",
            )


def last_axis(ctx, x: str) -> str:
    """x with a new last axis (an Unsqueeze): a value per row becomes a column to broadcast."""
    return ctx.op("Unsqueeze", [x, ctx.ints([-1], "axis")])


def reshape_target(shape: Shape, lead: int, infer: int | None = None) -> list[int]:
    """An ONNX Reshape target for `shape` that copies (0) the first `lead` axes and infers (-1)
    axis `infer`, so the batch size is never written as a literal where it need not be."""
    return [0 if i < lead else -1 if i == infer else d for i, d in enumerate(shape)]


@register
class Concat(LayerType):
    type = "Concat"
    family = "structure"
    param = "concat_param"
    bottoms = (1, None)

    def setup(self, ctx: ShapeContext) -> int:
        return _legacy_axis(ctx, "concat_param", "concat_dim")

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        axis = ctx.config
        first = ctx.bottoms[0]
        for i, shape in enumerate(ctx.bottoms[1:], 1):
            if len(shape) != len(first):
                raise ctx.error(
                    "NS0351",
                    f"{_bottom(ctx, i)} is {len(shape)}-D ({shape_text(shape)}) but "
                    f"{_bottom(ctx, 0)} is {len(first)}-D ({shape_text(first)})",
                    ("bottom", i),
                    help="all bottoms of a Concat need the same number of axes",
                )
            bad = [j for j in range(len(first)) if j != axis and shape[j] != first[j]]
            if bad:
                raise ctx.error(
                    "NS0351",
                    f"{_bottom(ctx, i)} is {shape_text(shape)} but {_bottom(ctx, 0)} is {shape_text(first)}: "
                    f"all axes except concat axis {axis} must agree (axis {bad[0]}: "
                    f"{shape[bad[0]]} vs {first[bad[0]]})",
                    ("bottom", i),
                    help=f"concatenate along axis {bad[0]}, or crop or pad the bottoms to the same size"
                    if len(bad) == 1
                    else None,
                )
        top = list(first)
        top[axis] = sum(s[axis] for s in ctx.bottoms)
        return [tuple(top)]

    def lower(self, ctx) -> None:
        axis = ctx.config
        ctx.node("Concat", ctx.inputs, ctx.outputs, axis=axis)


@register
class Slice(LayerType):
    type = "Slice"
    family = "structure"
    param = "slice_param"
    tops = (1, None)

    def _sizes(self, ctx: ShapeContext) -> tuple[int, list[int]]:
        """(axis, the size of each top along it)."""
        axis = _legacy_axis(ctx, "slice_param", "slice_dim")
        points = list(ctx.layer.param.slice_param.slice_point)
        size = ctx.bottoms[0][axis]
        n = len(ctx.layer.tops)
        if not points:
            if size % n:
                raise ctx.error(
                    "NS0353",
                    f"axis {axis} of size {size} does not split evenly into {n} tops "
                    f"({size} % {n} = {size % n})",
                    "slice_param",
                    help="give slice_point values, or a number of tops that divides " + str(size),
                )
            return axis, [size // n] * n
        if len(points) != n - 1:
            raise ctx.error(
                "NS0352",
                f"{len(points)} slice points make {len(points) + 1} slices, but the layer has {n} tops",
                "slice_param.slice_point",
                help=f"give {n - 1} slice points for {n} tops",
            )
        previous = 0
        for i, point in enumerate(points):
            if point <= previous:
                raise ctx.error(
                    "NS0352",
                    f"slice points must increase: {point} follows {previous}",
                    ("slice_param", "slice_point", i),
                    help="slice points are positions along the axis, in increasing order",
                )
            if point >= size:
                raise ctx.error(
                    "NS0352",
                    f"slice point {point} is not inside axis {axis} of size {size}",
                    ("slice_param", "slice_point", i),
                    help=f"slice points must lie between 1 and {size - 1}",
                )
            previous = point
        edges = [0, *points, size]
        return axis, [b - a for a, b in itertools.pairwise(edges)]

    def setup(self, ctx: ShapeContext) -> tuple[int, list[int]]:
        return self._sizes(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        axis, sizes = ctx.config
        shape = ctx.bottoms[0]
        return [(*shape[:axis], s, *shape[axis + 1 :]) for s in sizes]

    def lower(self, ctx) -> None:
        axis, sizes = ctx.config
        ctx.node("Split", [ctx.inputs[0], ctx.ints(sizes, "split")], ctx.outputs, axis=axis)


@register
class Split(LayerType):
    """Copies of its bottom: at inference each top is the bottom's tensor itself, so no node."""

    type = "Split"
    family = "structure"
    tops = (1, None)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        _not_in_place(ctx)
        return [ctx.bottoms[0]] * len(ctx.layer.tops)

    def lower(self, ctx) -> None:
        for i in range(len(ctx.outputs)):
            ctx.alias(i, ctx.inputs[0])


@register
class Flatten(LayerType):
    type = "Flatten"
    family = "structure"
    param = "flatten_param"

    def _axes(self, ctx: ShapeContext) -> tuple[int, int]:
        p = ctx.layer.param.flatten_param
        ndim = len(ctx.bottoms[0])
        start = canonical_axis(ctx, p.axis, ndim, "flatten_param.axis")
        end = canonical_axis(ctx, p.end_axis, ndim, "flatten_param.end_axis")
        if end < start:
            raise ctx.error(
                "NS0354",
                f"end_axis {p.end_axis} (axis {end}) comes before axis {p.axis} "
                f"(axis {start}) of the {ndim}-D input",
                "flatten_param.end_axis",
                help="end_axis is the last axis folded in; it must not precede axis",
            )
        return start, end

    def setup(self, ctx: ShapeContext) -> tuple[int, int]:
        _not_in_place(ctx)
        return self._axes(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        start, end = ctx.config
        shape = ctx.bottoms[0]
        return [(*shape[:start], count(shape[start : end + 1]), *shape[end + 1 :])]

    def lower(self, ctx) -> None:
        start, end = ctx.config
        shape = ctx.in_shapes[0]
        if start == 1 and end == len(shape) - 1:  # ONNX Flatten makes (N, rest): exact only here
            ctx.node("Flatten", ctx.inputs, ctx.outputs, axis=1)
            return
        target = reshape_target(ctx.out_shapes[0], start, start)
        ctx.node("Reshape", [ctx.inputs[0], ctx.ints(target, "shape")], ctx.outputs)


@register
class Reshape(LayerType):
    type = "Reshape"
    family = "structure"
    param = "reshape_param"

    def _plan(self, ctx: ShapeContext) -> tuple[Shape, int, int | None]:
        """(top shape, first axis the spec rewrites, index of the inferred (-1) axis in the top)."""
        _not_in_place(ctx)
        p = ctx.layer.param.reshape_param
        shape = ctx.bottoms[0]
        ndim = len(shape)
        new = list(p.shape.dim)
        field = "reshape_param.shape.dim"
        inferred = [j for j, d in enumerate(new) if d == -1]
        if len(inferred) > 1:
            raise ctx.error(
                "NS0355",
                f"the new shape has {len(inferred)} dims of -1 "
                f"(dims {', '.join(map(str, inferred))}); at most one can be inferred",
                ("reshape_param", "shape", "dim", inferred[1]),
            )
        for j, d in enumerate(new):
            if d < -1:
                raise ctx.error(
                    "NS0355",
                    f"dim {j} is {d}; a dim is a size, 0 (copy the input's) or -1 (infer)",
                    ("reshape_param", "shape", "dim", j),
                )
        start = p.axis if p.axis >= 0 else ndim + p.axis + 1
        if not 0 <= start <= ndim:
            raise ctx.error(
                "NS0355",
                f"axis {p.axis} is out of range for a {ndim}-D input (valid: {-ndim - 1} to {ndim})",
                "reshape_param.axis",
            )
        if p.num_axes < -1:
            raise ctx.error(
                "NS0355",
                f"num_axes is {p.num_axes}; it must be at least 0, or -1 for all",
                "reshape_param.num_axes",
            )
        end = ndim if p.num_axes == -1 else start + p.num_axes
        if end > ndim:
            raise ctx.error(
                "NS0355",
                f"axis {start} + num_axes {p.num_axes} = {end} reaches past the {ndim} axes of the input",
                "reshape_param.num_axes",
            )
        for j, d in enumerate(new):
            if d == 0 and start + j >= ndim:
                raise ctx.error(
                    "NS0355",
                    f"dim {j} is 0 (copy), but the {ndim}-D input has no axis {start + j} to copy",
                    ("reshape_param", "shape", "dim", j),
                )
        middle = [shape[start + j] if d == 0 else d for j, d in enumerate(new)]
        top = [*shape[:start], *middle, *shape[end:]]
        total = count(shape)
        if inferred:
            known = count(d for j, d in enumerate(top) if j != start + inferred[0])
            if known == 0 or total % known:
                raise ctx.error(
                    "NS0356",
                    f"cannot infer dim {inferred[0]}: the input's {total} values "
                    f"({shape_text(shape)}) do not divide by the product {known} of the other dims",
                    ("reshape_param", "shape", "dim", inferred[0]),
                )
            top[start + inferred[0]] = total // known
        if count(top) != total:
            raise ctx.error(
                "NS0356",
                f"reshape of {shape_text(shape)} ({total} values) to {shape_text(tuple(top))} "
                f"({count(top)} values)",
                field if new else "reshape_param",
                help="a reshape keeps every value: use 0 to copy an input dim, -1 to infer one",
            )
        return tuple(top), start, start + inferred[0] if inferred else None

    def setup(self, ctx: ShapeContext) -> tuple[Shape, int, int | None]:
        return self._plan(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [ctx.config[0]]

    def lower(self, ctx) -> None:
        top, start, inferred = ctx.config
        p = ctx.param.reshape_param
        copy = [start + j for j, d in enumerate(p.shape.dim) if d == 0]
        target = reshape_target(top, start, inferred)
        for j in copy:  # Caffe's 0 sits at the index of the input axis it copies, as ONNX's does
            target[j] = 0
        ctx.node("Reshape", [ctx.inputs[0], ctx.ints(target, "shape")], ctx.outputs)


@register
class Crop(LayerType):
    type = "Crop"
    family = "structure"
    param = "crop_param"
    bottoms = (2, 2)

    def _offsets(self, ctx: ShapeContext) -> tuple[int, list[int]]:
        """(first cropped axis, the offset on each axis from it)."""
        p = ctx.layer.param.crop_param
        shape, like = ctx.bottoms
        ndim = len(shape)
        start = canonical_axis(ctx, p.axis, ndim, "crop_param.axis")
        n = ndim - start
        offsets = list(p.offset)
        if len(offsets) > 1 and len(offsets) != n:
            raise ctx.error(
                "NS0357",
                f"{len(offsets)} offsets for {n} cropped axes ({start} to {ndim - 1} of a {ndim}-D input)",
                "crop_param.offset",
                help=f"give one offset for all cropped axes, or {n}",
            )
        if len(like) < ndim:
            raise ctx.error(
                "NS0357",
                f"{_bottom(ctx, 1)} is {shape_text(like)}, {len(like)}-D, but the cropped "
                f"{_bottom(ctx, 0)} is {shape_text(shape)}, {ndim}-D",
                ("bottom", 1),
                help="the reference blob needs at least as many axes as the input",
            )
        if len(offsets) <= 1:
            offsets = (offsets or [0]) * n
        for i, offset in enumerate(offsets):
            axis = start + i
            if offset + like[axis] > shape[axis]:
                raise ctx.error(
                    "NS0358",
                    f"crop exceeds the input on axis {axis}: offset {offset} + target size "
                    f"{like[axis]} > input size {shape[axis]} ({_bottom(ctx, 0)} is {shape_text(shape)}, "
                    f"{_bottom(ctx, 1)} is {shape_text(like)})",
                    ("crop_param", "offset", i if len(p.offset) > 1 else 0) if p.offset else ("bottom", 1),
                    help=f"use an offset of at most {shape[axis] - like[axis]} on axis {axis}"
                    if like[axis] <= shape[axis]
                    else f"the target is larger than the input on axis {axis}: check the bottoms' order "
                    "(bottom 0 is cropped to bottom 1's shape) and crop_param.axis",
                )
        return start, offsets

    def setup(self, ctx: ShapeContext) -> tuple[int, list[int]]:
        return self._offsets(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        start, _ = ctx.config
        shape, like = ctx.bottoms
        return [shape[:start] + like[start : len(shape)]]

    def lower(self, ctx) -> None:
        start, offsets = ctx.config
        shape, top = ctx.in_shapes[0], ctx.out_shapes[0]
        # Slice only the axes the crop changes, so an uncropped batch axis stays free.
        axes = [start + i for i, o in enumerate(offsets) if o or top[start + i] != shape[start + i]]
        if not axes:
            ctx.alias(0, ctx.inputs[0])
            return
        begin = [offsets[a - start] for a in axes]
        ctx.node(
            "Slice",
            [
                ctx.inputs[0],
                ctx.ints(begin, "starts"),
                ctx.ints([b + top[a] for a, b in zip(axes, begin)], "ends"),
                ctx.ints(axes, "axes"),
            ],
            ctx.outputs,
        )


@register
class Eltwise(LayerType):
    type = "Eltwise"
    family = "structure"
    param = "eltwise_param"
    bottoms = (2, None)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.eltwise_param
        n = len(ctx.bottoms)
        op = ELTWISE.EltwiseOp.Name(p.operation)
        if p.coeff and p.operation == ELTWISE.PROD:
            raise ctx.error(
                "NS0360",
                "coeff applies to SUM only; a PROD Eltwise takes no coefficients",
                "eltwise_param.coeff",
                help="remove coeff, or use operation: SUM",
            )
        if p.coeff and len(p.coeff) != n:
            raise ctx.error(
                "NS0360",
                f"{len(p.coeff)} coeff values for {n} bottoms",
                "eltwise_param.coeff",
                help=f"give one coefficient per bottom ({n}), or none",
            )
        if p.coeff and p.operation == ELTWISE.MAX:
            ctx.warning(
                "NS0361",
                f"coeff is ignored by a {op} Eltwise",
                "eltwise_param.coeff",
                help="remove coeff, or use operation: SUM",
            )
        first = ctx.bottoms[0]
        for i, shape in enumerate(ctx.bottoms[1:], 1):
            if shape != first:
                raise ctx.error(
                    "NS0359",
                    f"{_bottom(ctx, i)} is {shape_text(shape)} but {_bottom(ctx, 0)} is "
                    f"{shape_text(first)}: {op} Eltwise needs equal shapes (it does not broadcast)",
                    ("bottom", i),
                )
        self._check_in_place(ctx, op)
        return [first]

    def _check_in_place(self, ctx: ShapeContext, op: str) -> None:
        """Caffe's Eltwise reads its bottoms while it writes its top: in place over bottom 0, a SUM
        zeroes that bottom first, and a bottom listed again after it is read already overwritten."""
        top, bottoms = ctx.layer.param.top[0], list(ctx.layer.param.bottom)
        again = [i for i, b in enumerate(bottoms) if b == top and i > 0]
        if again and op != "MAX":
            raise ctx.error(
                "NS0369",
                f"{_bottom(ctx, again[0])} is the top '{top}' of this in-place {op} Eltwise: Caffe reads "
                "it after it has started writing the top, and netspec does not reproduce that",
                ("bottom", again[0]),
                help="give the top its own name",
            )
        if bottoms[0] == top and op == "SUM":
            ctx.warning(
                "NS0368",
                f"this SUM Eltwise works in place over {_bottom(ctx, 0)}: Caffe zeroes its top before it "
                f"sums, so '{top}' drops out of the sum (netspec computes what Caffe computes)",
                ("top", 0),
                help="give the top its own name if the sum of every bottom was meant",
            )

    def lower(self, ctx) -> None:
        p = ctx.param.eltwise_param
        out = ctx.outputs[0]
        if p.operation == ELTWISE.MAX:
            ctx.node("Max", ctx.inputs, [out])
            return
        if p.operation == ELTWISE.PROD:
            _chain(ctx, "Mul", ctx.inputs, out)
            return
        coeff = list(p.coeff) or [1.0] * len(ctx.inputs)
        # In place over bottom 0, Caffe zeroes the top (that bottom) before summing: it drops out.
        lost = 1 if ctx.layer.param.top[0] == ctx.layer.param.bottom[0] else 0
        _weighted_sum(ctx, list(zip(ctx.inputs, coeff))[lost:], out)


def _weighted_sum(ctx, terms: list[tuple[str, float]], out: str) -> None:
    """Σ c·x into `out` with the fewest nodes: Add or Sum, Sub for a coefficient of -1, Mul for
    any other but 1."""
    plus = [(x, c) for x, c in terms if c != -1]
    minus = [x for x, c in terms if c == -1]
    if not plus:  # every coefficient is -1: scale the first term instead
        plus, minus = [(minus[0], -1.0)], minus[1:]
    alone = len(plus) == 1 and not minus
    xs = [
        x if c == 1 else ctx.op("Mul", [x, ctx.const(np.float32(c), "coeff")], out if alone else None)
        for x, c in plus
    ]
    if alone:
        if plus[0][1] == 1:  # in place over bottom 0 of two, with coeff 1: the top is bottom 1
            ctx.node("Identity", xs, [out])
        return
    if len(xs) > 1:
        xs = ctx.node("Sum" if len(xs) > 2 else "Add", xs, 1 if minus else [out])
    if minus:
        _chain(ctx, "Sub", [xs[0], *minus], out)


def _chain(ctx, op: str, inputs: list[str], out: str) -> None:
    """Fold a binary op over `inputs` left to right; the last node writes `out`."""
    acc = inputs[0]
    for i, x in enumerate(inputs[1:], 2):
        acc = ctx.op(op, [acc, x], out if i == len(inputs) else None)


@register
class Tile(LayerType):
    type = "Tile"
    family = "structure"
    param = "tile_param"

    def _axis(self, ctx: ShapeContext) -> tuple[int, int]:
        p = ctx.layer.param.tile_param
        axis = canonical_axis(ctx, p.axis, len(ctx.bottoms[0]), "tile_param.axis")
        if not p.HasField("tiles"):
            raise ctx.error(
                "NS0362", "the number of tiles is not given", "tile_param", help="set tile_param { tiles: N }"
            )
        if p.tiles < 1:
            raise ctx.error("NS0362", f"tiles must be positive, got {p.tiles}", "tile_param.tiles")
        return axis, p.tiles

    def setup(self, ctx: ShapeContext) -> tuple[int, int]:
        return self._axis(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        axis, tiles = ctx.config
        shape = ctx.bottoms[0]
        return [(*shape[:axis], shape[axis] * tiles, *shape[axis + 1 :])]

    def lower(self, ctx) -> None:
        axis, tiles = ctx.config
        repeats = [tiles if i == axis else 1 for i in range(len(ctx.in_shapes[0]))]
        ctx.node("Tile", [ctx.inputs[0], ctx.ints(repeats, "repeats")], ctx.outputs)


@register
class Softmax(LayerType):
    """Normalises over one axis only (channels, by default, even on a 4-D blob)."""

    type = "Softmax"
    family = "structure"
    param = "softmax_param"

    def _axis(self, ctx: ShapeContext) -> int:
        p = ctx.layer.param.softmax_param
        return canonical_axis(ctx, p.axis, len(ctx.bottoms[0]), "softmax_param.axis")

    def setup(self, ctx: ShapeContext) -> int:
        return self._axis(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        axis = ctx.config
        shape = ctx.bottoms[0]
        if shape[axis] == 1:
            ctx.warning(
                "NS0367",
                f"softmax over axis {axis} of size 1 is 1 everywhere (the input is {shape_text(shape)})",
                "softmax_param.axis",
                help="normalise over an axis with more than one value, or use a Sigmoid",
            )
        return [shape]

    def lower(self, ctx) -> None:
        # From opset 13, ONNX Softmax normalises over `axis` alone, as Caffe does.
        ctx.node("Softmax", ctx.inputs, ctx.outputs, axis=ctx.config)


@register
class ArgMax(LayerType):
    """Caffe's ArgMax: along `axis` (indices, or values with out_max_val), or, without an axis,
    over each sample flattened, giving (N, 1, top_k) indices or (N, 2, top_k) indices then values,
    padded with 1s to at least 3 axes."""

    type = "ArgMax"
    family = "structure"
    param = "argmax_param"

    def _axis(self, ctx: ShapeContext) -> int | None:
        p = ctx.layer.param.argmax_param
        shape = ctx.bottoms[0]
        axis = canonical_axis(ctx, p.axis, len(shape), "argmax_param.axis") if p.HasField("axis") else None
        where = f"along axis {axis}" if axis is not None else "per sample"
        size = shape[axis] if axis is not None else count(shape[1:])
        if p.top_k < 1:
            raise ctx.error("NS0363", "top_k must be at least 1", "argmax_param.top_k")
        if p.top_k > size:
            raise ctx.error(
                "NS0363",
                f"top_k {p.top_k} is more than the {size} values {where} (the input is {shape_text(shape)})",
                "argmax_param.top_k",
                help=f"use a top_k of at most {size}",
            )
        return axis

    def setup(self, ctx: ShapeContext) -> int | None:
        return self._axis(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.argmax_param
        axis = ctx.config
        shape = ctx.bottoms[0]
        if axis is not None:
            return [(*shape[:axis], p.top_k, *shape[axis + 1 :])]
        top = [1] * max(len(shape), 3)
        top[0], top[1], top[2] = shape[0], 2 if p.out_max_val else 1, p.top_k
        return [tuple(top)]

    def window(self, ctx: ShapeContext) -> str | None:
        return None if ctx.config is not None else GLOBAL

    def lower(self, ctx) -> None:
        p = ctx.param.argmax_param
        axis = ctx.config
        x, out, k = ctx.inputs[0], ctx.outputs[0], p.top_k
        if axis is not None:
            size = ctx.in_shapes[0][axis]  # with an axis, the top is the values or the indices
            _top_k(
                ctx,
                x,
                axis,
                k,
                size,
                index=None if p.out_max_val else out,
                values=out if p.out_max_val else None,
            )
            return
        if len(ctx.in_shapes[0]) != 2:
            x = ctx.op("Flatten", [x], axis=1)
        size = count(ctx.in_shapes[0][1:])
        index, values = _top_k(ctx, x, 1, k, size, index=1, values=1 if p.out_max_val else None)
        if values is not None:  # Caffe lays out, per sample, top_k indices then top_k values
            index = ctx.op("Concat", [index, values], axis=1)
        target = reshape_target(ctx.out_shapes[0], 1)
        ctx.node("Reshape", [index, ctx.ints(target, "shape")], [out])


def _top_k(
    ctx, x: str, axis: int, k: int, size: int, *, index: str | int | None, values: str | int | None
) -> tuple[str | None, str | None]:
    """The k largest of the `size` values along `axis` (kept): indices as float, and values, each
    written to the name given, to a fresh name for 1, or not at all for None.

    Among equal values Caffe's partial_sort of (value, index) pairs puts the last index first.
    ArgMax does so with select_last_index; TopK puts the first first, so for indices it reads
    the axis reversed and maps each index i back to size - 1 - i.
    """

    def names(out: str | int) -> list[str] | int:
        return [out] if isinstance(out, str) else out

    if k == 1:
        if index is not None:
            raw = ctx.node("ArgMax", [x], axis=axis, keepdims=1, select_last_index=1)
            index = ctx.node("Cast", raw, names(index), to=np.float32)[0]
        if values is not None:
            values = ctx.reduce("ReduceMax", x, [axis], names(values), keepdims=1)[0]
        return index, values
    if index is not None:
        starts, ends = ctx.ints([-1], "starts"), ctx.ints([np.iinfo(np.int64).min], "ends")
        x = ctx.op("Slice", [x, starts, ends, ctx.ints([axis], "axes"), ctx.ints([-1], "steps")])
    values_name = values if isinstance(values, str) else ctx.tmp("values")
    top_values, raw = ctx.node(
        "TopK", [x, ctx.ints([k], "k")], [values_name, ctx.tmp("indices")], axis=axis, largest=1, sorted=1
    )
    if index is not None:
        raw = ctx.op("Sub", [ctx.ints(size - 1, "last"), raw])
        index = ctx.node("Cast", [raw], names(index), to=np.float32)[0]
    return index, top_values if values is not None else None


@register
class Reduction(LayerType):
    """SUM, ASUM, SUMSQ or MEAN over every axis from `axis` on, times coeff; the top keeps shape[:axis]."""

    type = "Reduction"
    family = "structure"
    param = "reduction_param"

    OPS: ClassVar[dict[int, str]] = {
        REDUCTION.SUM: "ReduceSum",
        REDUCTION.ASUM: "ReduceL1",
        REDUCTION.SUMSQ: "ReduceSumSquare",
        REDUCTION.MEAN: "ReduceMean",
    }

    def _axis(self, ctx: ShapeContext) -> int:
        return canonical_axis(
            ctx, ctx.layer.param.reduction_param.axis, len(ctx.bottoms[0]), "reduction_param.axis"
        )

    def setup(self, ctx: ShapeContext) -> int:
        return self._axis(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [ctx.bottoms[0][: ctx.config]]

    def window(self, ctx: ShapeContext) -> str:
        return GLOBAL

    def lower(self, ctx) -> None:
        p = ctx.param.reduction_param
        axis = ctx.config
        axes = list(range(axis, len(ctx.in_shapes[0])))
        if p.coeff == 1:
            ctx.reduce(self.OPS[p.operation], ctx.inputs[0], axes, ctx.outputs, keepdims=0)
            return
        total = ctx.reduce(self.OPS[p.operation], ctx.inputs[0], axes, keepdims=0)
        ctx.node("Mul", [total[0], ctx.const(np.float32(p.coeff), "coeff")], ctx.outputs)


@register
class Axpy(LayerType):
    """a · x + y (SENet's scaled residual): a (N, C, 1, 1), x and y (N, C, H, W)."""

    type = "Axpy"
    family = "structure"
    dialect = "forks"
    bottoms = (3, 3)
    doc_rows = (
        DocRow(
            fork="SENet ports",
            parameters="—",
            computes="a·x + y, a (N, C, 1, 1)",
            onnx="`Mul`, `Add`",
        ),
    )

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
        scaled = ctx.op("Mul", [ctx.inputs[0], ctx.inputs[1]])
        ctx.node("Add", [scaled, ctx.inputs[2]], [ctx.outputs[0]])
