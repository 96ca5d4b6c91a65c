"""Binary .caffemodel reading and writing."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netspec.caffemodel import write_weights
from netspec.frontend.binary import Weights, read_weights
from netspec.frontend.load import LoadError
from netspec.proto import caffe_pb2

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
ORACLE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "oracle" / "caffe"
CAFFE_PYTHON = Path(os.environ.get("NETSPEC_CAFFE_PYTHON", "/opt/caffe/venv/bin/python3"))
ORACLE_MISSING = "BVLC Caffe oracle not built (run ../shared/oracle/caffe/build.sh)"
V1 = caffe_pb2.V1LayerParameter


def _blob(message, values, *, shape=None, legacy=None, double=False):
    blob = message.blobs.add()
    if shape is not None:
        blob.shape.dim.extend(shape)
    if legacy is not None:
        blob.num, blob.channels, blob.height, blob.width = legacy
    (blob.double_data if double else blob.data).extend(values)
    return blob


def _write(tmp_path: Path, data: bytes, name: str = "model.caffemodel") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _v2_model() -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="tiny")
    net.layer.add(name="data", type="Input", top=["data"])
    conv = net.layer.add(name="conv1", type="Convolution", bottom=["data"], top=["conv1"])
    _blob(conv, np.arange(2 * 3 * 2 * 2), shape=[2, 3, 2, 2])
    _blob(conv, [0.5, -0.5], shape=[2])
    ip = net.layer.add(name="fc", type="InnerProduct", bottom=["conv1"], top=["fc"])
    _blob(ip, np.linspace(-1, 1, 12), shape=[3, 4])
    return net


# ---------------------------------------------------------------------------------------------
# Reading


def test_reads_v2_blobs_with_shape(tmp_path):
    path = _write(tmp_path, _v2_model().SerializeToString())
    weights = read_weights(str(path))
    assert isinstance(weights, Weights) and weights.path == str(path)
    assert list(weights) == ["conv1", "fc"]  # layers without blobs are left out
    w, b = weights["conv1"]
    assert w.dtype == np.float32 and w.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(w.ravel(), np.arange(24, dtype=np.float32))
    np.testing.assert_array_equal(b, np.array([0.5, -0.5], np.float32))
    np.testing.assert_allclose(weights["fc"][0], np.linspace(-1, 1, 12).reshape(3, 4), rtol=1e-6)
    assert [(layer.name, layer.type) for layer in weights.net.layer] == [
        ("data", "Input"),
        ("conv1", "Convolution"),
        ("fc", "InnerProduct"),
    ]
    assert all(len(layer.blobs) == 0 for layer in weights.net.layer)
    assert weights.net.name == "tiny"
    assert weights.nbytes == (24 + 2 + 12) * 4


def test_a_layer_name_that_is_not_utf8_is_read_as_text(tmp_path):
    """Caffe's C++ protobuf keeps such a name; it can match no spec layer, but must print."""
    data = _v2_model().SerializeToString().replace(b"conv1", b"con\xff1")
    weights = read_weights(str(_write(tmp_path, data)))
    assert list(weights) == ["con\\xff1", "fc"] and weights["con\\xff1"][0].shape == (2, 3, 2, 2)


def test_reads_v1_legacy_4d_blobs(tmp_path):
    net = caffe_pb2.NetParameter(name="old")
    net.input.append("data")
    conv = net.layers.add(name="conv1", type=V1.CONVOLUTION, bottom=["data"], top=["conv1"])
    _blob(conv, range(2 * 3 * 3 * 3), legacy=(2, 3, 3, 3))
    _blob(conv, [1, 2], legacy=(1, 1, 1, 2))
    ip = net.layers.add(name="ip", type=V1.INNER_PRODUCT, bottom=["conv1"], top=["ip"], blobs_lr=[1, 2])
    _blob(ip, range(10 * 6), legacy=(1, 1, 10, 6))
    net.layers.add(name="relu", type=V1.RELU, bottom=["ip"], top=["ip"])
    weights = read_weights(str(_write(tmp_path, net.SerializeToString())))
    assert {name: [a.shape for a in arrays] for name, arrays in weights.items()} == {
        "conv1": [(2, 3, 3, 3), (1, 1, 1, 2)],
        "ip": [(1, 1, 10, 6)],
    }
    np.testing.assert_array_equal(weights["ip"][0].ravel(), np.arange(60, dtype=np.float32))
    # The net is upgraded to V2; the bare legacy `input` goes, as Caffe drops it.
    assert [(layer.name, layer.type) for layer in weights.net.layer] == [
        ("conv1", "Convolution"),
        ("ip", "InnerProduct"),
        ("relu", "ReLU"),
    ]
    assert [p.lr_mult for p in weights.net.layer[1].param] == [1.0, 2.0]
    assert not weights.net.layers and not weights.net.input
    (info,) = weights.diagnostics
    assert info.code == "NS0003" and "V1 net" in info.message
    assert info.notes[-1] == f"in the weights file {weights.path}"


def test_reads_double_data(tmp_path):
    net = caffe_pb2.NetParameter()
    layer = net.layer.add(name="scale", type="Scale")
    _blob(layer, [0.1, 1e-3, 3.25], shape=[3], double=True)
    weights = read_weights(str(_write(tmp_path, net.SerializeToString())))
    (gamma,) = weights["scale"]
    assert gamma.dtype == np.float32
    np.testing.assert_array_equal(gamma, np.array([0.1, 1e-3, 3.25], dtype=np.float32))


def test_reads_v0_blobs(tmp_path):
    net = caffe_pb2.NetParameter(name="v0")
    connection = net.layers.add(bottom=["data"], top=["conv1"])
    connection.layer.name, connection.layer.type = "conv1", "conv"
    connection.layer.num_output = 2
    _blob(connection.layer, range(8), legacy=(2, 1, 2, 2))
    relu = net.layers.add(bottom=["conv1"], top=["conv1"])
    relu.layer.name, relu.layer.type = "relu1", "relu"
    weights = read_weights(str(_write(tmp_path, net.SerializeToString())))
    assert [a.shape for a in weights["conv1"]] == [(2, 1, 2, 2)]
    assert [(layer.name, layer.type) for layer in weights.net.layer] == [
        ("conv1", "Convolution"),
        ("relu1", "ReLU"),
    ]


def test_reads_unpacked_and_split_values(tmp_path):
    """Old writers put repeated floats one by one; a packed field may also come in pieces."""
    header = caffe_pb2.BlobProto()
    header.shape.dim.extend([2, 2])
    unpacked = header.SerializeToString() + b"".join(
        b"\x2d" + np.float32(v).tobytes() for v in (1.0, 2.0, 3.0, 4.0)
    )
    split = header.SerializeToString()
    for chunk in ([5.0], [6.0, 7.0], [8.0]):
        body = np.array(chunk, "<f4").tobytes()
        split += b"\x2a" + bytes([len(body)]) + body

    def layer(name: str, blob: bytes) -> bytes:
        body = caffe_pb2.LayerParameter(name=name, type="InnerProduct").SerializeToString()
        body += b"\x3a" + bytes([len(blob)]) + blob
        return b"\xa2\x06" + bytes([len(body)]) + body

    data = layer("a", unpacked) + layer("b", split)
    parsed = caffe_pb2.NetParameter.FromString(data)  # the bytes are valid protobuf
    assert list(parsed.layer[1].blobs[0].data) == [5, 6, 7, 8]
    weights = read_weights(str(_write(tmp_path, data)))
    np.testing.assert_array_equal(weights["a"][0], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(weights["b"][0], [[5, 6], [7, 8]])


def test_shape_and_value_count_disagree(tmp_path):
    net = caffe_pb2.NetParameter()
    _blob(net.layer.add(name="conv1", type="Convolution"), range(5), shape=[2, 3])
    path = _write(tmp_path, net.SerializeToString())
    with pytest.raises(LoadError) as error:
        read_weights(str(path))
    assert str(error.value) == (
        f"{path}: layer 'conv1' blob 0 holds 5 values, but its shape (2 x 3) needs 6 (truncated or corrupt?)"
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_a_caffe_ocr_lstm_param_at_8266711_still_reads(tmp_path):
    # caffe_ocr writes its lstm_param at 8266711, which netspec gives Faster R-CNN's
    # roi_pooling_param: the sub-message parses against the wrong message, but only the layer's
    # name, type and blobs are used, so the weights read all the same.
    layer = caffe_pb2.LayerParameter(name="lstm1", type="Lstm", bottom=["x"], top=["h"])
    _blob(layer, np.arange(8 * 3), shape=[8, 3])
    lstm = caffe_pb2.LSTMParameter(num_output=2, clipping_threshold=0.1)
    lstm.weight_filler.type = "uniform"
    data = caffe_pb2.NetParameter(name="ocr").SerializeToString() + _length_delimited(
        100, layer.SerializeToString() + _length_delimited(8266711, lstm.SerializeToString())
    )
    weights = read_weights(str(_write(tmp_path, data)))
    np.testing.assert_array_equal(weights["lstm1"][0], np.arange(24, dtype=np.float32).reshape(8, 3))
    assert [(layer.name, layer.type) for layer in weights.net.layer] == [("lstm1", "Lstm")]
    assert not weights.diagnostics.has_errors


# ---------------------------------------------------------------------------------------------
# Files that are not caffemodels


def _load_error(path) -> str:
    with pytest.raises(LoadError) as error:
        read_weights(str(path))
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message[len(f"{path}: ") :]


def test_missing_file(tmp_path):
    assert _load_error(tmp_path / "nope.caffemodel") == "no such file"


def test_directory(tmp_path):
    assert _load_error(tmp_path) == "is a directory, not a weights file"


def test_empty_file(tmp_path):
    assert _load_error(_write(tmp_path, b"")) == "empty file (0 bytes); not a Caffe weights file"


NOT_DECODING = "not a Caffe weights file: the bytes do not decode as a NetParameter (truncated or corrupt?)"


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_file(tmp_path, keep):
    data = _v2_model().SerializeToString()
    assert _load_error(_write(tmp_path, data[: int(len(data) * keep)])) == NOT_DECODING


def test_corrupt_file(tmp_path):
    data = bytearray(_v2_model().SerializeToString())
    data[0] = 0xFF  # a tag with wire type 7, which does not exist
    assert _load_error(_write(tmp_path, bytes(data))) == NOT_DECODING
    assert _load_error(_write(tmp_path, b"\x0a\xff\xff\xff\x0f" + b"\x00" * 10)) == NOT_DECODING


def test_random_bytes(tmp_path):
    rng = np.random.default_rng(0)
    for seed in range(5):
        data = bytes([0x87]) + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes() + bytes([seed])
        assert _load_error(_write(tmp_path, data)) == NOT_DECODING


def test_net_without_layers(tmp_path):
    data = caffe_pb2.NetParameter(name="nothing", force_backward=True).SerializeToString()
    assert _load_error(_write(tmp_path, data)) == (
        "not a Caffe weights file: it decodes as a NetParameter but holds no layers"
    )


def test_text_prototxt_passed_as_weights(tmp_path):
    text = 'name: "LeNet"\nlayer {\n  name: "data"\n  type: "Input"\n}\n'
    expected = "looks like a text .prototxt; --weights takes a binary .caffemodel"
    assert _load_error(_write(tmp_path, text.encode(), "lenet.caffemodel")) == expected
    lenet = CORPUS / "BVLC__caffe/examples/mnist/lenet.prototxt"
    if lenet.exists():
        assert _load_error(lenet) == expected
    assert _load_error(_write(tmp_path, b"# a comment\n", "c.caffemodel")) == expected
    assert _load_error(_write(tmp_path, b"hello, world\n", "t.caffemodel")) == (
        "is a text file, not a binary .caffemodel"
    )


# ---------------------------------------------------------------------------------------------
# Writing


def test_write_then_read_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    blobs = {
        "conv1": [rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.zeros(4, np.float32)],
        "fc": [rng.standard_normal((5, 36)).T, np.float64(2.5)],  # not contiguous; a 0-d value
    }
    net = caffe_pb2.NetParameter(name="rt")
    net.layer.add(name="data", type="Input")
    net.layer.add(name="conv1", type="Convolution")
    net.layer.add(name="relu", type="ReLU")
    net.layer.add(name="fc", type="InnerProduct")
    path = tmp_path / "rt.caffemodel"
    write_weights(str(path), net, blobs)
    assert sorted(os.listdir(tmp_path)) == ["rt.caffemodel"]
    written = caffe_pb2.NetParameter.FromString(path.read_bytes())
    assert [(layer.name, layer.type, len(layer.blobs)) for layer in written.layer] == [
        ("data", "Input", 0),
        ("conv1", "Convolution", 2),
        ("relu", "ReLU", 0),
        ("fc", "InnerProduct", 2),
    ]
    assert list(written.layer[1].blobs[0].shape.dim) == [4, 3, 3, 3]
    assert written.name == "rt"
    weights = read_weights(str(path))
    assert list(weights) == ["conv1", "fc"]
    for name, arrays in blobs.items():
        for ours, theirs in zip(arrays, weights[name]):
            assert theirs.shape == np.shape(ours)
            np.testing.assert_array_equal(theirs, np.asarray(ours, np.float32))


def test_write_accepts_name_type_pairs_and_overwrites_atomically(tmp_path):
    path = tmp_path / "w.caffemodel"
    path.write_bytes(b"old contents")
    write_weights(str(path), [("ip", "InnerProduct")], {"ip": [np.ones((2, 2), np.float32)]})
    assert read_weights(str(path))["ip"][0].tolist() == [[1, 1], [1, 1]]
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_weights(str(path), [("ip", "InnerProduct")], {"ip": [np.array(["not a number"])]})
    with pytest.raises(ValueError):
        write_weights(str(path), [("ip", "InnerProduct")], {"other": [np.ones(1)]})
    assert path.read_bytes() == before  # a failed write leaves the old file
    assert sorted(os.listdir(tmp_path)) == ["w.caffemodel"]  # and no temporary file


# ---------------------------------------------------------------------------------------------
# BVLC Caffe (pycaffe, in its own process: its caffe_pb2 and ours cannot share one)

PYCAFFE_SHAPES = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("GLOG_minloglevel", "2")
    sys.path.insert(0, "/opt/caffe/python")
    import numpy as np
    import caffe
    caffe.set_mode_cpu()
    prototxt, weights, save = sys.argv[1], sys.argv[2], sys.argv[3] == "save"
    net = caffe.Net(prototxt, caffe.TEST) if save else caffe.Net(prototxt, caffe.TEST, weights=weights)
    if save:
        rng = np.random.default_rng(0)
        for blobs in net.params.values():
            for blob in blobs:
                blob.data[...] = rng.standard_normal(blob.data.shape)
        net.save(weights)
    print(json.dumps({name: [[list(b.data.shape), float(b.data.astype(np.float64).sum())] for b in blobs]
                      for name, blobs in net.params.items()}))
    """
)


def _pycaffe_available() -> bool:
    if not CAFFE_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(CAFFE_PYTHON), "-c", "import sys; sys.path.insert(0, '/opt/caffe/python'); import caffe"],
        capture_output=True,
        timeout=120,
        env={**os.environ, "GLOG_minloglevel": "2"},
    )
    return probe.returncode == 0


needs_pycaffe = pytest.mark.skipif(not _pycaffe_available(), reason=ORACLE_MISSING)
LENET = CORPUS / "BVLC__caffe/examples/mnist/lenet.prototxt"


def _pycaffe(*args: str) -> dict:
    run = subprocess.run(
        [str(CAFFE_PYTHON), "-c", PYCAFFE_SHAPES, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "GLOG_minloglevel": "2"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@needs_pycaffe
@pytest.mark.skipif(not LENET.exists(), reason=f"corpus not found at {CORPUS}")
def test_reads_a_caffemodel_caffe_wrote(tmp_path):
    model = tmp_path / "lenet.caffemodel"
    randweights = ORACLE_DIR / "randweights.py"
    if randweights.exists():
        run = subprocess.run(
            [str(CAFFE_PYTHON), str(randweights), str(LENET), str(model)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        caffe_view = _pycaffe(str(LENET), str(model), "load")
    else:
        caffe_view = _pycaffe(str(LENET), str(model), "save")
    weights = read_weights(str(model))
    ours = {
        name: [[list(a.shape), float(a.astype(np.float64).sum())] for a in arrays]
        for name, arrays in weights.items()
    }
    assert {n: [s for s, _ in v] for n, v in ours.items()} == {
        n: [s for s, _ in v] for n, v in caffe_view.items()
    }
    assert {n: [s for s, _ in v] for n, v in ours.items()} == {
        "conv1": [[20, 1, 5, 5], [20]],
        "conv2": [[50, 20, 5, 5], [50]],
        "ip1": [[500, 800], [500]],
        "ip2": [[10, 500], [10]],
    }
    for name, blobs in caffe_view.items():
        for (_, theirs), (_, mine) in zip(blobs, ours[name]):
            assert mine == pytest.approx(theirs, rel=1e-5, abs=1e-4)
    assert [layer.type for layer in weights.net.layer][:2] == ["Input", "Convolution"]


@needs_pycaffe
@pytest.mark.skipif(not LENET.exists(), reason=f"corpus not found at {CORPUS}")
def test_caffe_reads_a_caffemodel_we_wrote(tmp_path):
    rng = np.random.default_rng(3)
    shapes = {"conv1": [(20, 1, 5, 5), (20,)], "conv2": [(50, 20, 5, 5), (50,)],
              "ip1": [(500, 800), (500,)], "ip2": [(10, 500), (10,)]}  # fmt: skip
    blobs = {name: [rng.standard_normal(s).astype(np.float32) for s in ss] for name, ss in shapes.items()}
    layers = [("data", "Input"), ("conv1", "Convolution"), ("pool1", "Pooling"), ("conv2", "Convolution"),
              ("pool2", "Pooling"), ("ip1", "InnerProduct"), ("relu1", "ReLU"), ("ip2", "InnerProduct"),
              ("prob", "Softmax")]  # fmt: skip
    model = tmp_path / "ours.caffemodel"
    write_weights(str(model), layers, blobs)
    caffe_view = _pycaffe(str(LENET), str(model), "load")
    for name, arrays in blobs.items():
        assert [s for s, _ in caffe_view[name]] == [list(a.shape) for a in arrays]
        for (_, total), array in zip(caffe_view[name], arrays):
            assert total == pytest.approx(float(array.astype(np.float64).sum()), rel=1e-5, abs=1e-4)


def test_large_blobs_are_copied_in_pieces(tmp_path, monkeypatch):
    import netspec.frontend.binary as binary

    monkeypatch.setattr(binary, "PIECE", 7)
    rng = np.random.default_rng(2)
    blobs = {"big": [rng.standard_normal((300, 1000)).astype(np.float32), np.arange(100, dtype=np.float32)]}
    path = tmp_path / "big.caffemodel"
    write_weights(str(path), [("big", "InnerProduct")], blobs)
    weights = read_weights(str(path))
    np.testing.assert_array_equal(weights["big"][0], blobs["big"][0])
    np.testing.assert_array_equal(weights["big"][1], blobs["big"][1])


def test_reads_without_a_memory_map(tmp_path, monkeypatch):
    import netspec.frontend.binary as binary

    def read_whole(handle, size):
        handle.seek(0)
        return handle.read(), False

    monkeypatch.setattr(binary, "_map", read_whole)
    weights = read_weights(str(_write(tmp_path, _v2_model().SerializeToString())))
    assert [a.shape for a in weights["conv1"]] == [(2, 3, 2, 2), (2,)]
