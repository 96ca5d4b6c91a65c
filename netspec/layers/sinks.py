"""Training- and evaluation-time sinks that are not losses: Accuracy and SSD's DetectionEvaluate
(family "metric"), Silence and HDF5Output (family "sink").  Each is `deploy = False`: checked with
Caffe's conditions, left out of inference graphs.
"""

from __future__ import annotations

from typing import ClassVar

from netspec.layers.activation import legacy_dim
from netspec.layers.base import DocRow, LayerType, Shape, ShapeContext, count, register
from netspec.layers.detection import label_rows, num_classes
from netspec.layers.loss import labels_match, same_batch


@register
class DetectionEvaluate(LayerType):
    """SSD's test-time evaluation (detection_evaluate_layer.cpp): bottoms DetectionOutput's
    (1, 1, K, 7) and the label (1, 1, boxes, 8); top (1, 1, classes + detections, 5), rows
    [image, label, score, true positive, false positive], as many as the values give."""

    type = "DetectionEvaluate"
    family = "metric"
    dialect = "ssd"
    param = "detection_evaluate_param"
    bottoms = (2, 2)
    deploy = False
    doc_rows = (
        DocRow(
            parameters=(
                "`detection_evaluate_param`: `num_classes` (required), `background_label_id`, "
                "`overlap_threshold` (> 0), `evaluate_difficult_gt`, `name_size_file`, "
                "`resize_param`"
            ),
            shapes=(
                "bottoms DetectionOutput's (1, 1, K, 7) and the label (1, 1, boxes, 8); top (1, "
                "1, classes − 1 + detections, 5), its rows the values' (the shape rule gives the "
                "most)"
            ),
        ),
    )
    data_dependent: ClassVar[dict[int, tuple[int, ...]]] = {0: (2,)}

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.detection_evaluate_param
        num_classes(ctx, "detection_evaluate_param")
        if not p.overlap_threshold > 0:
            raise ctx.error(
                "NS0324",
                f"overlap_threshold must be positive, got {p.overlap_threshold:g}",
                "detection_evaluate_param.overlap_threshold",
            )
        detections = label_rows(ctx, 0, 7, "DetectionOutput's top")
        label_rows(ctx, 1, 8, "the AnnotatedData label")
        return [(1, 1, p.num_classes - 1 + detections, 5)]  # the most rows (background_label_id is unsigned)


@register
class Accuracy(LayerType):
    """The fraction of items whose label is among the top_k scores: a 0-D scalar, and with a
    second top the accuracy per class (C,)."""

    type = "Accuracy"
    family = "metric"
    param = "accuracy_param"
    bottoms = (2, 2)
    tops = (1, 2)
    deploy = False

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.accuracy_param
        scores, labels = ctx.bottoms
        if count(labels) and p.top_k > count(scores) // count(labels):
            raise ctx.error(
                "NS0384",
                f"top_k {p.top_k} exceeds the {count(scores) // count(labels)} classes "
                f"(predictions {scores} over {count(labels)} labels)",
                "accuracy_param.top_k",
                help=f"use a top_k of at most {count(scores) // count(labels)}",
            )
        axis = labels_match(ctx, p.axis, "accuracy_param.axis")
        return [(), (scores[axis],)][: len(ctx.layer.tops)]


@register
class Silence(LayerType):
    """Consumes blobs so that they are not net outputs; writes nothing."""

    type = "Silence"
    family = "sink"
    bottoms = (1, None)
    tops = (0, 0)
    deploy = False

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return []


@register
class HDF5Output(LayerType):
    """Writes its two bottoms (data and label, same batch) to an HDF5 file; no tops."""

    type = "HDF5Output"
    family = "sink"
    param = "hdf5_output_param"
    bottoms = (2, 2)
    tops = (0, 0)
    deploy = False

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        for index in (0, 1):
            legacy_dim(ctx, index, 0)  # Caffe copies them through the (N, C, H, W) accessors
        same_batch(ctx, 0, 1)
        return []
