"""Compiling part of a net (`--outputs`, `outputs=`): the model outputs exactly the named blobs,
each its latest value as Caffe keeps it, and holds only the layers they need."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from oracles import (
    analyse,
    compile_text,
    random_inputs,
    random_weights,
    rel_error,
    run_caffe,
    run_onnx,
    run_opencv,
)

import netspec
from netspec.cli import main
from netspec.diagnostics import Diagnostics
from netspec.lower import Options, lower

# conv1 is read by a BatchNorm that writes a new blob (so folding must not swallow conv1 when it
# is an output); bn1 is then rewritten in place twice, conv2 once; "extra" only feeds the head.
NET = """name: "partial"
input: "data" input_shape { dim: 2 dim: 3 dim: 12 dim: 12 }
input: "extra" input_shape { dim: 2 dim: 4 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "bn1" }
layer { name: "sc1" type: "Scale" bottom: "bn1" top: "bn1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "bn1" top: "bn1" }
layer { name: "pool1" type: "Pooling" bottom: "bn1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2" convolution_param { num_output: 5 kernel_size: 3 } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "fc" type: "InnerProduct" bottom: "conv2" top: "fc" inner_product_param { num_output: 4 } }
layer { name: "sum" type: "Eltwise" bottom: "fc" bottom: "extra" top: "sum" }
layer { name: "prob" type: "Softmax" bottom: "sum" top: "prob" }
"""  # fmt: skip

ASKED = ("conv2", "conv1", "bn1", "pool1")


def partial(outputs: tuple[str, ...], fold: bool = True):
    model, analysis, diagnostics = compile_text(NET, seed=4, outputs=outputs, fold=fold)
    return model, random_weights(analysis, 4), random_inputs(analysis, 4), diagnostics


@pytest.mark.parametrize("fold", [True, False])
def test_outputs_are_the_named_blobs_latest_values_as_opencv_computes_them(fold):
    model, weights, feeds, _ = partial(ASKED, fold)
    assert [o.name for o in model.graph.output] == list(ASKED)
    ours = run_onnx(model, {"data": feeds["data"]})
    # OpenCV names outputs by layer: a blob's latest value is the last in-place layer's output.
    theirs = run_opencv(NET, weights, feeds, ["relu2", "conv1", "relu1", "pool1"])
    for blob, layer in zip(ASKED, ["relu2", "conv1", "relu1", "pool1"]):
        assert rel_error(ours[blob], theirs[layer]) < 1e-5, blob
    assert ours["conv2"].min() == 0  # after the in-place ReLU
    assert ours["conv1"].min() < 0  # before the BatchNorm, which folding would otherwise absorb


def test_outputs_are_the_blobs_real_caffe_holds_after_a_forward_pass():
    model, weights, feeds, _ = partial(ASKED)
    ours = run_onnx(model, {"data": feeds["data"]})
    theirs = run_caffe(NET, weights, feeds, list(ASKED))
    for blob in ASKED:
        assert rel_error(ours[blob], theirs[blob]) < 1e-5, blob


def test_only_the_layers_the_outputs_need_are_compiled():
    model, _, _, diagnostics = partial(("pool1",))
    assert [n.name for n in model.graph.node] == ["conv1", "relu1", "pool1"]  # bn1 and sc1 folded
    assert [i.name for i in model.graph.input] == ["data"]  # "extra" only feeds the head
    assert [o.name for o in model.graph.output] == ["pool1"]
    (info,) = [d for d in diagnostics if d.code == "NS0405"]
    assert info.message.startswith("5 of 11 layers are not needed for --outputs pool1")
    full, _, _ = compile_text(NET, seed=4)
    assert {"fc", "prob"} <= {n.name for n in full.graph.node}
    assert [o.name for o in full.graph.output] == ["prob"]


def refused(outputs: tuple[str, ...], text: str = NET) -> list:
    analysis, _ = analyse(text)
    found = Diagnostics()
    assert lower(analysis, random_weights(analysis), found, Options(outputs=outputs)) is None
    return [(d.message, d.help) for d in found if d.code == "NS0404"]


def test_an_unknown_blob_is_a_diagnostic_with_the_nearest_names():
    [(message, hint)] = refused(("conv_2", "pool1"))
    assert "no blob 'conv_2'" in message and hint == "did you mean 'conv2' or 'conv1'?"


def test_training_blobs_and_repeats_cannot_be_outputs():
    training = NET + 'layer { name: "loss" type: "EuclideanLoss" bottom: "fc" bottom: "extra" top: "loss" }\n'
    found = refused(("pool1", "pool1", "loss"), training)
    assert [m for m, _ in found] == [
        "--outputs names 'pool1' twice",
        "--outputs loss: 'loss' is computed only by the training layer 'loss' (EuclideanLoss), which "
        "the inference graph leaves out",
    ]


def test_an_input_named_as_an_output_passes_through():
    model, _, feeds, _ = partial(("extra", "pool1"))
    assert [i.name for i in model.graph.input] == ["data", "extra"]
    ours = run_onnx(model, feeds)
    np.testing.assert_array_equal(ours["extra"], feeds["extra"])


def test_python_api_takes_outputs():
    checked = netspec.check("partial.prototxt", content=NET)
    model = netspec.compile(checked, outputs=["pool1", "conv2"])
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["pool1", "conv2"]
    assert netspec.compile(netspec.check("p.prototxt", content=NET), outputs=["nope"]) is None


def test_cli_compile_and_run_take_outputs(tmp_path, capsys):
    spec, out = tmp_path / "partial.prototxt", tmp_path / "partial.onnx"
    spec.write_text(NET)
    assert main(["compile", str(spec), "--outputs", "conv2,pool1", "-o", str(out), "-v"]) == 0
    streams = capsys.readouterr()
    assert "info[NS0405]: 3 of 11 layers are not needed for --outputs conv2, pool1" in streams.err
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["conv2", "pool1"]
    assert main(["run", str(spec), "--outputs", "pool1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith("pool1: 2x4x5x5 float32")
    assert main(["run", str(spec), "--outputs", "pool2"]) == 1
    assert "did you mean 'pool1'?" in capsys.readouterr().err
    assert main(["run", str(spec), "--outputs", "pool1,,conv2"]) == 2
    assert main(["run", str(out), "--outputs", "pool1"]) == 2
    assert "compiled already" in capsys.readouterr().err
