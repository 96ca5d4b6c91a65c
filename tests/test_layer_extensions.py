"""netspec's extensions of the schema: causal convolution, Unpooling, Maxout, Resize, L2 pooling.

References: numpy written from each extension's documented semantics
(docs/extensions.md), Caffe-SegNet's UpsampleLayer::Forward_cpu for
Unpooling, and, where an independent implementation exists, OpenCV: a plain
Caffe convolution padded (k − 1)·d on both sides, cut to the input's length,
is the causal convolution; cv2.resize's INTER_LINEAR is BILINEAR without
align_corners.  Opsets 13 and 22, with ONNX's shape inference agreeing.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from google.protobuf.descriptor import FieldDescriptor
from oracles import (
    analyse,
    check_shapes_match_onnx,
    compile_text,
    needs_caffe,
    position,
    random_weights,
    rel_error,
    run_caffe,
    run_onnx,
    run_opencv,
)

from netspec import zoo
from netspec.diagnostics import Severity
from netspec.layers import REGISTRY
from netspec.pipeline import check
from netspec.zoo import generate

TOL = 1e-5
OPSETS = (13, 22)


def net(shape: tuple[int, ...], *layers: str, name: str = "data") -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    head = f'name: "t"\nlayer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}'
    return "\n".join([head, *layers]) + "\n"


def randn(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# causal convolution


def causal_conv(x: np.ndarray, weights: np.ndarray, bias: np.ndarray, dilation: int) -> np.ndarray:
    """y[n, o, t] = b[o] + Σ_c Σ_j W[o, c, j] · x[n, c, t − (k − 1 − j)·d], zero before the start."""
    k = weights.shape[-1]
    left = (k - 1) * dilation
    padded = np.pad(x.astype(np.float64), [(0, 0)] * (x.ndim - 1) + [(left, 0)])
    steps = x.shape[-1]
    out = np.zeros((x.shape[0], weights.shape[0], *x.shape[2:]))
    w = weights.reshape(weights.shape[0], weights.shape[1], -1, k)  # (O, C, 1 or kh=1, k)
    for j in range(k):
        tap = padded[..., j * dilation : j * dilation + steps]
        out += np.einsum("oc...,nc...t->no...t", w[..., j], tap.reshape(*tap.shape[:2], -1, steps)).reshape(
            out.shape
        )
    return out + bias.reshape(1, -1, *([1] * (x.ndim - 2)))


def causal_layer(k: int, d: int, extra: str = "", bottom: str = "data", top: str = "y") -> str:
    return (
        f'layer {{ name: "{top}" type: "Convolution" bottom: "{bottom}" top: "{top}" convolution_param {{ '
        f"num_output: 5 kernel_size: {k} dilation: {d} causal: true {extra}}} }}"
    )


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("k", "d"), [(2, 1), (2, 4), (3, 3), (5, 1)])
def test_causal_convolution_keeps_the_length_and_matches_numpy(k, d, opset):
    text = net((2, 3, 17), causal_layer(k, d))
    model, analysis, _ = compile_text(text, opset=opset)
    assert analysis.info("y").tops == [(2, 5, 17)]
    check_shapes_match_onnx(model)
    (conv,) = [n for n in model.graph.node if n.op_type == "Conv"]
    pads = next(a.ints for a in conv.attribute if a.name == "pads")
    assert list(pads) == [(k - 1) * d, 0]
    x = randn((2, 3, 17))
    weights = random_weights(analysis)
    ours = run_onnx(model, {"data": x})["y"]
    assert rel_error(ours, causal_conv(x, *weights["y"], d)) <= TOL


def test_causal_output_depends_only_on_the_past():
    text = net((1, 2, 40), causal_layer(3, 4), causal_layer(2, 8, bottom="y", top="z"))
    model, _, _ = compile_text(text)
    x = randn((1, 2, 40))
    before = run_onnx(model, {"data": x})["z"]
    for t in (0, 17, 39):
        changed = x.copy()
        changed[..., t] += 10.0
        after = run_onnx(model, {"data": changed})["z"]
        assert np.array_equal(after[..., :t], before[..., :t])  # nothing before t moves
        assert np.abs(after[..., t] - before[..., t]).max() > 1e-3  # output t reads input t


def test_causal_convolution_is_a_padded_caffe_convolution_cut_to_length():
    """OpenCV's Caffe convolution with pad_w (k − 1)·d on both sides: its first L outputs are ours."""
    k, d, steps = 3, 2, 21
    plain = net(
        (2, 4, 1, steps),
        'layer { name: "y" type: "Convolution" bottom: "data" top: "y" convolution_param { num_output: 6 '
        f"kernel_h: 1 kernel_w: {k} pad_h: 0 pad_w: {(k - 1) * d} dilation: {d} }} }}",
    )
    causal = net(
        (2, 4, 1, steps),
        'layer { name: "y" type: "Convolution" bottom: "data" top: "y" convolution_param { num_output: 6 '
        f"kernel_h: 1 kernel_w: {k} pad_h: 0 dilation: {d} causal: true }} }}",
    )
    model, analysis, _ = compile_text(causal)
    assert analysis.info("y").tops == [(2, 6, 1, steps)]
    weights = random_weights(analysis)
    x = randn((2, 4, 1, steps))
    ref = run_opencv(plain, weights, {"data": x}, ["y"])["y"]
    assert ref.shape[-1] == steps + (k - 1) * d
    assert rel_error(run_onnx(model, {"data": x})["y"], ref[..., :steps]) <= TOL


def test_causal_time_axis_is_the_last_and_other_axes_keep_their_pad():
    text = net(
        (1, 2, 6, 9),
        'layer { name: "y" type: "Convolution" bottom: "data" top: "y" convolution_param { num_output: 3 '
        "kernel_size: 3 pad: 1 pad: 0 causal: true } }",
    )
    model, analysis, _ = compile_text(text)
    assert analysis.info("y").tops == [(1, 3, 6, 9)]
    (conv,) = model.graph.node
    assert list(next(a.ints for a in conv.attribute if a.name == "pads")) == [1, 2, 1, 0]
    x = randn((1, 2, 6, 9))
    w, b = random_weights(analysis)["y"]
    padded = np.pad(x.astype(np.float64), [(0, 0), (0, 0), (1, 1), (2, 0)])
    ref = np.zeros((1, 3, 6, 9))
    for i in range(3):
        for j in range(3):
            ref += np.einsum("oc,nchw->nohw", w[:, :, i, j], padded[:, :, i : i + 6, j : j + 9])
    ref += b.reshape(1, -1, 1, 1)
    assert rel_error(run_onnx(model, {"data": x})["y"], ref) <= TOL


def test_receptive_field_of_a_causal_dilated_stack():
    """Kernel 2, dilations 1, 2, 4, 8: 1 + (1 + 2 + 4 + 8) = 16 steps, the WaveNet formula 2^L."""
    layers = [causal_layer(2, d, bottom="data" if i == 0 else f"c{i - 1}", top=f"c{i}") for i, d in
              enumerate((1, 2, 4, 8))]  # fmt: skip
    analysis, _ = analyse(net((1, 2, 64), *layers))
    assert analysis.info("c3").receptive == [(16.0, 1.0)]


# ---------------------------------------------------------------------------------------------
# Unpooling


def caffe_max_mask(x: np.ndarray, k: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """(pooled, mask) of an unpadded MAX pooling, ceil-rounded, as Caffe's Forward_cpu writes them."""
    n, c, h, w = x.shape
    oh, ow = -(-(h - k) // s) + 1, -(-(w - k) // s) + 1
    top, mask = np.zeros((n, c, oh, ow), np.float32), np.zeros((n, c, oh, ow), np.float32)
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * s, j * s
            he, we = min(hs + k, h), min(ws + k, w)
            window = x[:, :, hs:he, ws:we].reshape(n, c, -1)
            arg = window.argmax(-1)
            top[:, :, i, j] = window.max(-1)
            mask[:, :, i, j] = (hs + arg // (we - ws)) * w + ws + arg % (we - ws)
    return top, mask


def segnet_upsample(values: np.ndarray, mask: np.ndarray, out: tuple[int, int]) -> np.ndarray:
    """Caffe-SegNet's UpsampleLayer::Forward_cpu: zeros, then top[mask[i]] = bottom[i] per plane."""
    n, c = values.shape[:2]
    top = np.zeros((n, c, out[0] * out[1]), np.float32)
    for a in range(n):
        for b in range(c):
            for i, index in enumerate(mask[a, b].ravel()):
                top[a, b, int(index)] = values[a, b].ravel()[i]
    return top.reshape(n, c, *out)


POOL = (
    'layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" top: "mask" '
    "pooling_param { pool: MAX kernel_size: 2 stride: 2 } }"
)


def unpool_layer(*bottoms: str, body: str = "") -> str:
    bottoms_text = " ".join(f'bottom: "{b}"' for b in bottoms)
    param = f" unpooling_param {{ {body} }}" if body else ""
    return f'layer {{ name: "up" type: "Unpooling" {bottoms_text} top: "up"{param} }}'


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("h", "w", "sizing"), [(8, 10, "bottom"), (9, 11, "bottom"), (9, 11, "out"),
                                                 (8, 6, "scale")])  # fmt: skip
def test_unpooling_puts_each_max_back_at_its_argmax(h, w, sizing, opset):
    bottoms, body = ("pool", "mask"), ""
    if sizing == "bottom":
        bottoms += ("data",)
    elif sizing == "out":
        body = f"out_h: {h} out_w: {w}"
    text = net((2, 3, h, w), POOL, unpool_layer(*bottoms, body=body))
    model, analysis, _ = compile_text(text, opset=opset)
    assert analysis.info("up").tops == [(2, 3, h, w)]
    check_shapes_match_onnx(model)
    x = randn((2, 3, h, w))
    up = run_onnx(model, {"data": x})["up"]
    pooled, mask = caffe_max_mask(x, 2, 2)
    assert np.array_equal(up, segnet_upsample(pooled, mask, (h, w)))
    # each window's max is back where it was, and every other cell is 0
    kept = up != 0
    assert kept.sum() == pooled.size
    assert np.array_equal(up[kept], x[kept])


@pytest.mark.parametrize("opset", OPSETS)
def test_unpooling_scatters_decoder_values_by_the_mask_at_any_batch(opset):
    """SegNet's decoder unpools other values than the pooled ones: each goes to its mask's cell, per
    plane; a model compiled at batch 2 with a dynamic batch runs at batch 3."""
    text = net(
        (2, 4, 9, 7),
        POOL,
        'layer { name: "v" type: "Input" top: "v" input_param { shape { dim: 2 dim: 4 dim: 5 dim: 4 } } }',
        unpool_layer("v", "mask", body="out_h: 9 out_w: 7"),
    )
    model, _, _ = compile_text(text, opset=opset, dynamic_batch=True)
    for batch in (2, 3):
        x, v = randn((batch, 4, 9, 7), 1), randn((batch, 4, 5, 4), 2)
        up = run_onnx(model, {"data": x, "v": v})["up"]
        assert np.array_equal(up, segnet_upsample(v, caffe_max_mask(x, 2, 2)[1], (9, 7)))


def test_unpooling_with_overlapping_windows_lets_the_later_cell_win():
    """3x3/2 windows share cells: where several point at one cell, the last written stays, as in
    Caffe-SegNet's loop."""
    text = net(
        (1, 2, 7, 7),
        POOL.replace("kernel_size: 2", "kernel_size: 3"),
        'layer { name: "v" type: "Input" top: "v" input_param { shape { dim: 1 dim: 2 dim: 3 dim: 3 } } }',
        unpool_layer("v", "mask", "data"),
    )
    model, _, _ = compile_text(text)
    x = np.zeros((1, 2, 7, 7), np.float32)
    x[:, :, 2, 2], x[:, :, 4, 4] = 5, 6  # each the max of several windows
    v = np.arange(1, 19, dtype=np.float32).reshape(1, 2, 3, 3)
    up = run_onnx(model, {"data": x, "v": v})["up"]
    assert np.array_equal(up, segnet_upsample(v, caffe_max_mask(x, 3, 2)[1], (7, 7)))
    assert (up[0, 0, 2, 2], up[0, 0, 4, 4]) == (4, 9)  # windows (0,0), (0,1), (1,0); and four with 6


@needs_caffe
def test_unpooling_reads_the_mask_real_caffe_writes():
    """BVLC Caffe's own MAX pooling top and mask, fed to an Unpooling: every max goes back to where
    Caffe found it (45 -> 23 rows, SegNet's odd case, included)."""
    x = randn((2, 3, 45, 10))
    caffe = run_caffe(net(x.shape, POOL), None, {"data": x}, ["pool", "mask"])
    inputs = "\n".join(
        f'layer {{ name: "{b}" type: "Input" top: "{b}" input_param {{ shape {{ dim: 2 dim: 3 dim: 23 dim: 5 }} }} }}'
        for b in ("v", "m")
    )
    model, _, _ = compile_text(net(x.shape, inputs, unpool_layer("v", "m", "data")))
    up = run_onnx(model, {"data": x, "v": caffe["pool"], "m": caffe["mask"]})["up"]
    kept = up != 0
    assert kept.sum() == caffe["pool"].size and np.array_equal(up[kept], x[kept])


def test_unpooling_lowers_to_maxunpool_with_the_pooling_geometry():
    text = net((1, 2, 45, 60), POOL, unpool_layer("pool", "mask", "data"))
    model, _, _ = compile_text(text)
    (node,) = [n for n in model.graph.node if n.op_type == "MaxUnpool"]
    attrs = {a.name: list(a.ints) for a in node.attribute}
    # 23 -> 45 rows: SegNet's pad_out_h case, a 2x2/2 unpooling less one end row
    assert attrs == {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 0]}


# ---------------------------------------------------------------------------------------------
# Maxout


def maxout(x: np.ndarray, k: int) -> np.ndarray:
    return x.reshape(x.shape[0], x.shape[1] // k, k, *x.shape[2:]).max(axis=2)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("shape", "body", "k"), [((2, 12), "group_size: 3", 3), ((2, 12, 5, 4), "num_output: 4", 3),
                                                  ((2, 6, 7), "group_size: 2", 2)])  # fmt: skip
def test_maxout_takes_the_max_of_consecutive_channels(shape, body, k, opset):
    text = net(
        shape, f'layer {{ name: "m" type: "Maxout" bottom: "data" top: "m" maxout_param {{ {body} }} }}'
    )
    model, analysis, _ = compile_text(text, opset=opset, dynamic_batch=True)
    assert analysis.info("m").tops == [(shape[0], shape[1] // k, *shape[2:])]
    (reshape, reduce) = model.graph.node
    assert (reshape.op_type, reduce.op_type) == ("Reshape", "ReduceMax")
    for batch in (2, 5):
        x = randn((batch, *shape[1:]))
        assert np.array_equal(run_onnx(model, {"data": x})["m"], maxout(x, k))


def test_maxout_shapes_agree_with_onnx():
    model, _, _ = compile_text(
        net(
            (2, 12, 5, 4),
            'layer { name: "m" type: "Maxout" bottom: "data" top: "m" maxout_param { group_size: 4 } }',
        )
    )
    check_shapes_match_onnx(model)


# ---------------------------------------------------------------------------------------------
# Resize


def resize(x: np.ndarray, out: list[int], mode: str, align_corners: bool = False) -> np.ndarray:
    """Separable resampling of every axis after the channels, as docs/extensions.md defines it."""
    y = x.astype(np.float64)
    for axis, size in enumerate(out, start=2):
        inp = y.shape[axis]
        o = np.arange(size)
        if mode == "NEAREST":
            y = np.take(y, o * inp // size, axis=axis)
            continue
        if align_corners:
            src = o * (inp - 1) / (size - 1) if size > 1 else np.zeros(size)
        else:
            src = (o + 0.5) * inp / size - 0.5
        src = np.clip(src, 0, inp - 1)
        low = np.floor(src).astype(int)
        high = np.minimum(low + 1, inp - 1)
        weight = (src - low).reshape([-1 if a == axis else 1 for a in range(y.ndim)])
        y = np.take(y, low, axis=axis) * (1 - weight) + np.take(y, high, axis=axis) * weight
    return y


def resize_layer(body: str, *bottoms: str) -> str:
    bottoms_text = " ".join(f'bottom: "{b}"' for b in ("data", *bottoms))
    return f'layer {{ name: "r" type: "Resize" {bottoms_text} top: "r" resize_param {{ {body} }} }}'


# fmt: off
RESIZES = [
    # (id, input shape, resize_param body, output spatial size, mode, align_corners)
    ("nearest_x2", (2, 3, 5, 7), "scale: 2", [10, 14], "NEAREST", False),
    ("nearest_x2_1d", (2, 3, 9), "scale: 2", [18], "NEAREST", False),
    ("nearest_per_axis", (2, 3, 5, 7), "scale: 3 scale: 1", [15, 7], "NEAREST", False),
    ("nearest_14_to_2", (1, 2, 14, 6), "out_h: 2 out_w: 9", [2, 9], "NEAREST", False),
    ("nearest_x1_5", (1, 2, 6, 5), "scale: 1.5", [9, 7], "NEAREST", False),
    ("bilinear_x2", (2, 3, 5, 7), "scale: 2 mode: BILINEAR", [10, 14], "BILINEAR", False),
    ("bilinear_out", (2, 3, 5, 7), "out_h: 13 out_w: 4 mode: BILINEAR", [13, 4], "BILINEAR", False),
    ("bilinear_align_corners", (2, 3, 5, 7), "out_h: 9 out_w: 13 mode: BILINEAR align_corners: true",
     [9, 13], "BILINEAR", True),
    ("bilinear_align_corners_x4", (1, 2, 3, 4), "scale: 4 mode: BILINEAR align_corners: true", [12, 16],
     "BILINEAR", True),
]
# fmt: on


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("shape", "body", "out", "mode", "corners"), [c[1:] for c in RESIZES],
                         ids=[c[0] for c in RESIZES])  # fmt: skip
def test_resize_matches_numpy(shape, body, out, mode, corners, opset):
    model, analysis, _ = compile_text(net(shape, resize_layer(body)), opset=opset, dynamic_batch=True)
    assert analysis.info("r").tops == [(*shape[:2], *out)]
    for batch in (shape[0], 3):
        x = randn((batch, *shape[1:]))
        ours = run_onnx(model, {"data": x})["r"]
        assert rel_error(ours, resize(x, out, mode, corners)) <= TOL


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("shape", "body", "out", "mode", "corners"), [c[1:] for c in RESIZES],
                         ids=[c[0] for c in RESIZES])  # fmt: skip
def test_resize_shapes_agree_with_onnx(shape, body, out, mode, corners, opset):
    model, _, _ = compile_text(net(shape, resize_layer(body)), opset=opset)
    check_shapes_match_onnx(model)


@pytest.mark.parametrize(("body", "interpolation"), [("mode: BILINEAR", cv2.INTER_LINEAR),
                                                      ("mode: NEAREST", cv2.INTER_NEAREST)])  # fmt: skip
@pytest.mark.parametrize("out", [(10, 14), (13, 4), (3, 9)])
def test_resize_agrees_with_opencv(body, interpolation, out):
    """cv2.resize: INTER_LINEAR samples at half-pixel centres, INTER_NEAREST at floor(o · I / O)."""
    x = randn((1, 3, 5, 7))
    model, _, _ = compile_text(net(x.shape, resize_layer(f"out_h: {out[0]} out_w: {out[1]} {body}")))
    ref = cv2.resize(x[0].transpose(1, 2, 0), (out[1], out[0]), interpolation=interpolation)
    assert rel_error(run_onnx(model, {"data": x})["r"][0], ref.transpose(2, 0, 1)) <= TOL


def test_resize_takes_its_size_from_a_second_bottom():
    text = net(
        (2, 3, 4, 5),
        'layer { name: "big" type: "Input" top: "big" input_param { shape { dim: 2 dim: 1 dim: 11 dim: 9 } } }',
        resize_layer("mode: BILINEAR", "big"),
    )
    model, analysis, _ = compile_text(text)
    assert analysis.info("r").tops == [(2, 3, 11, 9)]
    x = randn((2, 3, 4, 5))
    ours = run_onnx(model, {"data": x, "big": randn((2, 1, 11, 9))})["r"]
    assert rel_error(ours, resize(x, [11, 9], "BILINEAR")) <= TOL


def test_resize_lowering_per_ratio_and_opset():
    """Whole ratios: Resize with scales; NEAREST otherwise: exact Gathers; BILINEAR otherwise: sizes
    of the spatial axes (opset 18 on), or sizes with N and C read from the input (before)."""

    def ops(body: str, opset: int) -> list[str]:
        return [
            n.op_type for n in compile_text(net((1, 2, 5, 7), resize_layer(body)), opset=opset)[0].graph.node
        ]

    assert ops("scale: 2", 13) == ops("scale: 2", 22) == ["Resize"]
    assert ops("out_h: 3 out_w: 7", 22) == ["Gather"]
    assert ops("out_h: 3 out_w: 4", 22) == ["Gather", "Gather"]
    assert ops("out_h: 3 out_w: 4 mode: BILINEAR", 22) == ["Resize"]
    assert ops("out_h: 3 out_w: 4 mode: BILINEAR", 13) == ["Shape", "Slice", "Concat", "Resize"]


def test_resize_and_unpooling_receptive_fields_shrink_the_jump():
    text = net(
        (1, 2, 16, 16),
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 '
        "kernel_size: 3 stride: 2 } }",
        'layer { name: "r" type: "Resize" bottom: "c" top: "r" resize_param { scale: 2 mode: BILINEAR } }',
        'layer { name: "n" type: "Resize" bottom: "c" top: "n" resize_param { scale: 2 } }',
    )
    analysis, _ = analyse(text)
    assert analysis.info("c").receptive == [(3.0, 2.0)] * 2
    # NEAREST reads one input cell: the field stays and the jump halves; BILINEAR reads one more cell
    assert analysis.info("n").receptive == [(3.0, 1.0)] * 2
    assert analysis.info("r").receptive == [(5.0, 1.0)] * 2


# ---------------------------------------------------------------------------------------------
# L2 pooling


def l2_pool(x: np.ndarray, kernel, stride, pad, out) -> np.ndarray:
    """sqrt(Σ x²) over each window clipped to the input: the padding and the overhang add zeros."""
    n, c, h, w = x.shape
    y = np.zeros((n, c, *out))
    for i in range(out[0]):
        for j in range(out[1]):
            hs, ws = i * stride[0] - pad[0], j * stride[1] - pad[1]
            window = x[:, :, max(hs, 0) : min(hs + kernel[0], h), max(ws, 0) : min(ws + kernel[1], w)]
            y[:, :, i, j] = np.sqrt((window.astype(np.float64) ** 2).sum(axis=(2, 3)))
    return y


# fmt: off
L2_CASES = [
    # (id, H, W, pooling_param body, kernel, stride, pad, Caffe's output size)
    ("tiles", 8, 8, "kernel_size: 2 stride: 2", (2, 2), (2, 2), (0, 0), (4, 4)),
    ("ceil_overhang", 14, 13, "kernel_size: 3 stride: 2", (3, 3), (2, 2), (0, 0), (7, 6)),
    ("pad_and_overhang", 6, 6, "kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), (4, 4)),
    ("clipped_last_window", 7, 7, "kernel_size: 2 stride: 2 pad: 1", (2, 2), (2, 2), (1, 1), (4, 4)),
    ("non_square", 9, 14, "kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 3 pad_h: 1 pad_w: 1", (3, 2), (2, 3),
     (1, 1), (5, 5)),
    ("global", 7, 5, "global_pooling: true", (7, 5), (1, 1), (0, 0), (1, 1)),
]
# fmt: on


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("h", "w", "body", "kernel", "stride", "pad", "out"), [c[1:] for c in L2_CASES],
                         ids=[c[0] for c in L2_CASES])  # fmt: skip
def test_l2_pooling_is_the_norm_of_each_caffe_window(h, w, body, kernel, stride, pad, out, opset):
    text = net(
        (2, 3, h, w),
        f'layer {{ name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param {{ pool: L2 {body} }} }}',
    )
    model, analysis, _ = compile_text(text, opset=opset, dynamic_batch=True)
    assert analysis.info("p").tops == [(2, 3, *out)]
    assert [n.op_type for n in model.graph.node] == ["LpPool"]
    for batch in (2, 3):
        x = randn((batch, 3, h, w))
        assert rel_error(run_onnx(model, {"data": x})["p"], l2_pool(x, kernel, stride, pad, out)) <= TOL
    static, _, _ = compile_text(text, opset=opset)
    check_shapes_match_onnx(static)


def test_l2_pooling_writes_no_mask():
    text = net(
        D4,
        'layer { name: "p" type: "Pooling" bottom: "data" top: "p" top: "mask" '
        "pooling_param { pool: L2 kernel_size: 2 stride: 2 } }",
    )
    (error,) = check("t.prototxt", content=text).diagnostics.errors
    assert error.code == "NS0335" and error.message.endswith("this layer pools L2")


# ---------------------------------------------------------------------------------------------
# diagnostics

D4 = (2, 3, 8, 8)
# fmt: off
# (id, text, code, token the caret points at, words of the message and help)
CATALOGUE = [
    ("causal_with_time_pad", net((1, 2, 9), causal_layer(3, 1, "pad: 1 ")), "NS0390", "1 }",
     ["causal pads the time axis (the last spatial axis) by (k − 1)·d = 2 before and 0 after, but pad gives "
      "it 1 as well", "drop the time axis's pad"]),
    ("causal_with_pad_w", net(D4, 'layer { name: "y" type: "Convolution" bottom: "data" top: "y" '
     "convolution_param { num_output: 2 kernel_size: 2 pad_w: 1 causal: true } }"), "NS0390", "1 causal",
     ["but pad_w gives it 1 as well", "pad_h, or one pad per axis ending in 0"]),
    ("causal_with_stride", net((1, 2, 9), causal_layer(2, 1, "stride: 2 ")), "NS0390", "2 }",
     ["causal takes stride 1 along the time axis (the last spatial axis), got 2"]),
    ("causal_deconvolution", net((1, 2, 9), 'layer { name: "y" type: "Deconvolution" bottom: "data" top: "y" '
     "convolution_param { num_output: 2 kernel_size: 2 causal: true } }"), "NS0390", "true",
     ["causal padding is for Convolution", "use a Convolution"]),
    ("unpool_mask_shape", net(D4, POOL, 'layer { name: "p2" type: "Pooling" bottom: "data" top: "p2" '
     "pooling_param { pool: MAX kernel_size: 3 stride: 3 } }", unpool_layer("pool", "p2")), "NS0391",
     '"p2" top: "up"', ["the mask is 2x3x3x3 but the values are 2x3x4x4: each value needs its argmax",
                        "second top (the mask) of the MAX Pooling"]),
    ("unpool_out_h_alone", net(D4, POOL, unpool_layer("pool", "mask", body="out_h: 7")), "NS0392", "7 }",
     ["out_h is given without out_w"]),
    ("unpool_size_twice", net(D4, POOL, unpool_layer("pool", "mask", "data", body="out_w: 7")), "NS0392", "7 }",
     ["the output size is given twice: by bottom 2 and by out_h/out_w"]),
    ("unpool_smaller_output", net(D4, POOL, unpool_layer("pool", "mask", body="out_h: 3 out_w: 8")), "NS0392",
     "3 out_w", ["the output 3x8 is smaller than the 4x4 input"]),
    ("unpool_zero_scale", net(D4, POOL, unpool_layer("pool", "mask", body="scale: 0")), "NS0392", "0 }",
     ["scale must be at least 1, got 0"]),
    ("unpool_three_d", net((2, 3, 8), 'layer { name: "v" type: "Input" top: "v" input_param { shape { dim: 2 '
     'dim: 3 dim: 8 } } }', unpool_layer("data", "v")), "NS0396", '"data" bottom: "v"',
     ["Unpooling takes a 4-D (N, C, H, W) bottom 0, got 3-D (2x3x8)"]),
    ("maxout_no_group", net(D4, 'layer { name: "m" type: "Maxout" bottom: "data" top: "m" }'), "NS0393",
     'layer { name: "m"', ["the group size is not given", "group_size: K"]),
    ("maxout_both", net(D4, 'layer { name: "m" type: "Maxout" bottom: "data" top: "m" maxout_param { '
     "num_output: 1 group_size: 3 } }"), "NS0393", "3 }", ["give num_output or group_size, not both"]),
    ("maxout_indivisible", net((2, 10, 4, 4), 'layer { name: "m" type: "Maxout" bottom: "data" top: "m" '
     "maxout_param { group_size: 3 } }"), "NS0393", "3 }",
     ["10 channels do not divide into groups of 3", "use a group_size that divides 10: 2, 5, 10"]),
    ("maxout_num_output_indivisible", net((2, 10, 4, 4), 'layer { name: "m" type: "Maxout" bottom: "data" '
     'top: "m" maxout_param { num_output: 3 } }'), "NS0393", "3 }", ["10 channels do not divide into 3 outputs"]),
    ("resize_no_size", net(D4, resize_layer("mode: NEAREST")), "NS0394", "resize_param",
     ["the output size is not given", "resize_param { scale: 2 }"]),
    ("resize_two_ways", net(D4, resize_layer("scale: 2 out_h: 4 out_w: 4")), "NS0394", "resize_param",
     ["the output size is given 2 ways (out_h/out_w and scale)"]),
    ("resize_out_w_alone", net(D4, resize_layer("out_w: 4")), "NS0394", "4 }",
     ["out_h and out_w size the two axes of a 4-D input together; got out_w alone"]),
    ("resize_out_h_on_3d", net((2, 3, 8), resize_layer("out_h: 4 out_w: 4")), "NS0394", "4 out_w",
     ["out_h/out_w size 4-D inputs; this one has 1 spatial axes"]),
    ("resize_scale_count", net(D4, resize_layer("scale: 2 scale: 2 scale: 2")), "NS0394", "2 scale",
     ["scale has 3 values but the input has 2 spatial axes"]),
    ("resize_negative_scale", net(D4, resize_layer("scale: -2")), "NS0394", "-2",
     ["scale must be positive, got -2"]),
    ("resize_empty_output", net(D4, resize_layer("scale: 0.1")), "NS0394", "0.1",
     ["the output size 0x0 of the 8x8 input is empty"]),
    ("resize_align_corners_nearest", net(D4, resize_layer("scale: 2 align_corners: true")), "NS0395", "true",
     ["align_corners applies to BILINEAR"]),
    ("resize_bilinear_3d", net((2, 3, 8), resize_layer("scale: 2 mode: BILINEAR")), "NS0396", '"data" top',
     ["Resize takes a 4-D (N, C, H, W) BILINEAR bottom 0, got 3-D (2x3x8)"]),
    ("resize_reference_rank", net(D4, 'layer { name: "v" type: "Input" top: "v" input_param { shape { dim: 2 '
     "dim: 3 dim: 8 } } }", resize_layer("mode: NEAREST", "v")), "NS0396", '"v" top: "r"',
     ["Resize takes a 4-D (as bottom 0) bottom 1, got 3-D (2x3x8)"]),
]
# fmt: on


@pytest.mark.parametrize(("text", "code", "token", "words"), [c[1:] for c in CATALOGUE],
                         ids=[c[0] for c in CATALOGUE])  # fmt: skip
def test_extension_diagnostics_catalogue(text, code, token, words):
    diagnostics = [d for d in check("t.prototxt", content=text).diagnostics if d.severity == Severity.ERROR]
    assert [d.code for d in diagnostics] == [code], [(d.code, d.message) for d in diagnostics]
    (diagnostic,) = diagnostics
    assert (diagnostic.span.line, diagnostic.span.column) == position(text, token)
    for word in words:
        assert word in diagnostic.message + " " + (diagnostic.help or "")


# ---------------------------------------------------------------------------------------------
# plain Caffe stays plain


EXTENSION_TYPES = {name for name, kind in REGISTRY.items() if kind.dialect == "netspec"}


def extension_fields(message) -> set[str]:
    """The names of the fields and enum values of netspec's range (10000–10999) set in `message`."""
    found = set()
    for field, value in message.ListFields():
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        if field.number >= 10000:
            found.add(field.name)
        for item in value if repeated else [value]:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                found |= extension_fields(item)
            elif field.type == FieldDescriptor.TYPE_ENUM and item >= 10000:
                found.add(field.enum_type.values_by_number[item].name)
    return found


def extensions_used(net) -> set[str]:
    """netspec's layer types and extension fields in a NetParameter: empty for plain Caffe."""
    return {x.type for x in net.layer if x.type in EXTENSION_TYPES} | extension_fields(net)


def test_extensions_used_finds_each_kind_of_extension():
    assert {"Unpooling", "Maxout", "Resize"} == EXTENSION_TYPES
    assert extensions_used(compile_text(net((1, 2, 9), causal_layer(2, 1)))[1].net.param) == {"causal"}
    assert extensions_used(compile_text(net((2, 3, 8, 8), resize_layer("scale: 2")))[1].net.param) == {
        "Resize",
        "resize_param",
    }


def test_zoo_specs_without_extensions_are_plain_caffe():
    """A spec that uses no extension writes no netspec layer type and no field or enum value of
    netspec's range, so BVLC Caffe reads it; one that uses some names them in ENTRIES."""
    for name in zoo.names():
        used = extensions_used(generate.build(name).to_proto())
        assert used == set(zoo.ENTRIES[name].get("extensions", ())), name


@needs_caffe
@pytest.mark.parametrize(("name", "output"), [("deepbind", "score"), ("dilated_context", "ctx_final")])
def test_bvlc_caffe_runs_a_plain_zoo_spec_as_netspec_does(name, output):
    """Real BVLC Caffe reads the builder's file of a spec that uses no extension, and computes what
    netspec's ONNX model computes with the same weights."""
    text = generate.render(name)
    model, analysis, _ = compile_text(text)
    weights = random_weights(analysis)
    x = randn(zoo.ENTRIES[name]["input"])
    ref = run_caffe(text, weights, {"data": x}, [output])[output]
    assert rel_error(run_onnx(model, {"data": x})[output], ref) <= TOL
