"""Fold per-channel affine layers (BatchNorm, Scale, Bias) into the Convolution or InnerProduct before them.

At inference BatchNorm with stored statistics, a one-bottom Scale and a one-bottom Bias over
axis 1 are each y = a·x + b per channel.  When a convolution's (or inner product's) output
feeds only such a chain, the chain is one affine map, and it folds into the layer's weights:
W'[o] = a[o]·W[o], b' = a·b + shift (a bias is created when the layer has none).  The folded
layers are then not lowered; the convolution writes their last output under its name.

Wiring in `lower.lower()`, at the top of its loop over the layers:

    plan = plan_folds(analysis, weights) if options.fold else FoldPlan()
    for info in analysis.layers:
        if info.layer.name in plan.skip: continue
        info, blobs = plan.rewrite(info, weights)  # then info.layer and blobs as before

The rewritten LayerInfo's layer is a copy of the convolution whose param has bias_term set
and whose single top is the chain's last blob, so its output takes that blob's name; its config
(what setup() read) is the original's, so lowering reads bias_term from the layer itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from netspec.diagnostics import Diagnostics
from netspec.infer import Analysis, LayerInfo
from netspec.ir import Blob, Layer
from netspec.layers.base import ShapeContext


@dataclass
class Fold:
    layer: Layer  # the convolution to lower instead: bias_term on, its top the chain's last blob
    blobs: list[np.ndarray]  # its folded weights and bias, float32
    absorbed: list[str]  # the folded layers, in order


@dataclass
class FoldPlan:
    folds: dict[str, Fold] = field(default_factory=dict)  # by convolution name
    skip: set[str] = field(default_factory=set)  # absorbed layer names, not to be lowered

    def rewrite(
        self, info: LayerInfo, weights: dict[str, list[np.ndarray]]
    ) -> tuple[LayerInfo, list[np.ndarray]]:
        """The LayerInfo and blobs to lower for `info`'s layer: the folded ones when it takes a fold."""
        fold = self.folds.get(info.layer.name)
        if fold is None:
            return info, weights.get(info.layer.name, [])
        return replace(info, layer=fold.layer), fold.blobs


def plan_folds(
    analysis: Analysis, weights: dict[str, list[np.ndarray]], kept: set[str] | frozenset[str] = frozenset()
) -> FoldPlan:
    """Every absorbs_affine layer (Convolution, InnerProduct, ...) whose sole consumer chain of layers
    with a channel_affine (BatchNorm, Scale, Bias) folds into it.
    A chain stops at a value in `kept` (blob keys the model outputs), which must not be folded away."""
    plan = FoldPlan()
    infos = {info.layer.name: info for info in analysis.layers}
    for info in analysis.layers:
        layer, kind = info.layer, info.kind
        if (
            kind is None
            or not kind.absorbs_affine
            or len(layer.bottoms) != 1
            or len(layer.tops) != 1
            or info.tops[0] is None
            or layer.name not in weights
        ):
            continue
        p = kind.params(layer)  # the message with bias_term and the channel axis
        # The output channels sit at `axis` (of the bottom): they must be axis 1, where BN and Scale act.
        if p.axis % len(analysis.shape(layer.bottoms[0])) != 1:
            continue
        a, b, blob, absorbed = None, None, layer.tops[0], []
        while blob.key not in kept and (affine := _next_affine(analysis, infos, blob, weights)) is not None:
            consumer, (a2, b2) = affine
            a, b = (a2, b2) if a is None else (a2 * a, a2 * b + b2)
            absorbed.append(consumer.name)
            blob = consumer.tops[0]
        if not absorbed:
            continue
        folded = _fold(layer, p, weights[layer.name], a, b)
        param = type(layer.param)()
        param.CopyFrom(layer.param)
        getattr(param, kind.param).bias_term = True
        plan.folds[layer.name] = Fold(replace(layer, param=param, tops=[blob]), folded, absorbed)
        plan.skip.update(absorbed)
    return plan


def _next_affine(
    analysis: Analysis, infos: dict[str, LayerInfo], blob: Blob, weights: dict
) -> tuple[Layer, tuple] | None:
    """The sole consumer of `blob` and its per-channel (a, b), when it is a foldable affine layer."""
    if len(blob.consumers) != 1:
        return None
    consumer = blob.consumers[0]
    info = infos[consumer.name]
    kind = info.kind
    if kind is None or len(consumer.tops) != 1 or consumer.name not in weights or info.tops[0] is None:
        return None
    ctx = ShapeContext(
        consumer,
        [analysis.shape(b) for b in consumer.bottoms],
        Diagnostics(),
        analysis.net.source_map,
        config=info.config,
    )
    affine = kind.channel_affine(ctx, weights[consumer.name])
    return None if affine is None else (consumer, affine)


def _fold(layer: Layer, p, blobs: list[np.ndarray], a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """The layer's weights and bias with y = a·(W·x + bias) + b folded in.

    The factors are computed in float64 and the weights scaled in float32 (within 1.1e-7
    relative of a float64 product): the weights are most of a model's bytes, and this is
    the costliest step of compiling one."""
    w = np.asarray(blobs[0], np.float32)
    out_axis = 1 if "transpose" in p.DESCRIPTOR.fields_by_name and p.transpose else 0  # InnerProduct's
    shape = [1] * w.ndim
    shape[out_axis] = -1
    bias = np.asarray(blobs[1], np.float64).reshape(-1) if p.bias_term else np.zeros(a.size)
    return [w * a.astype(np.float32).reshape(shape), (a * bias + b).astype(np.float32)]
