"""--dynamic-batch: the graph takes any batch where Caffe's sizes follow it, and says why not where
they do not.  Which axes follow the batch is found by checking the net again at another batch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from oracles import analyse, compile_text, position, random_weights, rel_error, run_onnx, run_opencv

from netspec import runtime
from netspec.pipeline import check, compile

PERMUTED = """name: "permuted"
input: "data" input_shape { dim: 2 dim: 3 dim: 5 }
layer { name: "perm" type: "Permute" bottom: "data" top: "p" permute_param { order: 1 order: 0 order: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "p" top: "fc" inner_product_param { num_output: 4 axis: 2 } }
"""


def dims(value: onnx.ValueInfoProto) -> list:
    return [
        d.dim_param or (d.dim_value if d.HasField("dim_value") else None)
        for d in value.type.tensor_type.shape.dim
    ]


def test_a_batch_moved_off_axis_0_stays_symbolic_and_every_batch_matches_opencv():
    weights = random_weights(analyse(PERMUTED)[0], seed=2)
    model, _, _ = compile_text(PERMUTED, weights, dynamic_batch=True)
    assert dims(model.graph.output[0]) == [3, "N", 4]
    for batch in (1, 3, 7):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 5)).astype(np.float32)
        text = PERMUTED.replace("dim: 2 dim: 3 dim: 5", f"dim: {batch} dim: 3 dim: 5")
        ours = run_onnx(model, {"data": x})["fc"]
        assert ours.shape == (3, batch, 4)
        assert rel_error(ours, run_opencv(text, weights, {"data": x}, ["fc"])["fc"]) <= 1e-5


def test_a_batch_folded_into_another_axis_is_declared_unknown():
    text = PERMUTED.split("layer")[0] + (
        'layer { name: "flat" type: "Flatten" bottom: "data" top: "flat" flatten_param { axis: 0 } }\n'
    )
    model, _, _ = compile_text(text, dynamic_batch=True)
    assert dims(model.graph.input[0]) == ["N", 3, 5] and dims(model.graph.output[0]) == [None]
    assert run_onnx(model, {"data": np.ones((4, 3, 5), np.float32)})["flat"].shape == (60,)


@pytest.mark.parametrize(
    ("layer", "token", "words"),
    [
        (
            'layer { name: "r" type: "Reshape" bottom: "data" top: "r" reshape_param { shape { dim: 6 dim: 5 } } }',
            "6 dim: 5",
            "the net does not check at batch 3, only at 2: r: reshape of 3x3x5 (45 values) to 6x5",
        ),
        (
            'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
            "inner_product_param { num_output: 4 axis: 0 } }",
            '"InnerProduct"',
            "fc: its weights are sized by the batch (4x30 at batch 2)",
        ),
    ],
    ids=["reshape_to_a_literal_batch", "inner_product_over_the_batch"],
)
def test_sizes_that_fix_the_batch_are_ns0419_at_the_layer(layer, token, words):
    text = PERMUTED.split("layer")[0] + layer + "\n"
    checked = check("t.prototxt", content=text)
    assert not checked.diagnostics.has_errors  # a fixed batch compiles
    assert compile(checked, dynamic_batch=True) is None
    (error,) = checked.diagnostics.errors
    assert error.code == "NS0419" and words in error.message
    assert "--batch N" in error.help
    assert (error.span.line, error.span.column) == position(text, token)


def test_a_graph_that_does_not_run_at_another_batch_is_netspecs_bug_not_a_file(monkeypatch):
    monkeypatch.setattr(runtime, "batch_problem", lambda model, batch: ("it broke", "fc/MatMul_2"))
    checked = check("t.prototxt", content=PERMUTED)
    assert compile(checked, dynamic_batch=True) is None
    (error,) = checked.diagnostics.errors
    assert error.code == "NS0499" and "layer 'fc' (InnerProduct)" in error.message
    assert "does not compute at batch 3: it broke" in error.message
    headed = PERMUTED + 'layer { name: "fc/head" type: "ReLU" bottom: "fc" top: "head" }\n'
    monkeypatch.setattr(runtime, "batch_problem", lambda model, batch: ("it broke", "fc/head"))
    checked = check("t.prototxt", content=headed)
    assert compile(checked, dynamic_batch=True) is None
    assert "layer 'fc/head' (ReLU)" in checked.diagnostics.errors[0].message


def test_a_dynamic_model_is_proved_at_another_batch_before_it_is_written():
    checked = check("t.prototxt", content=PERMUTED)
    model = compile(checked, dynamic_batch=True)
    assert model is not None and runtime.batch_problem(model, 5) is None
