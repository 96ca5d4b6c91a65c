"""Concat, Slice, Split, Flatten, Reshape, Crop, Eltwise, Tile, Softmax, ArgMax and Reduction.

Each case is compiled to ONNX and run with onnxruntime, then compared with
OpenCV's Caffe importer where it has the layer, with real BVLC Caffe (when
built), and with numpy references written from Caffe's C++ for the layers
OpenCV lacks.  Shapes are checked against ONNX's own shape inference at the
oldest and newest opsets, and against a batch the model was not compiled for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from oracles import (
    analyse,
    assert_diagnosed,
    check_shapes_match_onnx,
    compile_text,
    position,
    random_inputs,
    random_weights,
    rel_error,
    run_caffe,
    run_onnx,
    run_opencv,
)

from netspec.diagnostics import Severity
from netspec.pipeline import check

TOLERANCE = 1e-5


def net(inputs: dict[str, tuple[int, ...]], *layers: str) -> str:
    """A prototxt: one Input layer per named input, then the given layer lines."""
    text = 'name: "t"\n'
    for name, shape in inputs.items():
        dims = " ".join(f"dim: {d}" for d in shape)
        text += (
            f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}\n'
        )
    return text + "".join(line + "\n" for line in layers)


def layer(name: str, kind: str, bottoms: list[str], tops: list[str] | None = None, body: str = "") -> str:
    links = (
        " ".join(f'bottom: "{b}"' for b in bottoms) + " " + " ".join(f'top: "{t}"' for t in tops or [name])
    )
    return f'layer {{ name: "{name}" type: "{kind}" {links} {body} }}'


X = {"x": (2, 6, 5, 4)}
AB = {"a": (2, 3, 4, 5), "b": (2, 3, 4, 5)}


# --- numpy references, from Caffe's Forward_cpu -------------------------------------------------


def argmax_ref(
    x: np.ndarray, top_k: int = 1, out_max_val: bool = False, axis: int | None = None
) -> np.ndarray:
    """ArgMaxLayer: per row, partial_sort of (value, index) pairs with std::greater: the greatest
    value first, and among equal values the greatest index first."""
    moved = x.reshape(x.shape[0], -1) if axis is None else np.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    order = np.array(
        [sorted(range(len(r)), key=lambda j, r=r: (r[j], j), reverse=True)[:top_k] for r in rows]
    )
    index, values = order.astype(np.float32), np.take_along_axis(rows, order, 1)
    if axis is None:
        shape = [1] * max(x.ndim, 3)
        shape[:3] = [x.shape[0], 2 if out_max_val else 1, top_k]
        return (np.concatenate([index, values], 1) if out_max_val else index).reshape(shape)
    out = values if out_max_val else index
    return np.moveaxis(out.reshape(*moved.shape[:-1], top_k), -1, axis)


def reduction_ref(x: np.ndarray, op: str, axis: int, coeff: float) -> np.ndarray:
    rows = x.astype(np.float64).reshape(*x.shape[:axis], -1)
    value = {
        "SUM": rows.sum(-1),
        "ASUM": np.abs(rows).sum(-1),
        "SUMSQ": (rows**2).sum(-1),
        "MEAN": rows.mean(-1),
    }
    return value[op] * coeff


# --- the cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    text: str
    outputs: list[str]  # tops compared with Caffe and the numpy reference
    opencv: list[str] = field(default_factory=list)  # layer names OpenCV can be asked for
    opencv_tail: str = ""  # layers appended for OpenCV, which returns one top per layer name
    reference: Callable[[dict], dict] | None = None  # numpy, from the feeds
    dynamic: bool = True  # compiled at batch 1, the model runs at batch 3


CASES = [
    Case(
        "concat_channels",
        net({"a": (2, 3, 4, 5), "b": (2, 5, 4, 5)}, layer("c", "Concat", ["a", "b"])),
        ["c"],
        ["c"],
    ),
    Case(
        "concat_legacy_concat_dim",
        net(
            {"a": (2, 3, 4, 5), "b": (2, 3, 2, 5)},
            layer("c", "Concat", ["a", "b"], body="concat_param { concat_dim: 2 }"),
        ),
        ["c"],  # OpenCV 4.14 ignores concat_dim (it concatenates along axis 1): Caffe only
    ),
    Case(
        "concat_negative_axis_three_bottoms",
        net(
            {"a": (2, 3, 4, 1), "b": (2, 3, 4, 2), "d": (2, 3, 4, 3)},
            layer("c", "Concat", ["a", "b", "d"], body="concat_param { axis: -1 }"),
        ),
        ["c"],
        ["c"],
    ),
    Case(
        "slice_points",
        net(X, layer("s", "Slice", ["x"], ["p", "q", "r"], "slice_param { slice_point: 1 slice_point: 4 }")),
        ["p", "q", "r"],
        ["joined"],
        layer("joined", "Concat", ["r", "p", "q"]),
    ),
    Case(
        "slice_equal_split_legacy_slice_dim",
        net(X, layer("s", "Slice", ["x"], ["p", "q"], "slice_param { slice_dim: 3 }")),
        ["p", "q"],  # OpenCV 4.14 ignores slice_dim (it slices axis 1): Caffe only
    ),
    Case(
        "split_copies",
        net(X, layer("s", "Split", ["x"], ["p", "q"])),
        ["p", "q"],
        ["joined"],
        layer("joined", "Eltwise", ["p", "q"], body="eltwise_param { operation: PROD }"),
    ),
    Case("flatten_default", net(X, layer("f", "Flatten", ["x"])), ["f"], ["f"]),
    Case(
        "flatten_axis_to_end_axis",
        net(X, layer("f", "Flatten", ["x"], body="flatten_param { axis: 1 end_axis: 2 }")),
        ["f"],
        ["f"],
    ),
    Case(
        "flatten_spatial_axes",
        net(X, layer("f", "Flatten", ["x"], body="flatten_param { axis: 2 }")),
        ["f"],
        ["f"],
    ),
    Case(
        "reshape_copy_and_infer",
        net(X, layer("r", "Reshape", ["x"], body="reshape_param { shape { dim: 0 dim: -1 dim: 2 } }")),
        ["r"],
        ["r"],
    ),
    Case(
        "reshape_partial_axis_num_axes",
        net(
            X,
            layer(
                "r", "Reshape", ["x"], body="reshape_param { axis: 1 num_axes: 2 shape { dim: 3 dim: -1 } }"
            ),
        ),
        ["r"],
        ["r"],
    ),
    Case(
        "reshape_appends_axis_at_negative_axis",
        net(X, layer("r", "Reshape", ["x"], body="reshape_param { axis: -1 num_axes: 0 shape { dim: 1 } }")),
        ["r"],  # OpenCV 4.14 rejects axis -1 with num_axes 0: Caffe only
    ),
    Case(
        "reshape_copies_a_middle_axis",
        net(X, layer("r", "Reshape", ["x"], body="reshape_param { shape { dim: -1 dim: 0 dim: 20 } }")),
        ["r"],
        ["r"],
    ),
    Case(
        "crop_default_axis_one_offset",
        net(
            {"x": (2, 3, 9, 8), "like": (2, 1, 5, 6)},
            layer("cr", "Crop", ["x", "like"], body="crop_param { offset: 2 }"),
        ),
        ["cr"],
        ["cr"],
    ),
    Case(
        "crop_offset_per_axis",
        net(
            {"x": (2, 6, 9, 8), "like": (2, 4, 5, 6)},
            layer("cr", "Crop", ["x", "like"], body="crop_param { axis: 1 offset: 1 offset: 3 offset: 0 }"),
        ),
        ["cr"],
        ["cr"],
    ),
    Case(
        "eltwise_sum_coeff",
        net(AB, layer("e", "Eltwise", ["a", "b"], body="eltwise_param { coeff: 0.5 coeff: -2 }")),
        ["e"],
        ["e"],
    ),
    Case(
        "eltwise_sum_difference",
        net(AB, layer("e", "Eltwise", ["a", "b"], body="eltwise_param { coeff: 1 coeff: -1 }")),
        ["e"],
        ["e"],
    ),
    Case(
        "eltwise_sum_three",
        net({**AB, "d": (2, 3, 4, 5)}, layer("e", "Eltwise", ["a", "b", "d"])),
        ["e"],
        ["e"],
    ),
    Case(
        "eltwise_prod_three",
        net(
            {**AB, "d": (2, 3, 4, 5)},
            layer("e", "Eltwise", ["a", "b", "d"], body="eltwise_param { operation: PROD }"),
        ),
        ["e"],
        ["e"],
    ),
    Case(
        "eltwise_max_three",
        net(
            {**AB, "d": (2, 3, 4, 5)},
            layer("e", "Eltwise", ["a", "b", "d"], body="eltwise_param { operation: MAX }"),
        ),
        ["e"],
        ["e"],
    ),
    Case("softmax_channels", net(X, layer("s", "Softmax", ["x"])), ["s"], ["s"]),
    Case(
        "softmax_axis_2", net(X, layer("s", "Softmax", ["x"], body="softmax_param { axis: 2 }")), ["s"], ["s"]
    ),
    Case(
        "softmax_last_axis_of_2d",
        net({"x": (2, 10)}, layer("s", "Softmax", ["x"], body="softmax_param { axis: -1 }")),
        ["s"],
        ["s"],
    ),
    Case(
        "tile_axis_2",
        net(X, layer("t", "Tile", ["x"], body="tile_param { axis: 2 tiles: 3 }")),
        ["t"],
        reference=lambda f: {"t": np.tile(f["x"], (1, 1, 3, 1))},
    ),
    Case(
        "tile_default_axis",
        net(X, layer("t", "Tile", ["x"], body="tile_param { tiles: 2 }")),
        ["t"],
        reference=lambda f: {"t": np.tile(f["x"], (1, 2, 1, 1))},
    ),
    Case(
        "argmax_per_sample",
        net(X, layer("m", "ArgMax", ["x"])),
        ["m"],
        reference=lambda f: {"m": argmax_ref(f["x"])},
    ),
    Case(
        "argmax_per_sample_top3_with_values",
        net(X, layer("m", "ArgMax", ["x"], body="argmax_param { top_k: 3 out_max_val: true }")),
        ["m"],
        reference=lambda f: {"m": argmax_ref(f["x"], 3, True)},
    ),
    Case(
        "argmax_per_sample_top3_of_2d",
        net({"x": (2, 10)}, layer("m", "ArgMax", ["x"], body="argmax_param { top_k: 3 }")),
        ["m"],
        reference=lambda f: {"m": argmax_ref(f["x"], 3)},
    ),
    Case(
        "argmax_per_sample_of_5d",
        net({"x": (2, 3, 2, 2, 2)}, layer("m", "ArgMax", ["x"], body="argmax_param { out_max_val: true }")),
        ["m"],
        reference=lambda f: {"m": argmax_ref(f["x"], 1, True)},
    ),
    Case(
        "argmax_channels",
        net(X, layer("m", "ArgMax", ["x"], body="argmax_param { axis: 1 }")),
        ["m"],
        reference=lambda f: {"m": argmax_ref(f["x"], axis=1)},
    ),
    Case(
        "argmax_channels_values",
        net(X, layer("m", "ArgMax", ["x"], body="argmax_param { axis: 1 out_max_val: true }")),
        ["m"],
        reference=lambda f: {"m": argmax_ref(f["x"], 1, True, axis=1)},
    ),
    Case(
        "argmax_top2_along_axis_2",
        net(X, layer("m", "ArgMax", ["x"], body="argmax_param { axis: 2 top_k: 2 }")),
        ["m"],
        reference=lambda f: {"m": argmax_ref(f["x"], 2, axis=2)},
    ),
    Case(
        "argmax_top2_values_along_last_axis",
        net(X, layer("m", "ArgMax", ["x"], body="argmax_param { axis: -1 top_k: 2 out_max_val: true }")),
        ["m"],
        reference=lambda f: {"m": argmax_ref(f["x"], 2, True, axis=3)},
    ),
    *[
        Case(
            f"reduction_{op.lower()}_axis_{axis}_coeff_{coeff:g}",
            net(
                X,
                layer(
                    "r",
                    "Reduction",
                    ["x"],
                    body=f"reduction_param {{ operation: {op} axis: {axis} coeff: {coeff} }}",
                ),
            ),
            ["r"],
            reference=lambda f, op=op, axis=axis, coeff=coeff: {"r": reduction_ref(f["x"], op, axis, coeff)},
        )
        for op, axis, coeff in [("SUM", 1, 1.0), ("ASUM", 2, 0.5), ("SUMSQ", -1, 1.0), ("MEAN", 1, 3.0)]
    ],
    Case(
        "reduction_default_axis_0_gives_a_scalar",
        net(X, layer("r", "Reduction", ["x"])),
        ["r"],
        reference=lambda f: {"r": reduction_ref(f["x"], "SUM", 0, 1.0)},
        dynamic=False,
    ),
]
OPENCV_CASES = [c for c in CASES if c.opencv]
REFERENCE_CASES = [c for c in CASES if c.reference]


def ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


def build(case: Case, text: str | None = None, **kw):
    """(model, weights, feeds) for a case: weights and inputs random, seeded."""
    text = text or case.text
    analysis, _ = analyse(text, batch=kw.get("batch"))
    weights = random_weights(analysis)
    model, analysis, _ = compile_text(text, weights, **kw)
    return model, weights, random_inputs(analysis)


@pytest.mark.parametrize("case", OPENCV_CASES, ids=ids(OPENCV_CASES))
def test_matches_opencv(case: Case):
    text = case.text + case.opencv_tail
    model, weights, feeds = build(case, text)
    ours = run_onnx(model, feeds)
    reference = run_opencv(text, weights, feeds, case.opencv)
    for name in case.opencv:
        assert rel_error(ours[name], reference[name]) <= TOLERANCE, name


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_matches_caffe(case: Case):
    model, weights, feeds = build(case)
    ours = run_onnx(model, feeds)
    reference = run_caffe(case.text, weights, feeds, case.outputs)
    for name in case.outputs:
        assert rel_error(ours[name], reference[name]) <= TOLERANCE, name


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=ids(REFERENCE_CASES))
def test_matches_numpy_reference(case: Case):
    model, _, feeds = build(case)
    ours = run_onnx(model, feeds)
    for name, expected in case.reference(feeds).items():
        assert rel_error(ours[name], expected) <= TOLERANCE, name


@pytest.mark.parametrize("opset", [13, 17, 18, 22])
@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_onnx_shape_inference_agrees_at_every_opset(case: Case, opset: int):
    model, _, feeds = build(case, opset=opset)
    check_shapes_match_onnx(model)
    newest, _, _ = build(case)
    ours, expected = run_onnx(model, feeds), run_onnx(newest, feeds)
    assert all(np.array_equal(ours[name], expected[name]) for name in case.outputs)


DYNAMIC_CASES = [c for c in CASES if c.dynamic]


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=ids(DYNAMIC_CASES))
def test_compiled_at_batch_1_runs_at_batch_3(case: Case):
    dynamic, _, _ = build(case, batch=1, dynamic_batch=True)
    static, _, feeds = build(case, batch=3)
    assert all(vi.type.tensor_type.shape.dim[0].dim_param == "N" for vi in dynamic.graph.input)
    ours, expected = run_onnx(dynamic, feeds), run_onnx(static, feeds)
    for name in case.outputs:
        assert ours[name].shape[0] == 3 and np.array_equal(ours[name], expected[name]), name


# --- the traps, each pinned -----------------------------------------------------------------------


def shapes_of(text: str) -> dict[str, tuple[int, ...]]:
    analysis, _ = analyse(text)
    return {b.name: analysis.shape(b) for b in analysis.net.blobs.values()}


def test_crop_axis_defaults_to_2_and_leaves_channels_alone():
    text = net(
        {"x": (1, 5, 10, 10), "like": (1, 2, 6, 6)},
        layer("cr", "Crop", ["x", "like"], body="crop_param { offset: 1 }"),
    )
    assert shapes_of(text)["cr"] == (1, 5, 6, 6)  # not (1, 2, 6, 6)
    model, _, feeds = build(Case("", text, ["cr"]))
    assert np.array_equal(run_onnx(model, feeds)["cr"], feeds["x"][:, :, 1:7, 1:7])
    slice_axes = next(i for i in model.graph.initializer if i.name.endswith("/axes"))
    assert list(slice_axes.int64_data or np.frombuffer(slice_axes.raw_data, np.int64)) == [2, 3]


def test_softmax_on_4d_normalises_over_channels_only():
    model, _, feeds = build(Case("", net(X, layer("s", "Softmax", ["x"])), ["s"]))
    s = run_onnx(model, feeds)["s"]
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-6)  # every pixel's channels sum to 1
    x = feeds["x"].astype(np.float64)
    per_channel = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert rel_error(s, per_channel) <= TOLERANCE
    flattened = np.exp(x) / np.exp(x).reshape(2, -1).sum(axis=1).reshape(2, 1, 1, 1)
    assert rel_error(s, flattened) > 0.5  # what a converter that flattens C·H·W would give


def test_eltwise_sum_honours_coeff():
    model, _, feeds = build(CASES[ids(CASES).index("eltwise_sum_coeff")])
    e = run_onnx(model, feeds)["e"]
    assert rel_error(e, 0.5 * feeds["a"] - 2 * feeds["b"]) <= TOLERANCE
    assert rel_error(e, feeds["a"] + feeds["b"]) > 0.5


def test_eltwise_sum_in_place_drops_bottom_0_as_caffe_does():
    text = net(AB, layer("e", "Eltwise", ["a", "b"], ["a"], "eltwise_param { coeff: 1 coeff: 3 }"))
    checked = check("t.prototxt", content=text)
    warning = next(d for d in checked.diagnostics if d.code == "NS0368")
    assert warning.severity is Severity.WARNING
    assert (warning.span.line, warning.span.column) == position(text, '"a"', 4)
    assert "Caffe zeroes its top before it sums, so 'a' drops out" in warning.message
    model, _, _ = compile_text(text)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(AB["a"]).astype(np.float32) for _ in range(2))
    # the input keeps its name 'a' (a user feeds it so); the value written over it is 'a/e'
    assert [i.name for i in model.graph.input] == ["a", "b"]
    assert [o.name for o in model.graph.output] == ["a/e"]
    ours = run_onnx(model, {"a": a, "b": b})["a/e"]
    assert rel_error(ours, 3 * b) <= TOLERANCE
    assert rel_error(ours, run_caffe(text, {}, {"a": a, "b": b}, ["a"])["a"]) <= TOLERANCE


def test_argmax_among_equal_values_picks_the_last_index_as_caffe():
    values = np.array([[3, 1, 3, 0, 3, 2]], dtype=np.float32).reshape(1, 6, 1, 1)
    for body, expected in [("", [[4]]), ("argmax_param { top_k: 4 }", [[4, 2, 0, 5]])]:
        text = net({"x": (1, 6, 1, 1)}, layer("m", "ArgMax", ["x"], body=body))
        model, _, _ = compile_text(text)
        ours = run_onnx(model, {"x": values})["m"]
        np.testing.assert_array_equal(ours.reshape(1, -1), expected)
        np.testing.assert_array_equal(ours, argmax_ref(values, len(expected[0])))
        caffe = run_caffe(text, {}, {"x": values}, ["m"])["m"]
        np.testing.assert_array_equal(ours, caffe)


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        ("", (2, 1, 1, 1)),
        ("argmax_param { top_k: 3 }", (2, 1, 3, 1)),
        ("argmax_param { top_k: 3 out_max_val: true }", (2, 2, 3, 1)),
        ("argmax_param { axis: 1 top_k: 2 }", (2, 2, 5, 4)),
        ("argmax_param { axis: 3 out_max_val: true }", (2, 6, 5, 1)),
    ],
)
def test_argmax_shape_follows_caffe(body: str, shape: tuple[int, ...]):
    assert shapes_of(net(X, layer("m", "ArgMax", ["x"], body=body)))["m"] == shape


def test_argmax_without_axis_pads_a_2d_input_to_3_axes():
    assert shapes_of(
        net({"x": (4, 10)}, layer("m", "ArgMax", ["x"], body="argmax_param { out_max_val: true }"))
    )["m"] == (4, 2, 1)


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        ("", ()),
        ("reduction_param { axis: 1 }", (2,)),
        ("reduction_param { axis: -1 }", (2, 6, 5)),
    ],
)
def test_reduction_keeps_the_axes_before_axis(body: str, shape: tuple[int, ...]):
    assert shapes_of(net(X, layer("r", "Reduction", ["x"], body=body)))["r"] == shape


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        ("reshape_param { shape { dim: 0 dim: -1 } }", (2, 120)),
        ("reshape_param { axis: 2 shape { dim: -1 } }", (2, 6, 20)),
        ("reshape_param { axis: 1 num_axes: 1 shape { dim: 2 dim: 3 } }", (2, 2, 3, 5, 4)),
        ("reshape_param { axis: 0 num_axes: 0 shape { dim: 1 } }", (1, 2, 6, 5, 4)),
        ("reshape_param { axis: -2 shape { dim: 2 dim: 2 } }", (2, 6, 5, 2, 2)),
    ],
)
def test_reshape_shape_follows_caffe(body: str, shape: tuple[int, ...]):
    assert shapes_of(net(X, layer("r", "Reshape", ["x"], body=body)))["r"] == shape


# --- lowering: one node where one suffices, batch kept free ---------------------------------------


def ops(text: str, opset: int = 22) -> list[str]:
    model, _, _ = compile_text(text, opset=opset)
    return [n.op_type for n in model.graph.node]


def reshape_targets(text: str) -> list[list[int]]:
    from onnx import numpy_helper

    model, _, _ = compile_text(text)
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [consts[n.input[1]].tolist() for n in model.graph.node if n.op_type == "Reshape"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (net(X, layer("f", "Flatten", ["x"])), ["Flatten"]),
        (net(X, layer("f", "Flatten", ["x"], body="flatten_param { axis: 2 }")), ["Reshape"]),
        (net(X, layer("s", "Slice", ["x"], ["p", "q"])), ["Split"]),
        (net(AB, layer("e", "Eltwise", ["a", "b"])), ["Add"]),
        (net(AB, layer("e", "Eltwise", ["a", "b"], body="eltwise_param { coeff: 1 coeff: -1 }")), ["Sub"]),
        (net({**AB, "d": (2, 3, 4, 5)}, layer("e", "Eltwise", ["a", "b", "d"])), ["Sum"]),
        (
            net(
                {**AB, "d": (2, 3, 4, 5)},
                layer("e", "Eltwise", ["a", "b", "d"], body="eltwise_param { operation: PROD }"),
            ),
            ["Mul", "Mul"],
        ),
        (net(X, layer("m", "ArgMax", ["x"], body="argmax_param { axis: 1 }")), ["ArgMax", "Cast"]),
        (net(X, layer("r", "Reduction", ["x"], body="reduction_param { axis: 1 }")), ["ReduceSum"]),
        (net(X, layer("s", "Split", ["x"], ["p", "q"])), ["Identity", "Identity"]),
    ],
)
def test_lowers_to_the_fewest_nodes(text: str, expected: list[str]):
    assert ops(text) == expected


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ("reshape_param { shape { dim: 0 dim: -1 } }", [0, -1]),
        ("reshape_param { shape { dim: -1 dim: 0 dim: 20 } }", [-1, 0, 20]),
        ("reshape_param { axis: 1 num_axes: 2 shape { dim: 3 dim: -1 } }", [0, 3, -1, 4]),
        ("reshape_param { axis: 2 shape { dim: 20 } }", [0, 0, 20]),
    ],
)
def test_reshape_target_copies_the_batch_instead_of_writing_it(body: str, target: list[int]):
    assert reshape_targets(net(X, layer("r", "Reshape", ["x"], body=body))) == [target]


def test_flatten_of_inner_axes_copies_the_batch():
    text = net(X, layer("f", "Flatten", ["x"], body="flatten_param { axis: 1 end_axis: 2 }"))
    assert reshape_targets(text) == [[0, -1, 4]]


@pytest.mark.parametrize(("opset", "takes_axes_input"), [(13, False), (17, False), (18, True), (22, True)])
def test_reduce_mean_axes_move_to_an_input_at_opset_18(opset: int, takes_axes_input: bool):
    model, _, _ = compile_text(
        net(X, layer("r", "Reduction", ["x"], body="reduction_param { operation: MEAN axis: 2 }")),
        opset=opset,
    )
    node = model.graph.node[0]
    assert node.op_type == "ReduceMean" and (len(node.input) == 2) == takes_axes_input
    assert any(a.name == "axes" for a in node.attribute) != takes_axes_input


# --- broken specs: code, line, column and the numbers --------------------------------------------


BROKEN = [
    # (id, text, code, token the caret points at, its occurrence, words the message or help must contain)
    (
        "concat_spatial_sizes_disagree",
        net({"a": (1, 3, 5, 5), "b": (1, 3, 4, 4)}, layer("c", "Concat", ["a", "b"])),
        "NS0351",
        '"b"',
        3,
        ["bottom 1 'b' is 1x3x4x4 but bottom 0 'a' is 1x3x5x5", "concat axis 1", "axis 2: 4 vs 5"],
    ),
    (
        "concat_axes_count_disagrees",
        net({"a": (1, 3, 5, 5), "b": (1, 3)}, layer("c", "Concat", ["a", "b"])),
        "NS0351",
        '"b"',
        3,
        ["bottom 1 'b' is 2-D (1x3) but bottom 0 'a' is 4-D (1x3x5x5)"],
    ),
    (
        "concat_axis_and_concat_dim_both_given",
        net(AB, layer("c", "Concat", ["a", "b"], body="concat_param { axis: 1 concat_dim: 1 }")),
        "NS0350",
        "1 }",
        1,
        ["give either axis or concat_dim, not both"],
    ),
    (
        "concat_axis_out_of_range",
        net(AB, layer("c", "Concat", ["a", "b"], body="concat_param { axis: 4 }")),
        "NS0310",
        "4 }",
        1,
        ["axis 4 is out of range for a 4-D input (valid: -4 to 3)"],
    ),
    (
        "slice_points_count_disagrees_with_tops",
        net(X, layer("s", "Slice", ["x"], ["p", "q"], "slice_param { slice_point: 1 slice_point: 3 }")),
        "NS0352",
        "1 slice_point",
        1,
        ["2 slice points make 3 slices, but the layer has 2 tops", "give 1 slice points for 2 tops"],
    ),
    (
        "slice_points_out_of_order",
        net(X, layer("s", "Slice", ["x"], ["p", "q", "r"], "slice_param { slice_point: 4 slice_point: 2 }")),
        "NS0352",
        "2 }",
        1,
        ["slice points must increase: 2 follows 4"],
    ),
    (
        "slice_point_past_the_axis",
        net(X, layer("s", "Slice", ["x"], ["p", "q"], "slice_param { slice_point: 6 }")),
        "NS0352",
        "6 }",
        1,
        ["slice point 6 is not inside axis 1 of size 6", "between 1 and 5"],
    ),
    (
        "slice_uneven_split",
        net({"x": (1, 10, 2, 2)}, layer("s", "Slice", ["x"], ["p", "q", "r"], "slice_param { axis: 1 }")),
        "NS0353",
        "slice_param",
        1,
        ["axis 1 of size 10 does not split evenly into 3 tops (10 % 3 = 1)"],
    ),
    (
        "flatten_end_axis_before_axis",
        net(X, layer("f", "Flatten", ["x"], body="flatten_param { axis: 2 end_axis: 1 }")),
        "NS0354",
        "1 }",
        1,
        ["end_axis 1 (axis 1) comes before axis 2 (axis 2) of the 4-D input"],
    ),
    (
        "flatten_in_place",
        net(X, layer("f", "Flatten", ["x"], ["x"])),
        "NS0364",
        '"x"',
        4,
        ["a Flatten layer cannot work in place (top 'x' is its bottom)"],
    ),
    (
        "split_in_place",
        net(X, layer("s", "Split", ["x"], ["p", "x"])),
        "NS0364",
        '"x"',
        4,
        ["a Split layer cannot work in place"],
    ),
    (
        "reshape_count_mismatch",
        net(
            {"x": (1, 256, 6, 6)},
            layer("r", "Reshape", ["x"], body="reshape_param { shape { dim: 1 dim: 4096 } }"),
        ),
        "NS0356",
        "1 dim: 4096",
        1,
        ["reshape of 1x256x6x6 (9216 values) to 1x4096 (4096 values)"],
    ),
    (
        "reshape_inferred_dim_does_not_divide",
        net(
            {"x": (1, 256, 6, 6)},
            layer("r", "Reshape", ["x"], body="reshape_param { shape { dim: 0 dim: 1000 dim: -1 } }"),
        ),
        "NS0356",
        "-1",
        1,
        ["cannot infer dim 2: the input's 9216 values (1x256x6x6) do not divide by the product 1000"],
    ),
    (
        "reshape_two_inferred_dims",
        net(X, layer("r", "Reshape", ["x"], body="reshape_param { shape { dim: -1 dim: -1 } }")),
        "NS0355",
        "-1",
        2,
        ["the new shape has 2 dims of -1 (dims 0, 1)"],
    ),
    (
        "reshape_copies_an_axis_that_is_not_there",
        net(
            {"x": (2, 6)},
            layer("r", "Reshape", ["x"], body="reshape_param { shape { dim: 3 dim: -1 dim: 0 } }"),
        ),
        "NS0355",
        "0 }",
        1,
        ["dim 2 is 0 (copy), but the 2-D input has no axis 2 to copy"],
    ),
    (
        "reshape_num_axes_past_the_end",
        net(X, layer("r", "Reshape", ["x"], body="reshape_param { axis: 2 num_axes: 3 shape { dim: -1 } }")),
        "NS0355",
        "3 shape",
        1,
        ["axis 2 + num_axes 3 = 5 reaches past the 4 axes of the input"],
    ),
    (
        "crop_exceeds_input",
        net(
            {"x": (1, 3, 10, 12), "like": (1, 3, 8, 8)},
            layer("cr", "Crop", ["x", "like"], body="crop_param { offset: 3 }"),
        ),
        "NS0358",
        "3 }",
        1,
        [
            "crop exceeds the input on axis 2: offset 3 + target size 8 > input size 10",
            "use an offset of at most 2 on axis 2",
        ],
    ),
    (
        "crop_target_larger_than_input",
        net({"x": (1, 3, 10, 12), "like": (1, 3, 16, 16)}, layer("cr", "Crop", ["x", "like"])),
        "NS0358",
        '"like"',
        3,
        ["offset 0 + target size 16 > input size 10", "check the bottoms' order"],
    ),
    (
        "crop_offset_count",
        net(
            {"x": (1, 3, 10, 12), "like": (1, 3, 8, 8)},
            layer("cr", "Crop", ["x", "like"], body="crop_param { offset: 1 offset: 1 offset: 1 }"),
        ),
        "NS0357",
        "1 offset: 1 offset",
        1,
        ["3 offsets for 2 cropped axes (2 to 3 of a 4-D input)"],
    ),
    (
        "eltwise_shapes_disagree",
        net({"a": (1, 64, 56, 56), "b": (1, 64, 28, 28)}, layer("e", "Eltwise", ["a", "b"])),
        "NS0359",
        '"b"',
        3,
        ["bottom 1 'b' is 1x64x28x28 but bottom 0 'a' is 1x64x56x56: SUM Eltwise needs equal shapes"],
    ),
    (
        "eltwise_in_place_bottom_read_again",
        net(AB, layer("e", "Eltwise", ["a", "b", "a"], ["a"], "eltwise_param { operation: PROD }")),
        "NS0369",
        '"a"',
        4,
        ["bottom 2 'a' is the top 'a' of this in-place PROD Eltwise"],
    ),
    (
        "eltwise_coeff_count",
        net(AB, layer("e", "Eltwise", ["a", "b"], body="eltwise_param { coeff: 1 coeff: 1 coeff: 1 }")),
        "NS0360",
        "1 coeff",
        1,
        ["3 coeff values for 2 bottoms"],
    ),
    (
        "eltwise_prod_with_coeff",
        net(
            AB, layer("e", "Eltwise", ["a", "b"], body="eltwise_param { operation: PROD coeff: 1 coeff: 2 }")
        ),
        "NS0360",
        "1 coeff",
        1,
        ["coeff applies to SUM only"],
    ),
    (
        "tile_without_tiles",
        net(X, layer("t", "Tile", ["x"], body="tile_param { axis: 1 }")),
        "NS0362",
        "tile_param",
        1,
        ["the number of tiles is not given"],
    ),
    (
        "argmax_top_k_larger_than_axis",
        net(X, layer("m", "ArgMax", ["x"], body="argmax_param { axis: 1 top_k: 10 }")),
        "NS0363",
        "10",
        1,
        ["top_k 10 is more than the 6 values along axis 1 (the input is 2x6x5x4)", "at most 6"],
    ),
    (
        "argmax_top_k_larger_than_sample",
        net({"x": (2, 3)}, layer("m", "ArgMax", ["x"], body="argmax_param { top_k: 4 }")),
        "NS0363",
        "4 }",
        1,
        ["top_k 4 is more than the 3 values per sample"],
    ),
    (
        "softmax_axis_out_of_range",
        net(X, layer("s", "Softmax", ["x"], body="softmax_param { axis: -5 }")),
        "NS0310",
        "-5",
        1,
        ["axis -5 is out of range for a 4-D input"],
    ),
]


@pytest.mark.parametrize(
    ("text", "code", "token", "occurrence", "words"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_spec_is_reported_at_its_token(text, code, token, occurrence, words):
    assert_diagnosed(text, code, position(text, token, occurrence), words)


@pytest.mark.parametrize(
    ("text", "code", "token", "words"),
    [
        (
            net(
                AB,
                layer("e", "Eltwise", ["a", "b"], body="eltwise_param { operation: MAX coeff: 1 coeff: 2 }"),
            ),
            "NS0361",
            "1 coeff",
            ["coeff is ignored by a MAX Eltwise"],
        ),
        (
            net({"x": (1, 1, 4, 4)}, layer("s", "Softmax", ["x"], body="softmax_param { axis: 1 }")),
            "NS0367",
            "1 }",
            ["softmax over axis 1 of size 1 is 1 everywhere (the input is 1x1x4x4)", "Sigmoid"],
        ),
    ],
)
def test_suspicious_spec_is_warned_at_its_token(text, code, token, words):
    checked = check("t.prototxt", content=text)
    d = next(d for d in checked.diagnostics if d.code == code)
    assert d.severity is Severity.WARNING and not checked.diagnostics.has_errors
    assert (d.span.line, d.span.column) == position(text, token)
    for word in words:
        assert word in f"{d.message} {d.help}"


def test_a_broken_layer_leaves_the_layers_below_unchecked_but_others_checked():
    text = net(
        AB,
        layer("e", "Eltwise", ["a", "b"], body="eltwise_param { coeff: 1 }"),
        layer("f", "Flatten", ["e"]),
        layer("s", "Slice", ["a"], ["p", "q", "r"]),
    )
    codes = [d.code for d in check("t.prototxt", content=text).diagnostics.errors]
    assert codes == ["NS0360"]  # the Flatten below is skipped; the Slice (3 of 3 channels) is fine
