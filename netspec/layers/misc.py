"""Parameter, BatchReindex and Filter: BVLC Caffe's remaining layer types (family "structure").

Parameter is a learnable blob standing alone as a top; BatchReindex gathers
items of the batch by index; Filter keeps the items its selector marks, so the size of its
output batch is known only at run time.
"""

from __future__ import annotations

from netspec.diagnostics import shape_text
from netspec.layers.base import LayerType, Shape, ShapeContext, WeightSpec, count, register
from netspec.layers.data import given_shape
from netspec.lazy import numpy as np


def _bottom(ctx: ShapeContext, i: int) -> str:
    return f"bottom {i} '{ctx.layer.bottoms[i].name}'"


@register
class Parameter(LayerType):
    """A learnable blob of parameter_param.shape, shared as the layer's top; lowered to an
    initializer the top stands for (no node computes it)."""

    type = "Parameter"
    family = "structure"
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
    family = "structure"
    bottoms = (2, 2)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        data, indices = ctx.bottoms
        if len(indices) != 1:
            raise ctx.error(
                "NS0315",
                f"the indices, {_bottom(ctx, 1)}, are {shape_text(indices)}, {len(indices)}-D; "
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
        index = ctx.op("Cast", [ctx.inputs[1]], to=np.int64)
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
    family = "structure"
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
                f"the selector, {_bottom(ctx, last)}, is {shape_text(selector)}; it needs one value per "
                "item: (N,) or (N, 1, ...)",
                ("bottom", last),
                help="the selector is the last bottom; check the bottoms' order" if selector else None,
            )
        for i, shape in enumerate(values):
            if not shape or shape[0] != selector[0]:
                raise ctx.error(
                    "NS0319",
                    f"{_bottom(ctx, i)} is {shape_text(shape)} but the selector, {_bottom(ctx, last)}, is "
                    f"{shape_text(selector)}: each filtered bottom needs the selector's {selector[0]} items "
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
            selector = ctx.op("Reshape", [selector, ctx.ints([-1], "shape")])
        keep = ctx.op("Cast", [selector], to=np.bool_)
        for x, y in zip(ctx.inputs, ctx.outputs):
            ctx.node("Compress", [x, keep], [y], axis=0)
