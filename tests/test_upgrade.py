"""V0/V1 -> V2 upgrade: against BVLC Caffe's own upgrade where it is built, and pinned facts everywhere."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from google.protobuf import text_format
from oracles import needs_caffe, run_caffe

from netspec.diagnostics import Diagnostics, Severity
from netspec.frontend.load import load_text
from netspec.frontend.upgrade import upgrade
from netspec.proto import caffe_pb2
from netspec.source import SourceMap

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CAFFE = Path(os.environ.get("NETSPEC_CAFFE_PREFIX", "/opt/caffe"))
ORACLE_MISSING = "BVLC Caffe oracle not built (run ../shared/oracle/caffe/build.sh)"


@pytest.fixture(scope="session")
def caffe_upgrade(tmp_path_factory) -> Path:
    """Caffe's UpgradeNetAsNeeded as a command: tests/caffe_upgrade.cpp built against the
    oracle's _caffe.so (its build leaves out Caffe's own tools)."""
    library = CAFFE / "python" / "caffe" / "_caffe.so"
    python = CAFFE / "venv" / "bin" / "python3"
    if not library.exists() or not python.exists():
        pytest.skip(ORACLE_MISSING)
    config = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig as s; print(s.get_config_var('LIBDIR'), s.get_config_var('LDVERSION'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    tool = tmp_path_factory.mktemp("caffe") / "caffe_upgrade"
    built = subprocess.run(
        [
            "g++",
            "-O0",
            "-DCPU_ONLY",
            f"-I{CAFFE / 'include'}",
            str(Path(__file__).with_name("caffe_upgrade.cpp")),
            str(library),
            "-lglog",
            "-lprotobuf",
            "-lboost_system",
            f"-L{config[0]}",
            f"-lpython{config[1]}",
            f"-Wl,-rpath,{library.parent}",
            f"-Wl,-rpath,{config[0]}",
            "-o",
            str(tool),
        ],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        pytest.skip(f"could not build Caffe's upgrade against the oracle: {built.stderr.strip()[-300:]}")
    return tool


def _manifest() -> list[tuple[str, str]]:
    path = CORPUS / "MANIFEST.tsv"
    if not path.exists():
        return []
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    return [(row[0], row[5]) for row in rows]


def _files(*formats: str) -> list[str]:
    return [name for name, fmt in _manifest() if fmt in formats]


LEGACY = _files("V0", "V1", "solver(+inline-net V1)")
V2_NETS = _files("V2")
needs_corpus = pytest.mark.skipif(not LEGACY, reason=f"corpus not found at {CORPUS}")


def load(path: Path | str, text: str | None = None):
    return load_text(str(path), text)


def load_string(text: str, tmp_path: Path, name: str = "net.prototxt"):
    path = tmp_path / name
    path.write_text(text)
    return load(path)


def errors(spec) -> list[str]:
    return [f"{d.code}: {d.message}" for d in spec.diagnostics if d.severity is Severity.ERROR]


def line_of(spec, path: tuple, value: bool = False) -> str:
    span = spec.source_map.span(path, value=value)
    assert span is not None, path
    return spec.source_map.source.line_text(span.line).strip()


# ---------------------------------------------------------------------------------------------
# Every legacy file in the corpus


def test_corpus_has_legacy_files():
    if not _manifest():
        pytest.skip(f"corpus not found at {CORPUS}")
    assert {fmt for _, fmt in _manifest()} >= {"V0", "V1", "V2"}
    assert len(_files("V0")) >= 2 and len(_files("V1")) >= 10


@needs_corpus
@pytest.mark.parametrize("name", LEGACY)
def test_corpus_legacy_file_upgrades_cleanly(name):
    spec = load(CORPUS / name)
    assert errors(spec) == []
    net = spec.param
    assert len(net.layer) > 0 and len(net.layers) == 0
    assert not net.input and not net.input_dim and not net.input_shape
    assert all(layer.type for layer in net.layer)
    infos = [d for d in spec.diagnostics if d.code == "NS0003"]
    assert len(infos) == 1 and infos[0].severity is Severity.INFO
    assert infos[0].span is not None and infos[0].span.file == str(CORPUS / name)


def _oracle_upgrade(tool: Path, name: str, tmp_path: Path) -> caffe_pb2.NetParameter:
    """BVLC Caffe's upgrade_net_proto_text on a corpus file (the net a solver embeds, for a solver)."""
    source = CORPUS / name
    if "solver" in name:
        solver = caffe_pb2.SolverParameter()
        text_format.Parse(source.read_text(), solver)
        source = tmp_path / "inline_net.prototxt"
        source.write_text(text_format.MessageToString(solver.net_param))
    out = tmp_path / "upgraded.prototxt"
    run = subprocess.run(
        [str(tool), str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GLOG_minloglevel": "2"},
    )
    assert out.exists(), run.stderr[-2000:]
    reference = caffe_pb2.NetParameter()
    text_format.Parse(out.read_text(), reference)
    return reference


def _diff(reference, ours) -> str:
    import difflib

    a = text_format.MessageToString(reference).splitlines()
    b = text_format.MessageToString(ours).splitlines()
    return "\n".join(list(difflib.unified_diff(a, b, "caffe", "netspec", lineterm=""))[:60])


@needs_corpus
@pytest.mark.parametrize("name", LEGACY)
def test_corpus_legacy_file_matches_caffe(name, tmp_path, caffe_upgrade):
    reference = _oracle_upgrade(caffe_upgrade, name, tmp_path)
    ours = load(CORPUS / name).param
    assert ours == reference, _diff(reference, ours)


@needs_corpus
@pytest.mark.parametrize("name", V2_NETS)
def test_corpus_v2_file_matches_caffe(name, tmp_path, caffe_upgrade):
    reference = _oracle_upgrade(caffe_upgrade, name, tmp_path)
    ours = caffe_pb2.NetParameter()
    ours.CopyFrom(load(CORPUS / name).param)
    # Known difference: BVLC master's BatchNorm upgrade keeps the three param specs with
    # lr_mult and decay_mult 0; the oracle's fork (older upgrade_proto.cpp) drops them.
    for mine, theirs in zip(ours.layer, reference.layer):
        if mine.type == "BatchNorm" and len(mine.param) == 3 and not theirs.param:
            assert all(p.lr_mult == 0 and p.decay_mult == 0 for p in mine.param)
            mine.ClearField("param")
    assert ours == reference, _diff(reference, ours)


# ---------------------------------------------------------------------------------------------
# Pinned facts (no oracle needed)


@needs_corpus
def test_v1_cifar10_quick():
    spec = load(CORPUS / "BVLC__caffe@rc/examples/cifar10/cifar10_quick.prototxt")
    net = spec.param
    assert net.name == "CIFAR10_quick_test"
    assert [layer.type for layer in net.layer] == [
        "Input", "Convolution", "Pooling", "ReLU", "Convolution", "ReLU", "Pooling",
        "Convolution", "ReLU", "Pooling", "InnerProduct", "InnerProduct", "Softmax",
    ]  # fmt: skip
    data = net.layer[0]
    assert (data.name, list(data.top)) == ("input", ["data"])
    assert [list(shape.dim) for shape in data.input_param.shape] == [[1, 3, 32, 32]]
    conv1 = net.layer[1]
    assert [(p.lr_mult, p.HasField("decay_mult")) for p in conv1.param] == [(1.0, False), (2.0, False)]
    assert list(conv1.convolution_param.kernel_size) == [5]
    assert list(conv1.convolution_param.pad) == [2]
    assert conv1.convolution_param.num_output == 32
    pool1 = net.layer[2]
    assert pool1.pooling_param.pool == caffe_pb2.PoolingParameter.MAX
    assert (pool1.pooling_param.kernel_size, pool1.pooling_param.stride) == (3, 2)
    message = next(d.message for d in spec.diagnostics if d.code == "NS0003")
    assert "upgraded a V1 net (`layers` with enum types) to the V2 form: 12 layers" in message
    assert "net-level input/input_dim fields became an Input layer 'input'" in message


@needs_corpus
def test_v1_lenet_train_test_keeps_rules_and_transform():
    net = load(CORPUS / "BVLC__caffe@rc/examples/mnist/lenet_train_test.prototxt").param
    train, test = net.layer[0], net.layer[1]
    assert (train.type, test.type) == ("Data", "Data")
    assert [rule.phase for rule in train.include] == [caffe_pb2.TRAIN]
    assert [rule.phase for rule in test.include] == [caffe_pb2.TEST]
    assert train.transform_param.scale == pytest.approx(0.00390625)
    assert train.data_param.batch_size == 64 and train.data_param.backend == caffe_pb2.DataParameter.LMDB
    assert net.layer[-1].type == "SoftmaxWithLoss"
    ip1 = next(layer for layer in net.layer if layer.name == "ip1")
    assert ip1.inner_product_param.weight_filler.type == "xavier"


@needs_corpus
def test_v0_lenet():
    spec = load(CORPUS / "BVLC__caffe@v0.99/examples/lenet/lenet.prototxt")
    net = spec.param
    types = {layer.name: layer.type for layer in net.layer}
    assert types == {
        "input": "Input", "conv1": "Convolution", "pool1": "Pooling", "conv2": "Convolution",
        "pool2": "Pooling", "ip1": "InnerProduct", "relu1": "ReLU", "ip2": "InnerProduct", "prob": "Softmax",
    }  # fmt: skip
    assert list(net.layer[0].input_param.shape[0].dim) == [64, 1, 28, 28]
    conv1 = net.layer[1]
    assert list(conv1.convolution_param.kernel_size) == [5]
    assert list(conv1.convolution_param.stride) == [1]
    assert conv1.convolution_param.num_output == 20
    assert conv1.convolution_param.weight_filler.type == "xavier"
    assert [p.lr_mult for p in conv1.param] == [1.0, 2.0]
    pool1 = net.layer[2]
    assert (pool1.pooling_param.kernel_size, pool1.pooling_param.stride) == (2, 2)
    message = next(d.message for d in spec.diagnostics if d.code == "NS0003")
    assert message.startswith("upgraded a V0 net")


V0_WITH_PADDING = """\
name: "padded"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 227
input_dim: 227
layers {
  layer {
    name: "pad1"
    type: "padding"
    pad: 2
  }
  bottom: "data"
  top: "pad1"
}
layers {
  layer {
    name: "conv1"
    type: "conv"
    num_output: 96
    kernelsize: 11
    stride: 4
  }
  bottom: "pad1"
  top: "conv1"
}
layers {
  layer {
    name: "pool1"
    type: "pool"
    kernelsize: 3
    stride: 2
    pool: AVE
  }
  bottom: "conv1"
  top: "pool1"
}
layers {
  layer {
    name: "drop"
    type: "dropout"
    dropout_ratio: 0.4
  }
  bottom: "pool1"
  top: "pool1"
}
"""


def test_v0_padding_layer_folds_into_conv_pad(tmp_path):
    spec = load_string(V0_WITH_PADDING, tmp_path)
    assert errors(spec) == []
    net = spec.param
    assert [layer.name for layer in net.layer] == ["input", "conv1", "pool1", "drop"]
    conv1 = net.layer[1]
    assert list(conv1.bottom) == ["data"]
    assert list(conv1.convolution_param.pad) == [2]
    assert list(conv1.convolution_param.kernel_size) == [11]
    assert list(conv1.convolution_param.stride) == [4]
    assert net.layer[2].pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    assert not net.layer[2].pooling_param.HasField("pad")
    assert net.layer[3].dropout_param.dropout_ratio == pytest.approx(0.4)
    # The folded pad and the rewired bottom point at the padding layer's fields.
    assert line_of(spec, ("layer", 1, "convolution_param", "pad")) == "pad: 2"
    assert line_of(spec, ("layer", 1, "bottom", 0), value=True) == 'bottom: "data"'
    assert spec.source_map.span(("layer", 1, "bottom", 0)).line == 13
    message = next(d.message for d in spec.diagnostics if d.code == "NS0003")
    assert "1 padding layer folded" in message


def test_v0_field_mapping_and_positions(tmp_path):
    spec = load_string(V0_WITH_PADDING, tmp_path)
    assert line_of(spec, ("layer", 1, "convolution_param", "kernel_size")) == "kernelsize: 11"
    assert line_of(spec, ("layer", 1, "convolution_param", "kernel_size", 0)) == "kernelsize: 11"
    assert line_of(spec, ("layer", 1, "convolution_param", "num_output")) == "num_output: 96"
    assert line_of(spec, ("layer", 1, "name"), value=True) == 'name: "conv1"'
    assert line_of(spec, ("layer", 1, "type"), value=True) == 'type: "conv"'
    assert line_of(spec, ("layer", 2, "pooling_param", "pool")) == "pool: AVE"
    assert line_of(spec, ("layer", 3, "dropout_param", "dropout_ratio")) == "dropout_ratio: 0.4"
    assert line_of(spec, ("layer", 3, "top", 0), value=True) == 'top: "pool1"'
    # The Input layer made from `input:` answers with the first `input` field.
    assert line_of(spec, ("layer", 0)) == 'input: "data"'
    assert line_of(spec, ("layer", 0, "input_param", "shape", 0, "dim", 2)) == "input_dim: 227"


def test_input_dim_groups_of_four_become_one_input_layer(tmp_path):
    text = 'input: "a"\ninput: "b"\n' + "".join(f"input_dim: {d}\n" for d in (2, 3, 8, 9, 2, 1, 1, 1))
    text += 'layer { name: "cat" type: "Concat" bottom: "a" bottom: "b" top: "c" }\n'
    spec = load_string(text, tmp_path)
    assert errors(spec) == []
    net = spec.param
    assert [layer.type for layer in net.layer] == ["Input", "Concat"]
    layer = net.layer[0]
    assert (layer.name, list(layer.top)) == ("input", ["a", "b"])
    assert [list(s.dim) for s in layer.input_param.shape] == [[2, 3, 8, 9], [2, 1, 1, 1]]
    assert not net.input and not net.input_dim
    # The V2 layer moved from index 0 to 1; its positions moved with it.
    assert line_of(spec, ("layer", 1, "name"), value=True).startswith('layer { name: "cat"')
    assert spec.source_map.span(("layer", 1)).line == 11
    assert line_of(spec, ("layer", 0, "top", 1), value=True) == 'input: "b"'
    assert line_of(spec, ("layer", 0, "input_param", "shape", 1, "dim", 0)) == "input_dim: 2"
    assert spec.source_map.span(("layer", 0, "input_param", "shape", 1, "dim", 0)).line == 7
    message = next(d.message for d in spec.diagnostics if d.code == "NS0003")
    assert message == "net-level input/input_dim fields became an Input layer 'input'"


def test_input_shape_becomes_input_layer(tmp_path):
    text = (
        'input: "x"\ninput_shape { dim: 1 dim: 10 }\nlayer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n'
    )
    spec = load_string(text, tmp_path)
    layer = spec.param.layer[0]
    assert [list(s.dim) for s in layer.input_param.shape] == [[1, 10]]
    assert line_of(spec, ("layer", 0, "input_param", "shape", 0)) == "input_shape { dim: 1 dim: 10 }"


UNSHAPED_INPUT = (  # cvjena's AlexNet deploy: a leftover legacy input above the Input layer
    'input: "data"\nlayer { name: "input" type: "Input" top: "data" '
    "input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }\n"
    'layer { name: "r" type: "ReLU" bottom: "data" top: "y" }\n'
)


def test_unshaped_input_that_a_layer_writes_is_dropped_with_a_warning_naming_that_layer(tmp_path):
    spec = load_string(UNSHAPED_INPUT, tmp_path)
    (warning,) = [d for d in spec.diagnostics if d.code == "NS0108"]
    assert warning.severity is Severity.WARNING
    assert warning.message.endswith("Caffe drops such inputs, and layer 'input' writes 'data'")
    assert warning.help == 'remove `input: "data"`: the layer defines the blob'
    assert [layer.name for layer in spec.param.layer] == ["input", "r"]


@needs_caffe
def test_real_caffe_drops_the_unshaped_input_and_takes_the_input_layers_shape():
    assert run_caffe(UNSHAPED_INPUT, None, {}, ["data"])["data"].shape == (1, 3, 4, 4)


SIZES_WITHOUT_INPUT = (  # SegNet's web demo: its `input` line commented out above input_dim
    '#input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 9\ninput_dim: 9\n'
    'layer { name: "src" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }\n'
    'layer { name: "r" type: "ReLU" bottom: "data" top: "y" }\n'
)


def test_input_dim_without_an_input_is_a_warning_that_caffe_ignores_it(tmp_path):
    spec = load_string(SIZES_WITHOUT_INPUT, tmp_path)
    (warning,) = [d for d in spec.diagnostics if d.code == "NS0108"]
    assert warning.severity is Severity.WARNING
    assert (warning.span.line, warning.span.column) == (2, 1)
    assert "no net-level input names a blob" in warning.message and "ignores it" in warning.message
    assert [layer.name for layer in spec.param.layer] == ["src", "r"]


@needs_caffe
def test_real_caffe_ignores_input_dim_without_an_input():
    assert run_caffe(SIZES_WITHOUT_INPUT, None, {}, ["data"])["data"].shape == (2, 3, 4, 4)


def test_short_input_dim_is_an_error(tmp_path):
    spec = load_string('input: "x"\ninput_dim: 1\ninput_dim: 3\n', tmp_path)
    assert any("NS0108" in e and "four input_dim values" in e for e in errors(spec))
    assert list(spec.param.layer[0].input_param.shape[0].dim) == [1, 3]


def test_v2_net_without_legacy_fields_is_returned_as_is():
    net = caffe_pb2.NetParameter(name="x")
    net.layer.add(name="in", type="Input").input_param.shape.add(dim=[1, 3])
    diagnostics = Diagnostics()
    assert upgrade(net, SourceMap(), diagnostics) is net
    assert len(diagnostics) == 0


def test_upgrade_leaves_its_argument_alone():
    net = caffe_pb2.NetParameter()
    net.layers.add(name="r", type=caffe_pb2.V1LayerParameter.RELU, bottom=["x"], top=["x"])
    net.input.append("x")
    net.input_dim.extend([1, 2, 3, 4])
    before = net.SerializeToString()
    out = upgrade(net, SourceMap(), Diagnostics())
    assert net.SerializeToString() == before
    assert [layer.type for layer in out.layer] == ["Input", "ReLU"]


def test_v1_param_specs_and_sharing(tmp_path):
    text = """\
layers {
  name: "ip"
  type: INNER_PRODUCT
  bottom: "x"
  top: "y"
  param: "w"
  param: "b"
  blob_share_mode: PERMISSIVE
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  loss_weight: 0.5
  inner_product_param {
    num_output: 4
  }
  exclude { stage: "deploy" }
}
"""
    spec = load_string(text, tmp_path)
    layer = spec.param.layer[0]
    assert layer.type == "InnerProduct"
    assert [(p.name, p.lr_mult, p.decay_mult) for p in layer.param] == [("w", 1.0, 1.0), ("b", 2.0, 0.0)]
    assert layer.param[0].share_mode == caffe_pb2.ParamSpec.PERMISSIVE
    assert not layer.param[1].HasField("share_mode")
    assert list(layer.loss_weight) == [0.5]
    assert [list(rule.stage) for rule in layer.exclude] == [["deploy"]]
    assert line_of(spec, ("layer", 0, "param", 1, "lr_mult")) == "blobs_lr: 2"
    assert line_of(spec, ("layer", 0, "param", 1, "decay_mult")) == "weight_decay: 0"
    assert line_of(spec, ("layer", 0, "param", 0, "name")) == 'param: "w"'
    assert line_of(spec, ("layer", 0, "inner_product_param", "num_output")) == "num_output: 4"


def test_v1_data_layer_transformation_fields_move_to_transform_param(tmp_path):
    text = """\
layers {
  name: "data"
  type: DATA
  top: "data"
  data_param {
    source: "train_lmdb"
    batch_size: 32
    scale: 0.0078125
    mean_file: "mean.binaryproto"
    crop_size: 227
    mirror: true
  }
}
layers { name: "images" type: IMAGE_DATA top: "im" image_data_param { source: "list.txt" } }
"""
    spec = load_string(text, tmp_path)
    assert errors(spec) == []
    data = spec.param.layer[0]
    t = data.transform_param
    assert (t.scale, t.mean_file, t.crop_size, t.mirror) == (0.0078125, "mean.binaryproto", 227, True)
    for field in ("scale", "mean_file", "crop_size", "mirror"):
        assert not data.data_param.HasField(field)
    assert (data.data_param.source, data.data_param.batch_size) == ("train_lmdb", 32)
    # Caffe's upgrade touches transform_param of every data layer once any needs it.
    assert spec.param.layer[1].HasField("transform_param")
    assert line_of(spec, ("layer", 0, "transform_param", "crop_size")) == "crop_size: 227"
    message = next(d.message for d in spec.diagnostics if d.code == "NS0003")
    assert message.startswith("data-layer scale/mean_file/crop_size/mirror moved into transform_param")
    assert next(d.span.line for d in spec.diagnostics if d.code == "NS0003") == 8


def test_batch_norm_param_upgrade(tmp_path):
    text = """\
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 } } }
layer {
  name: "bn" type: "BatchNorm" bottom: "x" top: "x"
  param { name: "mean" lr_mult: 1 } param { } param { decay_mult: 5 }
}
layer { name: "bn2" type: "BatchNorm" bottom: "x" top: "x" param { lr_mult: 0 } }
"""
    spec = load_string(text, tmp_path)
    bn, bn2 = spec.param.layer[1], spec.param.layer[2]
    assert [(p.name, p.lr_mult, p.decay_mult) for p in bn.param] == [("mean", 0, 0), ("", 0, 0), ("", 0, 0)]
    assert all(p.HasField("lr_mult") and p.HasField("decay_mult") for p in bn.param)
    assert [(p.lr_mult, p.HasField("decay_mult")) for p in bn2.param] == [(0.0, False)]
    assert [d.code for d in spec.diagnostics] == ["NS0003"]


def test_batch_norm_already_frozen_says_nothing(tmp_path):
    text = """\
layer {
  name: "bn" type: "BatchNorm" bottom: "x" top: "x"
  param { lr_mult: 0 decay_mult: 0 } param { lr_mult: 0 decay_mult: 0 } param { lr_mult: 0 decay_mult: 0 }
}
"""
    spec = load_string(text, tmp_path)
    assert len(spec.param.layer[0].param) == 3
    assert list(spec.diagnostics) == []


def test_unknown_v0_type_is_an_error_and_upgrade_goes_on(tmp_path):
    text = """\
layers { layer { name: "a" type: "convolution" num_output: 2 } bottom: "x" top: "a" }
layers { layer { name: "b" type: "relu" } bottom: "a" top: "a" }
"""
    spec = load_string(text, tmp_path)
    bad = [d for d in spec.diagnostics if d.code == "NS0107"]
    assert len(bad) == 1 and bad[0].severity is Severity.ERROR
    assert (bad[0].span.line, bad[0].span.column) == (1, text.index('"convolution"') + 1)
    assert "V0 type 'convolution'" in bad[0].message
    assert [layer.type for layer in spec.param.layer] == ["convolution", "ReLU"]
    # num_output means nothing on an unknown type: dropped, as Caffe does, with a warning.
    assert any(d.code == "NS0108" and "num_output" in d.message for d in spec.diagnostics)


def test_v1_type_none_is_an_error(tmp_path):
    spec = load_string('layers { name: "n" type: NONE bottom: "x" top: "y" }\n', tmp_path)
    assert [d.code for d in spec.diagnostics if d.severity is Severity.ERROR] == ["NS0107"]
    assert spec.param.layer[0].HasField("type") and spec.param.layer[0].type == ""


def test_v0_field_on_wrong_layer_type_warns_and_is_dropped(tmp_path):
    text = 'layers { layer { name: "r" type: "relu" kernelsize: 3 } bottom: "x" top: "x" }\n'
    spec = load_string(text, tmp_path)
    warnings = [d for d in spec.diagnostics if d.severity is Severity.WARNING]
    assert [(d.code, d.span.column) for d in warnings] == [("NS0108", text.index("kernelsize") + 1)]
    assert "'kernelsize' does not apply to a 'relu' layer" in warnings[0].message
    layer = spec.param.layer[0]
    assert layer.type == "ReLU" and not layer.HasField("convolution_param")


def test_mixed_layer_and_layers_is_an_error(tmp_path):
    text = 'layer { name: "a" type: "ReLU" }\nlayers { name: "b" type: RELU }\n'
    spec = load_string(text, tmp_path)
    assert any("NS0108" in e and "both `layer`" in e for e in errors(spec))
    assert [layer.name for layer in spec.param.layer] == ["a", "b"]


@needs_corpus
def test_v1_positions_resolve_to_the_v1_text():
    path = CORPUS / "BVLC__caffe@rc/examples/cifar10/cifar10_quick.prototxt"
    spec = load(path)
    lines = path.read_text().splitlines()
    conv1 = ("layer", 1)
    kernel_line = next(n for n, text in enumerate(lines, 1) if "kernel_size: 5" in text)
    assert spec.source_map.span((*conv1, "convolution_param", "kernel_size")).line == kernel_line
    assert (
        spec.source_map.span((*conv1, "convolution_param", "kernel_size", 0), value=True).line == kernel_line
    )
    assert line_of(spec, (*conv1, "type"), value=True) == "type: CONVOLUTION"
    assert line_of(spec, (*conv1, "bottom", 0), value=True) == 'bottom: "data"'
    assert line_of(spec, (*conv1, "param", 0, "lr_mult")) == "blobs_lr: 1"
    assert line_of(spec, conv1) == "layers {"
    assert line_of(spec, ("layer", 0)) == 'input: "data"'
    info = next(d for d in spec.diagnostics if d.code == "NS0003")
    assert lines[info.span.line - 1].strip() == "layers {"


@needs_corpus
def test_solver_inline_v1_net_positions():
    path = CORPUS / "BVLC__caffe/examples/mnist/lenet_consolidated_solver.prototxt"
    spec = load(path)
    assert errors(spec) == []
    net = spec.param
    conv1 = next(j for j, layer in enumerate(net.layer) if layer.name == "conv1")
    assert net.layer[conv1].type == "Convolution"
    assert line_of(spec, ("layer", conv1, "convolution_param", "kernel_size")) == "kernel_size: 5"
    assert [layer.type for layer in net.layer[:3]] == ["Data"] * 3
    assert [list(rule.stage) for rule in net.layer[2].include] == [["test-on-train-set"]]
