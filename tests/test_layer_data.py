"""Data layers: top shapes from their params as Caffe's DataLayerSetUp gives them, --input for
the sizes only the data knows, the corpus's train_val nets, and broken specs."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from oracles import (
    CAFFE_PYTHON,
    CORPUS,
    analyse,
    assert_diagnosed,
    compile_text,
    needs_caffe,
    needs_corpus,
    position,
    random_weights,
    rel_error,
    run_caffe,
    run_onnx,
)

from netspec.diagnostics import Severity
from netspec.frontend.select import TEST, TRAIN
from netspec.pipeline import check

ALEXNET = CORPUS / "BVLC__caffe/models/bvlc_alexnet/train_val.prototxt"
CIFAR10 = CORPUS / "BVLC__caffe/examples/cifar10/cifar10_quick_train_test.prototxt"
LENET = CORPUS / "BVLC__caffe/examples/mnist/lenet_train_test.prototxt"
FLICKR = CORPUS / "BVLC__caffe/models/finetune_flickr_style/train_val.prototxt"

FC = (
    'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 4 } }'
)


def net(source: str, consumers: str = FC) -> str:
    return f'name: "t"\n{source}\n{consumers}'


def tops(text: str, layer: str = "src", **kw) -> list:
    checked = check("t.prototxt", content=text, **kw)
    return checked.analysis.info(layer).tops


def codes(text: str, **kw) -> list[str]:
    return [d.code for d in check("t.prototxt", content=text, **kw).diagnostics]


# Corpus nets, TEST phase (TRAIN for one), as their authors run them.
@needs_corpus
def test_alexnet_test_phase_asks_for_the_database_sizes_it_cannot_know() -> None:
    checked = check(str(ALEXNET))
    (d,) = [d for d in checked.diagnostics if d.code == "NS0375"]
    assert d.severity is Severity.ERROR
    text = ALEXNET.read_text()
    second_data_top = text.index('top: "data"', text.index("phase: TEST") - 200)
    assert (d.span.line, d.span.column) == (text.count("\n", 0, second_data_top) + 1, 8)
    assert "ilsvrc12_val_lmdb" in d.message and "50xCx227x227" in d.message
    assert d.help.startswith("pass --input data=50xCx227x227")
    assert checked.analysis.info("data").tops == [None, (50,)]


@needs_corpus
def test_alexnet_test_phase_with_input_checks_through_accuracy_and_loss() -> None:
    checked = check(str(ALEXNET), inputs={"data": (50, 3, 227, 227)})
    assert not checked.diagnostics.has_errors
    a = checked.analysis
    assert a.info("data").tops == [(50, 3, 227, 227), (50,)]
    assert a.info("fc8").tops == [(50, 1000)]
    assert a.info("accuracy").tops == [()]
    assert a.info("loss").tops == [()]


@needs_corpus
@pytest.mark.parametrize(
    ("path", "phase", "batch", "given"),
    [
        (CIFAR10, TEST, 100, (100, 3, 32, 32)),
        (CIFAR10, TRAIN, 100, (100, 3, 32, 32)),
        (LENET, TRAIN, 64, (64, 1, 28, 28)),
        (LENET, TEST, 100, (100, 1, 28, 28)),
    ],
    ids=["cifar10_test", "cifar10_train", "lenet_train", "lenet_test"],
)
def test_corpus_labels_are_one_per_item_of_the_phase_batch(path, phase, batch, given) -> None:
    checked = check(str(path), phase=phase, inputs={"data": given})
    assert not checked.diagnostics.has_errors
    source = next(i for i in checked.analysis.layers if i.layer.type == "Data")
    assert source.tops == [given, (batch,)]
    loss = next(i for i in checked.analysis.layers if i.layer.type == "SoftmaxWithLoss")
    assert loss.tops == [()]


@needs_corpus
def test_image_data_sizes_come_from_crop_size() -> None:
    checked = check(str(FLICKR))
    assert not checked.diagnostics.has_errors
    assert checked.analysis.info("data").tops == [(50, 3, 227, 227), (50,)]


@needs_corpus
def test_batch_option_resizes_labels_too() -> None:
    checked = check(str(LENET), inputs={"data": (100, 1, 28, 28)}, batch=8)
    assert checked.analysis.info("mnist").tops == [(8, 1, 28, 28), (8,)]


# Shapes from params.
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            'layer { name: "src" type: "Data" top: "data" top: "label" data_param { batch_size: 32 } }',
            [None, (32,)],
        ),
        (
            'layer { name: "src" type: "ImageData" top: "data" top: "label" '
            "image_data_param { batch_size: 8 new_height: 40 new_width: 30 is_color: false } }",
            [(8, 1, 40, 30), (8,)],
        ),
        (
            'layer { name: "src" type: "ImageData" top: "data" top: "label" '
            "image_data_param { new_height: 40 new_width: 30 } transform_param { crop_size: 24 } }",
            [(1, 3, 24, 24), (1,)],
        ),
        (
            'layer { name: "src" type: "DenseImageData" top: "data" top: "label" '
            "dense_image_data_param { batch_size: 4 new_height: 36 new_width: 48 crop_height: 30 crop_width: 40 } }",
            [(4, 3, 30, 40), (4, 1, 30, 40)],
        ),
        (
            'layer { name: "src" type: "DenseImageData" top: "data" top: "label" '
            "dense_image_data_param { batch_size: 2 new_height: 36 new_width: 48 is_color: false } "
            "transform_param { crop_size: 32 } }",
            [(2, 1, 32, 32), (2, 1, 32, 32)],
        ),
        (
            'layer { name: "src" type: "MemoryData" top: "data" top: "label" '
            "memory_data_param { batch_size: 5 channels: 2 height: 7 width: 9 } }",
            [(5, 2, 7, 9), (5,)],
        ),
        (
            'layer { name: "src" type: "WindowData" top: "data" top: "label" '
            "window_data_param { batch_size: 128 } transform_param { crop_size: 227 } }",
            [(128, 3, 227, 227), (128,)],
        ),
        (
            'layer { name: "src" type: "DummyData" top: "data" top: "label" '
            "dummy_data_param { shape { dim: 4 dim: 3 dim: 5 } shape { dim: 4 } } }",
            [(4, 3, 5), (4,)],
        ),
        (
            'layer { name: "src" type: "DummyData" top: "data" top: "label" '
            "dummy_data_param { shape { dim: 2 dim: 6 } } }",
            [(2, 6), (2, 6)],
        ),
        (
            'layer { name: "src" type: "DummyData" top: "data" top: "label" '
            "dummy_data_param { num: 2 num: 2 channels: 3 channels: 1 "
            "height: 4 height: 1 width: 4 width: 1 } }",
            [(2, 3, 4, 4), (2, 1, 1, 1)],
        ),
        (
            'layer { name: "src" type: "HDF5Data" top: "data" top: "label" '
            "hdf5_data_param { batch_size: 10 } }",
            [None, None],
        ),
    ],
    ids=[
        "data",
        "image_data_resized_gray",
        "image_data_crop_wins",
        "dense_image_data_crop_height_and_width",
        "dense_image_data_crop_size_wins",
        "memory_data",
        "window_data",
        "dummy_shape_per_top",
        "dummy_one_shape_for_all",
        "dummy_legacy",
        "hdf5_unknown",
    ],
)
def test_data_layer_shapes_from_params(source: str, expected: list) -> None:
    assert tops(net(source, consumers="")) == expected


@needs_caffe
def test_dummy_data_shapes_match_caffe() -> None:
    text = net(
        'layer { name: "src" type: "DummyData" top: "a" top: "b" top: "c" dummy_data_param { '
        "shape { dim: 4 dim: 3 dim: 5 } shape { dim: 4 } shape { dim: 1 dim: 2 } "
        'data_filler { type: "constant" value: 1 } } }',
        consumers="",
    )
    caffe = run_caffe(text, None, {}, ["a", "b", "c"])
    assert tops(text) == [caffe[name].shape for name in "abc"]


def test_input_option_sizes_a_database_top() -> None:
    text = net(
        'layer { name: "src" type: "Data" top: "data" top: "label" data_param { batch_size: 6 } '
        "transform_param { crop_size: 5 } }"
    )
    assert tops(text, inputs={"data": (6, 2, 5, 5)}) == [(6, 2, 5, 5), (6,)]
    assert "NS0375" not in codes(text, inputs={"data": (6, 2, 5, 5)})


def test_dense_image_data_labels_take_the_size_given_for_the_images() -> None:
    """Caffe-SegNet reads the label image at the image's size, so --input data sizes both tops."""
    text = net(
        'layer { name: "src" type: "DenseImageData" top: "data" top: "label" '
        "dense_image_data_param { batch_size: 2 } }",
        consumers="",
    )
    checked = check("t.prototxt", content=text, inputs={"data": (2, 3, 12, 16)})
    assert not checked.diagnostics.has_errors
    assert checked.analysis.info("src").tops == [(2, 3, 12, 16), (2, 1, 12, 16)]


def test_unknown_top_read_only_by_training_layers_is_a_warning() -> None:
    text = net(
        'layer { name: "src" type: "HDF5Data" top: "data" top: "label" hdf5_data_param { batch_size: 10 } }',
        FC + 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }',
    )
    diagnostics = check("t.prototxt", content=text, inputs={"data": (10, 3)}).diagnostics
    (d,) = [d for d in diagnostics if d.code == "NS0375"]
    assert d.severity is Severity.WARNING
    assert "'label'" in d.message and "not checked" in d.message
    assert (d.span.line, d.span.column) == position(text, '"label"')


def test_unknown_top_that_nothing_reads_is_not_reported() -> None:
    text = net(
        'layer { name: "src" type: "HDF5Data" top: "data" top: "label" hdf5_data_param { batch_size: 10 } }'
    )
    checked = check("t.prototxt", content=text, inputs={"data": (10, 3)})
    assert [d.code for d in checked.diagnostics] == []
    assert checked.analysis.info("src").tops == [(10, 3), None]


PYTHON_DATA = (  # FCN's train/val nets read their data this way
    'layer { name: "src" type: "Python" top: "data" top: "label" '
    'python_param { module: "voc_layers" layer: "VOCSegDataLayer" param_str: "{}" } }'
)
CONV_LOSS = (
    'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 3 } }\n'
    'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "c" bottom: "label" top: "loss" }'
)


def test_python_data_layer_asks_for_the_sizes_its_python_code_sets() -> None:
    """BVLC Caffe built WITH_PYTHON_LAYER reads such a net; netspec cannot run the module's setup()."""
    text = net(PYTHON_DATA, CONV_LOSS)
    found = check("t.prototxt", content=text).diagnostics
    (error,) = [d for d in found if d.severity is Severity.ERROR]
    assert error.code == "NS0375" and "'data'" in error.message
    assert "Python layer 'voc_layers.VOCSegDataLayer'" in error.message
    assert error.help == "pass --input data=NxCxHxW with the sizes of the data"
    assert (error.span.line, error.span.column) == position(text, '"data"')
    (warning,) = [d for d in found if d.severity is Severity.WARNING]  # label: read by the loss only
    assert (
        warning.code == "NS0375" and warning.help == "pass --input label=NxCxHxW with the sizes of the data"
    )


@needs_caffe
def test_python_data_layer_with_input_runs_as_the_same_net_fed_by_an_input_layer_in_caffe() -> None:
    """The Python layer's tops are graph inputs: the net below it is the net Caffe runs when an
    Input layer of those shapes feeds it (our Caffe has no Python layer, so the reference is that net)."""
    given = {"data": (2, 3, 6, 6), "label": (2, 1, 4, 4)}
    text = net(PYTHON_DATA, CONV_LOSS)
    assert [d.code for d in check("t.prototxt", content=text, inputs=given).diagnostics] == []
    weights = random_weights(analyse(text, inputs=given)[0])
    model, _, _ = compile_text(text, weights, inputs=given)
    assert [i.name for i in model.graph.input] == ["data"]
    feeds = {"data": np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)}
    fed = net(
        'layer { name: "src" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }',
        CONV_LOSS.split("\n")[0],
    )
    assert rel_error(run_onnx(model, feeds)["c"], run_caffe(fed, weights, feeds, ["c"])["c"]) <= 1e-5


def test_python_layer_with_bottoms_hands_its_given_tops_to_the_graph_as_inputs() -> None:
    text = net(
        'layer { name: "d" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }\n'
        'layer { name: "py" type: "Python" bottom: "data" top: "rois" python_param { module: "m" layer: "L" } }',
        'layer { name: "fc" type: "InnerProduct" bottom: "rois" top: "fc" inner_product_param { num_output: 4 } }',
    )
    (error,) = check("t.prototxt", content=text).diagnostics
    assert error.code == "NS0375" and "Python layer 'm.L'" in error.message
    assert tops(text, "py", inputs={"rois": (5, 7)}) == [(5, 7)]
    model, _, _ = compile_text(text, inputs={"rois": (5, 7)})
    assert [i.name for i in model.graph.input] == ["rois"]  # data: only the Python code reads it
    assert run_onnx(model, {"rois": np.ones((5, 7), np.float32)})["fc"].shape == (5, 4)


def test_label_top_becomes_no_graph_input_when_only_training_layers_read_it() -> None:
    text = net(
        'layer { name: "src" type: "MemoryData" top: "data" top: "label" '
        "memory_data_param { batch_size: 2 channels: 3 height: 1 width: 1 } }",
        FC + 'layer { name: "relu" type: "ReLU" bottom: "fc" top: "out" }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }',
    )
    model, _, diagnostics = compile_text(text)
    assert [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in model.graph.input] == [
        ("data", [2, 3, 1, 1])
    ]
    assert [o.name for o in model.graph.output] == ["out"]
    assert any(d.code == "NS0401" and "loss" in d.message for d in diagnostics)
    out = run_onnx(model, {"data": np.ones((2, 3, 1, 1), np.float32)})["out"]
    assert out.shape == (2, 4)


@needs_caffe
def test_a_net_of_inputs_only_has_them_as_outputs_like_caffe(tmp_path) -> None:
    text = (
        'name: "inputs"\ninput: "data" input_shape { dim: 1 dim: 3 dim: 4 dim: 4 }\n'
        'layer { name: "label" type: "Input" top: "label" input_param { shape { dim: 2 } } }\n'
    )
    (tmp_path / "net.prototxt").write_text(text)
    code = "import caffe, sys; print(' '.join(caffe.Net(sys.argv[1], caffe.TEST).outputs))"
    done = subprocess.run(
        [str(CAFFE_PYTHON), "-c", code, str(tmp_path / "net.prototxt")], capture_output=True, text=True
    )
    model, _, _ = compile_text(text)
    feeds = {"data": np.arange(48, dtype=np.float32).reshape(1, 3, 4, 4), "label": np.ones(2, np.float32)}
    ours = run_onnx(model, feeds)
    assert list(ours) == done.stdout.split() == ["data", "label"] and len(model.graph.node) == 0
    assert all(np.array_equal(ours[name], value) for name, value in feeds.items())


# Broken specs: code, the token the caret points at, words of the message.
CATALOGUE = [
    (
        "data_without_batch_size",
        'layer { name: "src" type: "Data" top: "data" data_param { source: "x" } }',
        "NS0376",
        "data_param",
        ["batch_size must be given and positive"],
    ),
    (
        "memory_data_missing_sizes",
        'layer { name: "src" type: "MemoryData" top: "data" top: "label" '
        "memory_data_param { batch_size: 4 channels: 0 height: 5 } }",
        "NS0376",
        "0 height",
        ["channels and width must be given and positive"],
    ),
    (
        "window_data_without_crop",
        'layer { name: "src" type: "WindowData" top: "data" top: "label" '
        "window_data_param { batch_size: 4 } }",
        "NS0376",
        'layer { name: "src"',
        ["crop_size must be given", "transform_param { crop_size: ... }"],
    ),
    (
        "image_data_height_without_width",
        'layer { name: "src" type: "ImageData" top: "data" top: "label" '
        "image_data_param { new_height: 32 } }",
        "NS0377",
        "32",
        ["new_height is set without new_width"],
    ),
    (
        "hdf5_with_transform",
        'layer { name: "src" type: "HDF5Data" top: "data" hdf5_data_param { batch_size: 2 } '
        "transform_param { scale: 0.5 } }",
        "NS0377",
        "transform_param",
        ["refuses transform_param"],
    ),
    (
        "dummy_shape_count",
        'layer { name: "src" type: "DummyData" top: "data" top: "b" top: "c" '
        "dummy_data_param { shape { dim: 1 } shape { dim: 2 } } }",
        "NS0377",
        "shape { dim: 1",
        ["shape is given 2 times for 3 tops"],
    ),
    (
        "dummy_shape_and_legacy",
        'layer { name: "src" type: "DummyData" top: "data" dummy_data_param { shape { dim: 1 } num: 1 } }',
        "NS0377",
        "shape { dim: 1",
        ["both shape and the legacy"],
    ),
    (
        "dummy_negative_size",
        'layer { name: "src" type: "DummyData" top: "data" dummy_data_param { shape { dim: 2 dim: -1 } } }',
        "NS0377",
        "shape { dim: 2",
        ["shape 2x-1 has a negative size"],
    ),
    (
        "input_negative_dim",
        'layer { name: "src" type: "Input" top: "data" input_param { shape { dim: 2 dim: -1 } } }',
        "NS0313",
        "-1",
        ["input 'data' has dim 1 = -1 in its shape (2, -1)", "0 or more"],
    ),
    (
        "input_negative_dim_in_the_second_shape",
        'layer { name: "src" type: "Input" top: "a" top: "b" '
        "input_param { shape { dim: 2 } shape { dim: 3 dim: -4 } } }",
        "NS0313",
        "-4",
        ["input 'b' has dim 1 = -4"],
    ),
    (
        "legacy_input_dim_negative",
        'input: "data" input_dim: 1 input_dim: -3 input_dim: 2 input_dim: 2',
        "NS0313",
        "-3",
        ["input 'data' has dim 1 = -3"],
    ),
    (
        "input_with_a_zero_dim",
        'layer { name: "src" type: "Input" top: "data" input_param { shape { dim: 1 dim: 0 dim: 4 } } }',
        "NS0301",
        '"data"',
        ["top 'data' 1x0x4 holds no values", "at least 1"],
    ),
    (
        "input_past_int_max_values",
        'layer { name: "src" type: "Input" top: "data" input_param { shape { dim: 100000 dim: 3 dim: 1000 '
        "dim: 1000 } } }",
        "NS0397",
        '"data"',
        ["top 'data' 100000x3x1000x1000 holds 300,000,000,000 values", "at most 2,147,483,647", "--batch"],
    ),
    (
        "dummy_without_shape",
        'layer { name: "src" type: "DummyData" top: "data" dummy_data_param { } }',
        "NS0376",
        "dummy_data_param",
        ["shape is not given"],
    ),
    (
        "dummy_filler_count",
        'layer { name: "src" type: "DummyData" top: "data" top: "b" top: "c" '
        "dummy_data_param { shape { dim: 1 } data_filler { value: 1 } data_filler { value: 2 } } }",
        "NS0377",
        "data_filler",
        ["data_filler is given 2 times for 3 tops"],
    ),
    (
        "database_sizes_unknown",
        'layer { name: "src" type: "Data" top: "data" data_param { batch_size: 3 '
        'source: "db" backend: LMDB } }',
        "NS0375",
        '"data"',
        ["LMDB database 'db'", "3xCxHxW"],
    ),
    (
        "data_takes_no_bottom",
        'layer { name: "src" type: "Data" bottom: "x" top: "data" data_param { batch_size: 3 } }',
        "NS0201",
        '"x"',
        ["reads blob 'x'"],
    ),
    (
        "dense_image_data_sizes_come_from_the_first_image",
        'layer { name: "src" type: "DenseImageData" top: "data" top: "label" '
        "dense_image_data_param { source: 'pairs.txt' batch_size: 1 } }",
        "NS0375",
        '"data"',
        ["first image listed in 'pairs.txt'", "1x3xHxW"],
    ),
    (
        "dense_image_data_crops_with_both_sides",
        'layer { name: "src" type: "DenseImageData" top: "data" top: "label" '
        "dense_image_data_param { batch_size: 1 crop_height: 30 } }",
        "NS0377",
        "30 }",
        ["crop_height is set without crop_width", "crops only when both are"],
    ),
    (
        "image_data_needs_label_top",
        'layer { name: "src" type: "ImageData" top: "data" image_data_param { new_height: 4 new_width: 4 } }',
        "NS0300",
        '"data"',
        ["exactly 2 tops, got 1"],
    ),
]


@pytest.mark.parametrize(
    ("source", "code", "token", "words"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE]
)
def test_broken_data_spec_is_diagnosed_at_the_field(
    source: str, code: str, token: str, words: list[str]
) -> None:
    text = net(source)
    assert_diagnosed(text, code, position(text, token), words)


def test_analyse_helper_accepts_memory_data_net() -> None:
    analysis, _ = analyse(
        net(
            'layer { name: "src" type: "MemoryData" top: "data" top: "label" '
            "memory_data_param { batch_size: 1 channels: 3 height: 2 width: 2 } }"
        )
    )
    assert analysis.info("fc").tops == [(1, 4)]
