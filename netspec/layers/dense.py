"""Dense layers: InnerProduct (a fully connected layer over the axes from `axis` on), SphereFace's
MarginInnerProduct and Embed."""

from __future__ import annotations

from netspec.layers.base import (
    GLOBAL,
    DocRow,
    LayerType,
    Shape,
    ShapeContext,
    WeightSpec,
    filler_of,
    inner_products,
    register,
    required_size,
)
from netspec.layers.loss import same_batch
from netspec.layers.structure import reshape_target
from netspec.lazy import numpy as np


def _product_macs(ctx: ShapeContext) -> int:
    _, m, k, n = ctx.config
    return m * k * n


@register
class InnerProduct(LayerType):
    """y = x·Wᵀ + b over the values from `axis` on: K = count(shape[axis:]) inputs, N outputs.
    W is (N, K), or (K, N) with transpose; the top is shape[:axis] + (N,)."""

    type = "InnerProduct"
    family = "dense"
    absorbs_affine = True
    param_share = "fc"
    param = "inner_product_param"

    def setup(self, ctx: ShapeContext) -> tuple[int, int, int, int]:
        return inner_products(ctx, "inner_product_param", "the number of outputs")

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        axis, _, _, n = ctx.config
        return [(*ctx.bottoms[0][:axis], n)]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        p = ctx.layer.param.inner_product_param
        _, _, k, n = ctx.config
        specs = [WeightSpec("weights", (k, n) if p.transpose else (n, k), filler_of(p, "weight_filler"))]
        if p.bias_term:
            specs.append(WeightSpec("bias", (n,), filler_of(p, "bias_filler")))
        return specs

    def macs(self, ctx: ShapeContext, tops: list[Shape]) -> int:
        return _product_macs(ctx)

    def window(self, ctx: ShapeContext) -> str:
        return GLOBAL

    def lower(self, ctx) -> None:
        p = ctx.param.inner_product_param
        axis, _, _, _ = ctx.config
        x, shape = ctx.inputs[0], ctx.in_shapes[0]
        weights = ctx.blobs[0]
        bias = [ctx.const(ctx.blobs[1].reshape(-1), "bias")] if p.bias_term else []
        if axis == 1:  # (N, K) x (K, outputs): Gemm, with the weights kept in Caffe's layout
            if len(shape) != 2:
                x = ctx.op("Flatten", [x], axis=1)
            matrix = ctx.const(weights, "weights")
            ctx.node("Gemm", [x, matrix, *bias], ctx.outputs, transB=0 if p.transpose else 1)
            return
        # Any other axis: fold the axes from `axis` on into one, then MatMul (+ Add) on the last axis.
        if axis != len(shape) - 1:
            target = reshape_target((*shape[:axis], -1), axis, axis)
            x = ctx.op("Reshape", [x, ctx.ints(target, "shape")])
        matrix = ctx.const(weights if p.transpose else weights.T, "weights")
        if not bias:
            ctx.node("MatMul", [x, matrix], ctx.outputs)
            return
        product = ctx.op("MatMul", [x, matrix])
        ctx.node("Add", [product, *bias], ctx.outputs)


@register
class MarginInnerProduct(LayerType):
    """SphereFace's A-Softmax inner product (margin_inner_product_layer.cpp): bottoms the features
    and one label per item; top 0 is shape[:axis] + (num_output,) as InnerProduct's, the optional
    top 1 the margin's annealing weight lambda, (1,). Its forward reads the labels whatever the
    phase, so it is training-only: deploy nets end at the features."""

    type = "MarginInnerProduct"
    family = "dense"
    dialect = "forks"
    param = "margin_inner_product_param"
    bottoms = (2, 2)
    tops = (1, 2)
    deploy = False
    param_share = "fc"
    doc_rows = (
        DocRow(
            fork="SphereFace",
            parameters=(
                "`margin_inner_product_param`: `num_output` (required), `type` (SINGLE; DOUBLE, TRIPLE,"
                " QUADRUPLE: the margin m), `weight_filler`, `axis` (1), `base`, `gamma`, `power`, "
                "`iteration`, `lambda_min`"
            ),
            shapes=(
                "bottoms the features and the labels (one per item); top shape[:axis] + (num_output,),"
                " the optional second top lambda (1,); weights (num_output, K), no bias"
            ),
        ),
    )

    def setup(self, ctx: ShapeContext) -> tuple[int, int, int, int]:
        same_batch(ctx, 0, 1)
        return inner_products(ctx, "margin_inner_product_param", "the number of classes")

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        axis, _, _, n = ctx.config
        return [(*ctx.bottoms[0][:axis], n), (1,)][: len(ctx.layer.tops)]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        _, _, k, n = ctx.config
        p = ctx.layer.param.margin_inner_product_param
        return [WeightSpec("weights", (n, k), filler_of(p, "weight_filler"))]

    def macs(self, ctx: ShapeContext, tops: list[Shape]) -> int:
        return _product_macs(ctx)


@register
class Embed(LayerType):
    """A lookup table: each input value is an index into input_dim rows of num_output values."""

    type = "Embed"
    family = "dense"
    param = "embed_param"

    def _sizes(self, ctx: ShapeContext) -> tuple[int, int]:
        p = ctx.layer.param.embed_param
        rows = "the number of rows, largest index + 1"
        k = required_size(ctx, p, "embed_param", "input_dim", rows, "NS0366")
        n = required_size(ctx, p, "embed_param", "num_output", "the length of each row", "NS0366")
        return k, n

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        _, n = self._sizes(ctx)
        return [(*ctx.bottoms[0], n)]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        p = ctx.layer.param.embed_param
        k, n = self._sizes(ctx)
        specs = [WeightSpec("weights", (k, n), filler_of(p, "weight_filler"))]
        if p.bias_term:
            specs.append(WeightSpec("bias", (n,), filler_of(p, "bias_filler")))
        return specs

    def index_bounds(self, ctx: ShapeContext) -> dict[int, int]:
        return {0: self._sizes(ctx)[0]}

    def lower(self, ctx) -> None:
        # Caffe reads each index as static_cast<int>(float): truncation, as Cast does.
        index = ctx.op("Cast", ctx.inputs, to=np.int64)
        table = ctx.const(ctx.blobs[0], "weights")
        if not ctx.param.embed_param.bias_term:
            ctx.node("Gather", [table, index], ctx.outputs, axis=0)
            return
        rows = ctx.op("Gather", [table, index], axis=0)
        ctx.node("Add", [rows, ctx.const(np.asarray(ctx.blobs[1]).reshape(-1), "bias")], ctx.outputs)
