"""The SSD fork's layer types (netspec/layers/ssd.py): shapes, diagnostics, and numbers against
OpenCV's Caffe importer, which runs all four; where OpenCV departs from the fork (PriorBox's
img_size/img_h/img_w, which it ignores), against the fork's C++ transcribed into numpy."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import (
    analyse,
    check_shapes_match_onnx,
    compile_text,
    diagnostic,
    position,
    random_inputs,
    random_weights,
    rel_error,
    rows_by_label,
    run_onnx,
    run_opencv,
)

DATA = 'name: "t" input: "data" input_shape { dim: 2 dim: 5 dim: 7 dim: 9 }\n'
FEAT = (
    'name: "t" input: "feat" input_shape { dim: 1 dim: 2 dim: 3 dim: 5 }\n'
    'input: "img" input_shape { dim: 1 dim: 3 dim: 37 dim: 50 }\n'
)


def against_opencv(text: str, outputs: list[str], seed: int = 0) -> dict[str, float]:
    model, analysis, _ = compile_text(text, seed=seed)
    weights, feeds = random_weights(analysis, seed), random_inputs(analysis, seed)
    ours, theirs = run_onnx(model, feeds), run_opencv(text, weights, feeds, outputs)
    return {name: rel_error(ours[name], theirs[name]) for name in outputs}


@pytest.mark.parametrize("channel_shared", ["true", "false"])
def test_normalize_per_position_matches_opencv(channel_shared):
    text = DATA + (
        'layer { name: "n" type: "Normalize" bottom: "data" top: "n" norm_param { across_spatial: false '
        f'channel_shared: {channel_shared} scale_filler {{ type: "constant" value: 20 }} }} }}'
    )
    assert against_opencv(text, ["n"])["n"] < 1e-6


def test_normalize_across_spatial_matches_the_forks_formula():
    # OpenCV takes only one shared scale across C·H·W; the fork: x / sqrt(Σ_chw x² + eps) · scale[c].
    text = (
        DATA
        + 'layer { name: "n" type: "Normalize" bottom: "data" top: "n" norm_param { channel_shared: false } }'
    )
    model, analysis, _ = compile_text(text)
    weights, feeds = random_weights(analysis), random_inputs(analysis)
    x = feeds["data"].astype(np.float64)
    norm = np.sqrt((x**2).sum(axis=(1, 2, 3), keepdims=True) + 1e-10)
    expected = x / norm * weights["n"][0].reshape(1, -1, 1, 1)
    assert rel_error(run_onnx(model, feeds)["n"], expected) < 1e-6
    shared = DATA + 'layer { name: "n" type: "Normalize" bottom: "data" top: "n" }'
    assert against_opencv(shared, ["n"])["n"] < 1e-6


@pytest.mark.parametrize("field", ["normalize_bbox_param", "norm_param"])
@pytest.mark.parametrize("across, shared", [("false", "false"), ("true", "true"), ("false", "true")])
def test_normalize_bbox_reads_either_field_and_matches_opencv(field, across, shared):
    # The first SSD port's NormalizeBBox; OpenCV runs it with its own field name, norm_param.
    text = DATA + (
        f'layer {{ name: "n" type: "NormalizeBBox" bottom: "data" top: "n" {field} {{ across_spatial: {across} '
        f'channel_shared: {shared} eps: 1e-6 scale_filler {{ type: "constant" value: 20 }} }} }}'
    )
    model, analysis, _ = compile_text(text)
    weights, feeds = random_weights(analysis), random_inputs(analysis)
    assert [w.shape for w in analysis.info("n").weights] == [(1,) if shared == "true" else (5,)]
    theirs = run_opencv(text.replace(field, "norm_param"), weights, feeds, ["n"])["n"]
    assert rel_error(run_onnx(model, feeds)["n"], theirs) < 1e-6


def test_detection_output_reads_nms_settings_written_directly_in_its_param():
    # The first SSD deploy files write nms_threshold and top_k in detection_output_param itself;
    # OpenCV reads that spelling too, and it means what nms_param { ... } means.
    nested = detection_net("background_label_id: 0 nms_param { nms_threshold: 0.6 top_k: 6 } "
                           "code_type: CENTER_SIZE keep_top_k: 15 confidence_threshold: 0.2", images=2)  # fmt: skip
    flat = nested.replace("nms_param { nms_threshold: 0.6 top_k: 6 }", "nms_threshold: 0.6 top_k: 6")
    assert "nms_param" not in flat
    model, analysis, _ = compile_text(flat)
    assert analysis.info("det").tops == [(1, 1, 2 * 15, 7)]  # top_k 6 x 3 classes, keep_top_k 15
    feeds = random_inputs(analysis, 1)
    feeds["loc"] *= 0.5
    ours = run_onnx(model, feeds)["det"]
    assert ours.shape[2] > 2
    np.testing.assert_array_equal(ours, run_onnx(compile_text(nested)[0], feeds)["det"])
    assert rel_error(rows_by_label(ours), rows_by_label(run_opencv(flat, {}, feeds, ["det"])["det"])) < 1e-6
    strict = run_onnx(compile_text(flat.replace("nms_threshold: 0.6 ", ""))[0], feeds)["det"]
    assert strict.shape[2] < ours.shape[2]  # the flat threshold is read, not the default 0.3


def test_normalize_scale_blob_is_one_value_or_one_per_channel():
    for shared, shape in (("true", (1,)), ("false", (5,))):
        analysis, _ = analyse(
            DATA + f'layer {{ name: "n" type: "Normalize" bottom: "data" top: "n" '
            f"norm_param {{ channel_shared: {shared} }} }}"
        )
        assert [w.shape for w in analysis.info("n").weights] == [shape]


def test_permute_matches_opencv_and_appends_unlisted_axes():
    text = (
        DATA
        + 'layer { name: "p" type: "Permute" bottom: "data" top: "p" permute_param { order: 0 order: 2 } }'
    )
    analysis, _ = analyse(text)
    assert analysis.info("p").tops == [(2, 7, 5, 9)]
    full = DATA + (
        'layer { name: "p" type: "Permute" bottom: "data" top: "p" '
        "permute_param { order: 0 order: 2 order: 3 order: 1 } }"
    )
    assert against_opencv(full, ["p"])["p"] == 0.0


PRIOR_CASES = [
    "min_size: 12 max_size: 25 aspect_ratio: 2 aspect_ratio: 3 flip: true clip: false "
    "variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2",
    "min_size: 12 min_size: 20 max_size: 25 max_size: 30 aspect_ratio: 2 aspect_ratio: 0.5 "
    "aspect_ratio: 3 variance: 0.1 clip: false",
    "min_size: 12 aspect_ratio: 2 flip: false clip: true variance: 0.1 step: 16 offset: 0.3",
    "min_size: 30 variance: 0.1 step_h: 10 step_w: 12 clip: false",
]


@pytest.mark.parametrize("params", PRIOR_CASES)
def test_prior_box_matches_opencv(params):
    text = (
        FEAT
        + f'layer {{ name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" prior_box_param {{ {params} }} }}'
    )
    assert against_opencv(text, ["pb"])["pb"] < 1e-6


def fork_prior_box(fh, fw, ih, iw, p: dict) -> np.ndarray:
    """PriorBoxLayer::Forward_cpu of weiliu89/caffe (ssd), loop for loop; with "centres", each box
    at each (down, across) offset in turn, as OpenCV's PriorBox loops over offset_h/offset_w."""
    img_h, img_w = p.get("img_h", p.get("img_size", ih)), p.get("img_w", p.get("img_size", iw))
    step_h = p.get("step_h", p.get("step", img_h / fh))
    step_w = p.get("step_w", p.get("step", img_w / fw))
    ratios = [1.0]
    for r in p.get("aspect_ratio", []):
        if all(abs(r - a) >= 1e-6 for a in ratios):
            ratios += [r, 1 / r] if p.get("flip", True) else [r]
    out = []
    for h in range(fh):
        for w in range(fw):
            for s, low in enumerate(p["min_size"]):
                sizes = [(low, low)]
                if "max_size" in p:
                    side = np.sqrt(low * p["max_size"][s])
                    sizes.append((side, side))
                sizes += [(low * np.sqrt(r), low / np.sqrt(r)) for r in ratios if abs(r - 1) >= 1e-6]
                for bw, bh in sizes:
                    for down, across in p.get("centres", [(p.get("offset", 0.5),) * 2]):
                        cx, cy = (w + across) * step_w, (h + down) * step_h
                        out += [
                            (cx - bw / 2) / img_w,
                            (cy - bh / 2) / img_h,
                            (cx + bw / 2) / img_w,
                            (cy + bh / 2) / img_h,
                        ]
    out = np.asarray(out)
    if p.get("clip", False):
        out = np.clip(out, 0, 1)
    return np.stack([out, np.tile(p["variance"], len(out) // 4)])[None]


@pytest.mark.parametrize(
    "text, params",
    [
        ("min_size: 12 img_size: 300 variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2",
         {"min_size": [12], "img_size": 300, "variance": [0.1, 0.1, 0.2, 0.2]}),
        ("min_size: 12 max_size: 40 aspect_ratio: 2 img_h: 300 img_w: 200 step: 16 variance: 0.1 clip: true",
         {"min_size": [12], "max_size": [40], "aspect_ratio": [2], "img_h": 300, "img_w": 200, "step": 16,
          "variance": [0.1] * 4, "clip": True}),
    ],
)  # fmt: skip
def test_prior_box_image_size_fields_follow_the_fork(text, params):
    # OpenCV reads the image size from bottom 1 even when img_size/img_h/img_w are given.
    spec = (
        FEAT
        + f'layer {{ name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" prior_box_param {{ {text} }} }}'
    )
    model, analysis, _ = compile_text(spec)
    ours = run_onnx(model, random_inputs(analysis))["pb"]
    assert rel_error(ours, fork_prior_box(3, 5, 37, 50, params)) < 1e-6


def test_prior_box_is_a_constant_of_the_shapes():
    text = FEAT + (
        'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
        "prior_box_param { min_size: 12 max_size: 25 aspect_ratio: 2 variance: 0.1 } }"
    )
    analysis, _ = analyse(text)
    assert analysis.info("pb").tops == [(1, 2, 3 * 5 * 4 * 4)]  # priors: 1, sqrt(min·max), 2, 1/2
    model, _, _ = compile_text(text)
    assert [n.op_type for n in model.graph.node] == ["Identity"]  # the output is an initializer


def textboxes_prior_box(fh, fw, ih, iw, min_size, max_size, ratios, clip, offset=None) -> np.ndarray:
    """PriorBoxLayer::Forward_cpu of MhLiao/TextBoxes, loop for loop: each box twice per cell,
    centred at (w + 0.5, h + 0.5) and (w + 0.5, h + 1) cells (four variances); `ratios` are the
    ratios after flip.  With `offset`, TextBoxes++'s with denser_prior_boxes: (w + offset,
    h + offset) and (w + offset, h + 1), and its min_size and max_size read as ints."""
    step_x, step_y = np.float32(iw) / fw, np.float32(ih) / fh
    if offset is not None:  # TextBoxes++: int min_size_ = min_sizes_[s]
        min_size, max_size = int(min_size), int(max_size)
    offset = 0.5 if offset is None else offset
    out = []
    for h in range(fh):
        for w in range(fw):
            cx, cy, cy_1 = (w + offset) * step_x, (h + offset) * step_y, (h + 1.0) * step_y
            sizes = [(min_size, min_size)]
            if max_size > 0:
                sizes.append((np.sqrt(min_size * max_size),) * 2)
            sizes += [(min_size * np.sqrt(r), min_size / np.sqrt(r)) for r in ratios if abs(r - 1) >= 1e-6]
            for bw, bh in sizes:
                for y in (cy, cy_1):
                    out += [(cx - bw / 2) / iw, (y - bh / 2) / ih, (cx + bw / 2) / iw, (y + bh / 2) / ih]
    out = np.clip(out, 0, 1) if clip else np.asarray(out)
    return np.stack([out, np.tile([0.1, 0.1, 0.2, 0.2], len(out) // 4)])[None]


TEXTBOXES_PRIORS = (
    "min_size: 12 max_size: 25 aspect_ratio: 2 aspect_ratio: 5 aspect_ratio: 10 flip: false clip: true "
    "variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 offset_h: 0.5 offset_w: 0.5 offset_h: 1 offset_w: 0.5"
)


def test_prior_box_centres_per_cell_follow_textboxes_and_opencv():
    # TextBoxes' two centres per cell, written as OpenCV's copy of its deploy file writes them.
    text = (
        FEAT + f'layer {{ name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
        f"prior_box_param {{ {TEXTBOXES_PRIORS} }} }}"
    )
    analysis, _ = analyse(text)
    assert analysis.info("pb").tops == [(1, 2, 3 * 5 * (2 + 3) * 2 * 4)]  # 5 boxes, 2 centres each
    model, analysis, _ = compile_text(text)
    ours = run_onnx(model, random_inputs(analysis))["pb"]
    assert rel_error(ours, textboxes_prior_box(3, 5, 37, 50, 12, 25, [2, 5, 10], True)) < 1e-6
    assert against_opencv(text, ["pb"])["pb"] < 1e-6


@pytest.mark.parametrize("offset, sizes", [(0.5, (12, 25)), (0.25, (12.7, 25.5))])
def test_prior_box_denser_prior_boxes_follow_textboxes_plus_plus(offset, sizes):
    # TextBoxes++'s field for the same two centres: (offset, offset) and one cell down, (1, offset).
    text = (
        FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" prior_box_param { '
        f"min_size: {sizes[0]} max_size: {sizes[1]} aspect_ratio: 2 aspect_ratio: 3 flip: true clip: false "
        f"offset: {offset} "
        "variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 denser_prior_boxes: true } }"
    )
    model, analysis, _ = compile_text(text)
    assert analysis.info("pb").tops == [(1, 2, 3 * 5 * (2 + 4) * 2 * 4)]
    ours = run_onnx(model, random_inputs(analysis))["pb"]
    expected = textboxes_prior_box(3, 5, 37, 50, *sizes, [2, 1 / 2, 3, 1 / 3], False, offset=offset)
    assert rel_error(ours, expected) < 1e-6
    if offset == 0.5:  # the pairs OpenCV reads give the same boxes
        pairs = text.replace("offset: 0.5", "").replace(
            "denser_prior_boxes: true", "offset_h: 0.5 offset_w: 0.5 offset_h: 1 offset_w: 0.5"
        )
        assert against_opencv(pairs, ["pb"])["pb"] < 1e-6


def test_prior_box_with_three_centres_per_cell_gives_each_box_three_times():
    # OpenCV sizes its output for at most two centres, so three are held against the loops alone.
    text = (
        FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" prior_box_param { '
        "min_size: 12 aspect_ratio: 2 flip: true variance: 0.1 offset_h: 0 offset_w: 0 offset_h: 0.5 "
        "offset_w: 0.25 offset_h: 1 offset_w: 0.5 } }"
    )
    model, analysis, _ = compile_text(text)
    ours = run_onnx(model, random_inputs(analysis))["pb"]
    expected = fork_prior_box(3, 5, 37, 50, {"min_size": [12], "aspect_ratio": [2], "variance": [0.1] * 4,
                                             "centres": [(0, 0), (0.5, 0.25), (1, 0.5)]})  # fmt: skip
    assert ours.shape == (1, 2, 3 * 5 * 3 * 3 * 4)
    assert rel_error(ours, expected) < 1e-6


def detection_net(detection: str, images: int = 1, classes: int = 4, share: bool = True) -> str:
    """A DetectionOutput fed by inputs; with share=False, loc holds a box per class (share_location)."""
    priors = 3 * 5 * 4
    return (
        f'name: "t" input: "feat" input_shape {{ dim: {images} dim: 2 dim: 3 dim: 5 }}\n'
        f'input: "img" input_shape {{ dim: {images} dim: 3 dim: 37 dim: 50 }}\n'
        f'input: "loc" input_shape {{ dim: {images} dim: {priors * 4 * (1 if share else classes)} }}\n'
        f'input: "conf_raw" input_shape {{ dim: {images} dim: {priors} dim: {classes} }}\n'
        'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" prior_box_param { '
        "min_size: 12 max_size: 25 aspect_ratio: 2 flip: true clip: false "
        "variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } }\n"
        'layer { name: "sm" type: "Softmax" bottom: "conf_raw" top: "sm" softmax_param { axis: 2 } }\n'
        'layer { name: "fl" type: "Flatten" bottom: "sm" top: "conf" }\n'
        'layer { name: "det" type: "DetectionOutput" bottom: "loc" bottom: "conf" bottom: "pb" top: "det" '
        f"detection_output_param {{ num_classes: {classes} share_location: {str(share).lower()} {detection} }} }}\n"
    )


DETECTION_CASES = [
    ("background_label_id: 0 nms_param { nms_threshold: 0.45 top_k: 20 } code_type: CENTER_SIZE "
     "keep_top_k: 15 confidence_threshold: 0.3", 1),
    ("background_label_id: 0 nms_param { nms_threshold: 0.45 } code_type: CENTER_SIZE keep_top_k: 1000 "
     "confidence_threshold: 0.3", 1),
    ("background_label_id: 1 nms_param { nms_threshold: 0.3 top_k: 5 } code_type: CORNER keep_top_k: 100 "
     "confidence_threshold: 0.2", 1),
    ("background_label_id: 0 nms_param { nms_threshold: 0.45 top_k: 20 } code_type: CENTER_SIZE "
     "keep_top_k: 7 confidence_threshold: 0.3", 3),
    ("background_label_id: 0 nms_param { nms_threshold: 0.5 top_k: 30 } code_type: CENTER_SIZE keep_top_k: 50", 1),
]  # fmt: skip
PER_CLASS_CASES = [  # share_location: false, a box per class
    ("background_label_id: 0 nms_param { nms_threshold: 0.45 top_k: 20 } code_type: CENTER_SIZE "
     "keep_top_k: 15 confidence_threshold: 0.3", 2),
    ("background_label_id: 2 nms_param { nms_threshold: 0.3 } code_type: CORNER keep_top_k: 100 "
     "confidence_threshold: 0.2", 2),
]  # fmt: skip


@pytest.mark.parametrize(
    "detection, images, share",
    [(*case, True) for case in DETECTION_CASES] + [(*case, False) for case in PER_CLASS_CASES],
)
def test_detection_output_matches_opencv(detection, images, share):
    text = detection_net(detection, images, share=share)
    model, analysis, _ = compile_text(text)
    feeds = random_inputs(analysis, 1)
    feeds["loc"] *= 0.5
    ours = run_onnx(model, feeds)["det"]
    theirs = run_opencv(text, {}, feeds, ["det"])["det"]
    assert ours.shape[:2] == (1, 1) and ours.shape[3] == 7 and ours.shape[2] > 1
    assert ours.reshape(-1, 7)[:, 2].min() > 0
    np.testing.assert_array_equal(ours.reshape(-1, 7), rows_by_label(ours))  # the fork's order
    assert rel_error(rows_by_label(ours), rows_by_label(theirs)) < 1e-6


LOWEST = -float(np.finfo(np.float32).max)  # the fork's threshold when none is given


def fork_detection_output(
    loc,
    conf,
    prior,
    classes,
    *,
    background=0,
    nms=0.45,
    top_k=-1,
    keep_top_k=-1,
    threshold=LOWEST,
    code="CENTER_SIZE",
    encoded=False,
    share=True,
    eta=1.0,
    polygon=False,
):
    """DetectionOutputLayer::Forward_cpu of weiliu89/caffe (ssd), loop for loop: GetLocPredictions
    (loc as priors x loc classes x 4), DecodeBBox, GetMaxScoreIndex (stable sort), ApplyNMSFast
    (with eta < 1 the threshold times eta after each kept box while above 0.5), JaccardOverlap.
    With share=False each class has its own boxes (share_location).  With polygon=True, TextBoxes++'s
    (MhLiao/TextBoxes_plusplus): 12 offsets per prior, GetLocPredictions' box then quadrilateral,
    DecodeBBoxPolygon's corners (CENTER_SIZE), rows of 15."""
    boxes, variances = prior[0, 0].reshape(-1, 4), prior[0, 1].reshape(-1, 4)

    def decode(p, v, b):
        v = np.ones(4) if encoded else v
        if code == "CORNER":
            return p + v * b
        w, h = p[2] - p[0], p[3] - p[1]
        if code == "CORNER_SIZE":
            return p + v * b * np.array([w, h, w, h])
        cx, cy = v[0] * b[0] * w + (p[0] + p[2]) / 2, v[1] * b[1] * h + (p[1] + p[3]) / 2
        dw, dh = np.exp(v[2] * b[2]) * w, np.exp(v[3] * b[3]) * h
        return np.array([cx - dw / 2, cy - dh / 2, cx + dw / 2, cy + dh / 2])

    def overlap(a, b):
        if b[0] > a[2] or b[2] < a[0] or b[1] > a[3] or b[3] < a[1]:
            return 0.0
        inter = (min(a[2], b[2]) - max(a[0], b[0])) * (min(a[3], b[3]) - max(a[1], b[1]))
        size = lambda x: 0.0 if x[2] < x[0] or x[3] < x[1] else (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
        return inter / (size(a) + size(b) - inter)

    def quadrilateral(p, v, q):  # DecodeBBoxPolygon: x_k = v0 · q · prior width + the prior's corner k
        w, h = p[2] - p[0], p[3] - p[1]
        corners = [p[0], p[1], p[2], p[1], p[2], p[3], p[0], p[3]]
        return [v[k % 2] * q[k] * (w if k % 2 == 0 else h) + corners[k] for k in range(8)]

    out = []
    for i in range(loc.shape[0]):
        offsets = loc[i].reshape(len(boxes), 1 if share else classes, 12 if polygon else 4)
        scores = conf[i].reshape(-1, classes)
        kept, by_class = {}, {}
        for c in range(classes):
            if c == background:
                continue
            mine = offsets[:, 0 if share else c]
            decoded = [decode(*a) for a in zip(boxes, variances, mine[:, :4])]
            quads = (
                [quadrilateral(*a) for a in zip(boxes, variances, mine[:, 4:])]
                if polygon
                else [[]] * len(mine)
            )
            by_class[c] = [[*b, *q] for b, q in zip(decoded, quads)]
            order = [
                j for j in sorted(range(len(boxes)), key=lambda j: -scores[j, c]) if scores[j, c] > threshold
            ]
            order = order[:top_k] if top_k > -1 else order
            chosen, adaptive = [], np.float32(nms)
            for j in order:
                if all(overlap(decoded[j], decoded[k]) <= adaptive for k in chosen):
                    chosen.append(j)
                    if eta < 1 and adaptive > 0.5:
                        adaptive *= np.float32(eta)
            kept[c] = chosen
        pairs = [(scores[j, c], c, j) for c, js in kept.items() for j in js]
        if keep_top_k > -1 and len(pairs) > keep_top_k:
            pairs = sorted(pairs, key=lambda s: -s[0])[:keep_top_k]
        for c in sorted({c for _, c, _ in pairs}):
            for s, _, j in sorted([p for p in pairs if p[1] == c], key=lambda p: -p[0]):
                out.append([i, c, s, *by_class[c][j]])
    return np.asarray(out).reshape(1, 1, -1, 15 if polygon else 7)


def against_the_fork(detection: str, reference: dict, seed: int):
    """(ours, the fork's rows, the fork's inputs) for detection_net(detection) over two images."""
    model, analysis, _ = compile_text(detection_net(detection, images=2, share=reference.get("share", True)))
    feeds = random_inputs(analysis, seed)
    feeds["loc"] *= 0.3
    conf = np.exp(feeds["conf_raw"]) / np.exp(feeds["conf_raw"]).sum(axis=2, keepdims=True)
    prior = fork_prior_box(3, 5, 37, 50, {"min_size": [12], "max_size": [25], "aspect_ratio": [2],
                                          "variance": [0.1, 0.1, 0.2, 0.2]})  # fmt: skip
    inputs = feeds["loc"].astype(np.float64), conf, prior.astype(np.float64), 4
    return run_onnx(model, feeds)["det"], fork_detection_output(*inputs, **reference), inputs


@pytest.mark.parametrize(
    "detection, reference",
    [
        ("background_label_id: -1 nms_param { nms_threshold: 0.3 top_k: 8 } code_type: CORNER "
         "confidence_threshold: 0.2", dict(background=-1, nms=0.3, top_k=8, code="CORNER", threshold=0.2)),
        ("background_label_id: 2 nms_param { nms_threshold: 0.5 } code_type: CORNER_SIZE keep_top_k: 9",
         dict(background=2, nms=0.5, code="CORNER_SIZE", keep_top_k=9)),
        ("nms_param { nms_threshold: 0.4 top_k: 12 } code_type: CENTER_SIZE variance_encoded_in_target: true "
         "keep_top_k: 20 confidence_threshold: 0.25",
         dict(nms=0.4, top_k=12, encoded=True, keep_top_k=20, threshold=0.25)),
        ("background_label_id: -1 nms_param { nms_threshold: 0.35 top_k: 10 } code_type: CORNER_SIZE "
         "confidence_threshold: 0.2", dict(background=-1, nms=0.35, top_k=10, code="CORNER_SIZE", threshold=0.2,
                                           share=False)),
    ],
)  # fmt: skip
def test_detection_output_cases_opencv_cannot_run_follow_the_fork(detection, reference):
    # OpenCV fails on background -1 and keep_top_k -1, lacks CORNER_SIZE, and wants a 1-channel prior
    # with variance_encoded_in_target; these follow the fork's C++ transcribed into numpy.
    ours, expected, _ = against_the_fork(detection, reference, seed=2)
    assert ours.shape == expected.shape and ours.shape[2] > 2
    assert rel_error(ours, expected) < 1e-5


@pytest.mark.parametrize("share", [True, False])
def test_textboxes_plus_plus_polygons_follow_the_fork(share):
    # use_polygon: 12 offsets per prior (a box, then a quadrilateral), NMS on the boxes, rows of 15
    # [image, label, score, xmin, ymin, xmax, ymax, x1, y1, x2, y2, x3, y3, x4, y4].
    detection = ("background_label_id: 0 nms_param { nms_threshold: 0.45 top_k: 20 } code_type: CENTER_SIZE "
                 "keep_top_k: 30 confidence_threshold: 0.2 use_polygon: true")  # fmt: skip
    per_image = 3 * 5 * 4 * 12 * (1 if share else 4)
    text = detection_net(detection, images=2, share=share).replace(
        f"dim: {per_image // 3} }}", f"dim: {per_image} }}", 1
    )
    model, analysis, _ = compile_text(text)
    assert analysis.info("det").tops == [(1, 1, 2 * 30, 15)]
    feeds = random_inputs(analysis, 4)
    feeds["loc"] *= 0.3
    ours = run_onnx(model, feeds)["det"]
    conf = np.exp(feeds["conf_raw"]) / np.exp(feeds["conf_raw"]).sum(axis=2, keepdims=True)
    prior = fork_prior_box(3, 5, 37, 50, {"min_size": [12], "max_size": [25], "aspect_ratio": [2],
                                          "variance": [0.1, 0.1, 0.2, 0.2]})  # fmt: skip
    expected = fork_detection_output(feeds["loc"].astype(np.float64), conf, prior.astype(np.float64), 4,
                                     nms=0.45, top_k=20, keep_top_k=30, threshold=0.2, share=share, polygon=True)  # fmt: skip
    assert ours.shape == expected.shape and ours.shape[2] > 4
    assert rel_error(ours, expected) < 1e-5
    nothing = run_onnx(compile_text(text.replace("0.2 use_polygon", "0.99 use_polygon"))[0], feeds)["det"]
    np.testing.assert_array_equal(nothing, [[[[0] + [-1] * 14, [1] + [-1] * 14]]])
    assert "write use_polygon: true" in diagnostic(text.replace(" use_polygon: true", ""), "NS0324").help


def test_detection_output_with_nothing_found_writes_one_row_per_image():
    # DetectionOutputLayer::Forward_cpu: no detection in the batch -> [i, -1, -1, -1, -1, -1, -1] per image.
    text = detection_net("background_label_id: 0 nms_param { nms_threshold: 0.45 } keep_top_k: 10 "
                         "confidence_threshold: 0.99", images=2)  # fmt: skip
    model, analysis, _ = compile_text(text)
    out = run_onnx(model, random_inputs(analysis))["det"]
    np.testing.assert_array_equal(out, [[[[0] + [-1] * 6, [1] + [-1] * 6]]])


def test_detection_output_rows_are_symbolic_in_onnx():
    text = detection_net("nms_param { top_k: 20 } keep_top_k: 15")
    analysis, _ = analyse(text)
    assert analysis.info("det").tops == [(1, 1, 15, 7)]  # the most rows it can write
    model, _, _ = compile_text(text)
    dims = [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, "det_2", 7]
    check_shapes_match_onnx(model)


@pytest.mark.parametrize(
    "detection, reference",
    [
        ("nms_param { nms_threshold: 0.8 top_k: 25 eta: 0.7 } code_type: CENTER_SIZE keep_top_k: 40 "
         "confidence_threshold: 0.1", dict(nms=0.8, top_k=25, eta=0.7, keep_top_k=40, threshold=0.1)),
        ("background_label_id: -1 nms_param { nms_threshold: 0.9 eta: 0.85 } code_type: CORNER",
         dict(background=-1, nms=0.9, eta=0.85, code="CORNER")),
        ("background_label_id: 2 nms_param { nms_threshold: 0.75 top_k: 12 eta: 0.9 } code_type: CORNER_SIZE "
         "confidence_threshold: 0.2", dict(background=2, nms=0.75, top_k=12, eta=0.9, code="CORNER_SIZE",
                                           threshold=0.2, share=False)),
    ],
)  # fmt: skip
def test_adaptive_nms_follows_the_forks_shrinking_threshold(detection, reference):
    # eta < 1: ApplyNMSFast multiplies its threshold by eta after each box it keeps (while above 0.5),
    # so what survives depends on what was kept before; a Loop over each class's ranks does the same.
    model, _, _ = compile_text(detection_net(detection, images=2, share=reference.get("share", True)))
    assert "Loop" in {n.op_type for n in model.graph.node}
    ours, expected, inputs = against_the_fork(detection, reference, seed=3)
    assert ours.shape == expected.shape and ours.shape[2] > 4
    assert rel_error(ours, expected) < 1e-5
    fixed = fork_detection_output(*inputs, **{**reference, "eta": 1.0})
    assert fixed.shape != expected.shape or not np.allclose(fixed, expected)  # eta changed what was kept


# The first SSD port's deploy style (OpenCV's samples): NormalizeBBox, and nms_threshold and top_k
# written directly in detection_output_param, among BVLC layers.
FIRST_SSD = """name: "first_ssd"
input: "data" input_shape { dim: 1 dim: 3 dim: 32 dim: 40 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "norm" type: "NormalizeBBox" bottom: "pool1" top: "norm"
  normalize_bbox_param { across_spatial: false channel_shared: false scale_filler { type: "constant" value: 20 } } }
layer { name: "loc" type: "Convolution" bottom: "norm" top: "loc" convolution_param { num_output: 12 kernel_size: 3 pad: 1 } }
layer { name: "loc_perm" type: "Permute" bottom: "loc" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "loc_flat" type: "Flatten" bottom: "loc_perm" top: "loc_flat" }
layer { name: "conf" type: "Convolution" bottom: "norm" top: "conf" convolution_param { num_output: 9 kernel_size: 3 pad: 1 } }
layer { name: "conf_perm" type: "Permute" bottom: "conf" top: "conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conf_flat" type: "Flatten" bottom: "conf_perm" top: "conf_flat" }
layer { name: "pb" type: "PriorBox" bottom: "norm" bottom: "data" top: "pb"
  prior_box_param { min_size: 8 max_size: 20 aspect_ratio: 2 flip: false clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } }
layer { name: "conf_reshape" type: "Reshape" bottom: "conf_flat" top: "conf_reshape" reshape_param { shape { dim: 0 dim: -1 dim: 3 } } }
layer { name: "conf_softmax" type: "Softmax" bottom: "conf_reshape" top: "conf_softmax" softmax_param { axis: 2 } }
layer { name: "conf_sm_flat" type: "Flatten" bottom: "conf_softmax" top: "conf_sm_flat" }
layer { name: "det" type: "DetectionOutput" bottom: "loc_flat" bottom: "conf_sm_flat" bottom: "pb" top: "det"
  detection_output_param { num_classes: 3 share_location: true background_label_id: 0 nms_threshold: 0.45 top_k: 40
    code_type: CENTER_SIZE keep_top_k: 30 confidence_threshold: 0.2 } }
"""


def test_a_first_ssd_deploy_net_checks_compiles_and_runs_as_opencv_does():
    model, analysis, diagnostics = compile_text(FIRST_SSD)
    assert not diagnostics.has_errors and [o.name for o in model.graph.output] == ["det"]
    assert analysis.info("det").tops == [(1, 1, 30, 7)]
    weights, feeds = random_weights(analysis), random_inputs(analysis)
    ours = run_onnx(compile_text(FIRST_SSD, outputs=("norm", "conf_sm_flat", "det"))[0], feeds)
    opencv = FIRST_SSD.replace("normalize_bbox_param", "norm_param")  # OpenCV's name for the field
    theirs = run_opencv(opencv, weights, feeds, ["norm", "conf_sm_flat", "det"])
    assert rel_error(ours["norm"], theirs["norm"]) < 1e-5  # float32 sums of ReLU outputs, some tiny
    assert rel_error(ours["conf_sm_flat"], theirs["conf_sm_flat"]) < 1e-5
    assert ours["det"].shape[2] > 2
    assert rel_error(rows_by_label(ours["det"]), rows_by_label(theirs["det"])) < 1e-5


# A TextBoxes-like deploy net (its 1 x 5 heads, two prior centres per cell), from the one above.
TEXTBOXES = (
    FIRST_SSD.replace('type: "NormalizeBBox"', 'type: "Normalize"')
    .replace("normalize_bbox_param", "norm_param")
    .replace(
        "num_output: 12 kernel_size: 3 pad: 1", "num_output: 24 kernel_h: 1 kernel_w: 5 pad_h: 0 pad_w: 2"
    )
    .replace(
        "num_output: 9 kernel_size: 3 pad: 1", "num_output: 18 kernel_h: 1 kernel_w: 5 pad_h: 0 pad_w: 2"
    )
    .replace("variance: 0.2 } }", "variance: 0.2 offset_h: 0.5 offset_w: 0.5 offset_h: 1 offset_w: 0.5 } }")
)


def test_textboxes_own_priors_without_their_centres_are_diagnosed_with_the_fix():
    # MhLiao/TextBoxes' PriorBox centres each box twice in its C++, with no field saying so: read as
    # SSD's, the priors are half what the heads predict for, and the help names the fields to write.
    own = TEXTBOXES.replace(" offset_h: 0.5 offset_w: 0.5 offset_h: 1 offset_w: 0.5", "")
    found = diagnostic(own, "NS0324")
    assert "7680 box offsets" in found.message and "offset_h: 0.5 offset_w: 0.5 offset_h: 1" in found.help
    assert (found.span.line, found.span.column) == position(
        own, '"loc_flat" bottom', after=own.index('"det"')
    )


def test_a_textboxes_like_net_checks_compiles_and_runs_as_opencv_does():
    assert TEXTBOXES.count("offset_h") == 2 and "kernel_size: 3 pad: 1" in TEXTBOXES  # conv1 stays
    model, analysis, diagnostics = compile_text(TEXTBOXES, outputs=("pb", "det"))
    assert not diagnostics.has_errors
    assert analysis.info("pb").tops == [(1, 2, 16 * 20 * 3 * 2 * 4)]
    weights, feeds = random_weights(analysis), random_inputs(analysis, 3)  # compile_text's weights
    ours, theirs = run_onnx(model, feeds), run_opencv(TEXTBOXES, weights, feeds, ["pb", "det"])
    assert rel_error(ours["pb"], theirs["pb"]) < 1e-6
    assert ours["det"].shape[2] > 2
    assert rel_error(rows_by_label(ours["det"]), rows_by_label(theirs["det"])) < 1e-5


# An SSD train/test file in the fork's style: AnnotatedData with its augmentations, MultiBoxLoss
# at TRAIN, DetectionOutput then DetectionEvaluate at TEST.
TRAIN_TEST = """name: "ssd_train"
layer { name: "data" type: "AnnotatedData" top: "data" top: "label" include { phase: TRAIN }
  transform_param { mirror: true mean_value: 104 mean_value: 117 mean_value: 123
    resize_param { prob: 1 resize_mode: WARP height: 64 width: 64 interp_mode: LINEAR interp_mode: AREA }
    emit_constraint { emit_type: CENTER }
    distort_param { brightness_prob: 0.5 brightness_delta: 32 contrast_prob: 0.5 contrast_lower: 0.5 contrast_upper: 1.5 }
    expand_param { prob: 0.5 max_expand_ratio: 4.0 } }
  data_param { source: "train_lmdb" batch_size: 4 backend: LMDB }
  annotated_data_param {
    batch_sampler { max_sample: 1 max_trials: 1 }
    batch_sampler { sampler { min_scale: 0.3 max_scale: 1.0 min_aspect_ratio: 0.5 max_aspect_ratio: 2.0 }
                    sample_constraint { min_jaccard_overlap: 0.1 } max_sample: 1 max_trials: 50 }
    label_map_file: "labelmap.prototxt" } }
layer { name: "data" type: "AnnotatedData" top: "data" top: "label" include { phase: TEST }
  transform_param { mean_value: 104 mean_value: 117 mean_value: 123 force_color: true
    resize_param { prob: 1 resize_mode: WARP height: 64 width: 64 interp_mode: LINEAR } }
  data_param { source: "test_lmdb" batch_size: 2 backend: LMDB }
  annotated_data_param { batch_sampler { } label_map_file: "labelmap.prototxt" } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 8 kernel_size: 8 stride: 8 } }
layer { name: "loc" type: "Convolution" bottom: "conv" top: "loc" convolution_param { num_output: 12 kernel_size: 3 pad: 1 } }
layer { name: "loc_perm" type: "Permute" bottom: "loc" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "loc_flat" type: "Flatten" bottom: "loc_perm" top: "loc_flat" }
layer { name: "conf" type: "Convolution" bottom: "conv" top: "conf" convolution_param { num_output: 12 kernel_size: 3 pad: 1 } }
layer { name: "conf_perm" type: "Permute" bottom: "conf" top: "conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conf_flat" type: "Flatten" bottom: "conf_perm" top: "conf_flat" }
layer { name: "pb" type: "PriorBox" bottom: "conv" bottom: "data" top: "pb" prior_box_param { min_size: 20 max_size: 40 aspect_ratio: 2 flip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } }
layer { name: "mbox_loss" type: "MultiBoxLoss" bottom: "loc_flat" bottom: "conf_flat" bottom: "pb" bottom: "label" top: "mbox_loss"
  include { phase: TRAIN } propagate_down: true propagate_down: true propagate_down: false propagate_down: false
  loss_param { normalization: VALID }
  multibox_loss_param { loc_loss_type: SMOOTH_L1 conf_loss_type: SOFTMAX loc_weight: 1.0 num_classes: 4 share_location: true
    match_type: PER_PREDICTION overlap_threshold: 0.5 use_prior_for_matching: true background_label_id: 0 use_difficult_gt: true
    neg_pos_ratio: 3.0 neg_overlap: 0.5 code_type: CENTER_SIZE ignore_cross_boundary_bbox: false mining_type: MAX_NEGATIVE } }
layer { name: "conf_reshape" type: "Reshape" bottom: "conf_flat" top: "conf_reshape" include { phase: TEST } reshape_param { shape { dim: 0 dim: -1 dim: 4 } } }
layer { name: "conf_softmax" type: "Softmax" bottom: "conf_reshape" top: "conf_softmax" include { phase: TEST } softmax_param { axis: 2 } }
layer { name: "conf_sm_flat" type: "Flatten" bottom: "conf_softmax" top: "conf_sm_flat" include { phase: TEST } }
layer { name: "det" type: "DetectionOutput" bottom: "loc_flat" bottom: "conf_sm_flat" bottom: "pb" top: "det" include { phase: TEST }
  detection_output_param { num_classes: 4 share_location: true background_label_id: 0 nms_param { nms_threshold: 0.45 top_k: 40 }
    save_output_param { label_map_file: "labelmap.prototxt" output_format: "VOC" } code_type: CENTER_SIZE keep_top_k: 20 confidence_threshold: 0.01 } }
layer { name: "eval" type: "DetectionEvaluate" bottom: "det" bottom: "label" top: "eval" include { phase: TEST }
  detection_evaluate_param { num_classes: 4 background_label_id: 0 overlap_threshold: 0.5 evaluate_difficult_gt: false } }
"""


def test_ssd_train_and_test_files_check_in_both_phases():
    from netspec.frontend.select import TRAIN
    from netspec.pipeline import check

    train = check("t.prototxt", content=TRAIN_TEST, phase=TRAIN, inputs={"data": (4, 3, 64, 64)})
    assert not train.diagnostics.has_errors
    assert train.analysis.info("data").tops == [(4, 3, 64, 64), (1, 1, 1, 8)]  # label rows: the data's
    assert train.analysis.info("mbox_loss").tops == [()]
    test = check("t.prototxt", content=TRAIN_TEST)  # force_color and resize_param size the images
    assert not test.diagnostics.has_errors
    assert test.analysis.info("data").tops == [(2, 3, 64, 64), (1, 1, 1, 8)]
    # At most one row per positive class plus one per detection (2 images x keep_top_k 20).
    assert test.analysis.info("eval").tops == [(1, 1, 3 + 40, 5)]


def test_ssd_training_layers_are_left_out_of_the_deploy_graph():
    model, _, diagnostics = compile_text(TRAIN_TEST)
    assert [i.name for i in model.graph.input] == ["data"]  # the label feeds only DetectionEvaluate
    assert [o.name for o in model.graph.output] == ["det"]
    assert "eval" not in {n.name for n in model.graph.node}
    assert any(d.code == "NS0401" and "eval" in d.message for d in diagnostics)


@pytest.mark.parametrize(
    "text, token, words",
    [
        (TRAIN_TEST.replace("num_classes: 4 share_location: true\n", "share_location: true\n"),
         "multibox_loss_param {", "num_classes is not given"),
        (TRAIN_TEST.replace("share_location: true\n    match_type", "share_location: false\n    match_type"),
         "false\n    match_type", "negative mining"),
        (TRAIN_TEST.replace('bottom: "pb" bottom: "label" top: "mbox_loss"', 'bottom: "pb" bottom: "pb" top: "mbox_loss"'),
         '"pb" top: "mbox_loss"', "not (1, 1, rows, 8)"),
    ],
)  # fmt: skip
def test_bad_multibox_loss_parameters_are_diagnosed_in_the_training_phase(text, token, words):
    from netspec.frontend.select import TRAIN
    from netspec.pipeline import check

    found = check("t.prototxt", content=text, phase=TRAIN, inputs={"data": (4, 3, 64, 64)}).diagnostics
    (problem,) = [d for d in found if d.code == "NS0324"]
    assert words in problem.message
    assert (problem.span.line, problem.span.column) == position(text, token, after=text.index("MultiBoxLoss"))


BROKEN = [
    ("NS0324", TRAIN_TEST.replace('bottom: "det" bottom: "label"', 'bottom: "pb" bottom: "label"'),
     '"pb" bottom: "label" top: "eval"'),
    ("NS0377", TRAIN_TEST.replace("resize_mode: WARP height: 64 width: 64 interp_mode: LINEAR }",
                                  "resize_mode: FIT_SMALL_SIZE height: 64 width: 64 }"), "2 backend"),
    ("NS0321", DATA + 'layer { name: "n" type: "Normalize" bottom: "data" top: "n" norm_param { eps: 0 } }', "0 }"),
    ("NS0322", DATA + 'layer { name: "p" type: "Permute" bottom: "data" top: "p" permute_param { order: 0 order: 4 } }',
     "4 }"),
    ("NS0322", DATA + 'layer { name: "p" type: "Permute" bottom: "data" top: "p" permute_param { order: 1 order: 1 } }',
     "1 }"),
    ("NS0323", FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
     "prior_box_param { aspect_ratio: 2 } }", "prior_box_param"),
    ("NS0323", FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
     "prior_box_param { min_size: 30 max_size: 20 } }", "20"),
    ("NS0323", FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
     "prior_box_param { min_size: 30 variance: 0.1 variance: 0.2 } }", "0.1"),
    ("NS0323", FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
     "prior_box_param { min_size: 30 step: 8 step_h: 8 } }", "8 step_h"),
    ("NS0323", FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
     "prior_box_param { min_size: 30 img_h: 300 } }", "300"),
    ("NS0323", FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
     "prior_box_param { min_size: 30 offset_h: 0.5 offset_h: 1 offset_w: 0.5 } }", "0.5 offset_h"),
    ("NS0323", FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
     "prior_box_param { min_size: 30 offset: 0.5 offset_h: 1 offset_w: 0.5 } }", "0.5 offset_h"),
    ("NS0323", FEAT + 'layer { name: "pb" type: "PriorBox" bottom: "feat" bottom: "img" top: "pb" '
     "prior_box_param { min_size: 30 denser_prior_boxes: true offset_h: 1 offset_w: 0.5 } }", "true offset_h"),
    ("NS0324", detection_net("keep_top_k: 5").replace("num_classes: 4 ", ""), "detection_output_param"),
    ("NS0324", detection_net("keep_top_k: 5").replace("dim: 240 }", "dim: 236 }"), '"loc"'),
    ("NS0324", detection_net("background_label_id: 4"), "4 }"),
    ("NS0324", detection_net("code_type: CORNER use_polygon: true"), "true } }"),
    ("NS0324", detection_net("nms_threshold: 0.5 nms_param { nms_threshold: 0.4 }"), "0.5 nms_param"),
    ("NS0324", detection_net("nms_threshold: 1.5"), "1.5"),
    ("NS0321", DATA + 'layer { name: "n" type: "NormalizeBBox" bottom: "data" top: "n" '
     "normalize_bbox_param { eps: 1e-6 } norm_param { eps: 1e-6 } }", "norm_param { eps"),
    ("NS0321", DATA + 'layer { name: "n" type: "NormalizeBBox" bottom: "data" top: "n" '
     "normalize_bbox_param { eps: -1 } }", "-1"),
]  # fmt: skip


@pytest.mark.parametrize("code, text, token", BROKEN, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BROKEN)])
def test_bad_ssd_parameters_are_diagnosed_where_they_are(code, text, token):
    found = diagnostic(text, code)
    assert (found.span.line, found.span.column) == position(text, token, after=text.index("layer {"))
