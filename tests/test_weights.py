"""Fillers (Caffe's include/caffe/filler.hpp) and the binding of weight blobs to layers.

Filler statistics are checked against Caffe's definitions, and, where real
Caffe is built, against the blobs Caffe itself fills from the same spec.
"""

from __future__ import annotations

import math
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
from oracles import CAFFE_PYTHON, analyse, needs_caffe, position, write_caffemodel

from netspec.diagnostics import Diagnostics, Severity
from netspec.fillers import FillerError
from netspec.proto import caffe_pb2
from netspec.weights import bind, fill, init_weights, layer_rng

Filler = caffe_pb2.FillerParameter
INPUT = """\
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 8 dim: 12 dim: 12 } } }
"""


def conv(name: str, bottom: str = "data", body: str = "num_output: 16 kernel_size: 3") -> str:
    return (
        f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}"\n'
        f"  convolution_param {{ {body} }} }}\n"
    )


def filled(filler: Filler, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return fill(filler, shape, np.random.default_rng(seed))


def bind_text(text: str, weights=None, seed: int = 0):
    analysis, diagnostics = analyse(text, name="t.prototxt")
    return bind(analysis, weights, diagnostics, seed=seed), diagnostics


def codes(diagnostics: Diagnostics, code: str) -> list:
    return [d for d in diagnostics if d.code == code]


# ---- each filler against Caffe's definition ----------------------------------------------------------


def test_constant_filler_sets_its_value_as_float32():
    a = filled(Filler(type="constant", value=0.3), (4, 5))
    assert a.dtype == np.float32 and a.shape == (4, 5)
    assert np.all(a == np.float32(0.3))


def test_filler_type_defaults_to_constant_zero_as_caffe():
    assert not filled(Filler(), (3, 3)).any()


def test_uniform_filler_stays_in_min_max_with_uniform_moments():
    a = filled(Filler(type="uniform", min=-0.3, max=0.7), (200, 100))
    assert a.min() >= -0.3 and a.max() <= 0.7
    assert a.mean() == pytest.approx(0.2, abs=0.01)
    assert a.std() == pytest.approx(1.0 / math.sqrt(12), rel=0.02)


def test_gaussian_filler_has_its_mean_and_std():
    a = filled(Filler(type="gaussian", mean=0.5, std=0.05), (300, 100))
    assert a.mean() == pytest.approx(0.5, abs=0.002)
    assert a.std() == pytest.approx(0.05, rel=0.02)


def test_gaussian_sparse_keeps_sparse_over_num_outputs_of_the_weights():
    # Caffe: each weight survives with probability sparse / shape[0].
    a = filled(Filler(type="gaussian", std=1.0, sparse=5), (20, 5000))
    assert np.count_nonzero(a) / a.size == pytest.approx(5 / 20, abs=0.01)


def test_positive_unitball_rows_are_positive_and_sum_to_one():
    a = filled(Filler(type="positive_unitball"), (6, 3, 4, 4))
    assert a.min() >= 0
    np.testing.assert_allclose(a.reshape(6, -1).sum(axis=1), 1.0, rtol=1e-5)


# (64, 32, 3, 3): fan_in = count / shape[0] = 288, fan_out = count / shape[1] = 576
NORMS = [(Filler.FAN_IN, 288), (Filler.FAN_OUT, 576), (Filler.AVERAGE, 432)]


@pytest.mark.parametrize(("norm", "n"), NORMS)
def test_xavier_is_uniform_within_sqrt_3_over_n(norm, n):
    a = filled(Filler(type="xavier", variance_norm=norm), (64, 32, 3, 3))
    bound = math.sqrt(3.0 / n)
    assert np.abs(a).max() <= bound
    assert np.abs(a).max() > 0.999 * bound
    assert a.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize(("norm", "n"), NORMS)
def test_msra_is_gaussian_with_std_sqrt_2_over_n(norm, n):
    a = filled(Filler(type="msra", variance_norm=norm), (64, 32, 3, 3))
    assert a.mean() == pytest.approx(0.0, abs=0.003)
    assert a.std() == pytest.approx(math.sqrt(2.0 / n), rel=0.02)


def test_fans_of_inner_product_and_one_axis_blobs_are_caffes():
    # InnerProduct weights (N, K): fan_in K, fan_out N.  A 1-D blob: fan_in 1, fan_out its count.
    ip_in = filled(Filler(type="msra"), (100, 400))
    ip_out = filled(Filler(type="msra", variance_norm=Filler.FAN_OUT), (100, 400))
    flat = filled(Filler(type="msra", variance_norm=Filler.AVERAGE), (20000,))
    assert ip_in.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert ip_out.std() == pytest.approx(math.sqrt(2 / 100), rel=0.02)
    assert flat.std() == pytest.approx(math.sqrt(2 / ((1 + 20000) / 2)), rel=0.03)


def test_bilinear_kernel_4_is_fcns_upsampling_kernel():
    # Caffe: f = ceil(4/2) = 2, c = 3/4; per axis 1 - |x/f - c| = 0.25, 0.75, 0.75, 0.25.
    a = filled(Filler(type="bilinear"), (3, 1, 4, 4))
    line = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
    for channel in a:
        np.testing.assert_array_equal(channel[0], np.outer(line, line))


@pytest.mark.parametrize("k", [2, 3, 5, 6, 8])
def test_bilinear_matches_fcn_upsample_filt(k):
    # FCN's surgery.upsample_filt, written apart from Caffe's formula.
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    og = np.ogrid[:k, :k]
    reference = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    a = filled(Filler(type="bilinear"), (2, 2, k, k))
    np.testing.assert_allclose(a[1, 1], reference, rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 1, 3, 4), (4, 4, 4)])
def test_bilinear_refuses_blobs_that_are_not_square_4d(shape):
    with pytest.raises(FillerError, match=r"needs a 4-D blob with a square kernel"):
        filled(Filler(type="bilinear"), shape)


def test_fill_is_fixed_by_seed_and_layer_name():
    spec = Filler(type="gaussian", std=1.0)
    a = fill(spec, (50,), layer_rng(3, "conv1"))
    assert np.array_equal(a, fill(spec, (50,), layer_rng(3, "conv1")))
    assert not np.array_equal(a, fill(spec, (50,), layer_rng(4, "conv1")))
    assert not np.array_equal(a, fill(spec, (50,), layer_rng(3, "conv2")))


def test_adding_a_layer_does_not_reshuffle_the_others():
    first, _ = bind_text(INPUT + conv("conv1") + conv("conv2", "conv1"), seed=7)
    second, _ = bind_text(
        INPUT
        + conv("conv0", body="num_output: 8 kernel_size: 1")
        + conv("conv1", "conv0")
        + conv("conv2", "conv1"),
        seed=7,
    )
    assert np.array_equal(first["conv2"][0], second["conv2"][0])


# ---- filling a whole net without weights -----------------------------------------------------------------

NO_FILLERS = (
    INPUT
    + conv("conv1")
    + """\
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "sc1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "pr1" type: "PReLU" bottom: "conv1" top: "conv1" }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc" inner_product_param { num_output: 10 } }
"""
)


def test_defaults_are_he_weights_zero_biases_and_neutral_batchnorm():
    blobs, _ = bind_text(NO_FILLERS)
    weights, bias = blobs["conv1"]
    assert weights.shape == (16, 8, 3, 3) and weights.dtype == np.float32
    assert weights.std() == pytest.approx(math.sqrt(2 / 72), rel=0.05)
    assert not bias.any()
    mean, variance, factor = blobs["bn1"]
    assert not mean.any() and np.all(variance == 1) and np.all(factor == 1)
    scale, scale_bias = blobs["sc1"]
    assert np.all(scale == 1) and not scale_bias.any()
    assert np.all(blobs["pr1"][0] == np.float32(0.25))
    assert blobs["fc"][0].shape == (10, 16 * 10 * 10)
    assert blobs["fc"][0].std() == pytest.approx(math.sqrt(2 / 1600), rel=0.05)


def test_one_info_lists_the_layers_that_got_defaults():
    _, diagnostics = bind_text(NO_FILLERS)
    infos = codes(diagnostics, "NS0414")
    assert len(infos) == 1 and infos[0].severity is Severity.INFO
    # Scale's 1 and PReLU's 0.25 are set by their layer types (Caffe's own defaults), so not listed.
    assert infos[0].message == (
        "no filler given for conv1, bn1, sc1, fc: used msra (He) for weights, "
        "0 for biases, 0 for means, 1 for variances, 1 for scale factors"
    )


def test_a_filler_in_the_spec_wins_over_the_default():
    text = INPUT + conv(
        "conv1",
        body='num_output: 4 kernel_size: 3 weight_filler { type: "constant" value: 0.5 } '
        'bias_filler { type: "constant" value: -1 }',
    )
    blobs, diagnostics = bind_text(text)
    assert np.all(blobs["conv1"][0] == 0.5) and np.all(blobs["conv1"][1] == -1)
    assert not codes(diagnostics, "NS0414")


# ---- a catalogue of fillers Caffe refuses --------------------------------------------------------------

FILLER_ERRORS = [
    (
        "unknown_type_suggests_nearest",
        'weight_filler { type: "xavir" }',
        "NS0415",
        '"xavir"',
        "conv1: weights: unknown filler type 'xavir'",
        "did you mean 'xavier'?",
    ),
    (
        "sparse_only_for_gaussian",
        'weight_filler { type: "xavier" sparse: 3 }',
        "NS0416",
        "3 }",
        "conv1: weights: the xavier filler does not support sparse (only gaussian does)",
        "gaussian",
    ),
    (
        "gaussian_std_zero",
        'weight_filler { type: "gaussian" std: 0 }',
        "NS0417",
        "0 }",
        "conv1: weights: gaussian filler's std 0 is not positive",
        "std > 0",
    ),
    (
        "uniform_min_above_max",
        'bias_filler { type: "uniform" min: 2 max: 1 }',
        "NS0417",
        "2 max",
        "conv1: bias: uniform filler's min 2 is above its max 1",
        "min <= max",
    ),
    (
        "sparse_above_outputs",
        'weight_filler { type: "gaussian" sparse: 17 }',
        "NS0417",
        "17",
        "conv1: weights: sparse 17 exceeds the blob's 16 outputs",
        "at most 16",
    ),
    (
        "bilinear_on_a_rectangular_kernel",
        'weight_filler { type: "bilinear" }',
        "NS0416",
        '"bilinear"',
        "conv1: weights: the bilinear filler needs a 4-D blob with a square kernel, not 16x8x3x1",
        "Deconvolution",
    ),
]


@pytest.mark.parametrize(
    ("filler", "code", "token", "message", "help"),
    [c[1:] for c in FILLER_ERRORS],
    ids=[c[0] for c in FILLER_ERRORS],
)
def test_filler_errors_are_found_by_the_checker_and_reported_once(filler, code, token, message, help):
    """Caffe refuses these fillers when it sets the net up, so `check` reports them (a net it
    accepts must compile); binding leaves the layer out without saying it again."""
    kernel = "kernel_h: 3 kernel_w: 1" if "bilinear" in filler else "kernel_size: 3"
    text = INPUT + conv("conv1", body=f"num_output: 16 {kernel} {filler}")
    analysis, diagnostics = analyse(text, name="t.prototxt")
    assert [d.message for d in codes(diagnostics, code)] == [message]
    blobs = bind(analysis, None, diagnostics)
    found = codes(diagnostics, code)
    assert len(found) == 1, [(d.code, d.message) for d in diagnostics]
    d = found[0]
    assert d.severity is Severity.ERROR and d.message == message and help in d.help
    assert (d.span.line, d.span.column) == position(text, token)
    assert "conv1" not in blobs


# ---- binding a .caffemodel --------------------------------------------------------------------------

NET = (
    INPUT
    + conv("conv1")
    + """\
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc" inner_product_param { num_output: 10 } }
"""
)


def trained(seed: int = 1) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        "conv1": [
            rng.standard_normal((16, 8, 3, 3)).astype(np.float32),
            rng.standard_normal(16).astype(np.float32),
        ],
        "fc": [
            rng.standard_normal((10, 1600)).astype(np.float32),
            rng.standard_normal(10).astype(np.float32),
        ],
    }


def caffemodel(tmp_path: Path, text: str, blobs: dict[str, list[np.ndarray]]):
    from netspec.frontend.binary import read_weights

    path = tmp_path / "w.caffemodel"
    write_caffemodel(path, text, blobs)
    return read_weights(str(path))


def test_caffemodel_blobs_are_bound_by_layer_name(tmp_path):
    stored = trained()
    blobs, diagnostics = bind_text(NET, caffemodel(tmp_path, NET, stored))
    assert not diagnostics.has_errors
    assert set(blobs) == {"conv1", "fc"}
    for name, arrays in stored.items():
        for ours, theirs in zip(blobs[name], arrays):
            assert ours.dtype == np.float32 and np.array_equal(ours, theirs)


def test_layer_missing_from_the_caffemodel_names_the_nearest(tmp_path):
    stored = trained()
    renamed = NET.replace('"fc"', '"fc_new"')
    weights = caffemodel(tmp_path, renamed, {"conv1": stored["conv1"], "fc_new": stored["fc"]})
    text = NET.replace('"conv1"', '"conv_1"')
    blobs, diagnostics = bind_text(text, weights)
    errors = codes(diagnostics, "NS0410")
    assert [d.message for d in errors] == [
        "conv_1: the weights file has no layer named 'conv_1' (it needs weights 16x8x3x3, bias 16)",
        "fc: the weights file has no layer named 'fc' (it needs weights 10x1600, bias 10)",
    ]
    assert errors[0].help == "the nearest names in the file: 'conv1'"
    assert errors[1].help == "the nearest names in the file: 'fc_new'"
    assert (errors[0].span.line, errors[0].span.column) == position(text, '"conv_1"')
    assert blobs == {}


def test_blob_count_that_differs_names_the_expected_blobs(tmp_path):
    stored = trained()
    weights = caffemodel(tmp_path, NET, {"conv1": stored["conv1"][:1], "fc": stored["fc"]})
    _, diagnostics = bind_text(NET, weights)
    (error,) = codes(diagnostics, "NS0411")
    assert error.message == "conv1: expected 2 blobs (weights, bias), the weights file has 1: 16x8x3x3"
    assert error.help == "the trained layer may have had no bias: set bias_term: false"


def test_blobs_for_a_layer_without_weights_are_a_count_error(tmp_path):
    stored = trained()
    weights = caffemodel(tmp_path, NET, {**stored, "relu1": [np.ones(3, np.float32)]})
    _, diagnostics = bind_text(NET, weights)
    (error,) = codes(diagnostics, "NS0411")
    assert error.message == "relu1: expected 0 blobs, the weights file has 1: 3"


def test_blob_shape_that_differs_names_the_blob_and_both_shapes(tmp_path):
    stored = trained()
    other = NET.replace("num_output: 16", "num_output: 12")
    weights = caffemodel(
        tmp_path, other, {"conv1": [stored["conv1"][0][:12], stored["conv1"][1][:12]], "fc": stored["fc"]}
    )
    blobs, diagnostics = bind_text(NET, weights)
    assert [d.message for d in codes(diagnostics, "NS0412")] == [
        "conv1: blob 'weights' has shape 12x8x3x3 in the weights file, the spec expects 16x8x3x3",
        "conv1: blob 'bias' has shape 12 in the weights file, the spec expects 16",
    ]
    assert "conv1" not in blobs and "fc" in blobs


def test_legacy_4d_blobs_are_reshaped_as_caffe_accepts_them(tmp_path):
    # V1-era files store InnerProduct weights as (1, 1, N, K) and biases as (1, 1, 1, N),
    # in num / channels / height / width.
    from google.protobuf import text_format

    from netspec.frontend.binary import read_weights

    stored = trained()
    net = text_format.Parse(NET, caffe_pb2.NetParameter())
    for layer in net.layer:
        for array in stored.get(layer.name, []):
            legacy = (1,) * (4 - array.ndim) + array.shape
            blob = layer.blobs.add(num=legacy[0], channels=legacy[1], height=legacy[2], width=legacy[3])
            blob.data.extend(array.ravel().tolist())
    path = tmp_path / "legacy.caffemodel"
    path.write_bytes(net.SerializeToString())
    blobs, diagnostics = bind_text(NET, read_weights(str(path)))
    assert not diagnostics.has_errors, [d.message for d in diagnostics]
    assert blobs["fc"][0].shape == (10, 1600) and np.array_equal(blobs["fc"][0], stored["fc"][0])
    assert blobs["fc"][1].shape == (10,) and np.array_equal(blobs["fc"][1], stored["fc"][1])


def test_layers_the_spec_lacks_are_one_info(tmp_path):
    trained_net = NET + 'layer { name: "fc8_old" }\nlayer { name: "score" }\nlayer { name: "loss" }\n'
    extra = {"fc8_old": [np.ones((2, 2), np.float32)], "score": [np.ones(2, np.float32)]}
    _, diagnostics = bind_text(NET, caffemodel(tmp_path, trained_net, {**trained(), **extra}))
    (info,) = codes(diagnostics, "NS0413")
    assert info.severity is Severity.INFO and not diagnostics.has_errors
    assert info.message == (
        "the weights file has blobs for 2 layers this net does not have, "
        "ignored as Caffe ignores them: fc8_old, score"
    )


# ---- init-weights: a .caffemodel of the filled weights -------------------------------------------------


def test_init_weights_round_trips_through_read_weights(tmp_path):
    from netspec.frontend.binary import read_weights

    analysis, diagnostics = analyse(NO_FILLERS)
    path = tmp_path / "init.caffemodel"
    init_weights(analysis, str(path), seed=5, diagnostics=diagnostics)
    expected = bind(analysis, None, Diagnostics(), seed=5)
    stored = read_weights(str(path))
    for name, arrays in expected.items():
        assert len(stored[name]) == len(arrays)
        for ours, back in zip(arrays, stored[name]):
            assert np.array_equal(np.asarray(back).reshape(ours.shape), ours)
    rebound = bind(analysis, stored, Diagnostics())
    assert all(np.array_equal(a, b) for name in expected for a, b in zip(expected[name], rebound[name]))


# ---- against real Caffe -------------------------------------------------------------------------------

CAFFE_PARAMS = textwrap.dedent("""\
    import os, sys
    sys.path.insert(0, "/opt/caffe/python")
    import caffe, numpy as np
    caffe.set_mode_cpu()
    caffe.set_random_seed(1)
    proto, weights, out = sys.argv[1:4]
    net = caffe.Net(proto, caffe.TEST) if weights == "-" else caffe.Net(proto, caffe.TEST, weights=weights)
    np.savez(out, **{f"{name}:{i}": np.array(blob.data) for name, blobs in net.params.items()
                     for i, blob in enumerate(blobs)})
""")


def caffe_params(tmp_path: Path, text: str, weights: Path | None = None) -> dict[str, list[np.ndarray]]:
    proto = tmp_path / "caffe.prototxt"
    proto.write_text(text)
    done = subprocess.run(
        [
            str(CAFFE_PYTHON),
            "-c",
            CAFFE_PARAMS,
            str(proto),
            str(weights or "-"),
            str(tmp_path / "params.npz"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "GLOG_minloglevel": "2"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    flat = np.load(tmp_path / "params.npz")
    params: dict[str, list[np.ndarray]] = {}
    for key in sorted(flat.files, key=lambda k: (k.split(":")[0], int(k.split(":")[1]))):
        params.setdefault(key.split(":")[0], []).append(flat[key])
    return params


FILLERS_NET = """\
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 32 dim: 8 dim: 8 } } }
layer { name: "xav" type: "Convolution" bottom: "data" top: "xav"
  convolution_param { num_output: 64 kernel_size: 3
  weight_filler { type: "xavier" variance_norm: AVERAGE } bias_filler { type: "constant" value: 0.2 } } }
layer { name: "he" type: "Convolution" bottom: "data" top: "he"
  convolution_param { num_output: 512 kernel_size: 3
  weight_filler { type: "msra" variance_norm: FAN_OUT }
  bias_filler { type: "uniform" min: -0.5 max: 0.25 } } }
layer { name: "gauss" type: "InnerProduct" bottom: "data" top: "gauss"
  inner_product_param { num_output: 40
  weight_filler { type: "gaussian" std: 0.02 sparse: 10 } } }
layer { name: "ball" type: "Convolution" bottom: "data" top: "ball"
  convolution_param { num_output: 8 kernel_size: 1
  weight_filler { type: "positive_unitball" } bias_term: false } }
layer { name: "up" type: "Deconvolution" bottom: "data" top: "up"
  convolution_param { num_output: 32 group: 32
  kernel_size: 4 stride: 2 pad: 1 weight_filler { type: "bilinear" } bias_term: false } }
layer { name: "up3" type: "Deconvolution" bottom: "data" top: "up3"
  convolution_param { num_output: 32 group: 32
  kernel_size: 5 stride: 3 weight_filler { type: "bilinear" } bias_term: false } }
"""


@needs_caffe
def test_fillers_agree_with_the_blobs_real_caffe_fills(tmp_path):
    theirs = caffe_params(tmp_path, FILLERS_NET)
    ours, diagnostics = bind_text(FILLERS_NET)
    assert not diagnostics.has_errors
    assert {k: [a.shape for a in v] for k, v in ours.items()} == {
        k: [a.shape for a in v] for k, v in theirs.items()
    }
    np.testing.assert_array_equal(ours["up"][0], theirs["up"][0])
    np.testing.assert_array_equal(ours["up3"][0], theirs["up3"][0])
    np.testing.assert_array_equal(ours["xav"][1], theirs["xav"][1])
    for name, index, bounded in (
        ("xav", 0, True),
        ("he", 0, False),
        ("he", 1, True),
        ("gauss", 0, False),
        ("gauss", 1, False),
        ("ball", 0, False),
    ):
        a, b = ours[name][index].astype(np.float64), theirs[name][index].astype(np.float64)
        assert a.std() == pytest.approx(b.std(), rel=4 / math.sqrt(2 * a.size)), (name, index)
        assert a.mean() == pytest.approx(b.mean(), abs=4 * b.std() / math.sqrt(a.size)), (name, index)
        if bounded:  # uniform draws: the same range
            spread = b.max() - b.min()
            assert (a.min(), a.max()) == pytest.approx((b.min(), b.max()), abs=0.02 * spread), (name, index)
    assert np.count_nonzero(ours["gauss"][0]) / ours["gauss"][0].size == pytest.approx(
        np.count_nonzero(theirs["gauss"][0]) / theirs["gauss"][0].size, abs=0.02
    )
    np.testing.assert_allclose(theirs["ball"][0].reshape(8, -1).sum(axis=1), 1.0, rtol=1e-5)


@needs_caffe
def test_init_weights_caffemodel_loads_in_real_caffe(tmp_path):
    analysis, diagnostics = analyse(NO_FILLERS)
    path = tmp_path / "init.caffemodel"
    init_weights(analysis, str(path), seed=11, diagnostics=diagnostics)
    ours = bind(analysis, None, Diagnostics(), seed=11)
    theirs = caffe_params(tmp_path, NO_FILLERS, path)
    assert set(theirs) == set(ours)
    for name, arrays in ours.items():
        assert [a.shape for a in arrays] == [b.shape for b in theirs[name]], name
        for a, b in zip(arrays, theirs[name]):
            np.testing.assert_array_equal(a, b)


def test_weights_past_protobufs_2_gib_are_an_error_before_any_is_drawn():
    """Neither an ONNX model nor a .caffemodel (Caffe reads at most INT_MAX bytes) can hold them."""
    text = INPUT + (
        'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
        "inner_product_param { num_output: 600000 } }\n"
    )
    blobs, diagnostics = bind_text(text)
    (d,) = codes(diagnostics, "NS0418")
    assert d.severity is Severity.ERROR and "2.6 GiB" in d.message and "600000x1152" in d.help
    assert (d.span.line, d.span.column) == position(text, '"fc"')
    assert blobs == {}


# ---- parameters shared by name (siamese nets): Caffe's Net::AppendParam and ShareData -----------------

SIAMESE = """\
layer { name: "data" type: "Input" top: "a" top: "b" input_param { shape { dim: 1 dim: 2 dim: 5 dim: 5 } } }
layer { name: "c1" type: "Convolution" bottom: "a" top: "ca" param { name: "w" } param { name: "bias" }
  convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "c2" type: "Convolution" bottom: "b" top: "cb" param { name: "w" } param { name: "bias" }
  convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "gaussian" std: 0.5 } } }
"""


@needs_caffe
def test_shared_parameters_filled_from_the_spec_are_the_owners_as_in_caffe(tmp_path):
    ours, diagnostics = bind_text(SIAMESE)
    assert not diagnostics.has_errors
    for k in range(2):
        np.testing.assert_array_equal(ours["c2"][k], ours["c1"][k])
    theirs = caffe_params(tmp_path, SIAMESE)
    np.testing.assert_array_equal(theirs["c1"][0], theirs["c2"][0])  # what Caffe does with the spec


@needs_caffe
def test_shared_parameters_from_a_caffemodel_take_the_blob_caffe_copies_last(tmp_path):
    """A file with different blobs for the two layers: CopyTrainedLayersFrom writes both, in the
    file's order, into the one shared memory, so c2's win for c1 as well."""
    analysis, _ = analyse(SIAMESE)
    rng = np.random.default_rng(3)
    stored = {
        name: [rng.standard_normal(spec.shape).astype(np.float32) for spec in analysis.info(name).weights]
        for name in ("c1", "c2")
    }
    path = tmp_path / "w.caffemodel"
    write_caffemodel(path, SIAMESE, stored)
    from netspec.frontend.binary import read_weights

    ours, diagnostics = bind_text(SIAMESE, read_weights(str(path)))
    assert not diagnostics.has_errors
    theirs = caffe_params(tmp_path, SIAMESE, path)
    for name in ("c1", "c2"):
        for k in range(2):
            np.testing.assert_array_equal(ours[name][k], theirs[name][k])
    np.testing.assert_array_equal(ours["c1"][0], stored["c2"][0])


def test_a_layer_the_caffemodel_lacks_is_bound_through_the_parameter_it_shares(tmp_path):
    analysis, _ = analyse(SIAMESE)
    stored = {"c1": [np.ones(spec.shape, np.float32) for spec in analysis.info("c1").weights]}
    path = tmp_path / "w.caffemodel"
    write_caffemodel(path, SIAMESE, stored)
    from netspec.frontend.binary import read_weights

    ours, diagnostics = bind_text(SIAMESE, read_weights(str(path)))
    assert [d.code for d in diagnostics if d.severity is Severity.ERROR] == []
    assert np.array_equal(ours["c2"][0], stored["c1"][0])


SHARED_SHAPES = SIAMESE.replace("dim: 5 dim: 5", "dim: 9 dim: 9").replace(
    'top: "cb" param { name: "w" } param { name: "bias" }\n  convolution_param { num_output: 3 kernel_size: 3',
    'top: "cb" param { name: "w" SHARE } param { name: "bias" }\n  convolution_param { num_output: 3 kernel_h: 1 kernel_w: 9',
)


@pytest.mark.parametrize("mode", ["", "share_mode: STRICT"])
def test_a_shared_parameter_of_another_shape_is_an_error_at_its_name(mode):
    text = SHARED_SHAPES.replace("SHARE", mode)
    (error,) = [d for d in analyse_diagnostics(text) if d.code == "NS0204"]
    assert error.severity is Severity.ERROR
    assert error.message == (
        "layer 'c2' shares parameter 'w' with layer 'c1', but its weights is 3x2x1x9 and the owner's is "
        "3x2x3x3 (share_mode STRICT compares every dim)"
    )
    assert error.help.endswith("share_mode: PERMISSIVE compares counts")
    assert (error.span.line, error.span.column) == position(text, '"w"', 2)


def test_a_layer_whose_field_is_being_typed_is_not_compared_with_the_owner_of_what_it_shares():
    """c2's `group:` not typed yet reads as group 1, so its weights are 2x2x3x3 against c1's 2x1x3x3:
    the field's syntax error says what is wrong, not a sharing mismatch that typing `2` ends."""
    grouped = SIAMESE.replace("num_output: 3 kernel_size: 3", "num_output: 2 kernel_size: 3 group: 2")
    head, _, tail = grouped.rpartition("group: 2")  # c2's
    typing = head + "group:\n " + tail
    assert [d.code for d in analyse_diagnostics(typing) if d.severity is Severity.ERROR] == ["NS0101"]
    mismatched = typing.replace("group:\n", "group: 1\n")
    assert [d.code for d in analyse_diagnostics(mismatched) if d.severity is Severity.ERROR] == ["NS0204"]


def test_permissive_sharing_compares_counts_only():
    text = SHARED_SHAPES.replace("SHARE", "share_mode: PERMISSIVE")
    assert "NS0204" not in [d.code for d in analyse_diagnostics(text)]


@needs_caffe
@pytest.mark.parametrize(("mode", "loads"), [("", False), ("share_mode: PERMISSIVE", True)])
def test_real_caffe_refuses_or_loads_those_shapes_alike(tmp_path, mode, loads):
    proto = tmp_path / "net.prototxt"
    proto.write_text(SHARED_SHAPES.replace("SHARE", mode))
    done = subprocess.run(
        [str(CAFFE_PYTHON), "-c", CAFFE_PARAMS, str(proto), "-", str(tmp_path / "p.npz")],
        capture_output=True,
        text=True,
        env={**os.environ, "GLOG_minloglevel": "2"},
    )
    assert (done.returncode == 0) == loads, done.stderr[-2000:]
    if not loads:
        assert "Cannot share param 'w' owned by layer 'c1' with layer 'c2'" in done.stderr


def analyse_diagnostics(text: str) -> list:
    from netspec.pipeline import check

    return list(check("t.prototxt", content=text).diagnostics)


def test_a_name_shared_with_a_weighted_layer_is_refused_at_compile_not_bound_twice():
    """Caffe gives each layer its own blobs; netspec holds them by name, so it says so instead of
    writing a model whose second 'conv' would get the first's (or a Scale's) weights."""
    from netspec.pipeline import check, compile

    text = (
        'name: "t" input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
        'layer { name: "conv" type: "Convolution" bottom: "data" top: "a" convolution_param { num_output: 4 kernel_size: 3 } }\n'
        'layer { name: "conv" type: "Scale" bottom: "a" top: "b" scale_param { bias_term: true } }\n'
    )
    checked = check("t.prototxt", content=text)
    (error,) = checked.diagnostics.errors  # check refuses it as compile would
    assert error.code == "NS0203" and (error.span.line, error.span.column) == (3, 15)
    assert compile(checked) is None
    diagnostics = Diagnostics()
    assert bind(checked.analysis, None, diagnostics) == {}  # binding by name refuses it too
    (error,) = diagnostics.errors
    assert error.code == "NS0420" and (error.span.line, error.span.column) == (3, 15)
    assert "also a Convolution layer's" in error.message
