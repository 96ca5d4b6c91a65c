"""Small fork layer types (netspec/layers/forks.py) and a whole MobileNet-SSD-like net mixing them
with BVLC and SSD layers, and one net of the last fork dialects (NormalizeBBox, TextBoxes' priors,
adaptive NMS, DenseBlock, ReverseTime, PSROIPooling) checked, compiled and run from the CLI.
References: OpenCV's Caffe importer where it runs the type as the fork does; otherwise the fork's
C++ transcribed into numpy (Interp's shrink_factor and crop, which OpenCV gets wrong or ignores;
Axpy, which OpenCV 4.14 fails to run with three distinct bottoms; Upsample, which OpenCV does not
know)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from oracles import (
    analyse,
    compile_text,
    diagnostic,
    position,
    random_inputs,
    random_weights,
    rel_error,
    run_onnx,
    run_opencv,
)

DATA = 'name: "t" input: "data" input_shape { dim: 2 dim: 6 dim: 7 dim: 9 }\n'


def against_opencv(text: str, output: str, opset: int = 22) -> float:
    model, analysis, _ = compile_text(text, opset=opset)
    weights, feeds = random_weights(analysis), random_inputs(analysis)
    feeds = {k: v * 5 for k, v in feeds.items()}  # past ReLU6's 6
    return rel_error(run_onnx(model, feeds)[output], run_opencv(text, weights, feeds, [output])[output])


def layer(kind: str, params: str = "", bottom: str = "data") -> str:
    return DATA + f'layer {{ name: "a" type: "{kind}" bottom: "{bottom}" top: "a" {params} }}\n'


@pytest.mark.parametrize(
    "text",
    [
        layer("ReLU6"),
        *(layer("ShuffleChannel", f"shuffle_channel_param {{ group: {g} }}") for g in (1, 2, 3, 6)),
        layer("ConvolutionDepthwise", "convolution_param { num_output: 6 kernel_size: 3 stride: 2 pad: 1 }"),
        layer("ConvolutionDepthwise",
              "convolution_param { num_output: 6 kernel_h: 3 kernel_w: 2 bias_term: false dilation: 2 }"),
        layer("Pooling", "pooling_param { pool: MAX kernel_size: 2 stride: 2 ceil_mode: false }"),
        layer("Pooling", "pooling_param { pool: AVE kernel_size: 3 stride: 2 ceil_mode: true }"),
    ],
)  # fmt: skip
def test_fork_layer_matches_opencv(text):
    assert against_opencv(text, "a") < 1e-6


@pytest.mark.parametrize(
    "params",
    [
        "num_output: 6 group: 6 kernel_size: 3 stride: 2 pad: 1 bias_term: false",
        "num_output: 12 group: 3 kernel_h: 3 kernel_w: 2 dilation: 2",
    ],
)
def test_depthwise_convolution_is_caffes_convolution_as_opencv_runs_it(params):
    """yonghenglh6's DepthwiseConvolution (MobileNet-YOLO, SSDLite ports) computes Caffe's grouped
    Convolution; OpenCV does not know the type, so it runs the same layer typed Convolution."""
    text = layer("DepthwiseConvolution", f"convolution_param {{ {params} }}")
    model, analysis, diagnostics = compile_text(text)
    assert not diagnostics.has_errors
    weights, feeds = random_weights(analysis), random_inputs(analysis)
    reference = run_opencv(text.replace("DepthwiseConvolution", "Convolution"), weights, feeds, ["a"])
    assert rel_error(run_onnx(model, feeds)["a"], reference["a"]) < 1e-6


def darknet_reorg(x: np.ndarray, stride: int, forward: bool) -> np.ndarray:
    """reorg_cpu of eric612/MobileNet-YOLO (reorg_layer.hpp), loop for loop, on flat blobs; the
    layer passes `reverse` as `forward`."""
    b_n, b_c, b_h, b_w = x.shape
    t_c, t_h, t_w = b_c // (stride * stride), b_h * stride, b_w * stride
    flat, out = x.reshape(-1), np.empty(x.size, x.dtype)
    for n in range(b_n):
        for c in range(b_c):
            for h in range(b_h):
                for w in range(b_w):
                    bottom = w + b_w * (h + b_h * (c + b_c * n))
                    c2, offset = c % t_c, c // t_c
                    w2, h2 = w * stride + offset % stride, h * stride + offset // stride
                    top = w2 + t_w * (h2 + t_h * (c2 + t_c * n))
                    if forward:
                        out[top] = flat[bottom]
                    else:
                        out[bottom] = flat[top]
    return out


@pytest.mark.parametrize(
    "shape, params, expected",
    [
        ((2, 8, 4, 6), "stride: 2", (2, 32, 2, 3)),
        ((1, 18, 3, 6), "stride: 3", (1, 162, 1, 2)),
        ((2, 8, 3, 5), "stride: 2 reverse: true", (2, 2, 6, 10)),
    ],
)
def test_reorg_is_the_yolov2_forks_loop(shape, params, expected):
    dims = " ".join(f"dim: {d}" for d in shape)
    text = (
        f'input: "data" input_shape {{ {dims} }}\n'
        f'layer {{ name: "a" type: "Reorg" bottom: "data" top: "a" reorg_param {{ {params} }} }}\n'
    )
    model, analysis, _ = compile_text(text)
    assert analysis.shapes[analysis.layers[-1].layer.tops[0].key] == expected
    x = random_inputs(analysis)["data"]
    ours = run_onnx(model, {"data": x})["a"]
    stride = int(params.split()[1])
    assert ours.shape == expected
    assert np.array_equal(ours.reshape(-1), darknet_reorg(x, stride, "reverse" in params))


@pytest.mark.parametrize(
    "params, says",
    [
        ("", "none is given"),
        ("reorg_param { stride: 2 }", "6 channels by 4 and 7 x 9 by 2"),
        ("reorg_param { stride: 2 reverse: true }", "6 channels by 4:"),
    ],
)
def test_reorg_refuses_what_the_fork_would_read_past_or_divide_by_zero(params, says):
    assert says in diagnostic(layer("Reorg", params), "NS0612").message


@pytest.mark.parametrize("opset", [13, 22])
@pytest.mark.parametrize("params", ["zoom_factor: 3", "height: 13 width: 4", "height: 1 width: 1"])
def test_interp_matches_opencv(params, opset):
    assert against_opencv(layer("Interp", f"interp_param {{ {params} }}"), "a", opset) < 2e-6


def deeplab_interp(x: np.ndarray, out: tuple[int, int], pad_beg: int, cropped: tuple[int, int]) -> np.ndarray:
    """caffe_cpu_interp2 of DeepLab v2 (interp.cpp), loop for loop, on the crop at −pad_beg."""
    (h1, w1), (h2, w2), o = cropped, out, -pad_beg
    y = np.zeros(x.shape[:2] + out, np.float32)
    rh = np.float32((h1 - 1) / (h2 - 1)) if h2 > 1 else np.float32(0)
    rw = np.float32((w1 - 1) / (w2 - 1)) if w2 > 1 else np.float32(0)
    for i in range(h2):
        r = rh * i
        a, da = int(r), 1 if int(r) < h1 - 1 else 0
        la = r - a
        for j in range(w2):
            r = rw * j
            b, db = int(r), 1 if int(r) < w1 - 1 else 0
            lb = r - b
            p = x[:, :, o + a : o + a + da + 1, o + b : o + b + db + 1]
            y[:, :, i, j] = (1 - la) * ((1 - lb) * p[:, :, 0, 0] + lb * p[:, :, 0, db]) + la * (
                (1 - lb) * p[:, :, da, 0] + lb * p[:, :, da, db]
            )
    return y


@pytest.mark.parametrize(
    "params, out, pad_beg, cropped",
    [
        ("shrink_factor: 2", (4, 5), 0, (7, 9)),
        ("zoom_factor: 2 shrink_factor: 3", (5, 5), 0, (7, 9)),
        ("zoom_factor: 2 pad_beg: -1 pad_end: -2", (7, 11), -1, (4, 6)),
    ],
)
def test_interp_shrink_and_crop_follow_deeplab(params, out, pad_beg, cropped):
    text = layer("Interp", f"interp_param {{ {params} }}")
    model, analysis, _ = compile_text(text)
    assert analysis.info("a").tops == [(2, 6, *out)]
    feeds = random_inputs(analysis)
    ours = run_onnx(model, feeds)["a"]
    assert rel_error(ours, deeplab_interp(feeds["data"], out, pad_beg, cropped)) < 1e-6


def test_yolo_upsample_repeats_each_cell():
    text = layer("Upsample", "upsample_param { scale: 3 }")
    model, analysis, _ = compile_text(text)
    assert analysis.info("a").tops == [(2, 6, 21, 27)]
    x = random_inputs(analysis)["data"]
    np.testing.assert_array_equal(run_onnx(model, {"data": x})["a"], x.repeat(3, 2).repeat(3, 3))


@pytest.mark.parametrize(
    "params, out",
    [("scale: 2", (8, 10)), ("scale: 2 pad_out_h: true", (7, 10)), ("upsample_h: 9 upsample_w: 11", (9, 11))],
)
def test_segnet_upsample_writes_each_value_at_its_mask_position(params, out):
    text = (
        'name: "t" input: "v" input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }\n'
        'input: "m" input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }\n'
        f'layer {{ name: "u" type: "Upsample" bottom: "v" bottom: "m" top: "u" upsample_param {{ {params} }} }}\n'
    )
    model, analysis, _ = compile_text(text)
    assert analysis.info("u").tops == [(2, 3, *out)]
    rng = np.random.default_rng(0)
    values = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    where = np.stack([rng.permutation(out[0] * out[1])[:20] for _ in range(6)]).reshape(2, 3, 4, 5)
    expected = np.zeros(
        (6, out[0] * out[1]), np.float32
    )  # UpsampleLayer::Forward_cpu: top[mask[i]] = bottom[i]
    np.put_along_axis(expected, where.reshape(6, -1), values.reshape(6, -1), axis=1)
    ours = run_onnx(model, {"v": values, "m": where.astype(np.float32)})["u"]
    np.testing.assert_array_equal(ours, expected.reshape(2, 3, *out))


def test_axpy_scales_x_per_channel_and_adds_y():
    text = (
        'name: "t" input: "a" input_shape { dim: 2 dim: 6 dim: 1 dim: 1 }\n'
        'input: "x" input_shape { dim: 2 dim: 6 dim: 5 dim: 3 }\ninput: "y" input_shape { dim: 2 dim: 6 dim: 5 dim: 3 }\n'
        'layer { name: "o" type: "Axpy" bottom: "a" bottom: "x" bottom: "y" top: "o" }\n'
    )
    model, analysis, _ = compile_text(text)
    f = random_inputs(analysis)
    assert rel_error(run_onnx(model, f)["o"], f["a"] * f["x"] + f["y"]) < 1e-7


def test_depthwise_weights_are_one_filter_per_channel():
    analysis, _ = analyse(layer("ConvolutionDepthwise", "convolution_param { num_output: 6 kernel_size: 3 }"))
    assert [w.shape for w in analysis.info("a").weights] == [(6, 1, 3, 3), (6,)]
    assert analysis.info("a").macs == 2 * 6 * 5 * 7 * 9


def test_pspnet_bn_normalises_with_its_moving_statistics():
    # BNLayer::Forward_cpu in TEST phase: slope · (x − mean) · (variance + eps)^−½ + bias.
    text = layer("BN", "bn_param { eps: 0.001 frozen: true }")
    model, analysis, _ = compile_text(text)
    assert [(w.name, w.shape, w.learnable) for w in analysis.info("a").weights] == [
        ("slope", (1, 6, 1, 1), True), ("bias", (1, 6, 1, 1), True),
        ("mean", (1, 6, 1, 1), False), ("variance", (1, 6, 1, 1), False),
    ]  # fmt: skip
    weights, feeds = random_weights(analysis), random_inputs(analysis)
    slope, bias, mean, variance = (b.astype(np.float64) for b in weights["a"])
    expected = slope * (feeds["data"] - mean) / np.sqrt(variance + 0.001) + bias
    assert rel_error(run_onnx(model, feeds)["a"], expected) < 1e-6


def test_segnet_bn_at_inference_is_its_scale_and_shift():
    # Caffe-SegNet's BNLayer::Forward_cpu, INFERENCE: scale · x + shift (statistics folded in).
    text = layer("BN", 'bn_param { bn_mode: INFERENCE scale_filler { type: "constant" value: 1 } }')
    model, analysis, diagnostics = compile_text(text)
    assert [(w.name, w.shape) for w in analysis.info("a").weights] == [
        ("scale", (1, 6, 1, 1)),
        ("shift", (1, 6, 1, 1)),
    ]
    assert not [d for d in diagnostics if d.code == "NS0344"]
    weights, feeds = random_weights(analysis), random_inputs(analysis)
    scale, shift = (b.astype(np.float64) for b in weights["a"])
    assert rel_error(run_onnx(model, feeds)["a"], scale * feeds["data"] + shift) < 1e-6


def test_segnet_bn_learning_normalises_with_the_batch_and_writes_its_statistics():
    # LEARN: E over N, H, W; variance E(x²) − E(x)²; eps 1e-9; tops 1 and 2 the batch mean and variance.
    text = DATA + ('layer { name: "a" type: "BN" bottom: "data" top: "a" top: "m" top: "v" '
                   "bn_param { bn_mode: LEARN } }")  # fmt: skip
    model, analysis, diagnostics = compile_text(text)
    assert analysis.info("a").tops == [(2, 6, 7, 9), (1, 6, 1, 1), (1, 6, 1, 1)]
    assert [d.code for d in diagnostics if d.code == "NS0344"] == ["NS0344"]  # batch statistics at TEST
    weights, feeds = random_weights(analysis), random_inputs(analysis)
    x = feeds["data"].astype(np.float64)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    variance = (x * x).mean(axis=(0, 2, 3), keepdims=True) - mean**2
    scale, shift = (b.astype(np.float64) for b in weights["a"])
    expected = scale * (x - mean) / np.sqrt(variance + 1e-9) + shift
    ours = run_onnx(model, feeds)
    assert rel_error(ours["a"], expected) < 1e-5
    assert rel_error(ours["m"], mean) < 1e-6 and rel_error(ours["v"], variance) < 1e-5


BROKEN = [
    ("NS0398", layer("BN", "bn_param { bn_mode: INFERENCE frozen: true }"), "true"),
    ("NS0398", DATA + 'layer { name: "a" type: "BN" bottom: "data" top: "a" top: "m" bn_param { frozen: true } }',
     '"m"'),
    ("NS0325", layer("ShuffleChannel", "shuffle_channel_param { group: 4 }"), "4 }"),
    ("NS0326", layer("Interp", "interp_param { height: 5 }"), "5 }"),
    ("NS0326", layer("Interp", "interp_param { zoom_factor: 2 pad_beg: 1 }"), "1 }"),
    ("NS0326", layer("Interp"), '"Interp"'),
    ("NS0327", layer("Upsample", "upsample_param { scale: 2 upsample_h: 9 }"), "9 }"),
    ("NS0327", DATA + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" top: "m" '
     "pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
     'layer { name: "u" type: "Upsample" bottom: "p" bottom: "m" top: "u" upsample_param { upsample_h: 2 upsample_w: 2 } }',
     "2 upsample_w"),
    ("NS0612", layer("Reorg"), '"Reorg"'),
    ("NS0612", layer("Reorg", "reorg_param { stride: 2 }"), "2 }"),
    ("NS0612", layer("Reorg", "reorg_param { stride: 2 reverse: true }"), "2 reverse"),
    ("NS0364", DATA + 'layer { name: "a" type: "Reorg" bottom: "data" top: "data" reorg_param { stride: 1 } }',
     '"data" reorg'),
    ("NS0328", DATA + 'layer { name: "o" type: "Axpy" bottom: "data" bottom: "data" bottom: "data" top: "o" }',
     '"data" bottom'),
    ("NS0329", layer("ConvolutionDepthwise", "convolution_param { num_output: 12 kernel_size: 3 }"), "12"),
]  # fmt: skip


@pytest.mark.parametrize("code, text, token", BROKEN, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BROKEN)])
def test_bad_fork_parameters_are_diagnosed_where_they_are(code, text, token):
    found = diagnostic(text, code)
    assert (found.span.line, found.span.column) == position(text, token, after=text.index("layer {"))


# A MobileNet-SSD-like net (after chuanqi305's MobileNet-SSD deploy.prototxt), written here at an
# awkward 67 x 61 input size: BVLC layers, ConvolutionDepthwise, ReLU6, Normalize, Permute,
# PriorBox and DetectionOutput in one file.
def mobilenet_ssd() -> str:
    parts = ['name: "MobileNet-SSD-like" input: "data" input_shape { dim: 1 dim: 3 dim: 67 dim: 61 }']

    def add(text: str) -> None:
        parts.append(f"layer {{ {text} }}")

    def block(name: str, bottom: str, channels: int, out: int, stride: int) -> str:
        add(
            f'name: "{name}/dw" type: "ConvolutionDepthwise" bottom: "{bottom}" top: "{name}/dw" '
            f"convolution_param {{ num_output: {channels} kernel_size: 3 pad: 1 stride: {stride} }}"
        )
        add(f'name: "{name}/dw/relu" type: "ReLU6" bottom: "{name}/dw" top: "{name}/dw"')
        add(
            f'name: "{name}" type: "Convolution" bottom: "{name}/dw" top: "{name}" '
            f"convolution_param {{ num_output: {out} kernel_size: 1 }}"
        )
        add(f'name: "{name}/relu" type: "ReLU" bottom: "{name}" top: "{name}"')
        return name

    add(
        'name: "conv0" type: "Convolution" bottom: "data" top: "conv0" '
        "convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 2 }"
    )
    add('name: "conv0/bn" type: "BatchNorm" bottom: "conv0" top: "conv0"')
    add('name: "conv0/scale" type: "Scale" bottom: "conv0" top: "conv0" scale_param { bias_term: true }')
    add('name: "conv0/relu" type: "ReLU6" bottom: "conv0" top: "conv0"')
    x = block("conv1", "conv0", 8, 16, 2)
    f1 = block("conv2", x, 16, 16, 1)
    f2 = block("conv3", f1, 16, 24, 2)
    add(
        f'name: "conv2_norm" type: "Normalize" bottom: "{f1}" top: "conv2_norm" '
        'norm_param { across_spatial: false channel_shared: false scale_filler { type: "constant" value: 20 } }'
    )
    heads = {"loc": [], "conf": [], "prior": []}
    for i, (feature, sizes) in enumerate(
        (("conv2_norm", "min_size: 10 max_size: 20"), (f2, "min_size: 20 max_size: 40"))
    ):
        priors, classes = 6, 5  # ratios 1, sqrt(min·max), 2, 1/2, 3, 1/3
        for head, n in (("loc", priors * 4), ("conf", priors * classes)):
            name = f"f{i}_mbox_{head}"
            add(
                f'name: "{name}" type: "Convolution" bottom: "{feature}" top: "{name}" '
                f"convolution_param {{ num_output: {n} kernel_size: 3 pad: 1 }}"
            )
            add(
                f'name: "{name}_perm" type: "Permute" bottom: "{name}" top: "{name}_perm" '
                "permute_param { order: 0 order: 2 order: 3 order: 1 }"
            )
            add(
                f'name: "{name}_flat" type: "Flatten" bottom: "{name}_perm" top: "{name}_flat" '
                "flatten_param { axis: 1 }"
            )
            heads[head].append(f"{name}_flat")
        add(
            f'name: "f{i}_mbox_priorbox" type: "PriorBox" bottom: "{feature}" bottom: "data" '
            f'top: "f{i}_mbox_priorbox" prior_box_param {{ {sizes} aspect_ratio: 2 aspect_ratio: 3 '
            "flip: true clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 offset: 0.5 }"
        )
        heads["prior"].append(f"f{i}_mbox_priorbox")
    for head, axis in (("loc", 1), ("conf", 1), ("prior", 2)):
        bottoms = " ".join(f'bottom: "{b}"' for b in heads[head])
        add(
            f'name: "mbox_{head}" type: "Concat" {bottoms} top: "mbox_{head}" concat_param {{ axis: {axis} }}'
        )
    add(
        'name: "mbox_conf_reshape" type: "Reshape" bottom: "mbox_conf" top: "mbox_conf_reshape" '
        "reshape_param { shape { dim: 0 dim: -1 dim: 5 } }"
    )
    add(
        'name: "mbox_conf_softmax" type: "Softmax" bottom: "mbox_conf_reshape" top: "mbox_conf_softmax" '
        "softmax_param { axis: 2 }"
    )
    add(
        'name: "mbox_conf_flatten" type: "Flatten" bottom: "mbox_conf_softmax" top: "mbox_conf_flatten" '
        "flatten_param { axis: 1 }"
    )
    add(
        'name: "detection_out" type: "DetectionOutput" bottom: "mbox_loc" bottom: "mbox_conf_flatten" '
        'bottom: "mbox_prior" top: "detection_out" detection_output_param { num_classes: 5 '
        "share_location: true background_label_id: 0 nms_param { nms_threshold: 0.45 top_k: 100 } "
        "code_type: CENTER_SIZE keep_top_k: 100 confidence_threshold: 0.25 }"
    )
    return "\n".join(parts) + "\n"  # fmt: skip


def test_mobilenet_ssd_like_net_matches_opencv_blob_by_blob():
    text = mobilenet_ssd()
    model, analysis, diagnostics = compile_text(text, fold=False)
    assert not [d for d in diagnostics if d.severity.name == "ERROR"]
    weights, feeds = random_weights(analysis), random_inputs(analysis)
    blobs = ["conv2_norm", "mbox_loc", "mbox_conf_flatten", "mbox_prior"]
    declared = {vi.name: vi for vi in model.graph.value_info}
    model.graph.output.extend(declared[name] for name in blobs)  # intermediate values read out too
    ours = run_onnx(model, feeds)
    theirs = run_opencv(text, weights, feeds, [*blobs, "detection_out"])
    for name in blobs:
        assert rel_error(ours[name], theirs[name]) < 1e-5, name

    def rows(a):  # OpenCV orders by score and pads with zero rows; the fork by label
        a = a.reshape(-1, 7)
        a = a[a[:, 2] != 0]
        return a[np.lexsort((-a[:, 2], a[:, 1]))]

    found = rows(ours["detection_out"])
    assert len(found) > 3
    assert rel_error(found, rows(theirs["detection_out"])) < 1e-5


# The last fork dialects in one net with BVLC layers, as a user meets them: the first SSD port's
# NormalizeBBox, TextBoxes' two prior centres per cell, adaptive NMS (eta < 1), caffe_ocr's
# DenseBlock and ReverseTime, and R-FCN's PSROIPooling over rois given as an input.
LAST_FORKS = """name: "last_forks"
input: "data" input_shape { dim: 1 dim: 3 dim: 32 dim: 40 }
input: "rois" input_shape { dim: 6 dim: 5 }
input: "len" input_shape { dim: 1 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "dense" type: "DenseBlock" bottom: "conv1" top: "dense" denseblock_param { numTransition: 2 growthRate: 4 use_BC: true } }
layer { name: "pool1" type: "Pooling" bottom: "dense" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "norm" type: "NormalizeBBox" bottom: "pool1" top: "norm" normalize_bbox_param { across_spatial: false channel_shared: false } }
layer { name: "loc" type: "Convolution" bottom: "norm" top: "loc" convolution_param { num_output: 24 kernel_h: 1 kernel_w: 5 pad_h: 0 pad_w: 2 } }
layer { name: "loc_perm" type: "Permute" bottom: "loc" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "loc_flat" type: "Flatten" bottom: "loc_perm" top: "loc_flat" }
layer { name: "conf" type: "Convolution" bottom: "norm" top: "conf" convolution_param { num_output: 18 kernel_h: 1 kernel_w: 5 pad_h: 0 pad_w: 2 } }
layer { name: "conf_perm" type: "Permute" bottom: "conf" top: "conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conf_flat" type: "Flatten" bottom: "conf_perm" top: "conf_flat" }
layer { name: "pb" type: "PriorBox" bottom: "norm" bottom: "data" top: "pb"
  prior_box_param { min_size: 8 max_size: 20 aspect_ratio: 2 flip: false clip: false
    variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 offset_h: 0.5 offset_w: 0.5 offset_h: 1 offset_w: 0.5 } }
layer { name: "conf_reshape" type: "Reshape" bottom: "conf_flat" top: "conf_reshape" reshape_param { shape { dim: 0 dim: -1 dim: 3 } } }
layer { name: "conf_softmax" type: "Softmax" bottom: "conf_reshape" top: "conf_softmax" softmax_param { axis: 2 } }
layer { name: "conf_sm_flat" type: "Flatten" bottom: "conf_softmax" top: "conf_sm_flat" }
layer { name: "det" type: "DetectionOutput" bottom: "loc_flat" bottom: "conf_sm_flat" bottom: "pb" top: "det"
  detection_output_param { num_classes: 3 nms_param { nms_threshold: 0.6 top_k: 40 eta: 0.8 }
    code_type: CENTER_SIZE keep_top_k: 30 confidence_threshold: 0.2 } }
layer { name: "rfcn_cls" type: "Convolution" bottom: "pool1" top: "rfcn_cls" convolution_param { num_output: 27 kernel_size: 1 } }
layer { name: "psroi" type: "PSROIPooling" bottom: "rfcn_cls" bottom: "rois" top: "psroi"
  psroi_pooling_param { spatial_scale: 0.5 output_dim: 3 group_size: 3 } }
layer { name: "cls_score" type: "Pooling" bottom: "psroi" top: "cls_score" pooling_param { pool: AVE kernel_size: 3 stride: 3 } }
layer { name: "seq_pool" type: "Pooling" bottom: "pool1" top: "seq_pool" pooling_param { pool: AVE kernel_h: 16 kernel_w: 1 stride_h: 16 stride_w: 1 } }
layer { name: "seq_t" type: "Transpose" bottom: "seq_pool" top: "seq_t" transpose_param { dim: 3 dim: 0 dim: 1 dim: 2 } }
layer { name: "seq_r" type: "Reshape" bottom: "seq_t" top: "seq" reshape_param { shape { dim: 20 dim: 1 dim: -1 } } }
layer { name: "rev" type: "ReverseTime" bottom: "seq" bottom: "len" top: "rev" reverse_time_param { copy_remaining: true } }
"""  # fmt: skip


def test_the_last_fork_dialects_mixed_with_bvlc_layers_check_compile_and_run_from_the_cli(tmp_path, capsys):
    from test_layer_ocr import fork_dense_block, fork_reverse_time
    from test_layer_rcnn import fork_psroi_pooling
    from test_layer_ssd import fork_detection_output, textboxes_prior_box

    from netspec import cli
    from netspec.caffemodel import write_weights

    spec = tmp_path / "last_forks.prototxt"
    spec.write_text(LAST_FORKS)
    assert cli.main(["check", str(spec)]) == cli.OK
    assert "outputs det 1x1x30x7, cls_score 6x3x1x1, rev 20x1x16" in capsys.readouterr().out
    analysis, _ = analyse(LAST_FORKS)
    weights = random_weights(analysis)
    weights["dense"][-1] = np.ones(1, np.float32)  # the statistics' scale factor, as a trained net's
    write_weights(str(tmp_path / "w.caffemodel"), analysis.net.layers, weights)
    rois = np.array([[0, 1, 2, 20, 25], [0, 0, 0, 39, 31], [0, 5, 5, 6, 6], [0, 10, 3, 30, 28],
                     [0, -3, -2, 50, 40], [0, 7, 9, 8, 30]], np.float32)  # fmt: skip
    np.save(tmp_path / "rois.npy", rois)
    np.save(tmp_path / "len.npy", np.array([13], np.float32))
    np.save(tmp_path / "data.npy", random_inputs(analysis)["data"])
    model = tmp_path / "last_forks.onnx"
    shown = "conv1,dense,pool1,norm,loc_flat,conf_sm_flat,pb,det,rfcn_cls,psroi,seq,rev"
    options = ["--weights", str(tmp_path / "w.caffemodel"), "--outputs", shown]
    assert cli.main(["compile", str(spec), "-o", str(model), *options]) == cli.OK
    onnx.checker.check_model(onnx.load(str(model)), full_check=True)
    feeds = [f"--input={name}={tmp_path / name}.npy" for name in ("data", "rois", "len")]
    assert cli.main(["run", str(model), *feeds, "--out", str(tmp_path / "out.npz")]) == cli.OK
    got = {k.removeprefix("out:"): v for k, v in np.load(tmp_path / "out.npz").items()}
    assert rel_error(got["dense"], fork_dense_block(got["conv1"], weights["dense"], 2, True)) < 1e-5
    pooled = got["pool1"].astype(np.float64)  # NormalizeBBox per position over channels, a scale each
    normalized = pooled / np.sqrt((pooled**2).sum(axis=1, keepdims=True) + 1e-10)
    assert rel_error(got["norm"], normalized * weights["norm"][0].reshape(1, -1, 1, 1)) < 1e-5
    assert rel_error(got["pb"], textboxes_prior_box(16, 20, 32, 40, 8, 20, [2], False)) < 1e-6
    heads = [got[name].astype(np.float64) for name in ("loc_flat", "conf_sm_flat", "pb")]
    settings = {"nms": 0.6, "top_k": 40, "keep_top_k": 30, "threshold": 0.2}
    detected = fork_detection_output(*heads, 3, eta=0.8, **settings)
    assert got["det"].shape == detected.shape and got["det"].shape[2] > 2
    assert rel_error(got["det"], detected) < 1e-5
    plain = fork_detection_output(*heads, 3, **settings)
    assert plain.shape != detected.shape or not np.allclose(plain, detected)  # eta changed what was kept
    assert rel_error(got["psroi"], fork_psroi_pooling(got["rfcn_cls"], rois, 3, 3, 0.5)) < 1e-6
    assert rel_error(got["rev"], fork_reverse_time(got["seq"], [13], True)) == 0


SPHEREFACE = """name: "t"
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 4 dim: 8 dim: 3 dim: 3 } shape { dim: 4 } } }
layer { name: "fc5" type: "InnerProduct" bottom: "data" top: "fc5" inner_product_param { num_output: 6 } }
layer { name: "fc6" type: "MarginInnerProduct" bottom: "fc5" bottom: "label" top: "fc6" top: "lambda"
  include { phase: TRAIN }
  margin_inner_product_param { num_output: 5 type: QUADRUPLE weight_filler { type: "xavier" } base: 1000 }
}
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc6" bottom: "label" top: "loss" include { phase: TRAIN } }
"""


def test_sphereface_margin_inner_product_is_shaped_in_training_and_left_out_of_the_deploy_graph():
    from netspec.frontend.select import TRAIN
    from netspec.pipeline import check

    train = check("t.prototxt", content=SPHEREFACE, phase=TRAIN)
    assert not train.diagnostics.has_errors, [d.message for d in train.diagnostics]
    fc6 = train.analysis.info("fc6")
    assert fc6.tops == [(4, 5), (1,)]  # (N, num_output) and lambda, as its Reshape
    assert [w.shape for w in fc6.weights] == [(5, 6)]  # (num_output, K), no bias
    assert fc6.layer.param.margin_inner_product_param.type == 3  # QUADRUPLE, the fork's enum
    model, _, _ = compile_text(SPHEREFACE.replace("include { phase: TRAIN }", ""))
    assert [o.name for o in model.graph.output] == ["fc5"]  # the features, as the fork's deploy net
    one_label = SPHEREFACE.replace("shape { dim: 4 } } }", "shape { dim: 3 } } }")
    (problem,) = [
        d for d in check("t.prototxt", content=one_label, phase=TRAIN).diagnostics if d.code == "NS0380"
    ]
    assert problem.message.startswith("fc6: bottom 0 4x6 has 4 items but bottom 1 3 has 3")


CENTER_LOSS = """name: "t"
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 4 dim: 2 dim: 3 dim: 3 } shape { dim: 4 } } }
layer { name: "center" type: "CenterLoss" bottom: "data" bottom: "label" top: "center"
  center_loss_param { num_output: 7 center_filler { type: "xavier" } } loss_weight: 0.01 }
"""


def test_center_loss_learns_one_centre_per_class_over_the_features_from_its_axis():
    analysis, found = analyse(CENTER_LOSS)
    assert not found.has_errors
    info = analysis.info("center")
    assert info.tops == [()]
    assert [(w.name, w.shape) for w in info.weights] == [("centers", (7, 18))]  # (classes, C·H·W)
    on_channels = analyse(CENTER_LOSS.replace("num_output: 7", "num_output: 7 axis: 2"))[0]
    assert [w.shape for w in on_channels.info("center").weights] == [(7, 9)]


@pytest.mark.parametrize(
    "code, text, token",
    [
        ("NS0383", CENTER_LOSS.replace("shape { dim: 4 } }", "shape { dim: 4 dim: 2 } }"), '"label" top: "center"'),
        ("NS0365", CENTER_LOSS.replace("num_output: 7 ", ""), "center_loss_param {"),
    ],
)  # fmt: skip
def test_center_loss_refuses_what_its_reshape_and_setup_refuse(code, text, token):
    problem = diagnostic(text, code)
    assert (problem.span.line, problem.span.column) == position(text, token)


@pytest.mark.parametrize(
    "params, flipped",
    [
        ("", (3,)),  # flip_width defaults to true, flip_height to false
        ("flip_param { flip_width: false flip_height: true }", (2,)),
        ("flip_param { flip_height: true }", (2, 3)),
        ("flip_param { flip_width: false }", ()),
    ],
)
def test_flip_mirrors_each_map_as_the_forks_loop_reads_it(params, flipped):
    model, analysis, _ = compile_text(layer("Flip", params))
    x = random_inputs(analysis)["data"]
    # FlipLayer::Forward_cpu: top[n, c, h, w] = bottom[n, c, H - 1 - h if flip_height, W - 1 - w if flip_width]
    expected = np.flip(x, flipped) if flipped else x
    np.testing.assert_array_equal(run_onnx(model, {"data": x})["a"], expected)


def test_flip_of_a_blob_without_height_or_width_copies_it_and_one_of_five_axes_is_refused():
    flat = 'name: "t" input: "data" input_shape { dim: 2 dim: 6 }\nlayer { name: "a" type: "Flip" bottom: "data" top: "a" }\n'
    model, analysis, _ = compile_text(flat)
    x = random_inputs(analysis)["data"]
    np.testing.assert_array_equal(run_onnx(model, {"data": x})["a"], x)  # legacy H = W = 1
    five = flat.replace("dim: 2 dim: 6", "dim: 2 dim: 6 dim: 3 dim: 3 dim: 3")
    assert "at most 4 axes" in diagnostic(five, "NS0370").message


def happynear_normalize(x: np.ndarray, norm_type: str) -> tuple[np.ndarray, np.ndarray]:
    """happynear/caffe-windows' NormalizeLayer::Forward_cpu, transcribed: through the legacy
    (N, C, H, W) accessors, per (n, s) the channels' Σx² + 1e-6 then its root (L2) or Σ|x| + 1e-6
    (L1), each channel divided by it.  Returns (top 0, top 1 the norms)."""
    n, c = x.shape[0], x.shape[1] if x.ndim > 1 else 1
    h, w = (list(x.shape[2:]) + [1, 1])[:2]
    bottom = x.reshape(n, c, h * w).astype(np.float32)
    top, norms = np.empty_like(bottom), np.empty((n, 1, h * w), np.float32)
    squared = bottom * bottom if norm_type == "L2" else np.abs(bottom)
    for i in range(n):
        for s in range(h * w):
            norm = np.float32(0)
            for j in range(c):
                norm = np.float32(norm + squared[i, j, s])
            norm = np.float32(norm + np.float32(1e-6))
            if norm_type == "L2":
                norm = np.float32(np.sqrt(norm))
            norms[i, 0, s] = norm
            top[i, :, s] = bottom[i, :, s] / norm
    return top.reshape(n, c, h, w), norms.reshape(n, 1, h, w)


@pytest.mark.parametrize("norm_type", ["L2", "L1"])
def test_happynear_normalize_divides_each_position_by_its_norm_over_channels_as_the_forks_loop(norm_type):
    text = DATA + (
        'layer { name: "a" type: "Normalize" bottom: "data" top: "a" top: "norm" '
        f'normalize_param {{ normalize_type: "{norm_type}" bp_norm: true }} }}\n'
    )
    model, analysis, _ = compile_text(text)
    assert next(info.tops for info in analysis.layers if info.layer.name == "a") == [
        (2, 6, 7, 9),
        (2, 1, 7, 9),
    ]
    x = random_inputs(analysis)["data"] * 3
    x[0, :, 0, 0] = 0  # an all-zero position: the 1e-6 keeps it 0 rather than NaN
    x[1, :, 0, 0] = 1e-4  # a position this small shows where the 1e-6 goes
    got = run_onnx(model, {"data": x})
    top, norms = happynear_normalize(x, norm_type)
    np.testing.assert_allclose(got["a"], top, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got["norm"], norms, rtol=1e-5)


# A NormFace / AM-Softmax deploy tail: BVLC layers, the fork's Normalize on the InnerProduct's
# feature, which comes out (N, C, 1, 1) as the fork's legacy Reshape gives it.
HAPPYNEAR_TAIL = """name: "normface"
input: "data" input_shape { dim: 2 dim: 3 dim: 6 dim: 6 }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "fc5" type: "InnerProduct" bottom: "pool" top: "fc5" inner_product_param { num_output: 16 } }
layer { name: "norm1" type: "Normalize" bottom: "fc5" top: "norm1" normalize_param { normalize_type: "L2" } }
"""


def test_happynear_normalize_after_inner_product_checks_compiles_and_runs_as_the_fork(tmp_path, capsys):
    from netspec import cli
    from netspec.caffemodel import write_weights

    spec, model = tmp_path / "normface.prototxt", tmp_path / "normface.onnx"
    spec.write_text(HAPPYNEAR_TAIL)
    assert cli.main(["check", str(spec)]) == cli.OK
    assert "outputs norm1 2x16x1x1" in capsys.readouterr().out
    analysis, _ = analyse(HAPPYNEAR_TAIL)
    weights = random_weights(analysis)
    write_weights(str(tmp_path / "w.caffemodel"), analysis.net.layers, weights)
    x = random_inputs(analysis)["data"]
    np.save(tmp_path / "data.npy", x)
    options = ["--weights", str(tmp_path / "w.caffemodel"), "--outputs", "fc5,norm1"]
    assert cli.main(["compile", str(spec), "-o", str(model), *options]) == cli.OK
    onnx.checker.check_model(onnx.load(str(model)), full_check=True)
    assert (
        cli.main(
            ["run", str(model), f"--input=data={tmp_path / 'data.npy'}", "--out", str(tmp_path / "o.npz")]
        )
        == cli.OK
    )
    got = {k.removeprefix("out:"): v for k, v in np.load(tmp_path / "o.npz").items()}
    pooled = x.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)).reshape(2, -1)
    w, b = weights["fc5"]
    assert rel_error(got["fc5"], pooled @ w.T + b) < 1e-5
    assert got["norm1"].shape == (2, 16, 1, 1)
    np.testing.assert_allclose(got["norm1"], happynear_normalize(got["fc5"], "L2")[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "code, params, token",
    [
        ("NS0321", 'normalize_param { normalize_type: "L3" }', '"L3"'),
        ("NS0321", "norm_param { eps: 1e-6 } normalize_param { }", "normalize_param"),
        ("NS0321", 'top: "norm" norm_param { across_spatial: false }', '"norm"'),
    ],
)
def test_normalize_refuses_a_type_the_fork_lacks_both_forks_blocks_and_a_norms_top_on_ssds(
    code, params, token
):
    text = DATA + f'layer {{ name: "a" type: "Normalize" bottom: "data" top: "a" {params} }}\n'
    problem = diagnostic(text, code)
    assert (problem.span.line, problem.span.column) == position(text, token)


def test_happynear_normalize_of_five_axes_is_refused_as_the_legacy_accessors_refuse_it():
    five = DATA.replace("dim: 9", "dim: 9 dim: 2") + layer("Normalize", "normalize_param { }").removeprefix(
        DATA
    )
    assert "at most 4 axes" in diagnostic(five, "NS0370").message
