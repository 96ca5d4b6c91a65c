"""Pointwise activations: parity with OpenCV's Caffe importer, real Caffe, and numpy
references written from Caffe's Forward_cpu; the lowering's op choices; the PReLU
per-channel trap; and a catalogue of broken specs."""

from __future__ import annotations

import numpy as np
import oracles
import pytest
from oracles import (
    analyse,
    assert_diagnosed,
    check_shapes_match_onnx,
    compile_text,
    needs_caffe,
    random_weights,
    rel_error,
    run_caffe,
    run_onnx,
    run_opencv,
)

from netspec.diagnostics import Severity

SHAPE = (2, 3, 6, 5)


def single(body: str, shape: tuple[int, ...] = SHAPE) -> str:
    """A net of one Input and one activation layer 'act' writing 'out'."""
    dims = " ".join(f"dim: {d}" for d in shape)
    return (
        f'name: "t"\nlayer {{ name: "in" type: "Input" top: "data" input_param {{ shape {{ {dims} }} }} }}\n'
        f'layer {{ name: "act" bottom: "data" top: "out" {body} }}\n'
    )


def inputs(shape: tuple[int, ...] = SHAPE, scale: float = 2.0, seed: int = 1) -> dict[str, np.ndarray]:
    return {"data": (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)}


def ours(text: str, feeds: dict[str, np.ndarray], weights: dict | None = None, opset: int = 22) -> np.ndarray:
    model, _, _ = compile_text(text, weights, opset=opset)
    check_shapes_match_onnx(model)
    return run_onnx(model, feeds)["out"]


def ops(text: str) -> list[str]:
    model, _, _ = compile_text(text)
    return [node.op_type for node in model.graph.node]


OPENCV = {
    "relu": 'type: "ReLU"',
    "leaky_relu": 'type: "ReLU" relu_param { negative_slope: 0.1 }',
    "prelu": 'type: "PReLU"',
    "elu": 'type: "ELU" elu_param { alpha: 0.7 }',
    "sigmoid": 'type: "Sigmoid"',
    "tanh": 'type: "TanH"',
    "absval": 'type: "AbsVal"',
    "bnll": 'type: "BNLL"',
    "power": 'type: "Power" power_param { power: 3 scale: 0.5 shift: 2 }',
    "power_square": 'type: "Power" power_param { power: 2 scale: -1.5 shift: 0.25 }',
    "exp_base_2": 'type: "Exp" exp_param { base: 2 scale: 0.5 shift: 0.3 }',
    "dropout": 'type: "Dropout" dropout_param { dropout_ratio: 0.3 }',
}
CAFFE = {
    **OPENCV,
    "prelu_channel_shared": 'type: "PReLU" prelu_param { channel_shared: true }',
    "exp_base_e": 'type: "Exp" exp_param { scale: -0.7 shift: 0.2 }',
    "log_base_10": 'type: "Log" log_param { base: 10 scale: 2 shift: 20 }',
    "log_base_e": 'type: "Log" log_param { shift: 12 }',
    "threshold": 'type: "Threshold" threshold_param { threshold: 0.2 }',
    "power_sqrt": 'type: "Power" power_param { power: 0.5 shift: 12 }',
    "power_constant": 'type: "Power" power_param { power: 2 scale: 0 shift: 3 }',
}


@pytest.mark.parametrize("body", OPENCV.values(), ids=OPENCV.keys())
def test_activation_matches_opencv(body: str) -> None:
    text = single(body)
    model, analysis, _ = compile_text(text)
    weights = random_weights(analysis)
    feeds = inputs()
    got = run_onnx(model, feeds)["out"]
    ref = run_opencv(text, weights, feeds, ["act"])["act"]
    assert got.shape == ref.shape == SHAPE
    assert rel_error(got, ref) <= 1e-5


@needs_caffe
@pytest.mark.parametrize("body", CAFFE.values(), ids=CAFFE.keys())
def test_activation_matches_caffe(body: str) -> None:
    text = single(body)
    model, analysis, _ = compile_text(text)
    weights = random_weights(analysis)
    feeds = inputs()
    got = run_onnx(model, feeds)["out"]
    ref = run_caffe(text, weights, feeds, ["out"])["out"]
    assert got.shape == ref.shape
    assert rel_error(got, ref) <= 1e-5


# numpy references, each transcribed from the layer's Forward_cpu in BVLC Caffe.
def caffe_bnll(x):
    x = x.astype(np.float64)
    return np.where(x > 0, x + np.log1p(np.exp(-np.abs(x))), np.log1p(np.exp(np.minimum(x, 0))))


NUMPY = {
    "clip": (
        'type: "Clip" clip_param { min: -0.5 max: 0.7 }',
        lambda x: np.maximum(-0.5, np.minimum(x, 0.7)),
    ),
    "clip_min_above_max_gives_min": (
        'type: "Clip" clip_param { min: 0.5 max: -0.5 }',
        lambda x: np.maximum(0.5, np.minimum(x, -0.5)),
    ),
    "swish": ('type: "Swish" swish_param { beta: 1.5 }', lambda x: x / (1 + np.exp(-1.5 * x))),
    "swish_beta_1": ('type: "Swish"', lambda x: x / (1 + np.exp(-x))),
    "threshold_is_strict": (
        'type: "Threshold" threshold_param { threshold: 0.5 }',
        lambda x: (x > 0.5).astype(np.float32),
    ),
    "bnll_large_inputs_stay_finite": ('type: "BNLL"', caffe_bnll),
    "power_identity": ('type: "Power"', lambda x: x),
    "power_zero_power_is_one": (
        'type: "Power" power_param { power: 0 shift: -2 }',
        lambda x: np.ones_like(x),
    ),
    "power_negative_odd": ('type: "Power" power_param { power: -1 shift: 5 }', lambda x: 1 / (5 + x)),
    "exp_shift_only": (
        'type: "Exp" exp_param { base: 3 shift: 1 }',
        lambda x: 3 ** (1 + x.astype(np.float64)),
    ),
    "log_base_2": ('type: "Log" log_param { base: 2 scale: 3 shift: 60 }', lambda x: np.log2(60 + 3 * x)),
    "elu_default_alpha": ('type: "ELU"', lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
}


@pytest.mark.parametrize(("body", "reference"), NUMPY.values(), ids=NUMPY.keys())
def test_activation_matches_numpy_reference_from_caffe(body: str, reference) -> None:
    feeds = inputs(scale=5.0)
    if "BNLL" in body:
        feeds["data"][0, 0, 0, :] = [-100, -30, 0, 30, 100]
    got = ours(single(body), feeds)
    assert np.isfinite(got).all()
    assert rel_error(got, reference(feeds["data"])) <= 1e-5


CHAIN = {
    "r": 'type: "ReLU" relu_param { negative_slope: 0.2 }',
    "p": 'type: "PReLU"',
    "e": 'type: "ELU"',
    "s": 'type: "Sigmoid"',
    "t": 'type: "TanH"',
    "a": 'type: "AbsVal"',
    "b": 'type: "BNLL"',
    "pw": 'type: "Power" power_param { power: 2 scale: 2 shift: 1 }',
    "ex": 'type: "Exp" exp_param { base: 2 }',
    "lg": 'type: "Log" log_param { base: 10 }',
    "th": 'type: "Threshold"',
    "d": 'type: "Dropout"',
    "c": 'type: "Clip" clip_param { min: -1 max: 1 }',
    "sw": 'type: "Swish" swish_param { beta: 2 }',
}


@pytest.mark.parametrize("opset", [13, 16, 18, 22])
def test_every_activation_compiles_and_runs_at_opsets_13_to_22(opset: int) -> None:
    head = single("")[: single("").index('layer { name: "act"')]
    names = list(CHAIN)
    text = head + "".join(
        f'layer {{ name: "{name}" bottom: "{below}" top: "{name}" {CHAIN[name]} }}\n'
        for below, name in zip(["data", *names], names)
    )
    model, _, _ = compile_text(text, opset=opset)
    check_shapes_match_onnx(model)
    out = run_onnx(model, inputs())[names[-1]]
    assert out.shape == SHAPE and np.isfinite(out).all()


def test_prelu_slopes_apply_per_channel_even_when_channels_equal_width() -> None:
    """The trap: a (C,) slope broadcasts over the last axis, W; with C == W nothing fails, the
    numbers are just wrong.  Distinct slopes per channel pin the channel axis."""
    shape = (2, 3, 4, 3)
    slopes = np.array([0.1, 0.5, 2.0], dtype=np.float32)
    feeds = inputs(shape)
    got = ours(single('type: "PReLU"', shape), feeds, {"act": [slopes]})
    x = feeds["data"]
    ref = np.maximum(x, 0) + slopes.reshape(1, 3, 1, 1) * np.minimum(x, 0)
    assert rel_error(got, ref) <= 1e-6
    wrong = np.maximum(x, 0) + slopes * np.minimum(x, 0)
    assert rel_error(got, wrong) > 0.1


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 7)], ids=["2d", "3d"])
def test_prelu_per_channel_on_fewer_axes(shape: tuple[int, ...]) -> None:
    slopes = np.array([0.1, 0.5, 2.0], dtype=np.float32)
    feeds = inputs(shape)
    got = ours(single('type: "PReLU"', shape), feeds, {"act": [slopes]})
    x = feeds["data"]
    ref = np.maximum(x, 0) + slopes.reshape(3, *[1] * (len(shape) - 2)) * np.minimum(x, 0)
    assert rel_error(got, ref) <= 1e-6


def test_prelu_opencv_agrees_per_channel_when_channels_equal_width() -> None:
    shape = (2, 3, 4, 3)
    text = single('type: "PReLU"', shape)
    weights = {"act": [np.array([0.1, 0.5, 2.0], dtype=np.float32)]}
    feeds = inputs(shape)
    assert rel_error(ours(text, feeds, weights), run_opencv(text, weights, feeds, ["act"])["act"]) <= 1e-6


def test_prelu_weights_follow_caffe_blob_shapes_and_default_filler() -> None:
    analysis, _ = analyse(single('type: "PReLU"'))
    (spec,) = analysis.info("act").weights
    assert spec.shape == (3,)
    assert (spec.filler.type, spec.filler.value) == ("constant", pytest.approx(0.25))
    analysis, _ = analyse(
        single('type: "PReLU" prelu_param { channel_shared: true filler { type: "constant" value: 0.1 } }')
    )
    (spec,) = analysis.info("act").weights
    assert spec.shape == ()  # Caffe's shared slope is a 0-D blob
    assert spec.filler.value == pytest.approx(0.1)
    assert analysis.info("act").params == 1


def test_activations_pass_shapes_and_count_no_macs() -> None:
    analysis, _ = analyse(single('type: "Swish"'))
    info = analysis.info("act")
    assert info.tops == [SHAPE]
    assert info.macs == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('type: "ReLU"', ["Relu"]),
        ('type: "ReLU" relu_param { negative_slope: 0.01 }', ["LeakyRelu"]),
        ('type: "BNLL"', ["Softplus"]),
        ('type: "AbsVal"', ["Abs"]),
        ('type: "Dropout"', ["Identity"]),
        ('type: "Threshold"', ["Greater", "Cast"]),
        ('type: "Power" power_param { power: 2 }', ["Mul"]),
        ('type: "Power" power_param { scale: 3 }', ["Mul"]),
        ('type: "Power" power_param { shift: 3 }', ["Add"]),
        ('type: "Power" power_param { power: 3 scale: 2 shift: 1 }', ["Mul", "Add", "Pow"]),
        ('type: "Power" power_param { scale: 0 shift: 2 }', ["Shape", "ConstantOfShape"]),
        ('type: "Exp"', ["Exp"]),
        ('type: "Exp" exp_param { base: 2 shift: 1 }', ["Mul", "Exp", "Mul"]),
        ('type: "Log"', ["Log"]),
        ('type: "Log" log_param { base: 10 }', ["Log", "Mul"]),
        ('type: "Clip" clip_param { min: 0 max: 6 }', ["Clip"]),
        ('type: "Swish"', ["Sigmoid", "Mul"]),
        ('type: "Swish" swish_param { beta: 2 }', ["Mul", "Sigmoid", "Mul"]),
    ],
)
def test_lowering_emits_only_the_ops_needed(body: str, expected: list[str]) -> None:
    assert ops(single(body)) == expected


def test_power_square_is_an_exact_product() -> None:
    model, _, _ = compile_text(single('type: "Power" power_param { power: 2 shift: 1 }'))
    square = model.graph.node[-1]
    assert square.op_type == "Mul" and square.input[0] == square.input[1]
    x = inputs()["data"]
    assert np.array_equal(run_onnx(model, {"data": x})["out"], (x + np.float32(1)) * (x + np.float32(1)))


def test_in_place_activation_chain_computes_in_order() -> None:
    text = (
        single('type: "ReLU"').replace('top: "out"', 'top: "data"')
        + 'layer { name: "d" type: "Dropout" bottom: "data" top: "data" }\n'
        'layer { name: "s" type: "Sigmoid" bottom: "data" top: "out" }\n'
    )
    model, _, _ = compile_text(text)
    x = inputs()["data"]
    got = run_onnx(model, {model.graph.input[0].name: x})["out"]
    assert rel_error(got, 1 / (1 + np.exp(-np.maximum(x, 0)))) <= 1e-6


# A catalogue of broken specs: code, severity, the token the caret points at, words of the message.
CATALOGUE = [
    (
        "prelu_on_1d_input",
        single('type: "PReLU"', (6,)),
        "NS0370",
        Severity.ERROR,
        '"data" top: "out"',
        ["at least 2 axes", "1: 6"],
    ),
    (
        "prelu_on_5d_input",
        single('type: "PReLU"', (1, 2, 3, 4, 5)),
        "NS0370",
        Severity.ERROR,
        '"data" top: "out"',
        ["at most 4 axes", "5: 1x2x3x4x5"],
    ),
    (
        "exp_negative_base",
        single('type: "Exp" exp_param { base: -2 }'),
        "NS0371",
        Severity.ERROR,
        "-2",
        ["base -2 is not positive"],
    ),
    (
        "log_base_one",
        single('type: "Log" log_param { base: 1 }'),
        "NS0371",
        Severity.ERROR,
        "1 }",
        ["base 1 has no logarithm", "ln(1) = 0"],
    ),
    (
        "clip_min_above_max",
        single('type: "Clip" clip_param { min: 2 max: 1 }'),
        "NS0372",
        Severity.WARNING,
        "2 max",
        ["min 2 is greater than max 1", "every output is 2"],
    ),
    (
        "dropout_ratio_above_one",
        single('type: "Dropout" dropout_param { dropout_ratio: 1.5 }'),
        "NS0373",
        Severity.WARNING,
        "1.5",
        ["dropout_ratio 1.5 is outside (0, 1)"],
    ),
    (
        "power_scale_zero_ignores_input",
        single('type: "Power" power_param { power: 2 scale: 0 shift: 3 }'),
        "NS0374",
        Severity.WARNING,
        "0 shift",
        ["ignores its input", "every value is 9"],
    ),
    (
        "power_zero_ignores_input",
        single('type: "Power" power_param { power: 0 }'),
        "NS0374",
        Severity.WARNING,
        "0 }",
        ["every value is 1"],
    ),
    (
        "relu_with_two_bottoms",
        single('type: "ReLU" bottom: "data"'),
        "NS0300",
        Severity.ERROR,
        '"data" }',
        ["exactly 1 bottom, got 2"],
    ),
]


def position(text: str, token: str) -> tuple[int, int]:
    """1-based (line, column) of `token`'s first occurrence after the Input layer's line."""
    return oracles.position(text, token, after=text.index("\n", text.index("Input")))


@pytest.mark.parametrize(
    ("text", "code", "severity", "token", "words"),
    [case[1:] for case in CATALOGUE],
    ids=[case[0] for case in CATALOGUE],
)
def test_broken_activation_spec_is_diagnosed_at_the_field(text, code, severity, token, words) -> None:
    assert_diagnosed(text, code, position(text, token), words, severity=severity)


def test_fast_rcnn_dropout_without_train_scaling_scales_test_values_down_as_caffe_fast_rcnn_and_opencv():
    """rbgirshick/caffe-fast-rcnn's DropoutLayer: scale_train false keeps training values unscaled,
    so TEST multiplies by 1 / scale_, scale_ = 1 / (1 - ratio) (ZF Faster R-CNN's fc6 and fc7)."""
    text = (
        'name: "t" input: "data" input_shape { dim: 2 dim: 5 }\n'
        'layer { name: "drop" type: "Dropout" bottom: "data" top: "out" '
        "dropout_param { dropout_ratio: 0.3 scale_train: false } }\n"
        # OpenCV names outputs by layer and folds a Dropout away: read it through an identity
        'layer { name: "same" type: "ReLU" bottom: "out" top: "same" relu_param { negative_slope: 1 } }\n'
    )
    model, _, _ = compile_text(text)
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    ours = run_onnx(model, {"data": x})["same"]
    scale = np.float32(1.0 / (1.0 - np.float64(np.float32(0.3))))
    np.testing.assert_array_equal(ours, x * np.float32(1.0 / np.float64(scale)))
    assert rel_error(ours, run_opencv(text, {}, {"data": x}, ["same"])["same"]) <= 1e-6


def test_bayesian_segnet_dropout_samples_a_fresh_mask_at_test_time_as_the_fork_does():
    """Caffe-SegNet's DropoutLayer with sample_weights_test takes its TRAIN path at TEST: each value
    kept with probability 1 - ratio and scaled by scale_ = 1 / (1 - ratio), a new mask per run."""
    text = (
        'name: "t" input: "data" input_shape { dim: 4 dim: 8 dim: 16 dim: 16 }\n'
        'layer { name: "drop" type: "Dropout" bottom: "data" top: "out" '
        "dropout_param { dropout_ratio: 0.25 sample_weights_test: true } }\n"
    )
    model, _, _ = compile_text(text)
    x = np.random.default_rng(0).uniform(1.0, 2.0, (4, 8, 16, 16)).astype(np.float32)
    first, second = (run_onnx(model, {"data": x})["out"] for _ in range(2))
    scale = np.float32(1.0 / (1.0 - np.float64(np.float32(0.25))))
    for out in (first, second):
        kept = out != 0
        np.testing.assert_allclose(out[kept], x[kept] * scale, rtol=1e-6)
        assert abs(1 - kept.mean() - 0.25) < 0.02  # 8192 values: the dropped share is near the ratio
    assert not np.array_equal(first != 0, second != 0)
