"""Fast/Faster R-CNN's layer types (netspec/layers/rcnn.py): ROIPooling, held against the fork's
ROIPoolingLayer::Forward_cpu transcribed into numpy (rbgirshick/caffe-fast-rcnn, branch faster-rcnn,
src/caffe/layers/roi_pooling_layer.cpp) and against OpenCV's ROIPooling, bit for bit; SmoothL1Loss's
shape checks (smooth_L1_loss_layer.cpp); and a small Faster-R-CNN-like deploy net."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import analyse, compile_text, diagnostic, position, random_weights, run_onnx, run_opencv

from netspec.diagnostics import Severity
from netspec.pipeline import check
from netspec.proto import caffe_pb2

F32 = np.float32


def caffe_round(v: np.float32) -> int:
    """C's round(): half away from zero (in double, where |v| + 0.5 is exact)."""
    v = float(v)
    return int(np.sign(v) * np.floor(abs(v) + 0.5))


def fork_roi_pooling(x, rois, pooled_h, pooled_w, spatial_scale):
    """ROIPoolingLayer::Forward_cpu, loop for loop, in float32 where the fork computes in Dtype."""
    _, channels, height, width = x.shape
    top = np.full((len(rois), channels, pooled_h, pooled_w), -np.finfo(F32).max, F32)
    scale = F32(spatial_scale)
    for n, roi in enumerate(rois.astype(F32)):
        batch = int(roi[0])
        start_w, start_h, end_w, end_h = (caffe_round(roi[k] * scale) for k in (1, 2, 3, 4))
        bin_h = F32(max(end_h - start_h + 1, 1)) / F32(pooled_h)
        bin_w = F32(max(end_w - start_w + 1, 1)) / F32(pooled_w)
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                hstart = min(max(int(np.floor(F32(ph) * bin_h)) + start_h, 0), height)
                hend = min(max(int(np.ceil(F32(ph + 1) * bin_h)) + start_h, 0), height)
                wstart = min(max(int(np.floor(F32(pw) * bin_w)) + start_w, 0), width)
                wend = min(max(int(np.ceil(F32(pw + 1) * bin_w)) + start_w, 0), width)
                if hend <= hstart or wend <= wstart:
                    top[n, :, ph, pw] = 0
                    continue
                for c in range(channels):
                    for h in range(hstart, hend):
                        for w in range(wstart, wend):
                            if x[batch, c, h, w] > top[n, c, ph, pw]:
                                top[n, c, ph, pw] = x[batch, c, h, w]
    return top


def problems(diagnostics) -> list[str]:
    """The codes of the errors and warnings (not the infos: an upgraded legacy `input`, ...)."""
    return [d.code for d in diagnostics if d.severity is not Severity.INFO]


def roi_net(data, rois, params: str) -> str:
    dims = " ".join(f"dim: {d}" for d in data)
    roi_dims = " ".join(f"dim: {d}" for d in rois)
    return (
        f'name: "t"\ninput: "data" input_shape {{ {dims} }}\ninput: "rois" input_shape {{ {roi_dims} }}\n'
        'layer { name: "pool" type: "ROIPooling" bottom: "data" bottom: "rois" top: "pool" '
        f"roi_pooling_param {{ {params} }} }}\n"
    )


def awkward_rois(rng, count: int, images: int, image_h: float, image_w: float) -> np.ndarray:
    """ROIs in image coordinates: inside, straddling and wholly outside the map, tiny, with
    reversed corners, at halves (which the scale may turn into .5: round half away from zero) and
    at arbitrary fractions, spread over the images."""
    rois = np.zeros((count, 5), F32)
    rois[:, 0] = rng.integers(0, images, count)
    rois[:, 1::2] = rng.uniform(-0.3 * image_w, 1.3 * image_w, (count, 2))
    rois[:, 2::2] = rng.uniform(-0.3 * image_h, 1.3 * image_h, (count, 2))
    rois[::4, 1:] = np.round(rois[::4, 1:] * 2) / 2  # halves
    tiny = slice(1, None, 5)
    rois[tiny, 3:] = rois[tiny, 1:3] + rng.uniform(0, 3, (len(rois[tiny]), 2))
    rois[2::9, 1:] = [-50, -50, -20, -20]  # wholly before the map
    rois[3::9, 1:] = [10 * image_w, 10 * image_h, 11 * image_w, 11 * image_h]  # wholly past it
    rois[4::9, 1:] = [0, 0, image_w - 1, image_h - 1]  # the whole image
    return rois


CASES = [  # (data shape, rois, pooled_h, pooled_w, spatial_scale)
    ((1, 3, 9, 11), 60, 3, 4, 0.0625),  # Faster R-CNN's 1/16
    ((2, 4, 7, 5), 80, 2, 2, 0.5),  # two images; x.5 halves become quarters, odd ones .5
    ((3, 2, 6, 13), 70, 7, 7, 1.0),  # bins smaller than a cell
    ((1, 5, 1, 4), 40, 3, 1, 0.25),  # one row
    ((2, 2, 16, 3), 50, 5, 2, 0.3),  # a scale with no exact float
]


@pytest.mark.parametrize(("shape", "count", "pooled_h", "pooled_w", "scale"), CASES)
def test_roi_pooling_matches_the_forks_forward_cpu_exactly(shape, count, pooled_h, pooled_w, scale):
    rng = np.random.default_rng(count)
    x = rng.standard_normal(shape).astype(F32)
    rois = awkward_rois(rng, count, shape[0], shape[2] / scale, shape[3] / scale)
    params = f"pooled_h: {pooled_h} pooled_w: {pooled_w} spatial_scale: {scale}"
    model, _, _ = compile_text(roi_net(shape, rois.shape, params))
    ours = run_onnx(model, {"data": x, "rois": rois})["pool"]
    assert ours.shape == (count, shape[1], pooled_h, pooled_w)
    np.testing.assert_array_equal(ours, fork_roi_pooling(x, rois, pooled_h, pooled_w, scale))
    assert (ours == 0).any() and (ours != 0).any()  # empty bins and pooled ones both occur


@pytest.mark.parametrize(("shape", "count", "pooled_h", "pooled_w", "scale"), CASES[:3])
def test_roi_pooling_matches_opencv_exactly(shape, count, pooled_h, pooled_w, scale):
    rng = np.random.default_rng(count + 1)
    x = rng.standard_normal(shape).astype(F32)
    rois = awkward_rois(rng, count, shape[0], shape[2] / scale, shape[3] / scale)
    text = roi_net(shape, rois.shape, f"pooled_h: {pooled_h} pooled_w: {pooled_w} spatial_scale: {scale}")
    model, _, _ = compile_text(text)
    feeds = {"data": x, "rois": rois}
    np.testing.assert_array_equal(
        run_onnx(model, feeds)["pool"], run_opencv(text, {}, feeds, ["pool"])["pool"]
    )


def test_roi_corners_round_half_away_from_zero_and_exactly():
    # At scale 0.5, x = 3 gives 1.5 (2, not round-half-even's 2 either way) and x = 5 gives 2.5:
    # 3 half away from zero, where round-half-even gives 2; -3 gives -1.5: -2.  0.49999997 stays 0
    # (adding 0.5 in float would round it up to 1).
    x = np.arange(1 * 1 * 6 * 8, dtype=F32).reshape(1, 1, 6, 8)
    rois = np.array(
        [[0, 5, 5, 5, 5], [0, -3, -3, 1, 1], [0, 0.99999994, 0.99999994, 0.99999994, 0.99999994]], F32
    )
    model, _, _ = compile_text(roi_net(x.shape, rois.shape, "pooled_h: 1 pooled_w: 1 spatial_scale: 0.5"))
    ours = run_onnx(model, {"data": x, "rois": rois})["pool"].ravel()
    np.testing.assert_array_equal(ours, fork_roi_pooling(x, rois, 1, 1, 0.5).ravel())
    assert ours.tolist() == [x[0, 0, 3, 3], x[0, 0, 1, 1], x[0, 0, 0, 0]]


def test_roi_pooling_takes_rois_as_r_5_1_1_and_gives_r_c_ph_pw():
    analysis, diagnostics = analyse(roi_net((2, 16, 38, 50), (300, 5, 1, 1), "pooled_h: 7 pooled_w: 6"))
    assert problems(diagnostics) == []
    assert analysis.info("pool").tops == [(300, 16, 7, 6)]
    assert analysis.index_bounds() == {"rois": 2}  # random rois: whole numbers below N, valid rows


def test_a_roi_outside_the_batch_stops_the_run_as_in_the_fork():
    x = np.ones((2, 1, 4, 4), F32)
    model, _, _ = compile_text(roi_net(x.shape, (1, 5), "pooled_h: 2 pooled_w: 2"))
    for image in (2, -1):  # the fork: CHECK_LT(roi_batch_ind, batch_size), CHECK_GE(roi_batch_ind, 0)
        with pytest.raises(Exception, match="invalid index"):
            run_onnx(model, {"data": x, "rois": np.array([[image, 0, 0, 3, 3]], F32)})


ROI = roi_net((1, 8, 10, 10), (4, 5), "pooled_h: 2 pooled_w: 2")
BROKEN = [  # (code, text, token the diagnostic points at, what the message says)
    ("NS0604", roi_net((1, 8, 10, 10), (4, 5), "pooled_w: 2"), "roi_pooling_param", "pooled_h is 0"),
    ("NS0604", roi_net((1, 8, 10, 10), (4, 5), "pooled_h: 2 pooled_w: 0"), "0", "pooled_w is 0"),
    ("NS0604", roi_net((1, 8, 10, 10), (4, 4), "pooled_h: 2 pooled_w: 2"), '"rois" top', "(R, 5)"),
    ("NS0604", roi_net((1, 8, 10, 10), (4, 6), "pooled_h: 2 pooled_w: 2"), '"rois" top', "GPU path by 5"),
    ("NS0604", roi_net((1, 8, 10, 10), (5,), "pooled_h: 2 pooled_w: 2"), '"rois" top', "the rois are 5"),
    ("NS0604", roi_net((8, 10, 10), (4, 5), "pooled_h: 2 pooled_w: 2"), '"data" bottom', "(N, C, H, W)"),
]


@pytest.mark.parametrize(("code", "text", "token", "says"), BROKEN)
def test_roi_pooling_diagnostics(code, text, token, says):
    found = diagnostic(text, code)
    assert says in found.message
    at = text.index("ROIPooling")
    assert (found.span.line, found.span.column) == position(text, token.split()[0], after=at)
    assert found.help


def test_roi_pooling_wants_two_bottoms():
    text = ROI.replace(' bottom: "rois"', "")
    assert "bottom" in diagnostic(text, "NS0300").message


# ---------------------------------------------------------------------------------------------
# PSROIPooling (R-FCN)


def fork_psroi_pooling(x, rois, output_dim, group, spatial_scale):
    """PSROIPoolingForward_cpu of daijifeng001/caffe-rfcn (src/caffe/layers/psroi_pooling_layer.cpp),
    loop for loop, in float32 where the fork computes in Dtype (its CUDA kernel is the same code)."""
    height, width = x.shape[2:]
    top = np.zeros((len(rois), output_dim, group, group), F32)
    scale, least = F32(spatial_scale), F32(0.1)
    for n, roi in enumerate(rois.astype(F32)):
        batch = int(roi[0])
        start_w, start_h = (F32(caffe_round(roi[k])) * scale for k in (1, 2))
        end_w, end_h = (F32(caffe_round(roi[k]) + 1.0) * scale for k in (3, 4))
        bin_h = max(end_h - start_h, least) / F32(group)
        bin_w = max(end_w - start_w, least) / F32(group)
        for ctop in range(output_dim):
            for ph in range(group):
                for pw in range(group):
                    hstart = min(max(int(np.floor(F32(ph) * bin_h + start_h)), 0), height)
                    wstart = min(max(int(np.floor(F32(pw) * bin_w + start_w)), 0), width)
                    hend = min(max(int(np.ceil(F32(ph + 1) * bin_h + start_h)), 0), height)
                    wend = min(max(int(np.ceil(F32(pw + 1) * bin_w + start_w)), 0), width)
                    if hend <= hstart or wend <= wstart:
                        continue
                    c = (ctop * group + ph) * group + pw
                    total = F32(0)
                    for h in range(hstart, hend):
                        for w in range(wstart, wend):
                            total += x[batch, c, h, w]
                    top[n, ctop, ph, pw] = total / F32((hend - hstart) * (wend - wstart))
    return top


def psroi_net(data, rois, params: str) -> str:
    return (
        roi_net(data, rois, params)
        .replace('"ROIPooling"', '"PSROIPooling"')
        .replace("roi_pooling_param", "psroi_pooling_param")
    )


PS_CASES = [  # (data shape, rois, output_dim, group_size, spatial_scale)
    ((1, 2 * 9, 9, 11), 40, 2, 3, 0.0625),  # R-FCN's 1/16
    ((2, 3 * 4, 7, 5), 50, 3, 2, 0.5),  # two images
    ((3, 1 * 49, 6, 13), 30, 1, 7, 1.0),  # R-FCN's 7 x 7 grid, bins smaller than a cell
    ((2, 2 * 4, 16, 3), 40, 2, 2, 0.3),  # a scale with no exact float
]


@pytest.mark.parametrize(("shape", "count", "output_dim", "group", "scale"), PS_CASES)
def test_psroi_pooling_matches_the_forks_kernel(shape, count, output_dim, group, scale):
    rng = np.random.default_rng(count)
    rois = awkward_rois(rng, count, shape[0], shape[2] / scale, shape[3] / scale)
    params = f"spatial_scale: {scale} output_dim: {output_dim} group_size: {group}"
    model, analysis, _ = compile_text(psroi_net(shape, rois.shape, params))
    assert analysis.info("pool").tops == [(count, output_dim, group, group)]
    # Whole numbers: every sum is exact in float32 as in double, so the bins, the emptiness and the
    # division are pinned bit for bit; then real-valued maps, whose sums the fork rounds as it goes.
    whole = rng.integers(-50, 50, shape).astype(F32)
    ours = run_onnx(model, {"data": whole, "rois": rois})["pool"]
    np.testing.assert_array_equal(ours, fork_psroi_pooling(whole, rois, output_dim, group, scale))
    assert (ours == 0).any() and (ours != 0).any()
    x = rng.standard_normal(shape).astype(F32)
    ours = run_onnx(model, {"data": x, "rois": rois})["pool"]
    np.testing.assert_allclose(ours, fork_psroi_pooling(x, rois, output_dim, group, scale), rtol=0, atol=2e-6)


@pytest.mark.parametrize(("shape", "count", "output_dim", "group", "scale"), PS_CASES[:3])
def test_psroi_pooling_matches_opencv(shape, count, output_dim, group, scale):
    rng = np.random.default_rng(count + 1)
    feeds = {
        "data": rng.standard_normal(shape).astype(F32),
        "rois": awkward_rois(rng, count, shape[0], shape[2] / scale, shape[3] / scale),
    }
    text = psroi_net(shape, feeds["rois"].shape, f"spatial_scale: {scale} output_dim: {output_dim} "
                     f"group_size: {group}")  # fmt: skip
    model, _, _ = compile_text(text)
    theirs = run_opencv(text, {}, feeds, ["pool"])["pool"]
    np.testing.assert_allclose(run_onnx(model, feeds)["pool"], theirs, rtol=0, atol=2e-6)


PS = psroi_net((1, 8, 10, 10), (4, 5), "spatial_scale: 0.5 output_dim: 2 group_size: 2")
PS_BROKEN = [  # (code, text, token the diagnostic points at, what the message says)
    ("NS0606", PS.replace("output_dim: 2 ", ""), "psroi_pooling_param", "output_dim is 0"),
    ("NS0606", PS.replace("group_size: 2", "group_size: 0"), "0 }", "group_size is 0"),
    ("NS0606", PS.replace("spatial_scale: 0.5 ", ""), "psroi_pooling_param", "spatial_scale is not given"),
    ("NS0606", PS.replace("output_dim: 2", "output_dim: 3"), '"data" bottom', "output_dim 3 x group_size² 4"),
    ("NS0606", psroi_net((1, 8, 10, 10), (4, 4), "spatial_scale: 1 output_dim: 2 group_size: 2"), '"rois" top',
     "(R, 5)"),
    ("NS0606", psroi_net((8, 10, 10), (4, 5), "spatial_scale: 1 output_dim: 2 group_size: 2"), '"data" bottom',
     "(N, C, H, W)"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "text", "token", "says"), PS_BROKEN)
def test_psroi_pooling_diagnostics(code, text, token, says):
    found = diagnostic(text, code)
    assert says in found.message
    at = text.index("PSROIPooling")
    assert (found.span.line, found.span.column) == position(text, token, after=at)
    assert found.help


# An R-FCN-like deploy head (ResNet's conv body cut short): position-sensitive score maps for 3
# classes and class-agnostic boxes over a 3 x 3 grid, pooled, averaged (R-FCN's ave_cls_score_rois),
# a softmax; the rois enter as an input, as the proposal layer's would.
RFCN = """name: "rfcn"
input: "data" input_shape { dim: 1 dim: 3 dim: 40 dim: 48 }
input: "rois" input_shape { dim: 10 dim: 5 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 8 kernel_size: 4 pad: 1 stride: 2 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" batch_norm_param { use_global_stats: true } }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "rfcn_cls" type: "Convolution" bottom: "pool1" top: "rfcn_cls" convolution_param { num_output: 27 kernel_size: 1 } }
layer { name: "rfcn_bbox" type: "Convolution" bottom: "pool1" top: "rfcn_bbox" convolution_param { num_output: 72 kernel_size: 1 } }
layer { name: "psroipooled_cls_rois" type: "PSROIPooling" bottom: "rfcn_cls" bottom: "rois" top: "psroipooled_cls_rois"
  psroi_pooling_param { spatial_scale: 0.25 output_dim: 3 group_size: 3 } }
layer { name: "cls_score" type: "Pooling" bottom: "psroipooled_cls_rois" top: "cls_score"
  pooling_param { pool: AVE kernel_size: 3 stride: 3 } }
layer { name: "psroipooled_loc_rois" type: "PSROIPooling" bottom: "rfcn_bbox" bottom: "rois" top: "psroipooled_loc_rois"
  psroi_pooling_param { spatial_scale: 0.25 output_dim: 8 group_size: 3 } }
layer { name: "bbox_pred" type: "Pooling" bottom: "psroipooled_loc_rois" top: "bbox_pred"
  pooling_param { pool: AVE kernel_size: 3 stride: 3 } }
layer { name: "cls_prob_reshape" type: "Reshape" bottom: "cls_score" top: "cls_score_reshape" reshape_param { shape { dim: -1 dim: 3 } } }
layer { name: "cls_prob" type: "Softmax" bottom: "cls_score_reshape" top: "cls_prob" }
"""


def test_an_rfcn_like_net_checks_compiles_and_runs_as_the_fork_and_opencv_do():
    analysis, diagnostics = analyse(RFCN)
    assert problems(diagnostics) == []
    assert analysis.info("psroipooled_cls_rois").tops == [(10, 3, 3, 3)]
    # Multiply-adds as papers count them: the convolutions' (10 x 12 positions, 27 maps of 8 inputs each);
    # pooling, PSROIPooling's included, counts 0.
    assert analysis.info("rfcn_cls").macs == 10 * 12 * 27 * 8
    assert analysis.info("psroipooled_cls_rois").macs == 0
    assert analysis.info("cls_prob").tops == [(10, 3)]
    outputs = ("rfcn_cls", "psroipooled_cls_rois", "cls_prob", "bbox_pred")
    model, _, _ = compile_text(RFCN, outputs=outputs)
    assert [i.name for i in model.graph.input] == ["data", "rois"]
    rng = np.random.default_rng(7)
    feeds = {
        "data": rng.standard_normal((1, 3, 40, 48)).astype(F32),
        "rois": awkward_rois(rng, 10, 1, 40, 48),
    }
    ours = run_onnx(model, feeds)
    fork = fork_psroi_pooling(ours["rfcn_cls"], feeds["rois"], 3, 3, 0.25)
    np.testing.assert_allclose(ours["psroipooled_cls_rois"], fork, rtol=0, atol=1e-5)
    theirs = run_opencv(RFCN, random_weights(analysis), feeds, ["cls_prob", "bbox_pred"])
    for name in ("cls_prob", "bbox_pred"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, atol=1e-5)


# R-FCN's online hard example mining, as py-R-FCN's train_agnostic_ohem.prototxt writes it (the
# ProposalTargetLayer's tops as inputs, (R, ..., 1, 1) as it shapes them): per-ROI losses with
# loss_weight 0, their sum, BoxAnnotatorOHEM, then the losses on the chosen ROIs (PRE_FIXED).
OHEM = """name: "ohem"
input: "cls_score" input_shape { dim: 128 dim: 21 }
input: "bbox_pred" input_shape { dim: 128 dim: 8 }
input: "rois" input_shape { dim: 128 dim: 5 dim: 1 dim: 1 }
input: "labels" input_shape { dim: 128 dim: 1 dim: 1 dim: 1 }
input: "bbox_targets" input_shape { dim: 128 dim: 8 dim: 1 dim: 1 }
input: "bbox_inside_weights" input_shape { dim: 128 dim: 8 dim: 1 dim: 1 }
layer { name: "per_roi_loss_cls" type: "SoftmaxWithLossOHEM" bottom: "cls_score" bottom: "labels"
  top: "temp_loss_cls" top: "temp_prob_cls" top: "per_roi_loss_cls" loss_weight: 0 loss_weight: 0 loss_weight: 0 }
layer { name: "per_roi_loss_bbox" type: "SmoothL1LossOHEM" bottom: "bbox_pred" bottom: "bbox_targets"
  bottom: "bbox_inside_weights" top: "temp_loss_bbox" top: "per_roi_loss_bbox" loss_weight: 0 loss_weight: 0 }
layer { name: "per_roi_loss" type: "Eltwise" bottom: "per_roi_loss_cls" bottom: "per_roi_loss_bbox" top: "per_roi_loss" }
layer { name: "annotator_detector" type: "BoxAnnotatorOHEM" bottom: "rois" bottom: "per_roi_loss" bottom: "labels"
  bottom: "bbox_inside_weights" top: "labels_ohem" top: "bbox_loss_weights_ohem"
  box_annotator_ohem_param { roi_per_img: 64 ignore_label: -1 } }
layer { name: "silence" type: "Silence" bottom: "temp_loss_cls" bottom: "temp_prob_cls" bottom: "temp_loss_bbox" }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "cls_score" bottom: "labels_ohem" top: "loss_cls"
  loss_param { ignore_label: -1 } }
layer { name: "loss_bbox" type: "SmoothL1LossOHEM" bottom: "bbox_pred" bottom: "bbox_targets"
  bottom: "bbox_loss_weights_ohem" top: "loss_bbox" loss_param { normalization: PRE_FIXED pre_fixed_normalizer: 64 } }
"""


def test_rfcn_hard_example_mining_checks_as_the_forks_reshape_says():
    analysis, diagnostics = analyse(OHEM)
    assert problems(diagnostics) == []
    assert analysis.info("per_roi_loss_cls").tops == [(), (128, 21), (128, 1, 1, 1)]  # loss, probs, labels'
    assert analysis.info("per_roi_loss_bbox").tops == [(), (128, 1, 1, 1)]  # per ROI: (num, 1, h, w)
    assert analysis.info("annotator_detector").tops == [(128, 1, 1, 1), (128, 8, 1, 1)]
    assert analysis.info("loss_bbox").tops == [()]
    loss = analysis.net.layer("loss_bbox").param.loss_param
    assert loss.normalization == caffe_pb2.LossParameter.PRE_FIXED and loss.pre_fixed_normalizer == 64
    # Training only: compiling leaves them out of inference graphs, as BVLC's losses.
    names = ("per_roi_loss_cls", "per_roi_loss_bbox", "annotator_detector", "loss_bbox")
    assert not any(analysis.info(name).kind.deploy for name in names)


OHEM_BROKEN = [  # (code, text, token the diagnostic points at, what the message says)
    ("NS0611", OHEM.replace("roi_per_img: 64 ", ""), "box_annotator_ohem_param", "roi_per_img is not given"),
    ("NS0611", OHEM.replace('bottom: "rois" bottom: "per_roi_loss"', 'bottom: "bbox_targets" bottom: "per_roi_loss"'),
     '"bbox_targets" bottom: "per_roi_loss"', "(128, 5, 1, 1)"),
    ("NS0611", OHEM.replace('bottom: "bbox_targets"\n  bottom: "bbox_inside_weights" top: "temp_loss_bbox"',
                            'bottom: "labels"\n  bottom: "bbox_inside_weights" top: "temp_loss_bbox"'),
     '"labels"\n  bottom: "bbox_inside_weights" top: "temp_loss_bbox"', "same channels, height and width"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "text", "token", "says"), OHEM_BROKEN)
def test_rfcn_hard_example_mining_diagnostics(code, text, token, says):
    found = diagnostic(text, code)
    assert says in found.message and found.help
    assert (found.span.line, found.span.column) == position(text, token, after=text.index("layer {"))


# ---------------------------------------------------------------------------------------------
# SmoothL1Loss

LOSS_INPUTS = (
    'name: "t"\ninput: "pred" input_shape { dim: 128 dim: 84 }\ninput: "target" input_shape { dim: 128 dim: 84 }\n'
    'input: "inside" input_shape { dim: 128 dim: 84 }\ninput: "outside" input_shape { dim: 128 dim: 84 }\n'
    'input: "small" input_shape { dim: 128 dim: 4 }\ninput: "other" input_shape { dim: 64 dim: 84 }\n'
)


def loss(*bottoms: str, params: str = "") -> str:
    listed = " ".join(f'bottom: "{b}"' for b in bottoms)
    return (
        LOSS_INPUTS
        + f'layer {{ name: "loss" type: "SmoothL1Loss" {listed} top: "loss" loss_weight: 1 {params} }}\n'
    )


@pytest.mark.parametrize("bottoms", [("pred", "target"), ("pred", "target", "inside", "outside")])
def test_smooth_l1_loss_is_a_scalar_left_out_of_deploy_graphs(bottoms):
    text = loss(*bottoms, params="smooth_l1_loss_param { sigma: 3 }")
    analysis, diagnostics = analyse(text)
    assert problems(diagnostics) == []
    assert analysis.info("loss").tops == [()]
    assert analysis.net.layer("loss").param.smooth_l1_loss_param.sigma == 3


SMOOTH_BROKEN = [  # (code, bottoms, bottom it points at, what the message says)
    ("NS0605", ("pred", "target", "inside"), "inside", "both the inside and the outside weights"),
    ("NS0605", ("pred", "small"), "small", "same channels, height and width"),
    ("NS0605", ("pred", "target", "inside", "small"), "small", "same channels, height and width"),
    ("NS0380", ("pred", "other"), "other", "first dimensions must match"),
]


@pytest.mark.parametrize(("code", "bottoms", "token", "says"), SMOOTH_BROKEN)
def test_smooth_l1_loss_diagnostics(code, bottoms, token, says):
    text = loss(*bottoms)
    found = diagnostic(text, code)
    assert says in found.message
    at = text.index("SmoothL1Loss")
    assert (found.span.line, found.span.column) == position(text, f'"{token}"', after=at)


# ---------------------------------------------------------------------------------------------
# A Faster-R-CNN-like deploy net: conv body, RPN, a Python proposal layer, ROIPooling, fc heads

BODY = """
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 16 kernel_size: 3 pad: 1 } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
"""
RPN = """
layer { name: "rpn_conv" type: "Convolution" bottom: "conv2" top: "rpn_conv"
        convolution_param { num_output: 16 kernel_size: 3 pad: 1 } }
layer { name: "rpn_relu" type: "ReLU" bottom: "rpn_conv" top: "rpn_conv" }
layer { name: "rpn_cls_score" type: "Convolution" bottom: "rpn_conv" top: "rpn_cls_score"
        convolution_param { num_output: 18 kernel_size: 1 } }
layer { name: "rpn_bbox_pred" type: "Convolution" bottom: "rpn_conv" top: "rpn_bbox_pred"
        convolution_param { num_output: 36 kernel_size: 1 } }
layer { name: "rpn_cls_score_reshape" type: "Reshape" bottom: "rpn_cls_score" top: "rpn_cls_score_reshape"
        reshape_param { shape { dim: 0 dim: 2 dim: -1 dim: 0 } } }
layer { name: "rpn_cls_prob" type: "Softmax" bottom: "rpn_cls_score_reshape" top: "rpn_cls_prob" }
layer { name: "rpn_cls_prob_reshape" type: "Reshape" bottom: "rpn_cls_prob" top: "rpn_cls_prob_reshape"
        reshape_param { shape { dim: 0 dim: 18 dim: -1 dim: 0 } } }
layer { name: "proposal" type: "Python" bottom: "rpn_cls_prob_reshape" bottom: "rpn_bbox_pred" bottom: "im_info"
        top: "rois" python_param { module: "rpn.proposal_layer" layer: "ProposalLayer" param_str: "'feat_stride': 4" } }
"""
HEAD = """
layer { name: "roi_pool" type: "ROIPooling" bottom: "conv2" bottom: "rois" top: "roi_pool"
        roi_pooling_param { pooled_w: 3 pooled_h: 3 spatial_scale: 0.25 } }
layer { name: "fc6" type: "InnerProduct" bottom: "roi_pool" top: "fc6" inner_product_param { num_output: 32 } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "cls_score" type: "InnerProduct" bottom: "fc6" top: "cls_score" inner_product_param { num_output: 5 } }
layer { name: "bbox_pred" type: "InnerProduct" bottom: "fc6" top: "bbox_pred" inner_product_param { num_output: 20 } }
layer { name: "cls_prob" type: "Softmax" bottom: "cls_score" top: "cls_prob" }
"""
INPUTS = 'name: "faster"\ninput: "data" input_shape { dim: 1 dim: 3 dim: 39 dim: 47 }\n'
FASTER = INPUTS + 'input: "im_info" input_shape { dim: 1 dim: 3 }\n' + BODY + RPN + HEAD
ROIS = 12


def test_a_faster_rcnn_like_net_checks_compiles_and_runs_as_opencv_runs_its_head():
    found = check("faster.prototxt", content=FASTER).diagnostics
    (needs_rois,) = [d for d in found if d.severity is not Severity.INFO]
    assert needs_rois.code == "NS0375" and "'rpn.proposal_layer.ProposalLayer'" in needs_rois.message
    given = {"rois": (ROIS, 5)}
    analysis, diagnostics = analyse(FASTER, inputs=given)
    assert problems(diagnostics) == []
    assert analysis.info("roi_pool").tops == [(ROIS, 16, 3, 3)]
    weights = random_weights(analysis)
    model, _, _ = compile_text(FASTER, weights, inputs=given)
    # the Python layer's top is an input; im_info, which only the Python layer reads, is not
    assert [i.name for i in model.graph.input] == ["data", "rois"]
    rng = np.random.default_rng(5)
    feeds = {
        "data": rng.standard_normal((1, 3, 39, 47)).astype(F32),
        "rois": awkward_rois(rng, ROIS, 1, 39, 47),
    }
    ours = run_onnx(model, feeds)
    # OpenCV runs the net below the proposals when the rois are an input (its Python layer is its own
    # ProposalLayer, not the one the file names).
    fed = INPUTS + 'input: "rois" input_shape { dim: 12 dim: 5 }\n' + BODY + HEAD
    theirs = run_opencv(fed, weights, feeds, ["roi_pool", "cls_prob", "bbox_pred"])
    for name in ("cls_prob", "bbox_pred"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, atol=1e-6)
    assert {"rpn_cls_prob_reshape", "rpn_bbox_pred"} <= {o.name for o in model.graph.output}
    # The pooled features: exactly the fork's pooling of our conv2, and OpenCV's up to its convolutions'
    # rounding.
    pooled, _, _ = compile_text(FASTER, weights, inputs=given, outputs=("conv2", "roi_pool"))
    inner = run_onnx(pooled, feeds)
    fork = fork_roi_pooling(inner["conv2"], feeds["rois"], 3, 3, 0.25)
    np.testing.assert_array_equal(inner["roi_pool"], fork)
    np.testing.assert_allclose(inner["roi_pool"], theirs["roi_pool"], rtol=1e-5, atol=1e-5)
