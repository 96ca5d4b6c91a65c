"""Im2col, Parameter, BatchReindex and Filter.

OpenCV's importer has none of these, so each case is run in real BVLC Caffe
(when built) and, where the values are easy to state, against a numpy
reference written from Caffe's C++ (im2col_cpu's loop, BatchReindex's
static_cast<int>).  Shapes are checked against ONNX's own shape inference at
the oldest and newest opsets; Filter's batch, which only the data knows, is
pinned separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from onnx import numpy_helper
from oracles import (
    analyse,
    assert_diagnosed,
    check_shapes_match_onnx,
    compile_text,
    random_inputs,
    random_weights,
    rel_error,
    run_caffe,
    run_onnx,
)
from test_layer_structure import TOLERANCE, layer, net, position

from netspec.diagnostics import Severity
from netspec.pipeline import check


def im2col_ref(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    pad: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Caffe's im2col_cpu for each item of a (N, C, H, W) batch: row c·kh·kw + i·kw + j of the
    columns holds channel c at kernel offset (i, j) for every output position, 0 in the padding."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, pad, dilation
    oh, ow = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1, (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    out = np.zeros((n, c * kh * kw, oh, ow), np.float32)
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                for y in range(oh):
                    for z in range(ow):
                        row, col = y * sh - ph + i * dh, z * sw - pw + j * dw
                        if 0 <= row < h and 0 <= col < w:
                            out[:, (ch * kh + i) * kw + j, y, z] = x[:, ch, row, col]
    return out


@dataclass
class Case:
    id: str
    text: str
    outputs: list[str]
    feeds: dict[str, np.ndarray] | None = None  # None: random, seeded
    exact: bool = False  # a pure copy: equal to Caffe bit for bit


def im2col(shape: tuple[int, ...], body: str) -> str:
    return net({"x": shape}, layer("col", "Im2col", ["x"], body=f"convolution_param {{ {body} }}"))


RECT = "kernel_h: 2 kernel_w: 3 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0 dilation: 2"
SELECTOR = np.array([0, 1, 0, 2.5], np.float32)
RNG = np.random.default_rng(7)
DATA = RNG.standard_normal((4, 3, 2, 2)).astype(np.float32)
LABELS = RNG.standard_normal(4).astype(np.float32)

CASES = [
    Case("im2col_3x3_pad_1", im2col((2, 3, 5, 6), "kernel_size: 3 pad: 1"), ["col"], exact=True),
    Case("im2col_rect_strided_dilated", im2col((2, 3, 7, 8), RECT), ["col"], exact=True),
    Case(
        "im2col_force_nd_im2col",
        im2col((2, 3, 7, 8), RECT + " force_nd_im2col: true"),
        ["col"],
        exact=True,
    ),
    Case(
        "im2col_3d_per_axis",
        im2col((2, 2, 4, 5, 6), "kernel_size: 2 kernel_size: 3 kernel_size: 2 stride: 2 pad: 1"),
        ["col"],
        exact=True,
    ),
    Case("im2col_1d", im2col((2, 3, 9), "kernel_size: 3 stride: 2 pad: 1"), ["col"], exact=True),
    Case("im2col_channel_axis_2", im2col((2, 2, 3, 5, 6), "kernel_size: 3 axis: 2"), ["col"], exact=True),
    Case("im2col_channel_axis_0", im2col((3, 5, 6), "kernel_size: 2 axis: 0"), ["col"], exact=True),
    Case(
        "parameter_feeds_an_eltwise",
        net(
            {"x": (2, 3, 4)},
            layer("p", "Parameter", [], body="parameter_param { shape { dim: 2 dim: 3 dim: 4 } }"),
            layer("e", "Eltwise", ["x", "p"]),
        ),
        ["e"],
    ),
    Case(
        "parameter_as_an_output",
        net({}, layer("p", "Parameter", [], body="parameter_param { shape { dim: 5 dim: 3 } }")),
        ["p"],
        exact=True,
    ),
    Case(
        "batch_reindex_repeats_and_truncates",
        net({"x": DATA.shape, "idx": (5,)}, layer("r", "BatchReindex", ["x", "idx"])),
        ["r"],
        {"x": DATA, "idx": np.array([3, 0, 0, 2.9, 1], np.float32)},
        exact=True,
    ),
    Case(
        "filter_two_values",
        net(
            {"x": DATA.shape, "labels": (4,), "sel": (4,)},
            layer("f", "Filter", ["x", "labels", "sel"], ["fx", "flabels"]),
        ),
        ["fx", "flabels"],
        {"x": DATA, "labels": LABELS, "sel": SELECTOR},
        exact=True,
    ),
    Case(
        "filter_selector_n_by_1_then_inner_product",
        net(
            {"x": DATA.shape, "sel": (4, 1)},
            layer("f", "Filter", ["x", "sel"], ["fx"]),
            layer("fc", "InnerProduct", ["fx"], body="inner_product_param { num_output: 5 }"),
        ),
        ["fc"],
        {"x": DATA, "sel": SELECTOR.reshape(4, 1)},
    ),
    Case(
        "filter_selects_nothing",
        net(
            {"x": DATA.shape, "sel": (4,)},
            layer("f", "Filter", ["x", "sel"], ["fx"]),
            layer("r", "ReLU", ["fx"]),
        ),
        ["r"],
        {"x": DATA, "sel": np.zeros(4, np.float32)},
        exact=True,
    ),
]
SHAPED = [c for c in CASES if c.text.count('type: "Filter"') == 0]  # Filter's batch: pinned below


def ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


def build(case: Case, **kw):
    """(model, weights, feeds) for a case: weights random and seeded, inputs the case's or random."""
    analysis, _ = analyse(case.text)
    weights = random_weights(analysis)
    model, analysis, _ = compile_text(case.text, weights, **kw)
    return model, weights, case.feeds if case.feeds is not None else random_inputs(analysis)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_matches_caffe(case: Case):
    model, weights, feeds = build(case)
    ours = run_onnx(model, feeds)
    reference = run_caffe(case.text, weights, feeds, case.outputs)
    for name in case.outputs:
        if case.exact:
            np.testing.assert_array_equal(ours[name], reference[name], err_msg=name)
        else:
            assert rel_error(ours[name], reference[name]) <= TOLERANCE, name


@pytest.mark.parametrize("opset", [13, 22])
@pytest.mark.parametrize("case", SHAPED, ids=ids(SHAPED))
def test_onnx_shape_inference_agrees_at_every_opset(case: Case, opset: int):
    model, _, feeds = build(case, opset=opset)
    check_shapes_match_onnx(model)
    newest, _, _ = build(case)
    ours, expected = run_onnx(model, feeds), run_onnx(newest, feeds)
    assert all(np.array_equal(ours[name], expected[name]) for name in case.outputs)


# --- Im2col -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "body", "kernel", "stride", "pad", "dilation"),
    [
        ((2, 3, 5, 6), "kernel_size: 3 pad: 1", (3, 3), (1, 1), (1, 1), (1, 1)),
        ((2, 3, 7, 8), RECT, (2, 3), (2, 1), (1, 0), (2, 2)),
        ((1, 2, 6, 6), "kernel_size: 2 stride: 2", (2, 2), (2, 2), (0, 0), (1, 1)),
    ],
)
def test_im2col_matches_caffes_im2col_loop(shape, body, kernel, stride, pad, dilation):
    model, _, _ = compile_text(im2col(shape, body))
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expected = im2col_ref(x, kernel, stride, pad, dilation)
    np.testing.assert_array_equal(run_onnx(model, {"x": x})["col"], expected)


def test_im2col_channel_order_is_channel_then_kernel_row_then_column():
    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(1, 2, 3, 3)
    model, _, _ = compile_text(im2col(x.shape, "kernel_size: 2"))
    col = run_onnx(model, {"x": x})["col"]
    assert col.shape == (1, 8, 2, 2)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                np.testing.assert_array_equal(col[0, c * 4 + i * 2 + j], x[0, c, i : i + 2, j : j + 2])


def test_im2col_lowers_to_one_grouped_conv_with_a_one_hot_weight():
    model, _, _ = compile_text(im2col((2, 3, 5, 6), "kernel_h: 2 kernel_w: 3"))
    (node,) = model.graph.node
    weight = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == node.input[1]))
    assert node.op_type == "Conv" and next(a.i for a in node.attribute if a.name == "group") == 3
    assert weight.shape == (18, 1, 2, 3)
    assert np.array_equal(weight.reshape(18, 6), np.tile(np.eye(6), (3, 1)))


@pytest.mark.parametrize(
    ("shape", "body", "expected"),
    [
        ((2, 3, 5, 6), "kernel_size: 3 pad: 1", (2, 27, 5, 6)),
        ((2, 3, 7, 8), RECT, (2, 18, 4, 4)),
        ((2, 2, 4, 5, 6), "kernel_size: 2 kernel_size: 3 kernel_size: 2 stride: 2 pad: 1", (2, 24, 3, 3, 4)),
        ((2, 2, 3, 5, 6), "kernel_size: 3 axis: 2", (2, 2, 27, 3, 4)),
        ((3, 5, 6), "kernel_size: 2 axis: 0", (12, 4, 5)),
    ],
)
def test_im2col_shape_is_channels_times_kernel_by_conv_arithmetic(shape, body, expected):
    analysis, _ = analyse(im2col(shape, body))
    assert analysis.info("col").tops == [expected]
    assert analysis.info("col").params == 0 and analysis.info("col").macs == 0


def test_im2col_receptive_field_grows_by_its_window():
    analysis, _ = analyse(im2col((1, 3, 9, 9), "kernel_size: 3 stride: 2 dilation: 2"))
    assert analysis.info("col").receptive == [(5.0, 2.0), (5.0, 2.0)]


def test_causal_im2col_is_caffes_im2col_of_the_left_padded_input():
    x = np.random.default_rng(2).standard_normal((2, 3, 8)).astype(np.float32)
    model, _, _ = compile_text(im2col(x.shape, "kernel_size: 3 dilation: 2 causal: true"))
    ours = run_onnx(model, {"x": x})["col"]
    assert ours.shape == (2, 9, 8)
    padded = np.pad(x, ((0, 0), (0, 0), (4, 0)))  # (k − 1)·d = 4 before, 0 after
    text = im2col(padded.shape, "kernel_size: 3 dilation: 2")
    np.testing.assert_array_equal(ours, run_caffe(text, None, {"x": padded}, ["col"])["col"])


@pytest.mark.parametrize("body", ["kernel_size: 3 pad: 1", "kernel_size: 3 axis: 2"])
def test_im2col_compiled_at_batch_1_runs_at_batch_3(body: str):
    shape = (1, 2, 3, 5, 6) if "axis" in body else (1, 3, 5, 6)
    case = Case("", im2col(shape, body), ["col"])
    dynamic, _, _ = build(case, batch=1, dynamic_batch=True)
    static, _, feeds = build(case, batch=3)
    ours = run_onnx(dynamic, feeds)["col"]
    assert ours.shape[0] == 3 and np.array_equal(ours, run_onnx(static, feeds)["col"])


# --- Parameter and BatchReindex ---------------------------------------------------------------------


def test_parameter_is_one_learnable_blob_and_no_node():
    text = CASES[ids(CASES).index("parameter_feeds_an_eltwise")].text
    model, analysis, _ = compile_text(text)
    info = analysis.info("p")
    assert [w.shape for w in info.weights] == [(2, 3, 4)] and info.params == 24
    assert [n.op_type for n in model.graph.node] == ["Add"]
    assert model.graph.node[0].input[1] == "p/value"  # the initializer itself


def test_parameter_scalar_from_an_empty_shape_is_not_warned():
    text = net({}, layer("p", "Parameter", [], body="parameter_param { shape { } }"))
    checked = check("t.prototxt", content=text)
    assert checked.analysis.info("p").tops == [()] and not list(checked.diagnostics)


def test_batch_reindex_truncates_float_indices_like_static_cast():
    case = CASES[ids(CASES).index("batch_reindex_repeats_and_truncates")]
    model, _, feeds = build(case)
    np.testing.assert_array_equal(run_onnx(model, feeds)["r"], DATA[[3, 0, 0, 2, 1]])
    assert [n.op_type for n in model.graph.node] == ["Cast", "Gather"]


# --- Filter: a batch only the data knows ------------------------------------------------------------


def test_filter_keeps_the_selected_items_in_order():
    case = CASES[ids(CASES).index("filter_two_values")]
    model, _, feeds = build(case)
    ours = run_onnx(model, feeds)
    np.testing.assert_array_equal(ours["fx"], DATA[[1, 3]])
    np.testing.assert_array_equal(ours["flabels"], LABELS[[1, 3]])
    assert [n.op_type for n in model.graph.node] == ["Cast", "Compress", "Compress"]


def test_filter_warns_that_the_batch_below_is_data_dependent_and_keeps_the_upper_bound():
    text = CASES[ids(CASES).index("filter_selector_n_by_1_then_inner_product")].text
    checked = check("t.prototxt", content=text)
    (warning,) = [d for d in checked.diagnostics if d.code == "NS0317"]
    assert warning.severity is Severity.WARNING and not checked.diagnostics.has_errors
    assert (warning.span.line, warning.span.column) == position(text, '"sel"', 3)
    assert "0 to 4 at run time" in warning.message and "checks the layers below with all 4" in warning.message
    # As Caffe's setup does: the tops keep the bottoms' shapes, and the layers below are checked.
    assert checked.analysis.info("f").tops == [(4, 3, 2, 2)]
    assert checked.analysis.info("fc").tops == [(4, 5)]


def test_filter_declares_the_upper_bound_and_onnx_runtime_computes_the_true_batch():
    case = CASES[ids(CASES).index("filter_selector_n_by_1_then_inner_product")]
    model, _, _ = build(case, opset=13)
    with pytest.raises(
        AssertionError, match=r"fx: netspec says \[4, 3, 2, 2\], ONNX infers \['unk__\d+', 3, 2, 2\]"
    ):
        check_shapes_match_onnx(model)
    for opset in (13, 22):
        model, _, feeds = build(case, opset=opset)
        assert run_onnx(model, feeds)["fc"].shape == (2, 5)


# --- broken specs: code, line, column and the numbers ------------------------------------------------


BROKEN = [
    # (id, text, code, token the caret points at, its occurrence, words the message or help must contain)
    (
        "im2col_kernel_larger_than_input",
        im2col((1, 3, 4, 4), "kernel_size: 7"),
        "NS0302",
        "7",
        1,
        ["7x7 window is larger than the padded input 4", "(4 + 2·0 − 7)/1 + 1 = -2"],
    ),
    (
        "im2col_kernel_missing",
        im2col((1, 3, 4, 4), "stride: 2"),
        "NS0305",
        "convolution_param",
        1,
        ["the kernel size is not given"],
    ),
    (
        "im2col_kernel_miscounted",
        im2col((1, 3, 4, 4), "kernel_size: 1 kernel_size: 2 kernel_size: 3"),
        "NS0304",
        "1 kernel_size",
        1,
        ["kernel_size has 3 values but the input has 2 spatial axes"],
    ),
    (
        "im2col_axis_leaves_no_spatial_axis",
        im2col((2, 3), "kernel_size: 1"),
        "NS0303",
        '"x"',
        3,
        ["a 2-D input has no spatial axis after channel axis 1"],
    ),
    (
        "parameter_negative_dim",
        net({}, layer("p", "Parameter", [], body="parameter_param { shape { dim: 4 dim: -3 } }")),
        "NS0313",
        "-3",
        1,
        ["the parameter has dim 1 = -3 in its shape (4, -3)"],
    ),
    (
        "batch_reindex_indices_not_1d",
        net({"x": (4, 3), "idx": (2, 2)}, layer("r", "BatchReindex", ["x", "idx"])),
        "NS0315",
        '"idx"',
        3,
        ["the indices, bottom 1 'idx', are 2x2, 2-D", "reshape the indices to (4,)"],
    ),
    (
        "filter_too_few_tops",
        net({"x": (4, 3), "y": (4, 2), "sel": (4,)}, layer("f", "Filter", ["x", "y", "sel"], ["fx"])),
        "NS0318",
        '"fx"',
        1,
        ["3 bottoms (2 to filter and the selector 'sel') need 2 tops, got 1"],
    ),
    (
        "filter_too_many_tops",
        net({"x": (4, 3), "sel": (4,)}, layer("f", "Filter", ["x", "sel"], ["fx", "fsel"])),
        "NS0318",
        '"fsel"',
        1,
        ["2 bottoms (1 to filter and the selector 'sel') need 1 tops, got 2", "last bottom is the selector"],
    ),
    (
        "filter_selector_not_one_value_per_item",
        net({"x": (4, 3), "sel": (4, 2)}, layer("f", "Filter", ["x", "sel"], ["fx"])),
        "NS0316",
        '"sel"',
        3,
        ["the selector, bottom 1 'sel', is 4x2; it needs one value per item: (N,) or (N, 1, ...)"],
    ),
    (
        "filter_batch_differs_from_selector",
        net({"x": (4, 3), "y": (5, 3), "sel": (4,)}, layer("f", "Filter", ["x", "y", "sel"], ["fx", "fy"])),
        "NS0319",
        '"y"',
        3,
        [
            "bottom 1 'y' is 5x3 but the selector, bottom 2 'sel', is 4: each filtered bottom needs the selector's 4 items"
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "code", "token", "occurrence", "words"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_spec_is_reported_at_its_token(text, code, token, occurrence, words):
    assert_diagnosed(text, code, position(text, token, occurrence), words)


def test_parameter_without_a_shape_is_warned_to_be_a_scalar():
    text = net({}, layer("p", "Parameter", []))
    checked = check("t.prototxt", content=text)
    (warning,) = [d for d in checked.diagnostics if d.code == "NS0314"]
    assert warning.severity is Severity.WARNING and checked.analysis.info("p").tops == [()]
    assert (warning.span.line, warning.span.column) == position(text, '"Parameter"')
    assert "Caffe makes the parameter a 0-D scalar" in warning.message
