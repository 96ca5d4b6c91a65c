"""Pooling and SPP: Caffe's border arithmetic, exact lowerings at opsets 13 and 22, diagnostics.

References: real BVLC Caffe (when built), OpenCV's Caffe importer (MAX, AVE,
global), and numpy transcriptions of Caffe's own loops (pooling_layer.cpp's
Forward_cpu, pooling_layer.cu's StoPoolForwardTest, spp_layer.cpp's
GetPoolingParam), written here without netspec's arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
from oracles import (
    analyse,
    check_shapes_match_onnx,
    compile_text,
    needs_caffe,
    position,
    rel_error,
    run_caffe,
    run_onnx,
    run_opencv,
)

from netspec.diagnostics import Severity
from netspec.pipeline import check

TOL = 1e-5
OPSETS = (13, 22)


def net(h: int, w: int, layer: str, *, n: int = 2, c: int = 3) -> str:
    """An Input of n x c x h x w feeding `layer`."""
    return (
        f'name: "t"\nlayer {{ name: "data" type: "Input" top: "data" '
        f"input_param {{ shape {{ dim: {n} dim: {c} dim: {h} dim: {w} }} }} }}\n{layer}\n"
    )


def pool_net(h: int, w: int, body: str, *, mask: bool = False, n: int = 2, c: int = 3) -> str:
    tops = 'top: "p" top: "mask"' if mask else 'top: "p"'
    layer = f'layer {{ name: "p" type: "Pooling" bottom: "data" {tops} pooling_param {{ {body} }} }}'
    return net(h, w, layer, n=n, c=c)


def spp_net(h: int, w: int, body: str) -> str:
    return net(h, w, f'layer {{ name: "p" type: "SPP" bottom: "data" top: "p" spp_param {{ {body} }} }}')


def inputs(shape, seed: int = 0) -> dict[str, np.ndarray]:
    return {"data": np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


# ---------------------------------------------------------------------------------------------
# numpy references, transcribed from Caffe's C++


def caffe_out(size: int, k: int, s: int, p: int, ceil: bool = True) -> int:
    """PoolingLayer::Reshape: ceil (or floor), then drop a last window that starts in the padding."""
    n = (math.ceil if ceil else math.floor)((size + 2 * p - k) / s) + 1
    if p and (n - 1) * s >= size + p:
        n -= 1
    return n


def caffe_pool(x: np.ndarray, method: str, kernel, stride, pad, ceil: bool = True):
    """(top, mask) as Caffe computes them: Forward_cpu for MAX and AVE, the GPU test kernel for STOCHASTIC."""
    x = x.astype(np.float64)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    oh, ow = caffe_out(h, kh, sh, ph, ceil), caffe_out(w, kw, sw, pw, ceil)
    top = np.zeros((n, c, oh, ow))
    mask = np.full((n, c, oh, ow), -1.0)
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * sh - ph, j * sw - pw
            if method == "MAX":
                he, we = min(hs + kh, h), min(ws + kw, w)
                hs, ws = max(hs, 0), max(ws, 0)
                window = x[:, :, hs:he, ws:we].reshape(n, c, -1)
                arg = window.argmax(-1)  # the first maximum, as Caffe's strict '>' keeps it
                top[:, :, i, j] = window.max(-1)
                mask[:, :, i, j] = (hs + arg // (we - ws)) * w + ws + arg % (we - ws)
            elif method == "AVE":
                he, we = min(hs + kh, h + ph), min(ws + kw, w + pw)
                size = (he - hs) * (we - ws)  # counts the padding, not the overhang past it
                hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
                top[:, :, i, j] = x[:, :, hs:he, ws:we].sum(axis=(2, 3)) / size
            else:  # StoPoolForwardTest: no padding; sum(x²)/sum(x), 0 unless the sum is positive
                hs, ws = i * sh, j * sw
                window = x[:, :, hs : min(hs + kh, h), ws : min(ws + kw, w)]
                total, squares = window.sum(axis=(2, 3)), (window * window).sum(axis=(2, 3))
                top[:, :, i, j] = np.where(total > 0, squares / np.where(total > 0, total, 1), 0)
    return top, mask


def caffe_spp(x: np.ndarray, height: int, method: str) -> np.ndarray:
    """SPPLayer: level l pools with GetPoolingParam's kernel, stride and pad; flattened and concatenated."""
    h, w = x.shape[2:]
    levels = []
    for level in range(height):
        bins = 2**level
        kernel = [math.ceil(s / bins) for s in (h, w)]
        pad = [(k * bins - s + 1) // 2 for k, s in zip(kernel, (h, w))]
        levels.append(caffe_pool(x, method, kernel, kernel, pad)[0])
    if height == 1:
        return levels[0]
    return np.concatenate([t.reshape(x.shape[0], -1) for t in levels], axis=1)


# ---------------------------------------------------------------------------------------------
# shapes

# fmt: off
# (id, H, W, pooling_param body, kernel, stride, pad, ceil, expected (H', W'))
SHAPES = [
    ("tiles_no_pad", 8, 8, "pool: MAX kernel_size: 2 stride: 2", (2, 2), (2, 2), (0, 0), True, (4, 4)),
    ("overhangs_no_pad", 14, 14, "pool: MAX kernel_size: 3 stride: 2", (3, 3), (2, 2), (0, 0), True, (7, 7)),
    ("tiles_pad", 7, 7, "pool: MAX kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), True, (4, 4)),
    ("overhang_6_k3_s2_p1", 6, 6, "pool: AVE kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), True,
     (4, 4)),
    ("clip_7_k2_s2_p1", 7, 7, "pool: MAX kernel_size: 2 stride: 2 pad: 1", (2, 2), (2, 2), (1, 1), True,
     (4, 4)),
    ("non_square", 9, 14, "pool: AVE kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 3 pad_h: 1 pad_w: 1",
     (3, 2), (2, 3), (1, 1), True, (5, 5)),
    ("global", 7, 5, "pool: AVE global_pooling: true", (7, 5), (1, 1), (0, 0), True, (1, 1)),
    ("ceil_mode_false_floors", 14, 14, "pool: MAX kernel_size: 3 stride: 2 ceil_mode: false", (3, 3), (2, 2),
     (0, 0), False, (6, 6)),
]
# fmt: on
SHAPE_IDS = [case[0] for case in SHAPES]


@pytest.mark.parametrize(("h", "w", "body", "kernel", "stride", "pad", "ceil", "expected"),
                         [case[1:] for case in SHAPES], ids=SHAPE_IDS)  # fmt: skip
def test_pooling_shape_is_caffes_and_opencvs(h, w, body, kernel, stride, pad, ceil, expected):
    text = pool_net(h, w, body)
    analysis, _ = analyse(text)
    ours = analysis.info("p").tops[0]
    assert ours == (2, 3, *expected)
    assert expected == tuple(caffe_out(s, k, t, p, ceil) for s, k, t, p in zip((h, w), kernel, stride, pad))
    assert run_opencv(text, {}, inputs((2, 3, h, w)), ["p"])["p"].shape == ours


@needs_caffe
@pytest.mark.parametrize(
    ("h", "w", "body", "expected"), [(c[1], c[2], c[3], c[8]) for c in SHAPES], ids=SHAPE_IDS
)
def test_pooling_shape_is_real_caffes(h, w, body, expected):
    assert run_caffe(pool_net(h, w, body), None, inputs((2, 3, h, w)), ["p"])["p"].shape == (2, 3, *expected)


@pytest.mark.parametrize("opset", range(13, 23))
@pytest.mark.parametrize(("size", "body", "expected"), [
    (7, "kernel_size: 2 stride: 2 pad: 1", 4),  # ceil gives 5; Caffe drops the 5th, which starts in the pad
    (6, "kernel_size: 3 stride: 2 pad: 1", 4),  # the 4th window hangs 1 past the padded input
], ids=["clip", "overhang"])  # fmt: skip
def test_every_opset_gives_caffes_shape_under_onnx_shape_inference(size, body, expected, opset):
    model, analysis, _ = compile_text(pool_net(size, size, f"pool: MAX {body}"), opset=opset)
    assert analysis.info("p").tops[0] == (2, 3, expected, expected)
    check_shapes_match_onnx(model)
    assert run_onnx(model, inputs((2, 3, size, size)))["p"].shape == (2, 3, expected, expected)


def onnx_pool_size(opset: int, size: int, k: int, s: int, p: int) -> int:
    """ONNX shape inference's output size of a 1-D ceil-mode MaxPool."""
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k], strides=[s], pads=[p, p], ceil_mode=1)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", opset)])  # fmt: skip
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    return inferred.graph.output[0].type.tensor_type.shape.dim[2].dim_value


def test_onnx_maxpool22_ceil_mode_drops_the_window_starting_in_the_padding_as_caffe_does():
    """The fact the opset-22 MAX lowering rests on, checked against onnx's shape inference: MaxPool-22's
    ceil_mode gives Caffe's size wherever Caffe's last window reads the input; MaxPool-12 (opsets 13
    to 21) keeps a last window that starts in the padding."""
    differ = {12: 0, 22: 0}
    for opset in differ:
        for size in range(1, 12):
            for k in range(1, 6):
                for s in range(1, 5):
                    for p in range(k):
                        n = caffe_out(size, k, s, p)
                        if k <= size + 2 * p and (n - 1) * s < size + p:  # else netspec's NS0302/NS0334
                            differ[opset] += onnx_pool_size(opset, size, k, s, p) != n
    assert differ[22] == 0
    assert differ[12] > 0


def test_max_lowering_uses_ceil_mode_from_opset_22_and_explicit_end_padding_before():
    text = pool_net(6, 6, "pool: MAX kernel_size: 3 stride: 2 pad: 1")
    attrs = {}
    for opset in OPSETS:
        model, _, _ = compile_text(text, opset=opset)
        (node,) = model.graph.node
        attrs[opset] = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert attrs[22]["ceil_mode"] == 1 and attrs[22]["pads"] == [1, 1, 1, 1]
    assert "ceil_mode" not in attrs[13] and attrs[13]["pads"] == [1, 1, 2, 2]


def test_tiling_lint_shows_the_arithmetic_for_a_pool_that_overhangs():
    text = pool_net(13, 14, "pool: MAX kernel_size: 3 stride: 2").replace('"p" type', '"pool2" type')
    (warning,) = [d for d in check("t.prototxt", content=text).diagnostics if d.code == "NS0320"]
    assert warning.severity == Severity.INFO  # the last window lies mostly on the input: textbook
    assert warning.message == (
        "pool2: 3x3 window, stride 2 over 14 (pad 0): (14 − 3)/2 + 1 = 6.5; "
        "Caffe pools 7 windows and the last one hangs 1 column past the border"
    )
    assert (warning.span.line, warning.span.column) == position(text, "3 stride")
    square = pool_net(14, 14, "pool: MAX kernel_size: 3 stride: 2")
    (warning,) = [d for d in check("t.prototxt", content=square).diagnostics if d.code == "NS0320"]
    assert warning.message.endswith(
        "Caffe pools 7 windows and the last one hangs 1 row and column past the border"
    )


def test_pooling_that_tiles_warns_nothing():
    text = pool_net(13, 13, "pool: MAX kernel_size: 3 stride: 2")
    assert not list(check("t.prototxt", content=text).diagnostics)


# ---------------------------------------------------------------------------------------------
# values

NON_SQUARE = "kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 3 pad_h: 1 pad_w: 1"
# fmt: off
# (id, H, W, method, body after "pool: METHOD", kernel, stride, pad, ceil)
VALUES = [
    ("max_overhang", 14, 13, "MAX", "kernel_size: 3 stride: 2", (3, 3), (2, 2), (0, 0), True),
    ("max_pad_clip", 7, 7, "MAX", "kernel_size: 2 stride: 2 pad: 1", (2, 2), (2, 2), (1, 1), True),
    ("max_non_square", 9, 14, "MAX", NON_SQUARE, (3, 2), (2, 3), (1, 1), True),
    ("ave_divisor_overhang", 6, 6, "AVE", "kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), True),
    ("ave_pad_clip", 7, 7, "AVE", "kernel_size: 2 stride: 2 pad: 1", (2, 2), (2, 2), (1, 1), True),
    ("ave_overhang_no_pad", 14, 13, "AVE", "kernel_size: 3 stride: 2", (3, 3), (2, 2), (0, 0), True),
    ("ave_non_square", 9, 14, "AVE", NON_SQUARE, (3, 2), (2, 3), (1, 1), True),
    ("ave_tiles_pad", 7, 7, "AVE", "kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), True),
    ("ave_floor", 14, 13, "AVE", "kernel_size: 3 stride: 2 pad: 1 ceil_mode: false", (3, 3), (2, 2), (1, 1),
     False),
    ("global_max", 7, 5, "MAX", "global_pooling: true", (7, 5), (1, 1), (0, 0), True),
    ("global_ave", 7, 5, "AVE", "global_pooling: true", (7, 5), (1, 1), (0, 0), True),
    ("stochastic_overhang", 14, 13, "STOCHASTIC", "kernel_size: 3 stride: 2", (3, 3), (2, 2), (0, 0), True),
    ("stochastic_global", 6, 5, "STOCHASTIC", "global_pooling: true", (6, 5), (1, 1), (0, 0), True),
]
# fmt: on
CAFFE_VALUES = [case for case in VALUES if case[3] != "STOCHASTIC"]  # Caffe's CPU has no STOCHASTIC


def value_inputs(method: str, shape) -> dict[str, np.ndarray]:
    """Random normal inputs; for STOCHASTIC (meant for non-negative activations) rectified, with a
    negative patch and a zero patch so that some windows sum to at most 0 and take Caffe's 0."""
    feeds = inputs(shape)
    if method == "STOCHASTIC":
        x = np.maximum(feeds["data"], 0)
        x[:, :, :3, :3] = -np.abs(x[:, :, :3, :3])
        x[0, 0, 3:6, 3:6] = 0
        feeds["data"] = x
    return feeds


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("h", "w", "method", "body", "kernel", "stride", "pad", "ceil"),
                         [case[1:] for case in VALUES], ids=[case[0] for case in VALUES])  # fmt: skip
def test_pooling_matches_numpy_transcription_of_caffe(h, w, method, body, kernel, stride, pad, ceil, opset):
    model, _, _ = compile_text(pool_net(h, w, f"pool: {method} {body}"), opset=opset)
    check_shapes_match_onnx(model)
    feeds = value_inputs(method, (2, 3, h, w))
    ref, _ = caffe_pool(feeds["data"], method, kernel, stride, pad, ceil)
    assert rel_error(run_onnx(model, feeds)["p"], ref) <= TOL


@pytest.mark.parametrize(("h", "w", "method", "body"), [c[1:5] for c in CAFFE_VALUES],
                         ids=[c[0] for c in CAFFE_VALUES])  # fmt: skip
def test_pooling_matches_opencv(h, w, method, body):
    text = pool_net(h, w, f"pool: {method} {body}")
    model, _, _ = compile_text(text)
    feeds = value_inputs(method, (2, 3, h, w))
    assert rel_error(run_onnx(model, feeds)["p"], run_opencv(text, {}, feeds, ["p"])["p"]) <= TOL


@needs_caffe
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("h", "w", "method", "body"), [c[1:5] for c in CAFFE_VALUES],
                         ids=[c[0] for c in CAFFE_VALUES])  # fmt: skip
def test_pooling_matches_real_caffe(h, w, method, body, opset):
    text = pool_net(h, w, f"pool: {method} {body}")
    model, _, _ = compile_text(text, opset=opset)
    feeds = value_inputs(method, (2, 3, h, w))
    assert rel_error(run_onnx(model, feeds)["p"], run_caffe(text, None, feeds, ["p"])["p"]) <= TOL


PAST_INPUT = "kernel_size: 2 stride: 2"  # over a 1-row input: ceil((1 − 2)/2) + 1 = 1 window in Caffe


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_a_kernel_past_the_input_pools_as_caffes_rounding_does(method, opset):
    """Caffe loads such a net (OpenPose's deploy files declare 1x1 inputs): a warning, not an error.
    OpenCV refuses it, so the references are Caffe's loop transcribed and real Caffe below."""
    model, analysis, diagnostics = compile_text(pool_net(1, 5, f"pool: {method} {PAST_INPUT}"), opset=opset)
    assert analysis.info("p").tops[0] == (2, 3, 1, 3)
    (warning,) = [d for d in diagnostics if "larger than the padded input" in d.message]
    assert warning.code == "NS0320" and warning.severity == Severity.WARNING
    assert "still pools 1 window reaching 1 row past the border" in warning.message
    check_shapes_match_onnx(model)
    feeds = inputs((2, 3, 1, 5))
    ref, _ = caffe_pool(feeds["data"], method, (2, 2), (2, 2), (0, 0))
    assert rel_error(run_onnx(model, feeds)["p"], ref) <= TOL


@needs_caffe
@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_a_kernel_past_the_input_pools_as_real_caffe_does(method):
    text = pool_net(1, 5, f"pool: {method} {PAST_INPUT}")
    model, _, _ = compile_text(text)
    feeds = inputs((2, 3, 1, 5))
    assert rel_error(run_onnx(model, feeds)["p"], run_caffe(text, None, feeds, ["p"])["p"]) <= TOL


def test_ave_pooling_divisor_counts_padding_not_overhang():
    # 6 wide, kernel 3, stride 2, pad 1: windows start at -1, 1, 3, 5; the last spans 5..7, where 6 is
    # padding (counted) and 7 lies past the padded input (not counted): its divisor is 2, not 3.
    model, _, _ = compile_text(pool_net(6, 6, "pool: AVE kernel_size: 3 stride: 2 pad: 1", n=1, c=1))
    out = run_onnx(model, {"data": np.ones((1, 1, 6, 6), np.float32)})["p"][0, 0]
    np.testing.assert_allclose(out, np.outer([2 / 3, 1, 1, 1 / 2], [2 / 3, 1, 1, 1 / 2]), rtol=1e-6)


@pytest.mark.parametrize("opset", OPSETS)
def test_ave_lowering_holds_under_onnx_reference_evaluator(opset):
    """The construction rests on ONNX's definitions, not on onnxruntime's reading of them."""
    model, _, _ = compile_text(pool_net(6, 7, "pool: AVE kernel_size: 3 stride: 2 pad: 1"), opset=opset)
    feeds = inputs((2, 3, 6, 7))
    (out,) = ReferenceEvaluator(model).run(None, feeds)
    assert rel_error(out, caffe_pool(feeds["data"], "AVE", (3, 3), (2, 2), (1, 1))[0]) <= TOL


def test_ave_divisor_map_keeps_the_batch_axis_free():
    text = pool_net(6, 6, "pool: AVE kernel_size: 3 stride: 2 pad: 1")
    model, _, _ = compile_text(text, dynamic_batch=True)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    feeds = inputs((5, 3, 6, 6))
    ref = caffe_pool(feeds["data"], "AVE", (3, 3), (2, 2), (1, 1))[0]
    assert rel_error(run_onnx(model, feeds)["p"], ref) <= TOL


# fmt: off
MASKS = [
    ("pad_clip", 7, 6, "kernel_size: 2 stride: 2 pad: 1", (2, 2), (2, 2), (1, 1)),
    ("overhang", 14, 13, "kernel_size: 3 stride: 2", (3, 3), (2, 2), (0, 0)),
    ("global", 5, 4, "global_pooling: true", (5, 4), (1, 1), (0, 0)),
]
# fmt: on


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("h", "w", "body", "kernel", "stride", "pad"), [m[1:] for m in MASKS],
                         ids=[m[0] for m in MASKS])  # fmt: skip
def test_max_pooling_mask_is_index_in_the_input_plane(h, w, body, kernel, stride, pad, opset):
    model, analysis, _ = compile_text(pool_net(h, w, f"pool: MAX {body}", mask=True), opset=opset)
    check_shapes_match_onnx(model)
    assert analysis.info("p").tops[1] == analysis.info("p").tops[0]
    feeds = inputs((2, 3, h, w))
    out = run_onnx(model, feeds)
    top, mask = caffe_pool(feeds["data"], "MAX", kernel, stride, pad)
    assert out["mask"].dtype == np.float32
    np.testing.assert_array_equal(out["mask"], mask)
    assert rel_error(out["p"], top) <= TOL
    planes, picked = feeds["data"].reshape(2, 3, -1), out["mask"].astype(int).reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(planes, picked, -1), out["p"].reshape(2, 3, -1))


@needs_caffe
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("h", "w", "body"), [m[1:4] for m in MASKS], ids=[m[0] for m in MASKS])
def test_max_pooling_mask_matches_real_caffe(h, w, body, opset):
    text = pool_net(h, w, f"pool: MAX {body}", mask=True)
    model, _, _ = compile_text(text, opset=opset)
    feeds = inputs((2, 3, h, w))
    ours, ref = run_onnx(model, feeds), run_caffe(text, None, feeds, ["p", "mask"])
    np.testing.assert_array_equal(ours["mask"], ref["mask"])
    assert rel_error(ours["p"], ref["p"]) <= TOL


def test_mask_lowering_holds_under_onnx_reference_evaluator():
    text = pool_net(7, 6, "pool: MAX kernel_size: 2 stride: 2 pad: 1", mask=True)
    model, _, _ = compile_text(text, opset=13)
    feeds = inputs((2, 3, 7, 6))
    _, mask = ReferenceEvaluator(model).run(None, feeds)
    np.testing.assert_array_equal(mask, caffe_pool(feeds["data"], "MAX", (2, 2), (2, 2), (1, 1))[1])


def test_stochastic_pooling_is_the_test_time_weighted_average():
    model, _, _ = compile_text(pool_net(6, 6, "pool: STOCHASTIC kernel_size: 3 stride: 3", n=1, c=1))
    x = np.zeros((1, 1, 6, 6), np.float32)
    x[0, 0, :3, :3] = [[1, 2, 0], [0, 0, 0], [0, 0, 3]]  # (1 + 4 + 9) / (1 + 2 + 3) = 14/6
    x[0, 0, :3, 3:] = -1  # a negative sum gives 0
    x[0, 0, 3:, :3] = [[1, -1, 0], [0, 0, 0], [0, 0, 0]]  # a zero sum gives 0, not a division by zero
    x[0, 0, 3:, 3:] = 5
    out = run_onnx(model, {"data": x})["p"][0, 0]
    np.testing.assert_allclose(out, [[14 / 6, 0], [0, 5]], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# SPP

SPP_CASES = [(13, 13, 3), (7, 10, 3), (6, 6, 3), (16, 16, 2), (9, 9, 1)]
SPP_IDS = [f"{h}x{w}_height{n}" for h, w, n in SPP_CASES]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize(("h", "w", "height"), SPP_CASES, ids=SPP_IDS)
def test_spp_matches_numpy_transcription_of_caffe(h, w, height, method, opset):
    model, analysis, _ = compile_text(spp_net(h, w, f"pyramid_height: {height} pool: {method}"), opset=opset)
    check_shapes_match_onnx(model)
    # a one-level pyramid is Caffe's plain pooling layer, whose top stays 4-D
    expected = (2, 3, 1, 1) if height == 1 else (2, 3 * sum(4**level for level in range(height)))
    assert analysis.info("p").tops[0] == expected
    feeds = inputs((2, 3, h, w))
    assert rel_error(run_onnx(model, feeds)["p"], caffe_spp(feeds["data"], height, method)) <= TOL


@needs_caffe
@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize(("h", "w", "height"), SPP_CASES, ids=SPP_IDS)
def test_spp_matches_real_caffe(h, w, height, method):
    text = spp_net(h, w, f"pyramid_height: {height} pool: {method}")
    model, _, _ = compile_text(text)
    feeds = inputs((2, 3, h, w))
    assert rel_error(run_onnx(model, feeds)["p"], run_caffe(text, None, feeds, ["p"])["p"]) <= TOL


# ---------------------------------------------------------------------------------------------
# costs and receptive field


def test_pooling_counts_no_macs_and_composes_its_window_into_the_receptive_field():
    text = pool_net(14, 14, "pool: MAX kernel_size: 3 stride: 2 pad: 1") + "\n".join([
        'layer { name: "q" type: "Pooling" bottom: "p" top: "q" pooling_param { pool: AVE kernel_size: 2 '
        "stride: 2 } }",
        'layer { name: "g" type: "Pooling" bottom: "q" top: "g" pooling_param { pool: AVE '
        "global_pooling: true } }",
        'layer { name: "s" type: "SPP" bottom: "q" top: "s" spp_param { pyramid_height: 2 } }',
    ])  # fmt: skip
    analysis, _ = analyse(text)
    assert all(analysis.info(name).macs == 0 for name in "pqgs")
    assert analysis.info("p").receptive == [(3.0, 2.0), (3.0, 2.0)]
    assert analysis.info("q").receptive == [(5.0, 4.0), (5.0, 4.0)]  # 3 + (2 − 1)·2, jump 2·2
    # q is 4x4: a global window sees all of it, 5 + 3·4 = 17 input pixels
    assert analysis.info("g").receptive == [(17.0, 16.0), (17.0, 16.0)]
    assert analysis.info("s").receptive == analysis.info("g").receptive


# ---------------------------------------------------------------------------------------------
# diagnostics


THREE_D = (
    'name: "t"\nlayer { name: "data" type: "Input" top: "data" '
    "input_param { shape { dim: 2 dim: 3 dim: 8 } } }\n"
    'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAX kernel_size: 2 } }\n'
)
# fmt: off
# (id, text, code, token the caret points at, words of the message and help, Caffe refuses it too)
CATALOGUE = [
    ("kernel_with_global_pooling", pool_net(8, 8, "pool: MAX global_pooling: true kernel_size: 2"), "NS0330",
     "2 }", ["p: kernel_size 2 is given with global_pooling, which pools the whole 8x8 input"], True),
    ("stride_with_global_pooling", pool_net(8, 8, "pool: AVE global_pooling: true stride: 2"), "NS0330",
     "2 }", ["global_pooling takes pad 0 and stride 1, got pad 0 and stride 2"], True),
    ("kernel_missing", pool_net(8, 8, "pool: MAX stride: 2"), "NS0331", "pooling_param",
     ["the kernel size is not given", "set kernel_size: K"], True),
    ("kernel_h_without_kernel_w", pool_net(8, 8, "pool: MAX kernel_h: 3"), "NS0331", "3 }",
     ["kernel_h is given without kernel_w"], True),
    ("zero_stride", pool_net(8, 8, "pool: MAX kernel_size: 2 stride: 0"), "NS0331", "0 }",
     ["stride must be at least 1, got 0"], False),
    ("pad_and_pad_h", pool_net(8, 8, "pool: MAX kernel_size: 3 pad: 1 pad_h: 1 pad_w: 1"), "NS0332",
     "1 pad_w", ["give either pad or both pad_h and pad_w"], True),
    ("kernel_size_and_kernel_h_w", pool_net(8, 8, "pool: MAX kernel_size: 3 kernel_h: 3 kernel_w: 2"),
     "NS0332", "3 kernel_w", ["give either kernel_size or kernel_h/kernel_w, not both"], True),
    ("pad_not_smaller_than_kernel", pool_net(8, 8, "pool: MAX kernel_size: 2 stride: 2 pad: 2"), "NS0333",
     "2 }", ["pad 2 is not smaller than kernel 2", "CHECK_LT(pad, kernel)", "use pad 1 or less"], True),
    ("pad_w_not_smaller_than_kernel_w", pool_net(8, 8, "pool: AVE kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 2"),
     "NS0333", "2 }", ["pad_w 2 is not smaller than kernel_w 2"], True),
    ("last_window_reads_nothing", pool_net(4, 4, "pool: MAX kernel_size: 1 stride: 2"), "NS0334", "1 stride",
     ["the last of 3 windows starts at row 4, past the 4-row input, and reads nothing",
      "(stride 2 exceeds kernel 1)", "use a stride of at most 1"], False),
    ("stochastic_with_padding", pool_net(8, 8, "pool: STOCHASTIC kernel_size: 3 pad: 1"), "NS0335", "1 }",
     ["STOCHASTIC pooling takes no padding (Caffe pads only MAX and AVE), got pad 1"], True),
    ("mask_top_for_ave", pool_net(8, 8, "pool: AVE kernel_size: 2 stride: 2", mask=True), "NS0335", '"mask"',
     ["only MAX pooling writes a second top (the argmax mask); this layer pools AVE"], True),
    ("three_d_input", THREE_D, "NS0336", '"data" top: "p"',
     ["p: Pooling takes a 4-D input (N, C, H, W), got 3-D (2x3x8)"], True),
    ("round_mode_and_ceil_mode_disagree",
     pool_net(8, 8, "pool: MAX kernel_size: 3 stride: 2 round_mode: FLOOR ceil_mode: true"), "NS0337", "true",
     ["round_mode FLOOR and ceil_mode true disagree"], False),
    ("spp_without_pyramid_height", spp_net(8, 8, "pool: MAX"), "NS0338", "spp_param",
     ["pyramid_height is not given"], False),
    ("spp_input_too_small_for_level", spp_net(5, 5, "pyramid_height: 4"), "NS0339", "4 }",
     ["a 5x5 input does not fit the 4x4 bins of pyramid level 2: Caffe pools that level with kernel 2 "
      "and pad 2, and pad must be smaller than the kernel", "use pyramid_height 2 or less"], True),
    ("spp_stochastic_level_needs_padding", spp_net(7, 7, "pyramid_height: 2 pool: STOCHASTIC"), "NS0339",
     "2 pool", ["kernel 4 and pad 1, and STOCHASTIC takes no padding"], True),
]
# fmt: on


@pytest.mark.parametrize(("text", "code", "token", "words"), [c[1:5] for c in CATALOGUE],
                         ids=[c[0] for c in CATALOGUE])  # fmt: skip
def test_pooling_diagnostics_catalogue(text, code, token, words):
    diagnostics = list(check("t.prototxt", content=text).diagnostics)
    assert [d.code for d in diagnostics] == [code], [(d.code, d.message) for d in diagnostics]
    (diagnostic,) = diagnostics
    assert diagnostic.severity == Severity.ERROR
    assert (diagnostic.span.line, diagnostic.span.column) == position(text, token)
    for word in words:
        assert word in diagnostic.message + " " + (diagnostic.help or "")


@needs_caffe
@pytest.mark.parametrize("text", [c[1] for c in CATALOGUE if c[5]], ids=[c[0] for c in CATALOGUE if c[5]])
def test_real_caffe_refuses_what_netspec_rejects(text):
    with pytest.raises(AssertionError, match="Check failed"):
        run_caffe(text, None, {}, [])


@needs_caffe
def test_real_caffe_fills_the_window_that_reads_nothing_with_garbage():
    """Why NS0334 is an error although Caffe runs the net: that window's output is -FLT_MAX."""
    text = pool_net(4, 4, "pool: MAX kernel_size: 1 stride: 2", n=1, c=1)
    out = run_caffe(text, None, {"data": np.ones((1, 1, 4, 4), np.float32)}, ["p"])["p"]
    assert out[0, 0, -1, -1] == -np.finfo(np.float32).max
