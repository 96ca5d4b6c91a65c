"""Object detection's box layers (family "detection"; SSD, weiliu89/caffe branch ssd):

- PriorBox: the default boxes of one feature map.  They depend on shapes only, so netspec
  computes them when it compiles and the model holds them as a constant.
- DetectionOutput: box decoding, per-class non-maximum suppression and keep_top_k, in
  Caffe's (1, 1, K, 7) layout [image, label, score, xmin, ymin, xmax, ymax]; K depends on
  the values, so the ONNX output's third axis is symbolic.

The helpers that read the heads' class and prior counts serve SSD's training layers too
(loss.MultiBoxLoss, sinks.DetectionEvaluate).  Diagnostics NS0321-NS0324 (docs/dialects.md).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import ClassVar

from netspec.layers.base import DocRow, LayerType, Shape, ShapeContext, count, register, shape_text
from netspec.layers.structure import last_axis
from netspec.lazy import FLT_MAX
from netspec.lazy import numpy as np
from netspec.proto import caffe_pb2

CodeType = caffe_pb2.PriorBoxParameter


def _aspect_ratios(p) -> list[float]:
    """1, then each ratio not already there (|Δ| < 1e-6), and its inverse with flip: the fork's order."""
    ratios = [1.0]
    for r in p.aspect_ratio:
        if any(abs(r - known) < 1e-6 for known in ratios):
            continue
        ratios.append(r)
        if p.flip:
            ratios.append(1.0 / r)
    return ratios


def _centres(p) -> list[tuple[float, float]]:
    """Each box's centres in a cell, (down, across) in cells: offset_h/offset_w pairs (TextBoxes'
    centres, as OpenCV reads them); with TextBoxes++'s denser_prior_boxes (offset, offset) and
    (1, offset); else (offset, offset)."""
    if p.denser_prior_boxes:
        return [(p.offset, p.offset), (1.0, p.offset)]
    return list(zip(p.offset_h, p.offset_w)) or [(p.offset, p.offset)]


def _variances(p) -> list[float]:
    return list(p.variance) * 4 if len(p.variance) == 1 else list(p.variance) or [0.1] * 4


@dataclass(frozen=True)
class Grid:
    """PriorBox's geometry, as its setup reads it: the image size, the step between centres (in
    pixels) and the feature map's cells."""

    img_h: float
    img_w: float
    step_h: float
    step_w: float
    height: int
    width: int


@register
class PriorBox(LayerType):
    """SSD's default boxes for one feature map: (1, 2, H·W·priors·4), corners then variances.

    Bottoms: the feature map (N, C, H, W) and the image (N, C, H_img, W_img).  Per cell, in
    the fork's order: for each min_size, the square box, then sqrt(min·max) when max_size is
    given, then one box per aspect ratio other than 1.  Coordinates are fractions of the
    image; clip clamps them to [0, 1].
    """

    type = "PriorBox"
    family = "detection"
    dialect = "ssd"
    param = "prior_box_param"
    bottoms = (2, 2)
    doc_rows = (
        DocRow(
            parameters=(
                "`prior_box_param`: `min_size`, `max_size`, `aspect_ratio`, `flip` (true), `clip`"
                " (false), `variance`, `img_size`/`img_h`/`img_w`, `step`/`step_h`/`step_w`, "
                "`offset` (0.5), or `offset_h`/`offset_w` pairs (several centres per cell, "
                "TextBoxes), `denser_prior_boxes` (false; TextBoxes++)"
            ),
            computes=(
                "SSD's default boxes, (1, 2, H·W·priors·4): corners as fractions of the image, then variances"
            ),
            onnx="a constant, computed when compiling",
        ),
    )

    def setup(self, ctx: ShapeContext) -> Grid:
        """The layer's geometry, checking the parameters as the fork does."""
        p = ctx.layer.param.prior_box_param
        feat, img = ctx.bottoms
        for i, shape in enumerate((feat, img)):
            if len(shape) != 4:
                raise ctx.error(
                    "NS0323",
                    f"PriorBox takes 4-D bottoms, bottom {i} is {shape_text(shape)}",
                    ("bottom", i),
                    help="bottom 0 is the feature map, bottom 1 the image",
                )
        if not p.min_size:
            raise ctx.error(
                "NS0323",
                "min_size is not given",
                ctx.block("prior_box_param"),
                help="set prior_box_param { min_size: S } (the box size in pixels)",
            )
        for i, s in enumerate(p.min_size):
            if not s > 0:
                raise ctx.error(
                    "NS0323", f"min_size must be positive, got {s:g}", ("prior_box_param", "min_size", i)
                )
        if p.max_size and len(p.max_size) != len(p.min_size):
            raise ctx.error(
                "NS0323",
                f"{len(p.max_size)} max_size for {len(p.min_size)} min_size",
                ("prior_box_param", "max_size", 0),
                help="give one max_size per min_size",
            )
        for i, (low, high) in enumerate(zip(p.min_size, p.max_size)):
            if not high > low:
                raise ctx.error(
                    "NS0323",
                    f"max_size {high:g} must be larger than min_size {low:g}",
                    ("prior_box_param", "max_size", i),
                )
        for i, r in enumerate(p.aspect_ratio):
            if not r > 0:
                raise ctx.error(
                    "NS0323",
                    f"aspect_ratio must be positive, got {r:g}",
                    ("prior_box_param", "aspect_ratio", i),
                )
        if len(p.variance) not in (0, 1, 4) or any(not v > 0 for v in p.variance):
            raise ctx.error(
                "NS0323",
                f"variance takes 0, 1 or 4 positive values, got {', '.join(f'{v:g}' for v in p.variance)}",
                ("prior_box_param", "variance", 0),
                help="SSD uses variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2",
            )
        for one, pair in (("img_size", ("img_h", "img_w")), ("step", ("step_h", "step_w"))):
            has_pair = [p.HasField(f) for f in pair]
            if p.HasField(one) and any(has_pair):
                raise ctx.error(
                    "NS0323",
                    f"{one} and {pair[has_pair.index(True)]} are both given",
                    f"prior_box_param.{one}",
                    help=f"give {one}, or {pair[0]} and {pair[1]}",
                )
            if any(has_pair) and not all(has_pair):
                given, missing = pair if has_pair[0] else pair[::-1]
                raise ctx.error(
                    "NS0323",
                    f"{given} is given without {missing}",
                    f"prior_box_param.{given}",
                    help=f"give {missing} too",
                )
        if p.offset_h or p.offset_w:
            if len(p.offset_h) != len(p.offset_w):
                raise ctx.error(
                    "NS0323",
                    f"{len(p.offset_h)} offset_h for {len(p.offset_w)} offset_w",
                    ("prior_box_param", "offset_h" if p.offset_h else "offset_w", 0),
                    help="give the centres as pairs, offset_h: 0.5 offset_w: 0.5 offset_h: 1 offset_w: 0.5 "
                    "(TextBoxes' two centres per cell)",
                )
            for other in ("offset", "denser_prior_boxes"):
                if p.HasField(other):
                    raise ctx.error(
                        "NS0323",
                        f"{other} and offset_h/offset_w are both given",
                        f"prior_box_param.{other}",
                        help="give the centres as offset_h/offset_w pairs, or one offset (with "
                        "denser_prior_boxes: TextBoxes++'s second centre one cell down)",
                    )
        img_h = p.img_h or p.img_size or img[2]
        img_w = p.img_w or p.img_size or img[3]
        step_h = p.step_h or p.step or np.float32(img_h) / np.float32(feat[2])
        step_w = p.step_w or p.step or np.float32(img_w) / np.float32(feat[3])
        return Grid(float(img_h), float(img_w), float(step_h), float(step_w), feat[2], feat[3])

    def priors(self, ctx: ShapeContext) -> int:
        p = ctx.layer.param.prior_box_param
        return (len(_aspect_ratios(p)) * len(p.min_size) + len(p.max_size)) * len(_centres(p))

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        h, w = ctx.bottoms[0][2:]
        return [(1, 2, h * w * self.priors(ctx) * 4)]

    def boxes(self, p: caffe_pb2.PriorBoxParameter, grid: Grid) -> np.ndarray:
        """The layer's output, computed as the fork does (float32 centres and sizes)."""
        img_h, img_w, step_h, step_w, h, w = astuple(grid)
        f32 = np.float32
        sizes = []  # (box width, box height) per prior, in the fork's order
        whole = int if p.denser_prior_boxes else f32  # TextBoxes++ reads the sizes into ints
        for i, low in enumerate(p.min_size):
            low = whole(low)
            sizes.append((f32(low), f32(low)))
            if p.max_size:
                side = f32(np.sqrt(low * whole(p.max_size[i])))
                sizes.append((side, side))
            for r in _aspect_ratios(p):
                if abs(r - 1.0) >= 1e-6:
                    root = f32(np.sqrt(f32(r)))
                    sizes.append((f32(low) * root, f32(low) / root))
        bw, bh = (np.array(s, dtype=np.float64)[:, None] for s in zip(*sizes))  # (sizes, 1)
        down, across = (np.array(c, dtype=f32) for c in zip(*_centres(p)))  # (centres,) each
        cy = ((np.arange(h, dtype=f32)[:, None] + down) * f32(step_h)).astype(np.float64)
        cx = ((np.arange(w, dtype=f32)[:, None] + across) * f32(step_w)).astype(np.float64)
        cy, cx = cy[:, None, None, :], cx[None, :, None, :]  # (h, w, sizes, centres)
        box = np.stack(
            np.broadcast_arrays(
                (cx - bw / 2) / img_w, (cy - bh / 2) / img_h, (cx + bw / 2) / img_w, (cy + bh / 2) / img_h
            ),
            axis=-1,
        ).astype(f32)
        if p.clip:
            box = np.clip(box, 0, 1)
        variances = np.broadcast_to(np.asarray(_variances(p), dtype=f32), box.shape)
        return np.stack([box.reshape(-1), variances.reshape(-1)])[None]

    def lower(self, ctx) -> None:
        ctx.alias(0, ctx.const(self.boxes(ctx.param.prior_box_param, ctx.config), "priors"))


@dataclass(frozen=True)
class Detection:
    """A DetectionOutput's setup: its sizes and NMS settings, from either spelling of them."""

    images: int
    priors: int
    classes: int
    iou: float  # nms_threshold
    top_k: int | None
    eta: float


@register
class DetectionOutput(LayerType):
    """SSD's detections: decode each prior's box, keep per class the boxes NMS keeps among the
    top_k best scores above confidence_threshold, then the keep_top_k best of an image.

    Bottoms: loc (N, P·4), or (N, P·classes·4) with share_location false (a box per class),
    conf (N, P·classes) after a softmax, priors (1, 2, P·4).  Top:
    (1, 1, K, 7), rows [image, label, score, xmin, ymin, xmax, ymax] by image, then label,
    then score; K is data-dependent (the shape rule gives its most), and an image set with no
    detection gives one row [i, -1, ...] per image, as the fork does.
    """

    type = "DetectionOutput"
    family = "detection"
    dialect = "ssd"
    param = "detection_output_param"
    bottoms = (3, 3)
    doc_rows = (
        DocRow(
            parameters=(
                "`detection_output_param`: `num_classes`, `share_location` (true), "
                "`background_label_id` (0), `nms_param { nms_threshold (0.3), top_k, eta (1) }` "
                "(or `nms_threshold` and `top_k` directly in `detection_output_param`, as the "
                "first SSD files write them; one spelling per setting), `code_type` (CORNER), "
                "`variance_encoded_in_target` (false), `keep_top_k` (−1), `confidence_threshold`,"
                " `use_polygon` (false; TextBoxes++)"
            ),
            computes=(
                "decoded boxes, per-class NMS, keep_top_k; (1, 1, K, 7) rows [image, label, "
                "score, xmin, ymin, xmax, ymax], or 15 wide with `use_polygon`"
            ),
            onnx="see below",
        ),
    )
    data_dependent: ClassVar[dict[int, tuple[int, ...]]] = {0: (2,)}

    def sizes(self, ctx: ShapeContext, nms: tuple[float, int | None, float]) -> tuple[int, int, int]:
        """(images N, priors P, classes C), checking the bottoms against each other and the NMS
        settings (`nms`) against their ranges."""
        p = ctx.layer.param.detection_output_param
        loc, conf, _ = ctx.bottoms
        num_classes(ctx, "detection_output_param")
        classes = p.num_classes
        if not -1 <= p.background_label_id < classes:
            raise ctx.error(
                "NS0324",
                f"background_label_id {p.background_label_id} is not a class of "
                f"{classes} (0 to {classes - 1}, or -1 for none)",
                "detection_output_param.background_label_id",
            )
        if p.use_polygon and (p.code_type != CodeType.CENTER_SIZE or p.variance_encoded_in_target):
            raise ctx.error(
                "NS0324",
                "use_polygon decodes quadrilaterals only with code_type CENTER_SIZE and the variances "
                "applied: TextBoxes++'s DecodeBBoxPolygon leaves them unset otherwise",
                "detection_output_param.use_polygon",
                help="set code_type: CENTER_SIZE (and variance_encoded_in_target: false), as TextBoxes++ "
                "does",
            )
        priors = prior_heads(ctx, classes, p.share_location, 12 if p.use_polygon else 4)
        if loc[0] != conf[0]:
            raise ctx.error("NS0324", f"loc has {loc[0]} images, conf {conf[0]}", ("bottom", 1))
        threshold, _, eta = nms
        if not 0 <= threshold <= 1 or not 0 < eta <= 1:
            bad = "nms_threshold" if not 0 <= threshold <= 1 else "eta"
            field = "nms_threshold" if bad == "nms_threshold" and p.HasField(bad) else f"nms_param.{bad}"
            raise ctx.error(
                "NS0324",
                f"{field} must lie in {'[0, 1]' if bad != 'eta' else '(0, 1]'}",
                f"detection_output_param.{field}",
            )
        return loc[0], priors, classes

    def nms(self, ctx: ShapeContext) -> tuple[float, int | None, float]:
        """(nms_threshold, top_k or None, eta), from nms_param or, as the first SSD files write
        them, nms_threshold and top_k directly in detection_output_param."""
        p = ctx.layer.param.detection_output_param
        for name in ("nms_threshold", "top_k"):
            if p.HasField(name) and p.nms_param.HasField(name):
                raise ctx.error(
                    "NS0324",
                    f"{name} is given twice, in detection_output_param and in its nms_param",
                    f"detection_output_param.{name}",
                    help=f"keep one: nms_param {{ {name}: ... }} (the fork's later spelling) or {name} alone",
                )
        flat, nested = p, p.nms_param
        threshold = (flat if flat.HasField("nms_threshold") else nested).nms_threshold
        top_k = flat.top_k if flat.HasField("top_k") else nested.top_k if nested.HasField("top_k") else None
        return threshold, top_k, nested.eta

    def setup(self, ctx: ShapeContext) -> Detection:
        nms = self.nms(ctx)
        return Detection(*self.sizes(ctx, nms), *nms)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.detection_output_param
        images, priors, classes, _, top_k, _ = astuple(ctx.config)
        per_class = priors if top_k is None else min(top_k, priors)
        foreground = classes - (p.background_label_id >= 0)
        per_image = per_class * foreground
        if p.keep_top_k > -1:
            per_image = min(per_image, p.keep_top_k)
        return [(1, 1, max(images * per_image, images), 15 if p.use_polygon else 7)]

    def lower(self, ctx) -> None:
        p = ctx.param.detection_output_param
        _, priors, classes, iou, top_k, eta = astuple(ctx.config)
        # Per-class boxes (share_location false): each (image, class) is an NMS batch of its own,
        # with one class; image = batch // classes, label = batch % classes.
        loc_classes = 1 if p.share_location else classes
        prior = ctx.op("Reshape", [ctx.inputs[2], ctx.ints([2, priors, 1, 4], "prior_shape")])
        corners, variance = (
            ctx.op("Squeeze", [x, ctx.ints([0], "axis0")])
            for x in ctx.node("Split", [prior, ctx.ints([1, 1], "halves")], 2, axis=0)
        )  # (P, 1, 4) each
        per_box = 12 if p.use_polygon else 4  # TextBoxes++: a box, then a quadrilateral's 8 offsets
        loc = ctx.op("Reshape", [ctx.inputs[0], ctx.ints([0, priors, loc_classes, per_box], "loc_shape")])
        if p.use_polygon:
            loc, quad = ctx.node("Split", [loc, ctx.ints([4, 8], "box_quad")], 2, axis=-1)
        decoded = _decode(ctx, p, loc, corners, variance)  # (N, P, loc classes, 4)
        by_class = ctx.op("Transpose", [decoded], perm=[0, 2, 1, 3])
        boxes = ctx.op("Reshape", [by_class, ctx.ints([-1, priors, 4], "box_shape")])
        conf = ctx.op("Reshape", [ctx.inputs[1], ctx.ints([0, priors, classes], "conf_shape")])
        scores = ctx.op("Transpose", [conf], perm=[0, 2, 1])  # (N, C, P)
        mask = np.zeros((classes, 1), np.float32)
        if p.background_label_id >= 0:
            mask[p.background_label_id] = -np.inf
        candidates = ctx.op("Add", [scores, ctx.const(mask, "background")])
        if top_k is not None and 0 <= top_k < priors:  # only a class's top_k best scores are NMS candidates
            minus_inf = ctx.const(np.float32(-np.inf), "minus_inf")
            if top_k == 0:
                candidates = ctx.op("Mul", [candidates, minus_inf])
            else:
                best = ctx.node("TopK", [candidates, ctx.ints([top_k], "top_k")], 2, axis=-1)[0]
                kth = ctx.op(
                    "Slice",
                    [best, ctx.ints([top_k - 1], "kth"), ctx.ints([top_k], "k"), ctx.ints([2], "axis2")],
                )
                low = ctx.op("Less", [candidates, kth])
                candidates = ctx.op("Where", [low, minus_inf, candidates])
        if not p.share_location:
            one_class = ctx.ints([-1, 1, priors], "one_class")
            scores = ctx.op("Reshape", [scores, one_class])
            candidates = ctx.op("Reshape", [candidates, one_class])
        threshold = p.confidence_threshold if p.HasField("confidence_threshold") else -FLT_MAX
        if eta < 1:  # adaptive NMS: the threshold shrinks as boxes are kept, one after another
            ranks = priors if top_k is None else min(max(top_k, 0), priors)
            per_batch = classes if p.share_location else 1
            selected = _adaptive_nms(
                ctx, boxes, candidates, (per_batch, priors, ranks), (iou, eta, threshold)
            )
        else:
            selected = ctx.op(
                "NonMaxSuppression",
                [
                    boxes,
                    candidates,
                    ctx.ints([priors], "max_boxes"),
                    ctx.const([iou], "iou_threshold"),
                    ctx.const([threshold], "score_threshold"),
                ],
            )  # (K, 3) rows [batch, class, prior], by batch, class, then score
        score = ctx.node("Unsqueeze", [ctx.op("GatherND", [scores, selected]), ctx.ints([1], "axis1")])[0]
        batch_prior = ctx.op("Gather", [selected, ctx.ints([0, 2], "batch_prior")], axis=1)
        box = ctx.op("GatherND", [boxes, batch_prior])
        if p.share_location:
            pairs = ctx.op("Gather", [selected, ctx.ints([0, 1], "image_class")], axis=1)
        else:
            batch = ctx.op("Gather", [selected, ctx.ints([0], "batch_column")], axis=1)
            count = ctx.ints(classes, "classes")
            pairs = ctx.op("Concat", [ctx.op("Div", [batch, count]), ctx.op("Mod", [batch, count])], axis=1)
        image_class = ctx.op("Cast", [pairs], to=np.float32)
        columns = [image_class, score, box]
        if p.use_polygon:  # the kept boxes' quadrilaterals, (K, 8)
            quads = ctx.op("Transpose", [_decode_quad(ctx, quad, corners, variance)], perm=[0, 2, 1, 3])
            columns.append(
                ctx.op(
                    "GatherND",
                    [ctx.op("Reshape", [quads, ctx.ints([-1, priors, 8], "quad_shape")]), batch_prior],
                )
            )
        rows = ctx.op("Concat", columns, axis=1)
        if p.keep_top_k > -1:
            rows = _keep_top_k(ctx, rows, p.keep_top_k)
        # No detection at all: one row [i, -1, -1, ...] per image, as the fork writes.
        width = 15 if p.use_polygon else 7
        images = ctx.op(
            "Slice", [ctx.op("Shape", [ctx.inputs[0]]), ctx.ints([0], "zero"), ctx.ints([1], "one")]
        )
        index = ctx.op(
            "Cast",
            [ctx.op("Range", [ctx.ints(0, "start"), ctx.op("Squeeze", [images]), ctx.ints(1, "step")])],
            to=np.float32,
        )
        fill = ctx.op(
            "Expand",
            [
                ctx.const(np.full((1, width - 1), -1, np.float32), "fill"),
                ctx.op(
                    "Concat", [images, ctx.ints([width - 1], "six" if width == 7 else "fourteen")], axis=0
                ),
            ],
        )
        none = ctx.node("Concat", [ctx.op("Unsqueeze", [index, ctx.ints([1], "axis1")]), fill], axis=1)[0]
        padded = ctx.op("Concat", [rows, none], axis=0)
        total = ctx.op("Slice", [ctx.op("Shape", [rows]), ctx.ints([0], "zero"), ctx.ints([1], "one")])
        empty = ctx.op("Cast", [ctx.op("Equal", [total, ctx.ints([0], "zero")])], to=np.int64)
        end = ctx.op("Add", [total, ctx.op("Mul", [empty, images])])
        kept = ctx.op("Slice", [padded, ctx.ints([0], "zero"), end, ctx.ints([0], "zero")])
        ctx.node("Reshape", [kept, ctx.ints([1, 1, -1, width], "layout")], [ctx.outputs[0]])


def _adaptive_nms(ctx, boxes: str, candidates: str, sizes: tuple[int, int, int], nms: tuple) -> str:
    """NonMaxSuppression's (K, 3) rows [batch, class, prior], by batch, class and score, as the
    fork's ApplyNMSFast keeps them with eta < 1: per (batch, class) its `ranks` best candidates in
    score order (ties: the lower prior first, as its stable sort), each kept if it scores above the
    score threshold and overlaps no box kept before it by more than the IoU threshold, which is
    multiplied by eta after each kept box while it is above 0.5.  A Loop over the ranks carries the
    kept set and the threshold of every (batch, class) at once.  Boxes (B, P, 4), candidates
    (B, C, P) with −inf for none; `sizes` is (C, P, ranks)."""
    classes, priors, ranks = sizes
    iou, eta, score_threshold = nms
    scores = ctx.op("Reshape", [candidates, ctx.ints([-1, priors], "pair_scores")])  # (Q, P)
    best, order = ctx.node("TopK", [scores, ctx.ints([ranks], "ranks")], 2, axis=1, largest=1, sorted=1)
    wide = ctx.op("Expand", [ctx.op("Unsqueeze", [boxes, ctx.ints([1], "axis1")]),
                               ctx.ints([1, classes, 1, 1], "per_class")])  # fmt: skip
    wide = ctx.op("Reshape", [wide, ctx.ints([-1, priors, 4], "pair_boxes")])  # (Q, P, 4)
    picks = ctx.node(
        "Expand", [ctx.op("Unsqueeze", [order, ctx.ints([2], "axis2")]), ctx.ints([1, 1, 4], "xyxy")]
    )
    ranked = ctx.op("GatherElements", [wide, picks[0]], axis=1)  # (Q, ranks, 4), best first
    rank = ctx.ints(np.arange(ranks), "rank")

    def step(i: str, go: str, kept: str, threshold: str) -> list[tuple[str, type]]:
        candidate = ctx.op("Unsqueeze", [ctx.op("Gather", [ranked, i], axis=1), ctx.ints([1], "axis1")])
        close = ctx.op(
            "Not", [ctx.op("LessOrEqual", [_jaccard(ctx, candidate, ranked), last_axis(ctx, threshold)])]
        )
        hits = ctx.op("Cast", [ctx.op("And", [close, kept])], to=np.float32)
        suppressed = ctx.op("Greater", [ctx.reduce("ReduceMax", hits, [1], keepdims=0)[0],
                                          ctx.const(np.float32(0), "none")])  # fmt: skip
        above = ctx.op("Greater", [ctx.op("Gather", [best, i], axis=1), ctx.const(score_threshold, "score")])
        keep = ctx.op("And", [above, ctx.op("Not", [suppressed])])  # (Q,)
        this = ctx.op("Equal", [rank, i])  # (ranks,)
        kept = ctx.op("Or", [kept, ctx.op("And", [last_axis(ctx, keep), this])])
        shrink = ctx.op("And", [keep, ctx.op("Greater", [threshold, ctx.const(np.float32(0.5), "half")])])
        smaller = ctx.op("Mul", [threshold, ctx.const(np.float32(eta), "eta")])
        threshold = ctx.op("Where", [shrink, smaller, threshold])
        return [(ctx.op("Identity", [go]), np.bool_), (kept, np.bool_), (threshold, np.float32)]

    body = ctx.subgraph(
        [
            ("i", np.int64, []),
            ("go", np.bool_, []),
            ("kept", np.bool_, None),
            ("threshold", np.float32, None),
        ],
        step,
    )
    none_kept = ctx.op("ConstantOfShape", [ctx.op("Shape", [best])], value=np.zeros(1, np.bool_))
    pairs = ctx.op("Slice", [ctx.op("Shape", [best]), ctx.ints([0], "zero"), ctx.ints([1], "one")])
    start = ctx.op("Expand", [ctx.const([iou], "iou_threshold"), pairs])
    trips, go = ctx.ints(ranks, "trips"), ctx.const(True, "go", np.bool_)
    kept = ctx.node("Loop", [trips, go, none_kept, start], 2, body=body)[0]  # (Q, ranks)
    where = ctx.op("NonZero", [kept])  # (2, K): pair, rank, in row-major order
    prior = ctx.op("GatherND", [order, ctx.op("Transpose", [where], perm=[1, 0])])
    pair = ctx.op("Gather", [where, ctx.ints(0, "pair_row")], axis=0)
    count = ctx.ints(classes, "classes_per_batch")
    columns = [ctx.op("Div", [pair, count]), ctx.op("Mod", [pair, count]), prior]
    return ctx.op("Concat", [last_axis(ctx, c) for c in columns], axis=1)


def _jaccard(ctx, a: str, b: str) -> str:
    """JaccardOverlap of the fork's normalised boxes, (Q, 1, 4) against (Q, R, 4) [x1, y1, x2, y2]:
    intersection / union, 0 where the boxes do not overlap by a positive width and height; a
    reversed box has size 0 (BBoxSize).  (Q, R)."""
    ax1, ay1, ax2, ay2 = ctx.node("Split", [a, ctx.ints([1, 1, 1, 1], "sides")], 4, axis=2)
    bx1, by1, bx2, by2 = ctx.node("Split", [b, ctx.ints([1, 1, 1, 1], "sides")], 4, axis=2)

    def extent(low_a, high_a, low_b, high_b) -> str:
        high = ctx.op("Min", [high_a, high_b])
        return ctx.op("Sub", [high, ctx.op("Max", [low_a, low_b])])

    def size(x1, y1, x2, y2) -> str:
        area = ctx.op("Mul", [ctx.op("Sub", [x2, x1]), ctx.op("Sub", [y2, y1])])
        reversed_ = ctx.op("Or", [ctx.op("Less", [x2, x1]), ctx.op("Less", [y2, y1])])
        return ctx.op("Where", [reversed_, ctx.const(np.float32(0), "empty"), area])

    width, height = extent(ax1, ax2, bx1, bx2), extent(ay1, ay2, by1, by2)
    inter = ctx.op("Mul", [width, height])
    union = ctx.op("Sub", [ctx.op("Add", [size(ax1, ay1, ax2, ay2), size(bx1, by1, bx2, by2)]), inter])
    zero = ctx.const(np.float32(0), "empty")
    overlaps = ctx.op("And", [ctx.op("Greater", [width, zero]), ctx.op("Greater", [height, zero])])
    ratio = ctx.op("Where", [overlaps, ctx.op("Div", [inter, union]), zero])
    return ctx.op("Squeeze", [ratio, ctx.ints([2], "axis2")])


def num_classes(ctx: ShapeContext, param: str) -> int:
    """The `num_classes` each of the fork's detection layers requires (CHECK(has_num_classes()))."""
    p = getattr(ctx.layer.param, param)
    if not p.HasField("num_classes") or p.num_classes < 1:
        raise ctx.error(
            "NS0324",
            "num_classes is not given",
            ctx.block(param),
            help=f"set {param} {{ num_classes: C }} (background included)",
        )
    return p.num_classes


def prior_heads(ctx: ShapeContext, classes: int, share_location: bool, per_box: int = 4) -> int:
    """The number of priors P, checking bottoms loc (N, P·4, or P·classes·4 without
    share_location; `per_box` values a box instead of 4, as TextBoxes++'s 12), conf (N, P·classes)
    and priors (1, 2, P·4) against each other, as DetectionOutput and MultiBoxLoss do."""
    loc, conf, prior = ctx.bottoms[:3]
    if len(prior) != 3 or prior[1] != 2 or prior[2] % 4:
        raise ctx.error(
            "NS0324",
            f"the priors are {shape_text(prior)}, not (1, 2, P·4)",
            ("bottom", 2),
            help="bottom 2 is the Concat of the PriorBox layers' tops (axis 2)",
        )
    priors = prior[2] // 4
    per_loc = per_box * (1 if share_location else classes)
    for i, (shape, per, what) in enumerate(((loc, per_loc, "box offsets"), (conf, classes, "scores"))):
        held = count(shape[1:]) if len(shape) > 1 else 0
        if held != priors * per:
            if held == 2 * priors * per:  # TextBoxes' own files: two centres per cell, unwritten
                help = ("the heads predict for twice the priors: TextBoxes' PriorBox centres every box "
                        "twice per cell without a field for it; write offset_h: 0.5 offset_w: 0.5 "
                        "offset_h: 1 offset_w: 0.5 in its PriorBox layers")  # fmt: skip
            elif i == 0 and per_box == 4 and held == 3 * priors * per:  # TextBoxes++'s 12 per prior
                help = "12 values per prior are TextBoxes++'s box and quadrilateral: write use_polygon: true"
            else:
                help = ("the loc and conf heads must cover the same cells and priors per cell as the "
                        "PriorBox layers (and conf must have num_classes per prior)")  # fmt: skip
            raise ctx.error(
                "NS0324",
                f"bottom {i} holds {held} {what} per image; {priors} priors need {priors * per}",
                ("bottom", i),
                help=help,
            )
    return priors


def _keep_top_k(ctx, rows: str, keep: int) -> str:
    """The rows among the `keep` best scores of their image, in their order: a row's rank is the
    number of rows of its image that score higher (or as high and come first)."""
    image = ctx.op("Gather", [rows, ctx.ints(0, "image_column")], axis=1)
    score = ctx.op("Gather", [rows, ctx.ints(2, "score_column")], axis=1)
    n = ctx.op(
        "Squeeze",
        [ctx.op("Slice", [ctx.op("Shape", [rows]), ctx.ints([0], "zero"), ctx.ints([1], "one")])],
    )
    position = ctx.op("Range", [ctx.ints(0, "start"), n, ctx.ints(1, "step")])

    def pairs(op: str, x: str) -> str:  # (i, j) -> x[j] op x[i]
        column = ctx.op("Unsqueeze", [x, ctx.ints([1], "axis1")])
        row = ctx.op("Unsqueeze", [x, ctx.ints([0], "axis0")])
        return ctx.op(op, [row, column])

    ahead = ctx.op(
        "Or", [pairs("Greater", score), ctx.op("And", [pairs("Equal", score), pairs("Less", position)])]
    )
    same = ctx.op("And", [ahead, pairs("Equal", image)])
    rank = ctx.reduce("ReduceSum", ctx.op("Cast", [same], to=np.int64), [1], keepdims=0)[0]
    kept = ctx.op("Less", [rank, ctx.ints(keep, "keep_top_k")])
    return ctx.op("Compress", [rows, kept], axis=0)


def _decode(ctx, p, loc: str, corners: str, variance: str) -> str:
    """Corner boxes from the offsets `loc` (N, P, L, 4) and the priors (P, 1, 4), by the code type."""
    scaled = loc if p.variance_encoded_in_target else ctx.op("Mul", [loc, variance])
    if p.code_type == CodeType.CORNER:
        return ctx.op("Add", [corners, scaled])
    low, high = ctx.node("Split", [corners, ctx.ints([2, 2], "pairs")], 2, axis=-1)
    size = ctx.op("Sub", [high, low])
    if p.code_type == CodeType.CORNER_SIZE:
        wide = ctx.op("Concat", [size, size], axis=-1)
        return ctx.op("Add", [corners, ctx.op("Mul", [scaled, wide])])
    centre = ctx.op("Mul", [ctx.op("Add", [low, high]), ctx.const(np.float32(0.5), "half")])
    shift, stretch = ctx.node("Split", [scaled, ctx.ints([2, 2], "pairs")], 2, axis=-1)
    middle = ctx.op("Add", [ctx.op("Mul", [shift, size]), centre])
    half = ctx.op(
        "Mul", [ctx.op("Mul", [ctx.op("Exp", [stretch]), size]), ctx.const(np.float32(0.5), "half")]
    )
    return ctx.op("Concat", [ctx.op("Sub", [middle, half]), ctx.op("Add", [middle, half])], axis=-1)


def _decode_quad(ctx, quad: str, corners: str, variance: str) -> str:
    """TextBoxes++'s quadrilaterals (DecodeBBoxPolygon, CENTER_SIZE): from the offsets (N, P, L, 8)
    [x1, y1, ..., x4, y4] and the priors (P, 1, 4), corner k at variance · offset · prior size +
    the prior's corner k (top-left, top-right, bottom-right, bottom-left)."""
    low, high = ctx.node("Split", [corners, ctx.ints([2, 2], "pairs")], 2, axis=-1)
    size = ctx.op("Sub", [high, low])  # (P, 1, 2): width, height
    xy = ctx.ints([0, 1] * 4, "xy")
    scale = ctx.op("Gather", [variance, xy], axis=-1)  # variance[0] for x, [1] for y
    spread = ctx.op("Mul", [ctx.op("Mul", [scale, quad]), ctx.op("Gather", [size, xy], axis=-1)])
    anchor = ctx.op("Gather", [corners, ctx.ints([0, 1, 2, 1, 2, 3, 0, 3], "quad_corners")], axis=-1)
    return ctx.op("Add", [spread, anchor])


def label_rows(ctx: ShapeContext, index: int, width: int, what: str) -> int:
    """The row count of bottom `index`, checked to be (1, 1, rows, width) as the fork's CHECKs want."""
    shape = ctx.bottoms[index]
    if len(shape) != 4 or shape[:2] != (1, 1) or shape[3] != width:
        raise ctx.error(
            "NS0324",
            f"bottom {index} is {shape_text(shape)}, not (1, 1, rows, {width})",
            ("bottom", index),
            help=f"bottom {index} is {what}",
        )
    return shape[2]
