"""Im2col, Parameter, BatchReindex and Filter: BVLC Caffe's remaining layer types.

Im2col lays each window of a convolution out as channels; Parameter is a
learnable blob standing alone as a top; BatchReindex gathers items of the
batch by index; Filter keeps the items its selector marks, so the size of its
output batch is known only at run time.
"""

from __future__ import annotations

import numpy as np

from netspec.layers.arith import Axis, end_pads, windows
from netspec.layers.base import LayerType, Shape, ShapeContext, WeightSpec, Window, count, register
from netspec.layers.conv import conv_geometry
from netspec.layers.data import given_shape
from netspec.layers.structure import dims


def _bottom(ctx: ShapeContext, i: int) -> str:
    return f"bottom {i} '{ctx.layer.bottoms[i].name}'"


@register
class Im2col(LayerType):
    """Every kernel window of a convolution as a column: (N, C, H, W) becomes (N, C·kh·kw, H', W'),
    channel c·kh·kw + i·kw + j holding input channel c at kernel offset (i, j), as Caffe's
    im2col (2-D and N-D alike; force_nd_im2col changes Caffe's code path, not the values).

    Lowered to one grouped ONNX Conv (group = C) whose constant one-hot weight copies each
    input channel to its kh·kw output channels: every output is one input value times 1 plus
    zeros, so it is exact."""

    type = "Im2col"
    param = "convolution_param"

    def _geometry(self, ctx: ShapeContext):
        """(channel axis, kernel, stride, pad, dilation, end pad), read once per layer."""
        if "im2col" not in ctx.memo:
            ctx.memo["im2col"] = conv_geometry(ctx, ctx.layer.param.convolution_param, len(ctx.bottoms[0]))
        return ctx.memo["im2col"]

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        axis, kernel, stride, pad, dilation, end = self._geometry(ctx)
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
        _, kernel, stride, pad, dilation, _ = self._geometry(ctx)
        return [Window(d * (k - 1) + 1, s, q) for k, s, q, d in zip(kernel, stride, pad, dilation)]

    def lower(self, ctx) -> None:
        axis, kernel, stride, pad, dilation, end = self._geometry(ctx.shape_context)
        shape, top = ctx.in_shapes[0], ctx.out_shapes[0]
        channels, k = shape[axis], count(kernel)
        extent = [d * (t - 1) + 1 for t, d in zip(kernel, dilation)]
        end = end_pads(list(shape[axis + 1 :]), extent, stride, pad, end, top[axis + 1 :])
        # Output channel c·k + i (i: the kernel offset, row-major) reads input channel c at offset i.
        one_hot = np.eye(k, dtype=np.float32)[np.arange(channels * k) % k].reshape(channels * k, 1, *kernel)
        x, y = ctx.inputs[0], ctx.outputs[0]
        if axis != 1:  # ONNX Conv reads (batch, channels, spatial...): fold the leading axes into one
            x = ctx.node("Reshape", [x, ctx.ints([-1, *shape[axis:]], "shape")])[0]
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


@register
class Parameter(LayerType):
    """A learnable blob of parameter_param.shape, shared as the layer's top; lowered to an
    initializer the top stands for (no node computes it)."""

    type = "Parameter"
    param = "parameter_param"
    bottoms = (0, 0)

    def _shape(self, ctx: ShapeContext) -> Shape:
        dims = ctx.layer.param.parameter_param.shape.dim
        return given_shape(ctx, dims, ("parameter_param", "shape", "dim"), "the parameter")

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p, shape = ctx.layer.param, self._shape(ctx)
        if not p.parameter_param.HasField("shape"):
            ctx.warning(
                "NS0314",
                "parameter_param.shape is not given: Caffe makes the parameter a 0-D scalar",
                "parameter_param" if p.HasField("parameter_param") else "type",
                help="give parameter_param { shape { dim: ... } } (an empty shape { } for a scalar)",
            )
        return [shape]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        return [WeightSpec("value", self._shape(ctx))]

    def lower(self, ctx) -> None:
        ctx.alias(0, ctx.const(ctx.blobs[0], "value"))


@register
class BatchReindex(LayerType):
    """top[k] = data[int(indices[k])]: a (K,) float index blob picks K items of the batch (Caffe
    truncates each index toward zero, as Cast to int64 does)."""

    type = "BatchReindex"
    bottoms = (2, 2)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        data, indices = ctx.bottoms
        if len(indices) != 1:
            raise ctx.error(
                "NS0315",
                f"the indices, {_bottom(ctx, 1)}, are {dims(indices)}, {len(indices)}-D; "
                "BatchReindex takes one index per output item, a 1-D blob",
                ("bottom", 1),
                help=f"reshape the indices to ({count(indices)},)" if indices else None,
            )
        if not data:
            raise ctx.error(
                "NS0315", f"{_bottom(ctx, 0)} is a 0-D scalar; it has no batch to reindex", ("bottom", 0)
            )
        return [(indices[0], *data[1:])]

    def index_bounds(self, ctx: ShapeContext) -> dict[int, int]:
        return {1: ctx.bottoms[0][0]} if ctx.bottoms[0] else {}

    def lower(self, ctx) -> None:
        index = ctx.node("Cast", [ctx.inputs[1]], to=np.int64)[0]
        ctx.node("Gather", [ctx.inputs[0], index], ctx.outputs, axis=0)


@register
class Filter(LayerType):
    """Keeps the items of each value bottom whose selector (the last bottom, (N,) or (N, 1, ...))
    is nonzero, in order; one top per value bottom.

    How many items pass is known only from the selector's values.  The shape rule does what
    Caffe's own setup does (FilterLayer's first Reshape sizes the tops with all N items, and
    every layer below is set up with that): the tops keep the bottoms' shapes, so the checks
    below still run and every axis but the batch is exact, while the batch is an upper bound
    on the 0 to N items that pass.  NS0317 says so at every Filter.  The ONNX graph computes
    the true count (Compress); the shapes it declares below the Filter carry the upper bound.
    """

    type = "Filter"
    bottoms = (2, None)
    tops = (1, None)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        *values, selector = ctx.bottoms
        last, tops = len(values), len(ctx.layer.tops)
        if tops != len(values):
            raise ctx.error(
                "NS0318",
                f"{len(ctx.bottoms)} bottoms ({len(values)} to filter and the selector "
                f"'{ctx.layer.bottoms[last].name}') need {len(values)} tops, got {tops}",
                ("top", len(values) if tops > len(values) else tops - 1),
                help="a Filter has one top per bottom it filters; its last bottom is the selector",
            )
        if not selector or any(d != 1 for d in selector[1:]):
            raise ctx.error(
                "NS0316",
                f"the selector, {_bottom(ctx, last)}, is {dims(selector)}; it needs one value per item: "
                "(N,) or (N, 1, ...)",
                ("bottom", last),
                help="the selector is the last bottom; check the bottoms' order" if selector else None,
            )
        for i, shape in enumerate(values):
            if not shape or shape[0] != selector[0]:
                raise ctx.error(
                    "NS0319",
                    f"{_bottom(ctx, i)} is {dims(shape)} but the selector, {_bottom(ctx, last)}, is "
                    f"{dims(selector)}: each filtered bottom needs the selector's {selector[0]} items "
                    "on its first axis",
                    ("bottom", i),
                )
        ctx.warning(
            "NS0317",
            f"the batch below this layer depends on the data: its tops hold the items whose selector "
            f"'{ctx.layer.bottoms[last].name}' is nonzero, 0 to {selector[0]} at run time; netspec, as "
            f"Caffe's setup, checks the layers below with all {selector[0]}",
            ("bottom", last),
        )
        return list(values)

    def lower(self, ctx) -> None:
        selector = ctx.inputs[-1]
        if len(ctx.in_shapes[-1]) > 1:
            selector = ctx.node("Reshape", [selector, ctx.ints([-1], "shape")])[0]
        keep = ctx.node("Cast", [selector], to=np.bool_)[0]
        for x, y in zip(ctx.inputs, ctx.outputs):
            ctx.node("Compress", [x, keep], [y], axis=0)
