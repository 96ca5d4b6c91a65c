"""Loss, Accuracy and the other training-only layers: shapes as real Caffe gives them,
left out of inference graphs (with the info diagnostic), and broken specs."""

from __future__ import annotations

import numpy as np
import oracles
import pytest
from oracles import assert_diagnosed, compile_text, needs_caffe, run_caffe, run_onnx

from netspec.diagnostics import Severity
from netspec.pipeline import check


def dummy(*shapes: tuple[int, ...]) -> str:
    """A DummyData layer writing blobs b0, b1, ... of the given shapes (zeros, as Caffe's default filler)."""
    tops = " ".join(f'top: "b{i}"' for i in range(len(shapes)))
    dims = " ".join("shape { " + " ".join(f"dim: {d}" for d in shape) + " }" for shape in shapes)
    return f'name: "t"\nlayer {{ name: "src" type: "DummyData" {tops} dummy_data_param {{ {dims} }} }}\n'


def layer(body: str, bottoms: int = 2, tops: str = 'top: "loss"') -> str:
    names = " ".join(f'bottom: "b{i}"' for i in range(bottoms))
    return f'layer {{ name: "sink" {names} {tops} {body} }}\n'


def sink_tops(text: str) -> list:
    checked = check("t.prototxt", content=text)
    assert not checked.diagnostics.has_errors, [d.message for d in checked.diagnostics]
    return checked.analysis.info("sink").tops


CASES = {
    "softmax_loss": (dummy((4, 5), (4,)) + layer('type: "SoftmaxWithLoss"'), [()]),
    "softmax_loss_with_probabilities": (
        dummy((2, 5, 3, 3), (2, 1, 3, 3))
        + layer('type: "SoftmaxWithLoss" loss_weight: 1 loss_weight: 0', tops='top: "loss" top: "prob"'),
        [(), (2, 5, 3, 3)],
    ),
    "softmax_loss_axis_2": (
        dummy((2, 3, 7), (2, 3)) + layer('type: "SoftmaxWithLoss" softmax_param { axis: 2 }'),
        [()],
    ),
    "euclidean": (dummy((4, 3, 2), (4, 6)) + layer('type: "EuclideanLoss"'), [()]),
    "sigmoid_cross_entropy": (dummy((4, 6), (4, 3, 2)) + layer('type: "SigmoidCrossEntropyLoss"'), [()]),
    "hinge": (dummy((4, 5), (4,)) + layer('type: "HingeLoss" hinge_loss_param { norm: L2 }'), [()]),
    "multinomial_logistic": (dummy((4, 5), (4, 1)) + layer('type: "MultinomialLogisticLoss"'), [()]),
    "infogain_matrix_bottom": (dummy((4, 5), (4,), (5, 5)) + layer('type: "InfogainLoss"', bottoms=3), [()]),
    "contrastive": (dummy((4, 8, 1, 1), (4, 8), (4,)) + layer('type: "ContrastiveLoss"', bottoms=3), [()]),
    "accuracy": (dummy((4, 5), (4,)) + layer('type: "Accuracy" accuracy_param { top_k: 2 }'), [()]),
    "accuracy_per_class": (
        dummy((4, 5, 2), (4, 2)) + layer('type: "Accuracy"', tops='top: "acc" top: "per_class"'),
        [(), (5,)],
    ),
    "accuracy_axis_2": (
        dummy((4, 2, 7), (4, 2))
        + layer('type: "Accuracy" accuracy_param { axis: -1 }', tops='top: "acc" top: "per_class"'),
        [(), (7,)],
    ),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_training_layer_shapes(text: str, expected: list) -> None:
    assert sink_tops(text) == expected


# The oracle's Caffe build carries the InfogainLoss from before 2017, which wants H as (1, 1, C, C);
# BVLC master, the definition, takes any H of C² values.  BVLC cannot set up a two-top
# SoftmaxWithLoss at all (pinned below).
CAFFE_CASES = {
    name: case
    for name, case in CASES.items()
    if name not in ("infogain_matrix_bottom", "softmax_loss_with_probabilities")
}


@needs_caffe
@pytest.mark.parametrize("text", [c[0] for c in CAFFE_CASES.values()], ids=CAFFE_CASES.keys())
def test_training_layer_shapes_match_caffe(text: str) -> None:
    checked = check("t.prototxt", content=text)
    blobs = [t.name for t in checked.net.layer("sink").tops]
    caffe = run_caffe(text, None, {}, blobs)
    assert checked.analysis.info("sink").tops == [caffe[name].shape for name in blobs]


def test_softmax_loss_second_top_warns_that_bvlc_caffe_cannot_set_it_up() -> None:
    text = CASES["softmax_loss_with_probabilities"][0]
    (d,) = [d for d in check("t.prototxt", content=text).diagnostics if d.code == "NS0379"]
    assert d.severity is Severity.WARNING and "BVLC/caffe#2968" in d.message
    assert (d.span.line, d.span.column) == position(text, 'top: "prob"')


@needs_caffe
def test_bvlc_caffe_indeed_fails_on_a_two_top_softmax_loss() -> None:
    with pytest.raises(AssertionError, match="num_loss_weights"):
        run_caffe(CASES["softmax_loss_with_probabilities"][0], None, {}, ["loss"])


def test_loss_top_may_be_left_out_as_caffe_adds_it() -> None:
    assert sink_tops(dummy((4, 5), (4,)) + layer('type: "SoftmaxWithLoss"', tops="")) == []


@pytest.mark.parametrize("sink", ["Silence", "HDF5Output"])
def test_sinks_write_nothing(sink: str) -> None:
    assert sink_tops(dummy((4, 5), (4,)) + layer(f'type: "{sink}"', tops="")) == []


def test_training_layers_are_left_out_of_the_inference_graph_with_an_info() -> None:
    text = (
        dummy((3, 6), (3,)) + 'layer { name: "fc" type: "InnerProduct" bottom: "b0" top: "fc" '
        "inner_product_param { num_output: 4 } }\n"
        'layer { name: "out" type: "ReLU" bottom: "fc" top: "out" }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "b1" top: "loss" }\n'
        'layer { name: "acc" type: "Accuracy" bottom: "fc" bottom: "b1" top: "acc" top: "per_class" }\n'
        'layer { name: "quiet" type: "Silence" bottom: "b1" }\n'
    )
    model, _, diagnostics = compile_text(text)
    ops = {node.name for node in model.graph.node}
    assert not ops & {"loss", "acc", "quiet"}
    assert [o.name for o in model.graph.output] == ["out"]
    assert [i.name for i in model.graph.input] == ["b0"]
    (info,) = [d for d in diagnostics if d.code == "NS0401"]
    assert info.severity is Severity.INFO
    assert "loss, acc, quiet" in info.message
    assert run_onnx(model, {"b0": np.ones((3, 6), np.float32)})["out"].shape == (3, 4)


# Broken specs: code, the token the caret points at, words of the message.
CATALOGUE = [
    (
        "softmax_loss_label_count",
        dummy((4, 5, 3), (4,)) + layer('type: "SoftmaxWithLoss"'),
        "NS0381",
        'bottom: "b1"',
        [
            "4 labels 4 for predictions 4x5x3 with 5 classes on axis 1",
            "4·3 = 12",
            "labels of shape 4x3",
        ],
    ),
    (
        "loss_batch_mismatch",
        dummy((4, 5), (6,)) + layer('type: "SoftmaxWithLoss"'),
        "NS0380",
        'bottom: "b1"',
        ["bottom 0 4x5 has 4 items but bottom 1 6 has 6"],
    ),
    (
        "euclidean_sizes_differ",
        dummy((4, 3), (4, 2)) + layer('type: "EuclideanLoss"'),
        "NS0382",
        'bottom: "b1"',
        ["hold 3 and 2 values per item"],
    ),
    (
        "sigmoid_cross_entropy_counts_differ",
        dummy((4, 3), (4,)) + layer('type: "SigmoidCrossEntropyLoss"'),
        "NS0382",
        'bottom: "b1"',
        ["4 targets 4 for 12 predictions 4x3"],
    ),
    (
        "multinomial_label_has_channels",
        dummy((4, 5), (4, 2)) + layer('type: "MultinomialLogisticLoss"'),
        "NS0383",
        'bottom: "b1"',
        ["bottom 1 4x2 has C = 2", "C, H, W of 1"],
    ),
    (
        "contrastive_channels_differ",
        dummy((4, 8), (4, 6), (4,)) + layer('type: "ContrastiveLoss"', bottoms=3),
        "NS0382",
        'bottom: "b1"',
        ["8 and 6 channels"],
    ),
    (
        "contrastive_spatial_features",
        dummy((4, 8, 2, 2), (4, 8, 2, 2), (4,)) + layer('type: "ContrastiveLoss"', bottoms=3),
        "NS0383",
        'bottom: "b0"',
        ["has H = 2"],
    ),
    (
        "accuracy_top_k_above_classes",
        dummy((4, 5), (4,)) + layer('type: "Accuracy" accuracy_param { top_k: 6 }'),
        "NS0384",
        "6 }",
        ["top_k 6 exceeds the 5 classes"],
    ),
    (
        "accuracy_axis_out_of_range",
        dummy((4, 5), (4,)) + layer('type: "Accuracy" accuracy_param { axis: 2 }'),
        "NS0310",
        "2 }",
        ["axis 2 is out of range for a 2-D input"],
    ),
    (
        "accuracy_label_count",
        dummy((4, 5), (2, 4)) + layer('type: "Accuracy"'),
        "NS0381",
        'bottom: "b1"',
        ["8 labels 2x4 for predictions 4x5"],
    ),
    (
        "infogain_without_matrix",
        dummy((4, 5), (4,)) + layer('type: "InfogainLoss"'),
        "NS0385",
        'layer { name: "sink"',
        ["neither a third bottom nor a file"],
    ),
    (
        "infogain_matrix_size",
        dummy((4, 5), (4,), (4, 4)) + layer('type: "InfogainLoss"', bottoms=3),
        "NS0385",
        'bottom: "b2"',
        ["holds 16 values; 5 classes need 5x5 = 25"],
    ),
    (
        "infogain_refuses_normalize",
        dummy((4, 5), (4,))
        + layer('type: "InfogainLoss" infogain_loss_param { source: "H" } loss_param { normalize: true }'),
        "NS0386",
        "true",
        ["deprecated loss_param.normalize"],
    ),
    (
        "softmax_loss_probabilities_without_loss_weights",
        dummy((4, 5), (4,)) + layer('type: "SoftmaxWithLoss"', tops='top: "loss" top: "prob"'),
        "NS0378",
        'top: "prob"',
        ["no loss_weights for 2 tops", "loss_weight: 1 loss_weight: 0"],
    ),
    (
        "loss_with_one_bottom",
        dummy((4, 5), (4,)) + layer('type: "EuclideanLoss"', bottoms=1),
        "NS0300",
        'bottom: "b0"',
        ["exactly 2 bottoms, got 1"],
    ),
    (
        "hdf5_output_batch_mismatch",
        dummy((4, 5), (3,)) + layer('type: "HDF5Output"', tops=""),
        "NS0380",
        'bottom: "b1"',
        ["has 4 items but bottom 1 3 has 3"],
    ),
]


def position(text: str, token: str) -> tuple[int, int]:
    """(line, column) of `token` in the sink layer; a bottom's token points at its value."""
    line, column = oracles.position(text, token, after=text.index('name: "sink"') - len("layer { "))
    return line, column + (token.index('"') if token.startswith(("bottom: ", "top: ")) else 0)


@pytest.mark.parametrize(
    ("text", "code", "token", "words"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE]
)
def test_broken_training_spec_is_diagnosed_at_the_field(
    text: str, code: str, token: str, words: list[str]
) -> None:
    assert_diagnosed(text, code, position(text, token), words)
