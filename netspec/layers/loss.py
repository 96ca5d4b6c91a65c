"""Losses (BVLC Caffe's, SSD's MultiBoxLoss, Fast R-CNN's SmoothL1Loss, R-FCN's hard example mining):
checked, never compiled.

Every type here is `deploy = False`: lowering leaves it out of the inference
graph (and says so).  Their shape rules still run, so a train_val net's label
plumbing is checked with Caffe's own conditions.  A loss top is a 0-D scalar,
as in Caffe; the spec may leave it out (Caffe's AutoTopBlobs adds it).
"""

from __future__ import annotations

from netspec.layers.activation import legacy_dim
from netspec.layers.base import (
    DocRow,
    LayerType,
    Shape,
    ShapeContext,
    WeightSpec,
    canonical_axis,
    count,
    filler_of,
    inner_products,
    register,
    shape_text,
)
from netspec.layers.detection import label_rows, num_classes, prior_heads
from netspec.proto import caffe_pb2


def _first(ctx: ShapeContext, index: int) -> int:
    shape = ctx.bottoms[index]
    if not shape:
        raise ctx.error(
            "NS0370",
            f"bottom {index} is a 0-D scalar; a {ctx.layer.type} layer reads its first axis (the batch)",
            ("bottom", index),
        )
    return shape[0]


def same_batch(ctx: ShapeContext, first: int, second: int) -> None:
    """Caffe's CHECK that two bottoms agree on their first axis (the batch)."""
    a, b = _first(ctx, first), _first(ctx, second)
    if a != b:
        raise ctx.error(
            "NS0380",
            f"bottom {first} {shape_text(ctx.bottoms[first])} has {a} items but bottom {second} "
            f"{shape_text(ctx.bottoms[second])} has {b}; the first dimensions must match",
            ("bottom", second),
        )


def labels_match(ctx: ShapeContext, axis_value: int, field: str) -> int:
    """Caffe's check that one label comes per prediction: for predictions (…, C, …) with the
    classes on `axis`, the label count must be the product of the other axes.  Returns the axis."""
    shape, labels = ctx.bottoms[0], ctx.bottoms[1]
    axis = canonical_axis(ctx, axis_value, len(shape), field)
    outer, inner = count(shape[:axis]), count(shape[axis + 1 :])
    if outer * inner != count(labels):
        raise ctx.error(
            "NS0381",
            f"{count(labels)} labels {shape_text(labels)} for predictions {shape_text(shape)} with "
            f"{shape[axis]} classes on axis {axis}: Caffe needs one label per prediction, "
            f"{outer}·{inner} = {outer * inner}",
            ("bottom", 1),
            help=f"give labels of shape {shape_text(shape[:axis] + shape[axis + 1 :])}, or pick the class "
            f"axis: {field}",
        )
    return axis


class LossLayer(LayerType):
    """Caffe's LossLayer: two bottoms that agree on the batch; a 0-D loss."""

    bottoms = (2, 2)
    tops = (0, 1)
    deploy = False
    extra_params = ("loss_param",)

    def check(self, ctx: ShapeContext) -> None:
        """The type's own conditions, after the shared batch check."""

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        tops, weights = max(len(ctx.layer.tops), 1), len(ctx.layer.param.loss_weight)
        if weights != tops and (weights or tops > 1):
            # Caffe gives a loss without loss_weight one weight, then wants one per top.
            raise ctx.error(
                "NS0378",
                f"{weights or 'no'} loss_weight{'s' * (weights != 1)} for {tops} tops: "
                "Caffe needs one loss_weight per top when a loss writes more than one",
                "loss_weight" if weights else ("top", tops - 1),
                help=f"give loss_weight {tops} times, e.g. loss_weight: 1 loss_weight: 0 to "
                "weigh only the loss",
            )
        same_batch(ctx, 0, 1)
        self.check(ctx)
        # A second top (SoftmaxWithLoss, InfogainLoss) holds the probabilities.
        return [(), ctx.bottoms[0]][: len(ctx.layer.tops)]


@register
class SoftmaxWithLoss(LossLayer):
    type = "SoftmaxWithLoss"
    family = "loss"
    param = "loss_param"
    extra_params = ("softmax_param",)
    tops = (0, 2)

    def check(self, ctx: ShapeContext) -> None:
        labels_match(ctx, ctx.layer.param.softmax_param.axis, "softmax_param.axis")
        if len(ctx.layer.tops) == 2:
            ctx.warning(
                "NS0379",
                "BVLC Caffe cannot set up a SoftmaxWithLoss with a second top: its internal "
                "Softmax inherits both loss_weights and fails its one-per-top check (BVLC/caffe#2968); "
                "forks that clear them accept it",
                ("top", 1),
                help="for BVLC Caffe, compute the probabilities with a separate Softmax layer",
            )


@register
class EuclideanLoss(LossLayer):
    type = "EuclideanLoss"
    family = "loss"

    def check(self, ctx: ShapeContext) -> None:
        a, b = (count(s[1:]) for s in ctx.bottoms)
        if a != b:
            raise ctx.error(
                "NS0382",
                f"the bottoms hold {a} and {b} values per item ({shape_text(ctx.bottoms[0])} and "
                f"{shape_text(ctx.bottoms[1])}); EuclideanLoss compares them value by value",
                ("bottom", 1),
                help="give both bottoms the same size after the batch axis",
            )


@register
class SigmoidCrossEntropyLoss(LossLayer):
    type = "SigmoidCrossEntropyLoss"
    family = "loss"
    param = "loss_param"

    def check(self, ctx: ShapeContext) -> None:
        a, b = (count(s) for s in ctx.bottoms)
        if a != b:
            raise ctx.error(
                "NS0382",
                f"{b} targets {shape_text(ctx.bottoms[1])} for {a} predictions {shape_text(ctx.bottoms[0])}; "
                "SigmoidCrossEntropyLoss needs one target per prediction",
                ("bottom", 1),
            )


@register
class HingeLoss(LossLayer):
    type = "HingeLoss"
    family = "loss"
    param = "hinge_loss_param"


@register
class MultinomialLogisticLoss(LossLayer):
    """Probabilities (N, C, 1, 1) and one label per item: the label's legacy C, H, W must be 1."""

    type = "MultinomialLogisticLoss"
    family = "loss"
    param = "loss_param"

    def check(self, ctx: ShapeContext) -> None:
        _unit_axes(ctx, 1, (1, 2, 3))


@register
class InfogainLoss(LossLayer):
    """Softmax, then the loss weighted by an infogain matrix H (C x C): from a third bottom, or
    read from infogain_loss_param.source."""

    type = "InfogainLoss"
    family = "loss"
    param = "infogain_loss_param"
    bottoms = (2, 3)
    tops = (0, 2)

    def check(self, ctx: ShapeContext) -> None:
        if ctx.layer.param.loss_param.HasField("normalize"):
            raise ctx.error(
                "NS0386",
                "InfogainLoss refuses the deprecated loss_param.normalize",
                "loss_param.normalize",
                help="use loss_param { normalization: VALID } instead",
            )
        axis = labels_match(ctx, ctx.layer.param.infogain_loss_param.axis, "infogain_loss_param.axis")
        classes = ctx.bottoms[0][axis]
        if len(ctx.bottoms) == 3:
            if count(ctx.bottoms[2]) != classes * classes:
                raise ctx.error(
                    "NS0385",
                    f"the infogain matrix {shape_text(ctx.bottoms[2])} holds {count(ctx.bottoms[2])} "
                    f"values; {classes} classes need {classes}x{classes} = {classes * classes}",
                    ("bottom", 2),
                )
        elif not ctx.layer.param.infogain_loss_param.source:
            raise ctx.error(
                "NS0385",
                "the infogain matrix is neither a third bottom nor a file",
                "infogain_loss_param",
                help='set infogain_loss_param { source: "H.binaryproto" } or add a third bottom',
            )


@register
class ContrastiveLoss(LossLayer):
    """Two feature blobs (N, C, 1, 1) and a similarity label (N, 1, 1, 1)."""

    type = "ContrastiveLoss"
    family = "loss"
    param = "contrastive_loss_param"
    bottoms = (3, 3)

    def check(self, ctx: ShapeContext) -> None:
        a, b = legacy_dim(ctx, 0, 1), legacy_dim(ctx, 1, 1)
        if a != b:
            raise ctx.error(
                "NS0382",
                f"the feature bottoms have {a} and {b} channels ({shape_text(ctx.bottoms[0])} and "
                f"{shape_text(ctx.bottoms[1])}); ContrastiveLoss compares them channel by channel",
                ("bottom", 1),
            )
        for index, axes in ((0, (2, 3)), (1, (2, 3)), (2, (1, 2, 3))):
            _unit_axes(ctx, index, axes)


def _unit_axes(ctx: ShapeContext, index: int, axes: tuple[int, ...]) -> None:
    """Caffe's CHECK_EQ(bottom->channels()/height()/width(), 1) on the legacy (N, C, H, W) axes."""
    for axis in axes:
        size = legacy_dim(ctx, index, axis)
        if size != 1:
            raise ctx.error(
                "NS0383",
                f"bottom {index} {shape_text(ctx.bottoms[index])} has {'NCHW'[axis]} = {size}; "
                f"a {ctx.layer.type} layer needs {', '.join('NCHW'[a] for a in axes)} of 1",
                ("bottom", index),
                help="flatten it to (N, ...) with the other axes 1",
            )


MultiBox = caffe_pb2.MultiBoxLossParameter


@register
class MultiBoxLoss(LossLayer):
    """SSD's training loss (multibox_loss_layer.cpp): bottoms loc, conf, priors (as
    DetectionOutput's) and the AnnotatedData label (1, 1, boxes, 8); a 0-D loss."""

    type = "MultiBoxLoss"
    family = "loss"
    dialect = "ssd"
    param = "multibox_loss_param"
    bottoms = (4, 4)
    doc_rows = (
        DocRow(
            parameters=(
                "`multibox_loss_param`: `num_classes` (required), `share_location`, "
                "`background_label_id`, `loc_loss_type`, `conf_loss_type`, `match_type`, "
                "`mining_type`, `code_type`, ... (every field of the fork)"
            ),
            shapes=(
                "bottoms loc, conf, priors as DetectionOutput's and the label (1, 1, boxes, 8); a"
                " 0-D loss; negative mining only with `share_location`, a SOFTMAX background "
                "inside the classes (NS0324)"
            ),
        ),
    )

    def check(self, ctx: ShapeContext) -> None:
        p = ctx.layer.param.multibox_loss_param
        num_classes(ctx, "multibox_loss_param")
        if p.conf_loss_type == MultiBox.SOFTMAX and p.background_label_id >= p.num_classes:
            raise ctx.error(
                "NS0324",
                f"background_label_id {p.background_label_id} is not a class of {p.num_classes}: "
                "the SOFTMAX confidence loss needs it in [0, num_classes)",
                "multibox_loss_param.background_label_id",
            )
        if not p.share_location and p.mining_type != MultiBox.NONE:
            raise ctx.error(
                "NS0324",
                "negative mining (mining_type) works only with share_location: true",
                "multibox_loss_param.share_location",
                help="set mining_type: NONE, or share_location: true",
            )
        prior_heads(ctx, p.num_classes, p.share_location)
        label_rows(ctx, 3, 8, "the AnnotatedData label")


def _legacy(ctx: ShapeContext, code: str, index: int) -> Shape:
    """Bottom `index` as Caffe's legacy accessors (num, channels, height, width) read it: up to four
    axes, the missing ones 1 (Blob::LegacyShape stops on more)."""
    shape = ctx.bottoms[index]
    if len(shape) > 4:
        raise ctx.error(
            code,
            f"bottom {index} is {shape_text(shape)}: the fork reads it as (num, channels, height, width), "
            "which Caffe's Blob::LegacyShape refuses above 4 axes",
            ("bottom", index),
            help="reshape it to 4 axes or fewer",
        )
    return (*shape, *(1,) * (4 - len(shape)))


def _like_predictions(ctx: ShapeContext, code: str) -> None:
    """Every bottom after the predictions with their channels, height and width, as the forks'
    smooth L1 losses CHECK (their legacy (num, channels, height, width) view)."""
    x = _legacy(ctx, code, 0)
    for index in range(1, len(ctx.bottoms)):
        if _legacy(ctx, code, index)[1:] != x[1:]:
            raise ctx.error(
                code,
                f"bottom {index} is {shape_text(ctx.bottoms[index])} but the predictions are "
                f"{shape_text(ctx.bottoms[0])}: the fork needs the same channels, height and width",
                ("bottom", index),
                help="targets and weights come one per predicted value (4 per class for boxes)",
            )


@register
class CenterLoss(LossLayer):
    """Wen et al.'s center loss (ydwen/caffe-face center_loss_layer.cpp): Σ ‖x_i − c_{y_i}‖² / 2N
    over the features from `axis` on, the centres a learned (num_output, K) blob; the labels
    (N, 1, 1, 1) as its Reshape checks them."""

    type = "CenterLoss"
    family = "loss"
    dialect = "forks"
    param = "center_loss_param"
    doc_rows = (
        DocRow(
            fork="ydwen/caffe-face",
            parameters=(
                "`center_loss_param`: `num_output` (required: the classes), `center_filler`, `axis` (1)"
            ),
            shapes=(
                "bottoms the features and the labels, (N, 1, 1, 1) or (N,); a 0-D loss; weights the "
                "centres (num_output, K), K the features' count from `axis` on"
            ),
        ),
    )

    def check(self, ctx: ShapeContext) -> None:
        _unit_axes(ctx, 1, (1, 2, 3))

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        _, _, k, n = inner_products(ctx, "center_loss_param", "the number of classes")
        return [WeightSpec("centers", (n, k), filler_of(ctx.layer.param.center_loss_param, "center_filler"))]


@register
class SmoothL1Loss(LossLayer):
    """Faster R-CNN's box-regression loss: Σ w_out · f(w_in · (x − t)) / N, f(d) = 0.5 (σd)² where
    |d| < 1/σ², else |d| − 0.5/σ².  Bottoms x, t and optionally both weights (four in all);
    channels, height and width as x's."""

    type = "SmoothL1Loss"
    family = "loss"
    dialect = "rcnn"
    param = "smooth_l1_loss_param"
    bottoms = (2, 4)
    doc_rows = (
        DocRow(
            parameters="`smooth_l1_loss_param.sigma` (1)",
            computes=(
                "training only: Σ w_out · f(w_in · (x − t)) / N, f(d) = 0.5(σd)² where \\|d\\| < "
                "1/σ², else \\|d\\| − 0.5/σ²"
            ),
            onnx="left out of deploy graphs (NS0401)",
        ),
    )

    def check(self, ctx: ShapeContext) -> None:
        if len(ctx.bottoms) == 3:
            raise ctx.error(
                "NS0605",
                "three bottoms: with weights the fork needs both the inside and the outside weights",
                ("bottom", 2),
                help="add the outside weights as bottom 3 (py-faster-rcnn's bbox_outside_weights)",
            )
        _like_predictions(ctx, "NS0605")


# ---------------------------------------------------------------------------------------------
# R-FCN's online hard example mining (py-R-FCN's Caffe, Microsoft/caffe 1a2be8e): training only


@register
class SoftmaxWithLossOHEM(SoftmaxWithLoss):
    """SoftmaxWithLoss that also writes each label's loss: tops the loss, the probabilities (as the
    predictions) and the per-label losses (as the labels).  It clears its loss_weights before its
    inner Softmax, so the second top works, unlike BVLC's (NS0379)."""

    type = "SoftmaxWithLossOHEM"
    dialect = "rfcn"
    tops = (1, 3)
    doc_rows = (
        DocRow(
            parameters="`softmax_param`, `loss_param` (`PRE_FIXED` with `pre_fixed_normalizer`)",
            shapes=(
                "as SoftmaxWithLoss; tops the loss, the probabilities (as the predictions) and "
                "each label's loss (as the labels); its second top works, unlike BVLC's "
                "SoftmaxWithLoss (NS0379)"
            ),
        ),
    )

    def check(self, ctx: ShapeContext) -> None:
        labels_match(ctx, ctx.layer.param.softmax_param.axis, "softmax_param.axis")

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [*super().shapes(ctx), ctx.bottoms[1]][: len(ctx.layer.tops)]


@register
class SmoothL1LossOHEM(LossLayer):
    """Smooth L1 (σ 1) of the predictions against the targets, times the weights (bottom 2) if given;
    top 1, if written, each item's loss summed over the channels, (num, 1, height, width)."""

    type = "SmoothL1LossOHEM"
    family = "loss"
    dialect = "rfcn"
    param = "loss_param"
    bottoms = (2, 3)
    tops = (1, 2)
    doc_rows = (
        DocRow(
            parameters="`loss_param`",
            shapes=(
                "predictions, targets and optional weights of the same channels, height and "
                "width; tops the loss and each item's loss summed over the channels, (num, 1, "
                "height, width)"
            ),
        ),
    )

    def check(self, ctx: ShapeContext) -> None:
        _like_predictions(ctx, "NS0611")

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        loss = super().shapes(ctx)[0]
        n, _, h, w = _legacy(ctx, "NS0611", 0)
        return [loss, (n, 1, h, w)][: len(ctx.layer.tops)]


@register
class BoxAnnotatorOHEM(LayerType):
    """R-FCN's hard example selection: from the rois (R, 5), each ROI's loss (R, 1), its labels
    (R, 1) and box-loss weights (R, C), the labels and weights of the roi_per_img hardest ROIs (the
    others ignored); tops (R, 1) and (R, C), as its bottoms' (num, channels, height, width)."""

    type = "BoxAnnotatorOHEM"
    family = "loss"
    dialect = "rfcn"
    param = "box_annotator_ohem_param"
    bottoms = (4, 4)
    tops = (2, 2)
    deploy = False
    doc_rows = (
        DocRow(
            parameters="`box_annotator_ohem_param`: `roi_per_img` (required), `ignore_label` (−1)",
            shapes=(
                "bottoms rois (R, 5), each ROI's loss (R, 1), labels (R, 1), box-loss weights (R,"
                " C), as (num, channels, height, width) alike; tops (R, 1) and (R, C)"
            ),
        ),
    )

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.box_annotator_ohem_param
        if p.roi_per_img < 1:
            raise ctx.error(
                "NS0611",
                "roi_per_img is not given (the fork requires it above 0)",
                "box_annotator_ohem_param.roi_per_img"
                if p.HasField("roi_per_img")
                else ctx.block("box_annotator_ohem_param"),
                help="py-R-FCN writes box_annotator_ohem_param { roi_per_img: 128 ignore_label: -1 }",
            )
        rois, loss, labels, weights = (_legacy(ctx, "NS0611", i) for i in range(4))
        wanted = {0: (rois[0], 5), 1: (rois[0], 1), 2: (rois[0], 1), 3: (rois[0], weights[1])}
        for index, shape in enumerate((rois, loss, labels, weights)):
            if shape[:2] != wanted[index] or shape[2:] != rois[2:]:
                raise ctx.error(
                    "NS0611",
                    f"bottom {index} is {shape_text(ctx.bottoms[index])}; the fork wants "
                    f"({', '.join(map(str, wanted[index]))}, {rois[2]}, {rois[3]}) for {rois[0]} ROIs",
                    ("bottom", index),
                    help="bottoms: rois (R, 5), each ROI's loss (R, 1), labels (R, 1), box-loss weights "
                    "(R, C)",
                )
        return [(rois[0], 1, *rois[2:]), (rois[0], weights[1], *rois[2:])]
