"""InnerProduct and Embed: shapes, weights, costs, lowering, and parity with OpenCV, Caffe and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper
from oracles import (
    analyse,
    assert_diagnosed,
    check_shapes_match_onnx,
    compile_text,
    needs_caffe,
    rel_error,
    run_caffe,
    run_onnx,
    run_opencv,
)
from test_layer_structure import TOLERANCE, Case, build, layer, net, position

from netspec import runtime
from netspec.pipeline import check

X = {"x": (2, 6, 5, 4)}
VOCABULARY = 10


def ip(body: str, inputs: dict | None = None) -> str:
    return net(inputs or X, layer("ip", "InnerProduct", ["x"], body=f"inner_product_param {{ {body} }}"))


def embed(body: str, inputs: dict | None = None) -> str:
    return net(inputs or {"x": (2, 3)}, layer("e", "Embed", ["x"], body=f"embed_param {{ {body} }}"))


def ip_ref(x: np.ndarray, weights: list[np.ndarray], axis: int, transpose: bool) -> np.ndarray:
    """InnerProductLayer::Forward_cpu: (M, K) · W (transposed unless `transpose`) + bias, in float64."""
    rows = x.astype(np.float64).reshape(int(np.prod(x.shape[:axis])), -1)
    w = weights[0].astype(np.float64)
    y = rows @ (w if transpose else w.T)
    if len(weights) > 1:
        y = y + weights[1]
    return y.reshape(*x.shape[:axis], -1)


def embed_ref(x: np.ndarray, weights: list[np.ndarray]) -> np.ndarray:
    """EmbedLayer::Forward_cpu: row static_cast<int>(x) of the table, plus the bias."""
    y = weights[0][x.astype(np.int64)]
    return y + weights[1] if len(weights) > 1 else y


# (case, OpenCV has it, numpy reference from (feeds, weights))
CASES = [
    (
        Case("ip_4d_flattens_from_axis_1", ip("num_output: 7"), ["ip"]),
        True,
        lambda f, w: ip_ref(f["x"], w, 1, False),
    ),
    (
        Case("ip_2d", ip("num_output: 7", {"x": (2, 30)}), ["ip"]),
        True,
        lambda f, w: ip_ref(f["x"], w, 1, False),
    ),
    (
        Case("ip_without_bias", ip("num_output: 7 bias_term: false"), ["ip"]),
        True,
        lambda f, w: ip_ref(f["x"], w, 1, False),
    ),
    # OpenCV 4.14 reads a transposed weight blob as if it were (N, K): Caffe and numpy only.
    (
        Case("ip_transpose", ip("num_output: 7 transpose: true"), ["ip"]),
        False,
        lambda f, w: ip_ref(f["x"], w, 1, True),
    ),
    (Case("ip_axis_2", ip("num_output: 7 axis: 2"), ["ip"]), True, lambda f, w: ip_ref(f["x"], w, 2, False)),
    (
        Case(
            "ip_axis_2_transpose_without_bias",
            ip("num_output: 7 axis: 2 transpose: true bias_term: false"),
            ["ip"],
        ),
        False,
        lambda f, w: ip_ref(f["x"], w, 2, True),
    ),
    (
        Case("ip_last_axis_of_3d", ip("num_output: 7 axis: -1", {"x": (2, 3, 8)}), ["ip"]),
        True,
        lambda f, w: ip_ref(f["x"], w, 2, False),
    ),
    (
        Case("ip_axis_0_folds_the_batch", ip("num_output: 7 axis: 0"), ["ip"], dynamic=False),
        False,
        lambda f, w: ip_ref(f["x"], w, 0, False),
    ),
    (
        Case("embed", embed(f"num_output: 5 input_dim: {VOCABULARY}"), ["e"]),
        False,
        lambda f, w: embed_ref(f["x"], w),
    ),
    (
        Case(
            "embed_without_bias_of_3d_indices",
            embed(f"num_output: 5 input_dim: {VOCABULARY} bias_term: false", {"x": (2, 3, 2)}),
            ["e"],
        ),
        False,
        lambda f, w: embed_ref(f["x"], w),
    ),
]
IDS = [c.id for c, _, _ in CASES]


def prepared(case: Case, **kw):
    """(model, weights, feeds, output name); an Embed's inputs are valid indices held as floats."""
    model, weights, feeds = build(case, **kw)
    name = case.outputs[0]
    if name == "e":
        rng = np.random.default_rng(1)
        feeds = {k: rng.integers(0, VOCABULARY, v.shape).astype(np.float32) for k, v in feeds.items()}
    return model, weights, feeds, name


@pytest.mark.parametrize(("case", "reference"), [(c, r) for c, _, r in CASES], ids=IDS)
def test_matches_numpy_reference(case: Case, reference):
    model, weights, feeds, name = prepared(case)
    assert rel_error(run_onnx(model, feeds)[name], reference(feeds, weights[name])) <= TOLERANCE


@pytest.mark.parametrize("case", [c for c, cv, _ in CASES if cv], ids=[c.id for c, cv, _ in CASES if cv])
def test_matches_opencv(case: Case):
    model, weights, feeds, name = prepared(case)
    reference = run_opencv(case.text, weights, feeds, [name])[name]
    assert rel_error(run_onnx(model, feeds)[name], reference) <= TOLERANCE


@pytest.mark.parametrize("case", [c for c, _, _ in CASES], ids=IDS)
def test_matches_caffe(case: Case):
    model, weights, feeds, name = prepared(case)
    reference = run_caffe(case.text, weights, feeds, [name])[name]
    assert rel_error(run_onnx(model, feeds)[name], reference) <= TOLERANCE


@pytest.mark.parametrize("opset", [13, 18, 22])
@pytest.mark.parametrize("case", [c for c, _, _ in CASES], ids=IDS)
def test_onnx_shape_inference_agrees(case: Case, opset: int):
    model, _, _, _ = prepared(case, opset=opset)
    check_shapes_match_onnx(model)


DYNAMIC = [c for c, _, _ in CASES if c.dynamic]


@pytest.mark.parametrize("case", DYNAMIC, ids=[c.id for c in DYNAMIC])
def test_compiled_at_batch_1_runs_at_batch_3(case: Case):
    dynamic, _, _, _ = prepared(case, batch=1, dynamic_batch=True)
    static, _, feeds, name = prepared(case, batch=3)
    ours = run_onnx(dynamic, feeds)[name]
    assert ours.shape[0] == 3 and np.array_equal(ours, run_onnx(static, feeds)[name])


# --- shapes, weights, costs -----------------------------------------------------------------------


def info(text: str, name: str):
    analysis, _ = analyse(text)
    return analysis.info(name)


@pytest.mark.parametrize(
    ("body", "top", "weights", "macs"),
    [
        ("num_output: 7", (2, 7), [(7, 120), (7,)], 2 * 120 * 7),
        ("num_output: 7 transpose: true", (2, 7), [(120, 7), (7,)], 2 * 120 * 7),
        ("num_output: 7 axis: 2 bias_term: false", (2, 6, 7), [(7, 20)], 12 * 20 * 7),
        ("num_output: 7 axis: -1", (2, 6, 5, 7), [(7, 4), (7,)], 60 * 4 * 7),
        ("num_output: 7 axis: 0", (7,), [(7, 240), (7,)], 240 * 7),
    ],
)
def test_inner_product_shape_weights_and_macs(body, top, weights, macs):
    layer_info = info(ip(body), "ip")
    assert layer_info.tops == [top]
    assert [w.shape for w in layer_info.weights] == weights
    assert layer_info.macs == macs
    assert layer_info.params == sum(int(np.prod(w)) for w in weights)


def test_inner_product_weights_keep_the_specs_fillers():
    layer_info = info(
        ip('num_output: 3 weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.2 }'), "ip"
    )
    weights, bias = layer_info.weights
    assert (weights.filler.type, bias.filler.type, bias.filler.value) == (
        "xavier",
        "constant",
        pytest.approx(0.2),
    )
    plain = info(ip("num_output: 3"), "ip")
    assert [w.filler for w in plain.weights] == [None, None]


def test_inner_product_sees_the_whole_input():
    text = net(
        {"x": (1, 3, 8, 6)}, layer("ip", "InnerProduct", ["x"], body="inner_product_param { num_output: 4 }")
    )
    layer_info = info(text, "ip")
    assert layer_info.receptive == [(8.0, 8.0), (6.0, 6.0)]


@pytest.mark.parametrize(
    ("body", "top", "weights"),
    [
        ("num_output: 5 input_dim: 10", (2, 3, 5), [(10, 5), (5,)]),
        ("num_output: 5 input_dim: 10 bias_term: false", (2, 3, 5), [(10, 5)]),
    ],
)
def test_embed_shape_and_weights(body, top, weights):
    layer_info = info(embed(body), "e")
    assert layer_info.tops == [top] and [w.shape for w in layer_info.weights] == weights


# --- lowering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ops", "trans_b"),
    [
        (ip("num_output: 7", {"x": (2, 30)}), ["Gemm"], 1),
        (ip("num_output: 7"), ["Flatten", "Gemm"], 1),
        (ip("num_output: 7 transpose: true"), ["Flatten", "Gemm"], 0),
        (ip("num_output: 7 axis: 2"), ["Reshape", "MatMul", "Add"], None),
        (ip("num_output: 7 axis: -1 bias_term: false"), ["MatMul"], None),
        (embed("num_output: 5 input_dim: 10"), ["Cast", "Gather", "Add"], None),
        (embed("num_output: 5 input_dim: 10 bias_term: false"), ["Cast", "Gather"], None),
    ],
)
def test_lowers_to_the_fewest_nodes(text, ops, trans_b):
    model, _, _ = compile_text(text)
    assert [n.op_type for n in model.graph.node] == ops
    if trans_b is not None:
        gemm = model.graph.node[-1]
        assert next(a.i for a in gemm.attribute if a.name == "transB") == trans_b


def test_inner_product_on_a_later_axis_copies_the_batch_in_its_reshape():
    from onnx import numpy_helper

    model, _, _ = compile_text(ip("num_output: 7 axis: 2"))
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    reshape = next(n for n in model.graph.node if n.op_type == "Reshape")
    assert consts[reshape.input[1]].tolist() == [0, 0, -1]


# --- broken specs -------------------------------------------------------------------------------------

BROKEN = [
    (
        "ip_without_num_output",
        ip("bias_term: false"),
        "NS0365",
        "inner_product_param",
        1,
        ["num_output is not given", "set inner_product_param { num_output: N }"],
    ),
    (
        "ip_axis_out_of_range",
        ip("num_output: 3 axis: 4"),
        "NS0310",
        "4 }",
        2,
        ["axis 4 is out of range for a 4-D input (valid: -4 to 3)"],
    ),
    (
        "embed_without_input_dim",
        embed("num_output: 5"),
        "NS0366",
        "embed_param",
        1,
        ["input_dim is not given", "largest index + 1"],
    ),
    (
        "embed_without_num_output",
        embed("input_dim: 5"),
        "NS0366",
        "embed_param",
        1,
        ["num_output is not given"],
    ),
]


@pytest.mark.parametrize(
    ("text", "code", "token", "occurrence", "words"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_spec_is_reported_at_its_token(text, code, token, occurrence, words):
    assert_diagnosed(text, code, position(text, token, occurrence), words)


def test_unknown_input_size_skips_the_inner_product_quietly():
    text = net(
        X,
        layer("bad", "Flatten", ["x"], body="flatten_param { axis: 3 end_axis: 1 }"),
        layer("ip", "InnerProduct", ["bad"], body="inner_product_param { num_output: 3 }"),
    )
    checked = check("t.prototxt", content=text)
    assert [d.code for d in checked.diagnostics.errors] == ["NS0354"]
    assert checked.analysis.info("ip").tops == [None]


@needs_caffe
def test_random_inputs_of_an_embed_net_are_its_indices_and_run_as_in_caffe():
    text = embed("input_dim: 7 num_output: 4", {"x": (3, 5)})
    model, analysis, _ = compile_text(text)
    assert analysis.index_bounds() == {"x": 7}
    feeds = runtime.random_feeds(model, seed=4)
    x = feeds["x"]
    assert np.array_equal(x, np.floor(x)) and x.min() >= 0 and x.max() <= 6 and len(np.unique(x)) > 3
    ours = run_onnx(model, feeds)["e"]
    weights = {"e": [numpy_helper.to_array(t) for t in model.graph.initializer]}
    assert rel_error(ours, run_caffe(text, weights, feeds, ["e"])["e"]) <= TOLERANCE


def test_batch_reindex_indices_are_bounded_by_the_batch():
    text = net(
        {"data": (4, 3), "idx": (6,)},
        layer("pick", "BatchReindex", ["data", "idx"]),
    )
    analysis, _ = analyse(text)
    assert analysis.index_bounds() == {"idx": 4}
