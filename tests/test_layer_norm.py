"""LRN, BatchNorm, Scale, Bias, MVN and the BatchNorm/Scale fold: shapes, parity, traps, diagnostics.

References: real BVLC Caffe (the definition), OpenCV's Caffe importer where it agrees with
Caffe (it has no Bias layer, puts MVN's eps inside the square root and mishandles LRN's k),
and numpy transcriptions of Caffe's C++ for the traps.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper
from oracles import (
    analyse,
    check_shapes_match_onnx,
    compile_text,
    random_inputs,
    random_weights,
    rel_error,
    run_caffe,
    run_onnx,
    run_opencv,
)

from netspec.diagnostics import Diagnostics, Severity
from netspec.fold import plan_folds
from netspec.frontend.select import TEST, TRAIN
from netspec.layers import REGISTRY
from netspec.layers.base import ShapeContext
from netspec.layers.conv import Convolution
from netspec.layers.norm import uses_global_stats
from netspec.pipeline import check

TOL = 1e-5
ORACLES = {"caffe": run_caffe, "opencv": run_opencv}


def net(*layers: str, shape=(2, 6, 5, 7), second=None) -> str:
    """A net with input 'data' (and 'b1' when `second` gives its shape), then `layers`."""
    shapes = [shape] if second is None else [shape, second]
    dims = "".join(" shape { " + "".join(f"dim: {d} " for d in s) + "}" for s in shapes)
    tops = ' top: "data"' + ("" if second is None else ' top: "b1"')
    head = f'name: "t"\nlayer {{ name: "data" type: "Input"{tops} input_param {{{dims} }} }}\n'
    return head + "\n".join(layers) + "\n"


def parity(text: str, outputs: list[str], oracle: str, *, edit=None, opset: int = 22, seed: int = 0):
    """Compile with random weights (after `edit`), run, compare with the oracle; returns our outputs."""
    analysis, _ = analyse(text)
    weights = random_weights(analysis, seed)
    if edit is not None:
        edit(weights)
    model, analysis, _ = compile_text(text, weights, opset=opset)
    check_shapes_match_onnx(model)
    feeds = random_inputs(analysis, seed)
    ours = run_onnx(model, feeds)
    ref = ORACLES[oracle](text, weights, feeds, outputs)
    for name in outputs:
        assert rel_error(ours[name], ref[name]) <= TOL, name
    return ours, feeds, weights, model


def run(text: str, weights: dict | None = None, *, opset: int = 22):
    """Our outputs, the feeds, the weights and the model, without an oracle."""
    analysis, _ = analyse(text)
    weights = random_weights(analysis) if weights is None else weights
    model, analysis, _ = compile_text(text, weights, opset=opset)
    check_shapes_match_onnx(model)
    feeds = random_inputs(analysis)
    return run_onnx(model, feeds), feeds, weights, model


def ops(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


def layer(name: str, type_: str, bottom: str = "data", top: str | None = None, body: str = "") -> str:
    bottoms = bottom if bottom.startswith("bottom") else f'bottom: "{bottom}"'
    return f'layer {{ name: "{name}" type: "{type_}" {bottoms} top: "{top or name}" {body} }}'


# --- numpy transcriptions of Caffe's C++ -------------------------------------------------


def lrn_across_ref(x, size, alpha, beta, k):
    """CrossChannelForward_cpu: scale = k + alpha/size · Σ x² over channels c − pre_pad .. c + pre_pad."""
    n, c, h, w = x.shape
    pre = (size - 1) // 2
    padded = np.zeros((n, c + size - 1, h, w))
    padded[:, pre : pre + c] = x.astype(np.float64) ** 2
    scale = k + alpha / size * sum(padded[:, i : i + c] for i in range(size))
    return x * scale**-beta


def window_sum(x, size):
    """Σ x² over the size x size window centred on each pixel, zero padding outside the image."""
    _, _, h, w = x.shape
    pad = (size - 1) // 2
    sq = np.pad(x.astype(np.float64) ** 2, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return sum(sq[:, :, i : i + h, j : j + w] for i in range(size) for j in range(size))


def lrn_within_ref(x, size, alpha, beta):
    """WithinChannelForward: AVE pooling of x² (divisor size² everywhere), Power(shift 1, scale alpha)."""
    return x * (1 + alpha * window_sum(x, size) / size**2) ** -beta


def bn_ref(x, mean, var, factor, eps):
    f = 0.0 if factor == 0 else 1.0 / factor
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - (mean * f).reshape(shape)) / np.sqrt((var * f).reshape(shape) + eps)


def mvn_ref(x, normalize_variance, across, eps):
    x = x.reshape(x.shape + (1,) * (4 - x.ndim)).astype(np.float64)
    axes = (1, 2, 3) if across else (2, 3)
    y = x - x.mean(axis=axes, keepdims=True)
    if normalize_variance:
        y = y / (np.sqrt((y**2).mean(axis=axes, keepdims=True)) + eps)
    return y


# --- LRN ----------------------------------------------------------------------------------

LRN_CASES = [(5, 1e-4, 0.75), (3, 0.5, 0.6), (9, 2.0, 0.75)]  # 9 > 6 channels: the window overhangs both ends


@pytest.mark.parametrize("oracle", ["opencv", "caffe"])
@pytest.mark.parametrize(("size", "alpha", "beta"), LRN_CASES)
def test_lrn_across_channels_matches_oracles(oracle, size, alpha, beta):
    text = net(layer("lrn", "LRN", body=f"lrn_param {{ local_size: {size} alpha: {alpha} beta: {beta} }}"))
    parity(text, ["lrn"], oracle)


@pytest.mark.parametrize("oracle", ["opencv", "caffe"])
@pytest.mark.parametrize("size", [1, 3, 5])
@pytest.mark.parametrize("opset", [13, 22])
def test_lrn_within_channel_matches_oracles(oracle, size, opset):
    body = f"lrn_param {{ local_size: {size} alpha: 0.7 beta: 0.6 norm_region: WITHIN_CHANNEL }}"
    parity(net(layer("lrn", "LRN", body=body)), ["lrn"], oracle, opset=opset)


def test_lrn_across_channels_adds_k_and_divides_alpha_by_size():
    text = net(layer("lrn", "LRN", body="lrn_param { local_size: 5 alpha: 3 beta: 0.75 k: 2.5 }"))
    ours, feeds, _, _ = parity(text, ["lrn"], "caffe")
    x = feeds["data"]
    assert rel_error(ours["lrn"], lrn_across_ref(x, 5, 3, 0.75, 2.5)) <= TOL
    assert rel_error(ours["lrn"], lrn_across_ref(x, 5, 3, 0.75, 1.0)) > 1e-2  # k matters here
    assert rel_error(ours["lrn"], lrn_across_ref(x, 5, 3 * 5, 0.75, 2.5)) > 1e-2  # so does /size


def test_lrn_within_channel_uses_1_not_k_and_alpha_over_size_squared():
    body = "lrn_param { local_size: 3 alpha: 4 beta: 0.75 k: 5 norm_region: WITHIN_CHANNEL }"
    text = net(layer("lrn", "LRN", body=body))
    ours, feeds, _, _ = parity(text, ["lrn"], "caffe")
    x = feeds["data"]
    assert rel_error(ours["lrn"], lrn_within_ref(x, 3, 4, 0.75)) <= TOL
    with_k = x * (5 + 4 / 9 * window_sum(x, 3)) ** -0.75  # k in place of 1
    over_size = x * (1 + 4 / 3 * window_sum(x, 3)) ** -0.75  # alpha/size in place of alpha/size²
    assert rel_error(ours["lrn"], with_k) > 1e-2
    assert rel_error(ours["lrn"], over_size) > 1e-2


def test_lrn_within_channel_divisor_counts_padding_at_the_borders():
    # 5x5 windows with pad 2 over a 3x3 image: every window hangs into the padding.
    body = "lrn_param { local_size: 5 alpha: 6 beta: 0.75 norm_region: WITHIN_CHANNEL }"
    text = net(layer("lrn", "LRN", body=body), shape=(1, 2, 3, 3))
    ours, feeds, _, model = parity(text, ["lrn"], "caffe")
    x = feeds["data"].astype(np.float64)
    assert rel_error(ours["lrn"], lrn_within_ref(x, 5, 6, 0.75)) <= TOL
    inside = np.array([3, 4, 3])  # image pixels each window covers, per axis
    valid_only = x * (1 + 6 * window_sum(x, 5) / np.outer(inside, inside)) ** -0.75
    assert rel_error(ours["lrn"], valid_only) > 1e-2
    pool = next(n for n in model.graph.node if n.op_type == "AveragePool")
    attrs = {a.name: a for a in pool.attribute}
    assert attrs["count_include_pad"].i == 1 and list(attrs["pads"].ints) == [2, 2, 2, 2]


def test_lrn_lowers_to_one_onnx_lrn_across_and_six_ops_within():
    across = run(net(layer("lrn", "LRN", body="lrn_param { local_size: 5 alpha: 0.1 k: 2 }")))[3]
    assert ops(across) == ["LRN"]
    attrs = {a.name: a for a in across.graph.node[0].attribute}
    assert (attrs["size"].i, attrs["bias"].f) == (5, 2.0)
    within = "lrn_param { local_size: 3 alpha: 0.5 norm_region: WITHIN_CHANNEL }"
    assert ops(run(net(layer("lrn", "LRN", body=within)))[3]) == [
        "Mul",
        "AveragePool",
        "Mul",
        "Add",
        "Pow",
        "Mul",
    ]
    unit = "lrn_param { local_size: 3 alpha: 1 norm_region: WITHIN_CHANNEL }"  # no multiply by 1
    assert ops(run(net(layer("lrn", "LRN", body=unit)))[3]) == ["Mul", "AveragePool", "Add", "Pow", "Mul"]


def test_lrn_within_channel_window_grows_the_receptive_field():
    body = "lrn_param { local_size: 5 norm_region: WITHIN_CHANNEL }"
    analysis, _ = analyse(net(layer("lrn", "LRN", body=body), layer("lrn2", "LRN", "lrn")))
    assert analysis.info("lrn").receptive == [(5.0, 1.0), (5.0, 1.0)]
    assert analysis.info("lrn2").receptive == [(5.0, 1.0), (5.0, 1.0)]  # ACROSS is pointwise in space


# --- BatchNorm ----------------------------------------------------------------------------


def _factor(value: float):
    def edit(weights):
        weights["bn"][2][:] = value

    return edit


@pytest.mark.parametrize("oracle", ["opencv", "caffe"])
@pytest.mark.parametrize(("factor", "effect"), [(0.999, 1e-4), (7.5, 1e-2)])
def test_batchnorm_divides_statistics_by_scale_factor(oracle, factor, effect):
    text = net(layer("bn", "BatchNorm"))
    ours, feeds, weights, _ = parity(text, ["bn"], oracle, edit=_factor(factor))
    mean, var, _ = weights["bn"]
    assert rel_error(ours["bn"], bn_ref(feeds["data"], mean, var, factor, 1e-5)) <= TOL
    assert rel_error(ours["bn"], bn_ref(feeds["data"], mean, var, 1.0, 1e-5)) > effect  # ignoring it shows


def test_batchnorm_zero_scale_factor_means_zero_statistics():
    ours, feeds, _, _ = parity(net(layer("bn", "BatchNorm")), ["bn"], "caffe", edit=_factor(0.0))
    assert rel_error(ours["bn"], feeds["data"] / np.sqrt(1e-5)) <= TOL


def test_batchnorm_eps_defaults_to_1e_5():
    def tiny(weights):
        weights["bn"][1][:] = np.linspace(1e-6, 4e-5, weights["bn"][1].size)  # eps-sized variances
        weights["bn"][2][:] = 1.0

    ours, feeds, weights, _ = parity(net(layer("bn", "BatchNorm")), ["bn"], "caffe", edit=tiny)
    mean, var, _ = weights["bn"]
    assert rel_error(ours["bn"], bn_ref(feeds["data"], mean, var, 1.0, 1e-5)) <= TOL
    assert rel_error(ours["bn"], bn_ref(feeds["data"], mean, var, 1.0, 1e-3)) > 1e-2
    text = net(layer("bn", "BatchNorm", body="batch_norm_param { eps: 0.001 }"))
    ours, feeds, weights, _ = parity(text, ["bn"], "caffe", edit=tiny)
    assert rel_error(ours["bn"], bn_ref(feeds["data"], *weights["bn"][:2], 1.0, 1e-3)) <= TOL


@pytest.mark.parametrize("shape", [(3, 6), (2, 6, 5), (2, 3, 4, 5, 6)])
def test_batchnorm_normalises_axis_1_of_any_rank(shape):
    ours, feeds, weights, _ = parity(
        net(layer("bn", "BatchNorm"), shape=shape), ["bn"], "caffe", edit=_factor(7.5)
    )
    mean, var, _ = weights["bn"]
    assert rel_error(ours["bn"], bn_ref(feeds["data"], mean, var, 7.5, 1e-5)) <= TOL


def test_batchnorm_blobs_are_buffers_not_parameters():
    info = analyse(net(layer("bn", "BatchNorm")))[0].info("bn")
    assert [(w.name, w.shape, w.learnable) for w in info.weights] == [
        ("mean", (6,), False),
        ("variance", (6,), False),
        ("scale_factor", (1,), False),
    ]
    assert (info.params, info.buffers, info.macs) == (0, 13, 0)


@pytest.mark.parametrize("opset", [13, 22])
def test_batchnorm_use_global_stats_false_normalises_with_batch_statistics(opset):
    text = net(layer("bn", "BatchNorm", body="batch_norm_param { use_global_stats: false }"))
    ours, feeds, _, model = parity(text, ["bn"], "caffe", opset=opset)
    x = feeds["data"].astype(np.float64)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    assert rel_error(ours["bn"], (x - mean) / np.sqrt(var + 1e-5)) <= TOL
    assert "BatchNormalization" not in ops(model)
    assert [d.code for d in analyse(text)[1]] == ["NS0344"]


def test_batchnorm_lowers_to_one_batchnormalization_node():
    model = run(net(layer("bn", "BatchNorm", body="batch_norm_param { eps: 0.01 }")))[3]
    assert ops(model) == ["BatchNormalization"]
    assert model.graph.node[0].attribute[0].f == pytest.approx(0.01)


# --- Scale and Bias -----------------------------------------------------------------------


def test_scale_filler_defaults_to_constant_one_and_bias_filler_to_caffes_default():
    info = analyse(net(layer("s", "Scale", body="scale_param { bias_term: true }")))[0].info("s")
    scale, bias = info.weights
    assert (scale.name, scale.shape, scale.filler.type, scale.filler.value) == (
        "scale",
        (6,),
        "constant",
        1.0,
    )
    assert (bias.name, bias.shape, bias.filler) == ("bias", (6,), None)
    text = net(layer("s", "Scale", body='scale_param { filler { type: "constant" value: 3 } }'))
    assert analyse(text)[0].info("s").weights[0].filler.value == 3.0


SCALE_AXES = [  # (axis, num_axes, blob shape) on a (2, 6, 5, 7) input
    (1, 1, (6,)),
    (1, 2, (6, 5)),
    (1, -1, (6, 5, 7)),
    (1, 0, ()),
    (0, 0, ()),
    (2, 2, (5, 7)),
    (-1, 1, (7,)),
    (0, 1, (2,)),
]


@pytest.mark.parametrize(("axis", "num_axes", "blob"), SCALE_AXES)
@pytest.mark.parametrize("kind", ["Scale", "Bias"])
def test_scale_and_bias_num_axes_variants_match_caffe(kind, axis, num_axes, blob):
    param = "scale_param" if kind == "Scale" else "bias_param"
    bias = " bias_term: true" if kind == "Scale" else ""
    text = net(layer("s", kind, body=f"{param} {{ axis: {axis} num_axes: {num_axes}{bias} }}"))
    info = analyse(text)[0].info("s")
    assert [w.shape for w in info.weights] == [blob] * len(info.weights)
    ours, feeds, weights, _ = parity(text, ["s"], "caffe")
    trailing = (1,) * (4 - (axis % 4) - len(blob)) if blob else ()
    operand = [w.reshape(blob + trailing) for w in weights["s"]]
    expected = feeds["data"] * operand[0] + operand[1] if kind == "Scale" else feeds["data"] + operand[0]
    assert rel_error(ours["s"], expected) <= TOL


@pytest.mark.parametrize("oracle", ["opencv", "caffe"])
def test_scale_with_bias_after_batchnorm_matches_oracles(oracle):
    text = net(layer("bn", "BatchNorm"), layer("s", "Scale", "bn", body="scale_param { bias_term: true }"))
    parity(text, ["s"], oracle, edit=_factor(7.5))


TWO_BOTTOMS = [  # (second shape, axis): bottom[1] applied from axis
    ((6,), 1),
    ((2, 6), 0),  # the squeeze-and-excitation form
    ((6, 5), 1),
    ((5, 7), -2),
    ((2, 6, 5, 7), 0),
]


@pytest.mark.parametrize(("second", "axis"), TWO_BOTTOMS)
@pytest.mark.parametrize(("kind", "body"), [("Scale", ""), ("Scale", "bias_term: true"), ("Bias", "")])
def test_two_bottom_scale_and_bias_match_caffe(kind, body, second, axis):
    param = "scale_param" if kind == "Scale" else "bias_param"
    two = 'bottom: "data" bottom: "b1"'
    text = net(layer("s", kind, two, "s", f"{param} {{ axis: {axis} {body} }}"), second=second)
    analysis, _ = analyse(text)
    assert [w.shape for w in analysis.info("s").weights] == ([second] if body else [])
    ours, feeds, weights, model = parity(text, ["s"], "caffe")
    lead = axis % 4
    b1 = feeds["b1"].reshape(second + (1,) * (4 - lead - len(second)))
    expected = feeds["data"] * b1 if kind == "Scale" else feeds["data"] + b1
    if body:
        expected = expected + weights["s"][0].reshape(b1.shape)
    assert rel_error(ours["s"], expected) <= TOL
    reshapes = ["Reshape"] if 4 - lead - len(second) else []
    assert ops(model) == reshapes + (["Mul", "Add"] if body else ["Mul" if kind == "Scale" else "Add"])


def test_two_bottom_scale_reshape_keeps_the_batch_dynamic():
    text = net(
        layer("s", "Scale", 'bottom: "data" bottom: "b1"', "s", "scale_param { axis: 0 }"), second=(2, 6)
    )
    model, _, _ = compile_text(text, {}, dynamic_batch=True)
    shape = next(i for i in model.graph.initializer if i.name.startswith("s/shape"))
    assert list(numpy_helper.to_array(shape)) == [0, 0, 1, 1]
    rng = np.random.default_rng(1)
    x, b1 = rng.standard_normal((5, 6, 5, 7), np.float32), rng.standard_normal((5, 6), np.float32)
    out = run_onnx(model, {"data": x, "b1": b1})["s"]
    assert rel_error(out, x * b1[:, :, None, None]) <= TOL


def test_scale_blob_is_shaped_to_broadcast_at_its_axis():
    model = run(net(layer("s", "Scale", body="scale_param { axis: 1 num_axes: 1 }")))[3]
    assert ops(model) == ["Mul"]
    assert list(model.graph.initializer[0].dims) == [6, 1, 1]


# --- MVN ----------------------------------------------------------------------------------

MVN_CASES = [(True, False), (True, True), (False, False), (False, True)]


@pytest.mark.parametrize("oracle", ["opencv", "caffe"])
@pytest.mark.parametrize(("normalize_variance", "across"), MVN_CASES)
@pytest.mark.parametrize("opset", [13, 22])
def test_mvn_matches_oracles(oracle, normalize_variance, across, opset):
    flags = f"normalize_variance: {str(normalize_variance).lower()} across_channels: {str(across).lower()}"
    body = f"mvn_param {{ {flags} }}"
    ours, feeds, _, _ = parity(net(layer("mvn", "MVN", body=body)), ["mvn"], oracle, opset=opset)
    assert rel_error(ours["mvn"], mvn_ref(feeds["data"], normalize_variance, across, 1e-9)) <= TOL


def test_mvn_adds_eps_to_the_std_not_the_variance():
    text = net(layer("mvn", "MVN", body="mvn_param { eps: 0.5 }"))
    ours, feeds, _, model = parity(text, ["mvn"], "caffe")
    x = feeds["data"].astype(np.float64)
    assert rel_error(ours["mvn"], mvn_ref(x, True, False, 0.5)) <= TOL
    centred = x - x.mean(axis=(2, 3), keepdims=True)
    inside = centred / np.sqrt((centred**2).mean(axis=(2, 3), keepdims=True) + 0.5)
    assert rel_error(ours["mvn"], inside) > 1e-2
    assert "MeanVarianceNormalization" not in ops(model)


@pytest.mark.parametrize("shape", [(3, 6), (2, 6, 5)])
def test_mvn_reshapes_its_top_to_4d_like_caffe(shape):
    text = net(layer("mvn", "MVN", body="mvn_param { across_channels: true }"), shape=shape)
    analysis, diagnostics = analyse(text)
    assert analysis.info("mvn").tops == [(*shape, *(1,) * (4 - len(shape)))]
    assert not [d.code for d in diagnostics]
    ours = parity(text, ["mvn"], "caffe")[0]
    assert ours["mvn"].shape == analysis.info("mvn").tops[0]


def test_mvn_per_channel_over_single_values_warns_that_outputs_are_zero():
    text = net(layer("mvn", "MVN"), shape=(3, 6))
    (warning,) = list(analyse(text)[1])
    assert (warning.code, warning.severity) == ("NS0348", Severity.WARNING)
    assert "3x6 has only one value for each: every output is 0" in warning.message
    ours = run(text)[0]
    assert np.all(ours["mvn"] == 0)


# --- every layer, every opset, and the costs ------------------------------------------------

USE_BATCH = "batch_norm_param { use_global_stats: false }"
ALL = net(
    layer("lrn", "LRN", body="lrn_param { local_size: 3 alpha: 0.5 k: 2 }"),
    layer("lrnw", "LRN", body="lrn_param { local_size: 3 alpha: 0.5 norm_region: WITHIN_CHANNEL }"),
    layer("bn", "BatchNorm"),
    layer("bnb", "BatchNorm", body=USE_BATCH),
    layer("s", "Scale", "bn", body="scale_param { bias_term: true }"),
    layer("s2", "Scale", 'bottom: "data" bottom: "b1"', "s2", "scale_param { axis: 0 }"),
    layer("b", "Bias", body="bias_param { num_axes: -1 }"),
    layer("mvn", "MVN"),
    layer("mvn2", "MVN", "b1", body="mvn_param { across_channels: true }"),
    second=(2, 6),
)


def test_every_layer_lowers_alike_at_every_opset_from_13():
    analysis, _ = analyse(ALL)
    weights = random_weights(analysis)
    feeds = random_inputs(analysis)
    outputs = {}
    for opset in range(13, 23):
        model, _, _ = compile_text(ALL, weights, opset=opset)
        check_shapes_match_onnx(model)
        outputs[opset] = run_onnx(model, feeds)
    for opset, outs in outputs.items():
        for name, value in outs.items():
            assert rel_error(value, outputs[22][name]) <= TOL, (opset, name)
    ref = run_caffe(ALL, weights, feeds, list(outputs[22]))
    for name, value in outputs[22].items():
        assert rel_error(value, ref[name]) <= TOL, name


def test_normalisation_counts_no_multiply_adds_and_statistics_as_buffers():
    """Multiply-adds follow the papers' convention (conv, deconv, fc, recurrent only)."""
    analysis, _ = analyse(ALL)
    assert {info.layer.name: info.macs for info in analysis.layers if info.macs} == {}
    params = {info.layer.name: (info.params, info.buffers) for info in analysis.layers if info.weights}
    assert params == {"bn": (0, 13), "bnb": (0, 13), "s": (12, 0), "b": (6 * 5 * 7, 0)}


def test_batchnorm_reads_the_phase_from_the_shape_options():
    """At TRAIN (options["phase"], once infer passes it) batch statistics are the default, not a warning."""
    analysis, _ = analyse(net(layer("bn", "BatchNorm"), layer("bn2", "BatchNorm", body=USE_BATCH)))
    for name in ("bn", "bn2"):
        info = analysis.info(name)
        diagnostics = Diagnostics()
        ctx = ShapeContext(info.layer, [(2, 6, 5, 7)], diagnostics, analysis.net.source_map, {"phase": TRAIN})
        assert not uses_global_stats(ctx)
        REGISTRY["BatchNorm"].shapes(ctx)
        assert list(diagnostics) == []
    assert uses_global_stats(ShapeContext(analysis.info("bn").layer, [], Diagnostics(), None))


def test_batchnorm_compiled_from_a_train_check_uses_the_stored_statistics_as_at_test(tmp_path):
    """The inference graph is the same whatever phase was checked: the stored statistics unless
    use_global_stats: false asks for the batch's (the checked phase decides only the warnings)."""
    from netspec.pipeline import compile as compile_checked

    text = net(layer("bn", "BatchNorm"), layer("bn2", "BatchNorm", "bn", body=USE_BATCH))
    for phase in (TEST, TRAIN):
        checked = check(str(tmp_path / "t.prototxt"), content=text, phase=phase)
        model = compile_checked(checked, fold=False)
        assert model is not None, list(checked.diagnostics)
        assert ops(model)[0] == "BatchNormalization" and "ReduceMean" in ops(model)[1:], phase


# --- the BatchNorm/Scale fold -------------------------------------------------------------

CONV = "convolution_param {{ num_output: 8 kernel_size: 3 pad: 1 group: 2 bias_term: {bias} }}"


def conv_chain(*tail: str, bias: str = "false") -> str:
    return net(layer("conv", "Convolution", body=CONV.format(bias=bias)), *tail)


def folded_conv(text: str, weights: dict, final: str):
    """The fold plan for `text`, and our run of the convolution alone with the folded blobs."""
    analysis, _ = analyse(text)
    plan = plan_folds(analysis, weights)
    fold = plan.folds["conv"]
    assert fold.layer.tops[0].name == final and fold.layer.param.convolution_param.bias_term
    alone = net(layer("conv", "Convolution", top=final, body=CONV.format(bias="true")))
    model, a, _ = compile_text(alone, {"conv": fold.blobs})
    return plan, model, a


FOLD_CHAINS = {  # the last layer is named after its top: OpenCV fetches outputs by layer name
    "bn_and_scale": (
        layer("bn", "BatchNorm", "conv", "conv"),
        layer("out", "Scale", "conv", body="scale_param { bias_term: true }"),
    ),
    "bn_only": (layer("out", "BatchNorm", "conv"),),
    "scale_only": (layer("out", "Scale", "conv"),),
    "bn_scale_bias": (
        layer("bn", "BatchNorm", "conv", "conv"),
        layer("sc", "Scale", "conv", "conv"),
        layer("out", "Bias", "conv"),
    ),
}


FOLD_ORACLES = [  # OpenCV has no Bias layer: real Caffe alone holds that chain
    (oracle, chain)
    for chain in FOLD_CHAINS
    for oracle in ("opencv", "caffe")
    if not (oracle == "opencv" and chain == "bn_scale_bias")
]


@pytest.mark.parametrize(("oracle", "chain"), FOLD_ORACLES)
@pytest.mark.parametrize("bias", ["false", "true"])
def test_folded_convolution_matches_the_unfolded_chain(oracle, chain, bias):
    text = conv_chain(*FOLD_CHAINS[chain], bias=bias)
    analysis, _ = analyse(text)
    weights = random_weights(analysis)
    for info in analysis.layers:
        if info.layer.type == "BatchNorm":
            weights[info.layer.name][2][:] = 7.5
    plan, model, alone = folded_conv(text, weights, "out")
    assert plan.skip == {info.layer.name for info in analysis.layers} - {"data", "conv"}
    assert len(plan.folds["conv"].blobs[1]) == 8
    feeds = random_inputs(alone)
    ref = ORACLES[oracle](text, weights, feeds, ["out"])["out"]
    assert rel_error(run_onnx(model, feeds)["out"], ref) <= TOL


def test_fold_of_transposed_inner_product_matches_numpy():
    ip = "inner_product_param {{ num_output: 5 transpose: {t} }}"
    for t in ("false", "true"):
        text = net(
            layer("ip", "InnerProduct", body=ip.format(t=t)),
            layer("bn", "BatchNorm", "ip", "ip"),
            layer("sc", "Scale", "ip", "ip"),
            shape=(3, 4),
        )
        analysis, _ = analyse(text)
        weights = random_weights(analysis)
        weights["bn"][2][:] = 0.999
        fold = plan_folds(analysis, weights).folds["ip"]
        x = np.random.default_rng(2).standard_normal((3, 4))
        w, b = weights["ip"]
        z = x @ (w if t == "true" else w.T) + b
        ref = bn_ref(z, weights["bn"][0], weights["bn"][1], 0.999, 1e-5) * weights["sc"][0]
        wf, bf = fold.blobs
        assert wf.shape == w.shape and wf.dtype == np.float32
        assert rel_error(x @ (wf if t == "true" else wf.T) + bf, ref) <= TOL


def test_fold_leaves_chains_it_cannot_fold():
    reasons = {
        "conv output read twice": conv_chain(
            layer("bn", "BatchNorm", "conv", "bn"), layer("r", "ReLU", "conv")
        ),
        "batch statistics": conv_chain(
            layer("bn", "BatchNorm", "conv", "bn", "batch_norm_param { use_global_stats: false }")
        ),
        "two-bottom scale": conv_chain(layer("sc", "Scale", 'bottom: "conv" bottom: "conv"', "sc")),
        "scale over two axes": conv_chain(layer("sc", "Scale", "conv", "sc", "scale_param { num_axes: 2 }")),
        "relu between": conv_chain(layer("r", "ReLU", "conv", "conv"), layer("bn", "BatchNorm", "conv")),
        "outputs not on axis 1": net(
            layer("ip", "InnerProduct", body="inner_product_param { num_output: 4 axis: -2 }"),
            layer("bn", "BatchNorm", "ip"),
        ),
    }
    for why, text in reasons.items():
        analysis, _ = analyse(text)
        plan = plan_folds(analysis, random_weights(analysis))
        assert (plan.folds, plan.skip) == ({}, set()), why


def test_fold_plan_rewrites_the_convolution_and_passes_others_through():
    text = conv_chain(*FOLD_CHAINS["bn_and_scale"], layer("r", "ReLU", "out"))
    analysis, _ = analyse(text)
    weights = random_weights(analysis)
    plan = plan_folds(analysis, weights)
    info, blobs = plan.rewrite(analysis.info("conv"), weights)
    assert info.layer.tops[0].key == "out" and info.layer.param.convolution_param.bias_term
    assert not analysis.info("conv").layer.param.convolution_param.bias_term  # the original is untouched
    assert [b.shape for b in blobs] == [(8, 3, 3, 3), (8,)]
    relu = analysis.info("r")
    assert plan.rewrite(relu, weights) == (relu, [])
    assert plan.folds["conv"].absorbed == ["bn", "out"]


CONVOLUTION_LIKE = {  # every type that behaves as a convolution or inner product, with a body for it
    "InnerProduct": "inner_product_param { num_output: 6 }",
    **{
        name: "convolution_param { num_output: 6 kernel_size: 3 pad: 1 }"
        for name, kind in REGISTRY.items()
        if isinstance(kind, Convolution)
    },
}


def test_the_convolution_like_types_are_those_that_absorb_an_affine():
    assert {name for name, kind in REGISTRY.items() if kind.absorbs_affine} == set(CONVOLUTION_LIKE)
    assert "ConvolutionDepthwise" in CONVOLUTION_LIKE


@pytest.mark.parametrize("kind", sorted(CONVOLUTION_LIKE))
def test_every_convolution_like_type_folds_the_batchnorm_and_scale_after_it(kind):
    text = net(
        layer("c", kind, body=CONVOLUTION_LIKE[kind]),
        layer("bn", "BatchNorm", "c", "c"),
        layer("sc", "Scale", "c", "c", "scale_param { bias_term: true }"),
    )
    folded, analysis, _ = compile_text(text)
    unfolded = compile_text(text, fold=False)[0]
    assert "BatchNormalization" not in ops(folded) and "BatchNormalization" in ops(unfolded)
    feeds = random_inputs(analysis)
    assert rel_error(run_onnx(folded, feeds)["c"], run_onnx(unfolded, feeds)["c"]) <= TOL


def _lower_folds() -> bool:
    text = conv_chain(layer("bn", "BatchNorm", "conv", "conv"))
    return "BatchNormalization" not in ops(compile_text(text)[0])


@pytest.mark.skipif(not _lower_folds(), reason="lower() does not call netspec.fold.plan_folds yet")
@pytest.mark.parametrize("oracle", ["opencv", "caffe"])
def test_lowered_net_folds_batchnorm_and_scale_into_the_convolution(oracle):
    text = conv_chain(*FOLD_CHAINS["bn_and_scale"], layer("r", "ReLU", "out"))
    model = parity(text, ["r"], oracle, edit=_factor(7.5))[3]
    assert ops(model) == ["Conv", "Relu"]


# --- diagnostics --------------------------------------------------------------------------

HEAD = (
    'name: "bad"\n'
    'layer { name: "data" type: "Input" top: "data" '
    "input_param { shape { dim: 1 dim: 32 dim: 56 dim: 56 } } }\n"
)

CATALOGUE = [
    (  # even LRN window
        'layer { name: "n" type: "LRN" bottom: "data" top: "n"\n  lrn_param { local_size: 4 } }\n',
        "NS0340",
        Severity.ERROR,
        4,
        27,
        "local_size 4 is even",
    ),
    (  # LRN on a 2-D blob
        'layer { name: "f" type: "Flatten" bottom: "data" top: "f" }\n'
        'layer { name: "n" type: "LRN" bottom: "f" top: "n" }\n',
        "NS0341",
        Severity.ERROR,
        4,
        39,
        "4-D input (N, C, H, W), got the 2-D shape 1x100352",
    ),
    (  # BatchNorm statistics given a learning rate (with three param blocks Caffe's upgrade zeroes it)
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn"\n'
        "  param { lr_mult: 0 } param { lr_mult: 1 } }\n",
        "NS0343",
        Severity.ERROR,
        4,
        41,
        "param 1 has lr_mult 1",
    ),
    (  # BatchNorm on batch statistics at TEST
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn"\n'
        "  batch_norm_param { use_global_stats: false } }\n",
        "NS0344",
        Severity.WARNING,
        4,
        40,
        "use_global_stats is false",
    ),
    (  # num_axes past the end
        'layer { name: "s" type: "Scale" bottom: "data" top: "s"\n  scale_param { axis: 2 num_axes: 3 } }\n',
        "NS0345",
        Severity.ERROR,
        4,
        35,
        "num_axes 3 from axis 2 extends past the 4-D input 1x32x56x56",
    ),
    (  # num_axes below -1
        'layer { name: "s" type: "Bias" bottom: "data" top: "s"\n  bias_param { num_axes: -2 } }\n',
        "NS0345",
        Severity.ERROR,
        4,
        26,
        "num_axes must be -1 (to the last axis) or at least 0, got -2",
    ),
    (  # two-bottom Scale with the wrong channel count
        'layer { name: "g" type: "Input" top: "g" input_param { shape { dim: 64 } } }\n'
        'layer { name: "s" type: "Scale" bottom: "data" bottom: "g" top: "s" }\n',
        "NS0346",
        Severity.ERROR,
        4,
        56,
        "scale shape 64 does not match bottom[0] shape 1x32x56x56 at axis 1",
    ),
    (  # two-bottom Bias with too many axes
        'layer { name: "g" type: "Input" top: "g" input_param { shape { dim: 56 dim: 56 dim: 2 } } }\n'
        'layer { name: "s" type: "Bias" bottom: "data" bottom: "g" top: "s" bias_param { axis: 2 } }\n',
        "NS0345",
        Severity.ERROR,
        4,
        55,
        "bottom[1] 56x56x2 has 3 axes, which from axis 2 extend past",
    ),
    (  # MVN on 5 axes
        'layer { name: "r" type: "Reshape" bottom: "data" top: "r"\n'
        "  reshape_param { shape { dim: 1 dim: 32 dim: 7 dim: 8 dim: 56 } } }\n"
        'layer { name: "m" type: "MVN" bottom: "r" top: "m" }\n',
        "NS0347",
        Severity.ERROR,
        5,
        39,
        "MVN reads its input as (N, C, H, W), but it is 5-D 1x32x7x8x56",
    ),
    (  # num_axes ignored with two bottoms
        'layer { name: "g" type: "Input" top: "g" input_param { shape { dim: 32 } } }\n'
        'layer { name: "s" type: "Scale" bottom: "data" bottom: "g" top: "s" scale_param { num_axes: 2 } }\n',
        "NS0349",
        Severity.WARNING,
        4,
        93,
        "num_axes 2 is ignored: with two bottoms, bottom[1]'s 1 axes decide",
    ),
    (  # Scale axis out of range
        'layer { name: "s" type: "Scale" bottom: "data" top: "s" scale_param { axis: 4 } }\n',
        "NS0310",
        Severity.ERROR,
        3,
        77,
        "axis 4 is out of range for a 4-D input",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "severity", "line", "column", "message"),
    CATALOGUE,
    ids=[f"{c[1]}-{i}" for i, c in enumerate(CATALOGUE)],
)
def test_diagnostic_catalogue(body, code, severity, line, column, message):
    checked = check("bad.prototxt", content=HEAD + body)
    found = [d for d in checked.diagnostics if d.code == code]
    assert len(found) == 1, [(d.code, d.message) for d in checked.diagnostics]
    d = found[0]
    assert (d.severity, d.span.line, d.span.column) == (severity, line, column), d
    assert message in d.message


def test_batchnorm_on_one_axis_is_an_error():
    text = (
        'name: "bad"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 9 } } }\n'
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" }\n'
    )
    (d,) = [d for d in check("bad.prototxt", content=text).diagnostics if d.code == "NS0342"]
    assert (d.span.line, d.span.column) == (3, 46)
    assert "its input 9 is 1-D" in d.message
