"""The OCR forks' layer types: Lstm, Transpose, Reverse, ReverseTime, DenseBlock, CTCGreedyDecoder.
OpenCV knows none of them, so each is held against its fork's Forward_cpu transcribed into numpy,
loop for loop (senlinuc/caffe_ocr: lstm_layer_Junhyuk.cpp, transpose_layer.cpp, reverse_layer.cpp,
reverse_time_layer.cpp, DenseBlock_layer.cpp, ctc_decoder_layer.cpp; junhyukoh/caffe-lstm's
lstm_layer.cpp is the same forward), DenseBlock also against OpenCV running it written in BVLC
layers, and small CRNN- and DenseNet-like nets written here check, compile and run through them."""

from __future__ import annotations

import numpy as np
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

from netspec.diagnostics import Diagnostics
from netspec.lower import Options, lower
from netspec.pipeline import check


def sigmoid(x):
    return np.float32(1) / (np.float32(1) + np.exp(-x))


def fork_lstm(x, clip, w_x, w_h, b, streams, *, gpu_rows=True):
    """LstmLayer::Forward_cpu on x (T·N, I) as rows t·N + n.  The fork's CPU path adds row 0 of
    h_to_gate to every stream (gpu_rows=False); its GPU path each stream's own row."""
    hidden = w_h.shape[1]
    steps = x.shape[0] // streams
    pre_gate = (x @ w_x.T + b).reshape(steps, streams, 4 * hidden)
    h_prev = np.zeros((streams, hidden), np.float32)
    c_prev = np.zeros((streams, hidden), np.float32)
    top = np.zeros((steps, streams, hidden), np.float32)
    for t in range(steps):
        h_to_gate = h_prev @ w_h.T
        c_t = np.zeros_like(c_prev)
        for n in range(streams):
            cont = bool(clip[t + n]) if clip is not None else t > 0
            pre = pre_gate[t, n] + (h_to_gate[n if gpu_rows else 0] if cont else 0)
            i, f, o, g = (pre[k * hidden : (k + 1) * hidden] for k in range(4))
            f = sigmoid(f) if cont else np.float32(0)
            c_t[n] = f * c_prev[n] + sigmoid(i) * np.tanh(g)
            top[t, n] = sigmoid(o) * np.tanh(c_t[n])
        h_prev, c_prev = top[t], c_t
    return top


def net(inputs: dict[str, tuple[int, ...]], layers: str) -> str:
    head = "".join(
        f'input: "{k}" input_shape {{ {" ".join(f"dim: {d}" for d in v)} }}\n' for k, v in inputs.items()
    )
    return 'name: "t"\n' + head + layers


def lstm_layer(bottoms=("x",), params="num_output: 5", top="h") -> str:
    bottom = " ".join(f'bottom: "{b}"' for b in bottoms)
    return f'layer {{ name: "lstm" type: "Lstm" {bottom} top: "{top}" lstm_param {{ {params} }} }}\n'


def scaled(weights: dict) -> dict:
    """The LSTM's weights at the scale of a trained one (gates past the sigmoid's linear part)."""
    return {k: [w * 2 for w in v] if k == "lstm" else v for k, v in weights.items()}


CASES = [  # (inputs, bottoms, params, top shape, streams, clip values)
    ({"x": (7, 1, 4)}, ("x",), "num_output: 5", (7, 1, 5), 1, None),  # caffe_ocr's layout
    ({"x": (6, 1, 3), "clip": (6, 1)}, ("x", "clip"), "num_output: 5", (6, 1, 5), 1, [0, 1, 1, 0, 1, 1]),
    ({"x": (8, 1), "clip": (8, 1)}, ("x", "clip"), "num_output: 7 clipping_threshold: 0.1", (8, 7), 1,
     [0, 1, 1, 1, 0, 1, 1, 1]),  # junhyukoh's sequence example, 2-D
    ({"x": (6, 2, 3)}, ("x",), "num_output: 4 batch_size: 2", (6, 4), 2, None),  # 3 steps of 2 streams
    ({"x": (8, 2, 1, 2), "clip": (8,)}, ("x", "clip"), "num_output: 3 batch_size: 2", (8, 3), 2,
     [0, 1, 1, 0, 1, 1, 1, 1]),
    ({"x": (5, 3, 2)}, ("x",), "num_output: 4", (5, 3, 4), 3, None),  # caffe_ocr, 3 streams
]  # fmt: skip


@pytest.mark.parametrize("inputs, bottoms, params, shape, streams, clip", CASES)
def test_lstm_matches_the_forks_forward(inputs, bottoms, params, shape, streams, clip):
    text = net(inputs, lstm_layer(bottoms, params))
    model, analysis, _ = compile_text(text)
    weights = scaled(random_weights(analysis))
    model, _, _ = compile_text(text, weights)
    feeds = random_inputs(analysis)
    if clip is not None:
        feeds["clip"] = np.asarray(clip, np.float32).reshape(inputs["clip"])
    ours = run_onnx(model, feeds)["h"]
    assert ours.shape == shape == tuple(analysis.info("lstm").tops[0])
    x = feeds["x"].reshape(inputs["x"][0] * (streams if len(shape) == 3 else 1), -1)  # rows t·N + n
    ref = fork_lstm(x, None if clip is None else feeds["clip"].reshape(-1), *weights["lstm"], streams)
    assert rel_error(ours, ref.reshape(shape)) < 1e-5


def test_lstm_blobs_are_input_hidden_and_bias_weights_in_gate_rows():
    analysis = check("t", content=net({"x": (7, 2, 6)}, lstm_layer(params="num_output: 5"))).analysis
    weights = random_weights(analysis)["lstm"]
    assert [w.shape for w in weights] == [(20, 6), (20, 5), (20,)]


def test_lstm_with_several_streams_follows_the_gpu_path_and_says_so():
    text = net({"x": (4, 2, 3)}, lstm_layer(params="num_output: 3"))
    found = diagnostic(text, "NS0601")
    assert "stream 0's recurrent input" in found.message
    model, analysis, _ = compile_text(text)
    weights = scaled(random_weights(analysis))
    model, _, _ = compile_text(text, weights)
    feeds = random_inputs(analysis)
    ours = run_onnx(model, feeds)["h"]
    x = feeds["x"].reshape(8, 3)
    cpu = fork_lstm(x, None, *weights["lstm"], 2, gpu_rows=False)
    assert rel_error(ours, fork_lstm(x, None, *weights["lstm"], 2)) < 1e-5
    assert rel_error(ours, cpu) > 1e-3  # the CPU path's shared row differs: the warning is not idle


def fork_transpose(x, dims):
    """transpose_cpu: bottom index -> its coordinates -> top index by top counts and map = dims."""
    top_shape = [x.shape[d] for d in dims]
    bottom_counts = [int(np.prod(x.shape[i + 1 :])) for i in range(x.ndim)]
    top_counts = [int(np.prod(top_shape[i + 1 :])) for i in range(x.ndim)]
    flat, out = x.reshape(-1), np.zeros(x.size, x.dtype)
    for index in range(x.size):
        rest, coords = index, []
        for c in bottom_counts:
            coords.append(rest // c)
            rest %= c
        out[sum(coords[dims[i]] * top_counts[i] for i in range(x.ndim))] = flat[index]
    return out.reshape(top_shape)


@pytest.mark.parametrize("dims", [(3, 2, 0, 1), (0, 2, 1), (1, 0), (2, 0, 3, 1)])
def test_transpose_matches_the_forks_index_arithmetic(dims):
    shape = {4: (2, 3, 4, 5), 3: (3, 4, 5), 2: (4, 5)}[len(dims)]
    text = net({"x": shape}, 'layer { name: "tr" type: "Transpose" bottom: "x" top: "y" transpose_param { '
               + " ".join(f"dim: {d}" for d in dims) + " } }\n")  # fmt: skip
    model, analysis, _ = compile_text(text)
    feeds = random_inputs(analysis)
    assert np.array_equal(run_onnx(model, feeds)["y"], fork_transpose(feeds["x"], dims))


def fork_reverse(x, axis):
    """ReverseLayer::Forward_cpu: num_fix blocks of sub_iter_max slices of copy_amount values,
    each block written from its end backwards."""
    copy = int(np.prod(x.shape[axis + 1 :]))
    steps, fix = x.shape[axis], int(np.prod(x.shape[:axis]))
    src, out = x.reshape(-1), np.zeros(x.size, x.dtype)
    at = 0
    for f in range(fix):
        target = (f + 1) * copy * steps - copy
        for _ in range(steps):
            out[target : target + copy] = src[at : at + copy]
            at += copy
            target -= copy
    return out.reshape(x.shape)


@pytest.mark.parametrize(
    "shape, axis", [((6, 2, 3), 0), ((6, 2, 3), 1), ((6, 2, 3), 2), ((5,), 0), ((2, 3, 4, 5), 2)]
)
def test_reverse_matches_the_forks_copy_loop(shape, axis):
    text = net(
        {"x": shape},
        f'layer {{ name: "r" type: "Reverse" bottom: "x" top: "y" reverse_param {{ axis: {axis} }} }}\n',
    )
    model, analysis, _ = compile_text(text)
    feeds = random_inputs(analysis)
    assert np.array_equal(run_onnx(model, feeds)["y"], fork_reverse(feeds["x"], axis))


def fork_reverse_time(x, lengths, copy_remaining):
    """ReverseTimeLayer::Forward_cpu into a fresh blob (zeros, as Caffe's SyncedMemory gives it): per
    stream n, sub_seq_length slices copied from the front to the back, then, with copy_remaining,
    the rest copied in order."""
    copy = int(np.prod(x.shape[1:]))
    steps, streams = x.shape[:2]
    sub = copy // streams
    src, out = x.reshape(-1), np.zeros(x.size, x.dtype)
    for n in range(streams):
        length = int(lengths[n])
        at, target = n * sub, copy * length - copy + n * sub
        for _ in range(length):
            out[target : target + sub] = src[at : at + sub]
            at += copy
            target -= copy
        if copy_remaining:
            target = length * copy + n * sub
            for _ in range(length, steps):
                out[target : target + sub] = src[at : at + sub]
                at += copy
                target += copy
    return out.reshape(x.shape)


def reverse_time(params: str = "", top: str = "y") -> str:
    return (
        f'layer {{ name: "rt" type: "ReverseTime" bottom: "x" bottom: "len" top: "{top}" '
        f"reverse_time_param {{ {params} }} }}\n"
    )


@pytest.mark.parametrize("copy_remaining", [True, False])
@pytest.mark.parametrize(
    "shape, lengths",
    [((6, 4), [6, 0, 3, 1]), ((5, 3, 2), [2.9, 5, 4]), ((4, 2, 3, 2), [4, 2])],
)
def test_reverse_time_matches_the_forks_copy_loop(shape, lengths, copy_remaining):
    text = net(
        {"x": shape, "len": (shape[1],)}, reverse_time(f"copy_remaining: {str(copy_remaining).lower()}")
    )
    model, analysis, diagnostics = compile_text(text)
    assert [d.code for d in diagnostics if d.code == "NS0608"] == ([] if copy_remaining else ["NS0608"])
    x = random_inputs(analysis)["x"]
    lengths = np.asarray(lengths, np.float32)
    ours = run_onnx(model, {"x": x, "len": lengths})["y"]
    assert np.array_equal(ours, fork_reverse_time(x, lengths, copy_remaining))
    assert not np.array_equal(ours, x)


def fork_dense_block(x, blobs, transitions, bc):
    """DenseBlockLayer::Forward_cpu at TEST (caffe_ocr's DenseBlock_layer.cpp): per transition
    BN_inf_Fwd (statistics times 1 / the last blob, 0 when it is 0), ReLU_Fwd, with use_BC
    convolution_Fwd 1 x 1, BN_inf_Fwd and ReLU_Fwd again, convolution_Fwd 3 x 3 (out[h, w] +=
    filter[fx, fy] * in[h + 1 − fx, w + 1 − fy], zero outside: the kernel flipped), mergeChannelData.
    The taps are looped over as the fork's filter_x, filter_y loops; the sums over them vectorised."""
    f32 = np.float32
    factor = blobs[-1][0]
    scale_factor = f32(0) if factor == 0 else f32(1 / factor)

    def bn_relu(y, scaler, bias, mean, var):
        mean, var = (mean * scale_factor).reshape(1, -1, 1, 1), (var * scale_factor).reshape(1, -1, 1, 1)
        denom = (1.0 / np.sqrt(var.astype(np.float64) + 1e-5)).astype(f32)
        out = scaler.reshape(1, -1, 1, 1) * (denom * (y - mean)) + bias.reshape(1, -1, 1, 1)
        return np.where(out >= 0, out, f32(0))

    def convolve(y, filt):
        kh, kw = filt.shape[2:]
        padded = np.pad(y, ((0, 0), (0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
        h, w = y.shape[2:]
        out = np.zeros((y.shape[0], filt.shape[0], h, w), f32)
        for fx in range(kh):
            for fy in range(kw):  # in[h + kh // 2 − fx] is padded[h + 2·(kh // 2) − fx]
                window = padded[:, :, 2 * (kh // 2) - fx :, 2 * (kw // 2) - fy :][:, :, :h, :w]
                out += np.einsum("oc,nchw->nohw", filt[:, :, fx, fy], window)
        return out

    t_ = transitions
    merged = x
    for t in range(transitions):
        y = bn_relu(merged, *(blobs[k * t_ + t] for k in range(1, 5)))
        if bc:
            y = bn_relu(convolve(y, blobs[5 * t_ + t]), *(blobs[k * t_ + t] for k in range(6, 10)))
        merged = np.concatenate([merged, convolve(y, blobs[t])], axis=1)
    return merged


def dense_block(params: str, bottom: str = "x", top: str = "y", name: str = "db") -> str:
    return (
        f'layer {{ name: "{name}" type: "DenseBlock" bottom: "{bottom}" top: "{top}" '
        f"denseblock_param {{ {params} }} }}\n"
    )


@pytest.mark.parametrize("bc", [False, True])
def test_dense_block_matches_the_forks_forward(bc):
    text = net({"x": (2, 3, 5, 6)}, dense_block(f"numTransition: 3 growthRate: 2 use_BC: {str(bc).lower()}"))
    analysis, _ = analyse(text)
    assert analysis.info("db").tops == [(2, 3 + 3 * 2, 5, 6)]
    specs = analysis.info("db").weights
    assert len(specs) == (10 if bc else 5) * 3 + 1
    assert specs[0].shape == ((2, 8, 3, 3) if bc else (2, 3, 3, 3)) and specs[2].shape[1] == (8 if bc else 7)
    weights = random_weights(analysis)
    weights["db"][-1] = np.ones(1, np.float32)  # the scale factor: 1 makes the fork's two paths agree
    model, _, _ = compile_text(text, weights)
    x = random_inputs(analysis)["x"]
    ours = run_onnx(model, {"x": x})["y"]
    assert rel_error(ours, fork_dense_block(x, weights["db"], 3, bc)) < 1e-5
    assert np.array_equal(ours[:, :3], x)  # the input channels pass through


def dense_block_in_bvlc_layers(shape, transitions: int, growth: int, bc: bool, blobs) -> tuple[str, dict]:
    """The same block written with BVLC layers (BatchNorm, Scale, ReLU, Convolution, Concat), and its
    weights taken from the DenseBlock's blobs (each 3 x 3 filter flipped: Convolution correlates)."""
    layers, weights, x = [], {}, "x"
    t_ = transitions

    def norm(name: str, bottom: str, k: int) -> str:  # blobs k..k+3: scale, bias, mean, variance
        scale, bias, mean, var = (blobs[(k + j) * t_ + t].reshape(-1) for j in range(4))
        layers.append(f'layer {{ name: "{name}" type: "BatchNorm" bottom: "{bottom}" top: "{name}" }}')
        layers.append(f'layer {{ name: "{name}_s" type: "Scale" bottom: "{name}" top: "{name}" '
                      "scale_param { bias_term: true } }")  # fmt: skip
        layers.append(f'layer {{ name: "{name}_r" type: "ReLU" bottom: "{name}" top: "{name}" }}')
        weights[name] = [mean, var, np.ones(1, np.float32)]
        weights[f"{name}_s"] = [scale, bias]
        return name

    def conv(name: str, bottom: str, filt) -> str:
        k = filt.shape[2]
        layers.append(f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
                      f"convolution_param {{ num_output: {filt.shape[0]} kernel_size: {k} pad: {k // 2} "
                      "bias_term: false } }")  # fmt: skip
        weights[name] = [np.ascontiguousarray(filt[:, :, ::-1, ::-1])]
        return name

    for t in range(transitions):
        y = norm(f"bn{t}", x, 1)
        if bc:
            y = norm(f"bnbc{t}", conv(f"bc{t}", y, blobs[5 * t_ + t]), 6)
        y = conv(f"conv{t}", y, blobs[t])
        layers.append(f'layer {{ name: "cat{t}" type: "Concat" bottom: "{x}" bottom: "{y}" top: "cat{t}" }}')
        x = f"cat{t}"
    return net({"x": shape}, "\n".join(layers) + "\n"), weights


@pytest.mark.parametrize("bc", [False, True])
def test_dense_block_equals_its_bvlc_layers_in_opencv_and_costs_what_they_do(bc):
    shape = (2, 5, 6, 7)
    text = net({"x": shape}, dense_block(f"numTransition: 3 growthRate: 4 use_BC: {str(bc).lower()}"))
    model, analysis, _ = compile_text(text)
    blobs = random_weights(analysis)["db"]
    expanded, weights = dense_block_in_bvlc_layers(shape, 3, 4, bc, blobs)
    x = random_inputs(analysis)["x"]
    ours = run_onnx(model, {"x": x})["y"]  # compile_text's weights are random_weights(analysis)
    theirs = run_opencv(expanded, weights, {"x": x}, ["cat2"])["cat2"]
    assert rel_error(ours, theirs) < 1e-5
    bvlc, _ = analyse(expanded)
    assert analysis.info("db").macs == sum(i.macs for i in bvlc.layers if i.layer.type == "Convolution") > 0


def test_dense_block_uses_the_stored_statistics_as_the_forks_gpu_path_does():
    # The CPU path divides the statistics by the last blob, which GPU training leaves 0 (and the CPU
    # path then reads statistics of 0); cuDNN's inference takes them as they are.
    text = net({"x": (1, 4, 4, 4)}, dense_block("numTransition: 2 growthRate: 3"))
    analysis, _ = analyse(text)
    weights = random_weights(analysis)
    x = random_inputs(analysis)["x"]
    expected = fork_dense_block(x, [*weights["db"][:-1], np.ones(1, np.float32)], 2, False)
    for factor in (0.0, 7.0):
        weights["db"][-1] = np.array([factor], np.float32)
        ours = run_onnx(compile_text(text, weights)[0], {"x": x})["y"]
        assert rel_error(ours, expected) < 1e-5
        assert rel_error(ours, fork_dense_block(x, weights["db"], 2, False)) > 1e-2


def fork_greedy_decode(scores, blank, merge):
    """CTCGreedyDecoderLayer::Decode and Forward_cpu: rows of −1, then each stream's labels."""
    steps, streams, classes = scores.shape
    blank = classes - 1 if blank < 0 else blank
    out = np.full((streams, steps), -1, np.float32)
    for n in range(streams):
        previous, labels = -1, []
        for t in range(steps):
            best, best_score = 0, scores[t, n, 0]
            for c in range(1, classes):
                if scores[t, n, c] > best_score:
                    best, best_score = c, scores[t, n, c]
            if best != blank and not (merge and best == previous):
                labels.append(best)
            previous = best
        out[n, : len(labels)] = labels
    return out.reshape(streams, steps, 1, 1)


def path_scores(paths: list[list[int]], classes: int, seed: int = 0) -> np.ndarray:
    """(T, N, C) scores whose best class at step t of stream n is paths[n][t]."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((len(paths[0]), len(paths), classes)).astype(np.float32)
    for n, path in enumerate(paths):
        for t, k in enumerate(path):
            scores[t, n, k] = scores[t, n].max() + 1
    return scores


PATHS = [[0, 3, 3, 0, 3, 2, 2, 2, 0, 1, 4, 4], [4, 4, 4, 1, 1, 0, 0, 2, 3, 3, 0, 0], [0] * 12]


@pytest.mark.parametrize("params, blank, merge", [
    ("", 0, True), ("blank_index: -1", -1, True), ("blank_index: 3 ctc_merge_repeated: false", 3, False),
    ("ctc_merge_repeated: false", 0, False),
])  # fmt: skip
def test_greedy_decoder_matches_the_forks_decode(params, blank, merge):
    text = net({"s": (12, 3, 5)},
               f'layer {{ name: "d" type: "CTCGreedyDecoder" bottom: "s" top: "d" ctc_decoder_param {{ {params} }} }}\n')  # fmt: skip
    model, _, _ = compile_text(text)
    for scores in (
        path_scores(PATHS, 5),
        np.random.default_rng(1).standard_normal((12, 3, 5)).astype(np.float32),
    ):
        ours = run_onnx(model, {"s": scores})["d"]
        assert np.array_equal(ours, fork_greedy_decode(scores, blank, merge))


def test_greedy_decoder_collapses_repeats_and_drops_blanks():
    text = net({"s": (12, 3, 5)}, 'layer { name: "d" type: "CTCGreedyDecoder" bottom: "s" top: "d" }\n')
    model, _, _ = compile_text(text)
    rows = run_onnx(model, {"s": path_scores(PATHS, 5)})["d"].reshape(3, 12)
    assert rows[0, :6].tolist() == [3, 3, 2, 1, 4, -1]
    assert rows[1, :5].tolist() == [4, 1, 2, 3, -1]
    assert (rows[2] == -1).all()


def test_greedy_decoder_accuracy_form_is_checked_not_compiled():
    text = net({"s": (12, 3, 5), "label": (3, 8)},
               'layer { name: "d" type: "CTCGreedyDecoder" bottom: "s" bottom: "label" top: "acc" }\n')  # fmt: skip
    analysis, _ = analyse(text)
    assert tuple(analysis.info("d").tops[0]) == (1, 2, 1, 1)
    diagnostics = Diagnostics()
    assert lower(analysis, random_weights(analysis), diagnostics, Options()) is None
    assert [d.code for d in diagnostics if d.code == "NS0402"] == ["NS0402"]


X = 'input: "x" input_shape { dim: 6 dim: 1 dim: 4 }\n'
BROKEN = [  # (code, text, token the diagnostic points at)
    ("NS0600", X + lstm_layer(params=""), "lstm_param"),
    ("NS0600", X + lstm_layer(params="num_output: 3 batch_size: 4"), "4"),
    ("NS0600", X + 'input: "c" input_shape { dim: 6 dim: 2 }\n' + lstm_layer(("x", "c"), "num_output: 3"), '"c"'),
    ("NS0600", X + 'input: "c" input_shape { dim: 4 }\n' + lstm_layer(("x", "c"), "num_output: 3"), '"c"'),
    ("NS0602", X + 'layer { name: "t" type: "Transpose" bottom: "x" top: "y" transpose_param { dim: 1 dim: 0 } }',
     "transpose_param"),
    ("NS0602", X + 'layer { name: "t" type: "Transpose" bottom: "x" top: "y" transpose_param { dim: 1 dim: 0 dim: 1 } }',
     "1 }"),
    ("NS0602", X + 'layer { name: "t" type: "Transpose" bottom: "x" top: "y" transpose_param { dim: 0 dim: 3 dim: 1 } }',
     "3"),
    ("NS0364", X + 'layer { name: "t" type: "Transpose" bottom: "x" top: "x" transpose_param { dim: 1 dim: 0 dim: 2 } }',
     '"x" transpose_param'),
    ("NS0602", X + 'layer { name: "r" type: "Reverse" bottom: "x" top: "y" reverse_param { axis: 3 } }', "3"),
    ("NS0602", X + 'layer { name: "r" type: "Reverse" bottom: "x" top: "y" reverse_param { axis: -1 } }', "-1"),
    ("NS0364", X + 'layer { name: "r" type: "Reverse" bottom: "x" top: "x" }', '"x" }'),
    ("NS0607", X + 'input: "len" input_shape { dim: 2 }\n' + reverse_time(), '"len" top'),
    ("NS0607", X + 'input: "len" input_shape { dim: 1 dim: 1 }\n' + reverse_time(), '"len" top'),
    ("NS0607", 'input: "x" input_shape { dim: 6 }\ninput: "len" input_shape { dim: 1 }\n' + reverse_time(),
     '"x" bottom'),
    ("NS0364", X + 'input: "len" input_shape { dim: 1 }\n' + reverse_time(top="x"), '"x" reverse_time_param'),
    ("NS0608", X + 'input: "len" input_shape { dim: 1 }\n' + reverse_time(), "reverse_time_param"),
    ("NS0609", X + dense_block("numTransition: 2 growthRate: 2"), '"x" top'),
    ("NS0609", 'input: "x" input_shape { dim: 1 dim: 2 dim: 3 dim: 3 }\n' + dense_block("numTransition: 0"), "0 }"),
    ("NS0609", 'input: "x" input_shape { dim: 1 dim: 2 dim: 3 dim: 3 }\n'
     + dense_block("numTransition: 2").replace('top: "y"', 'top: "y" param { lr_mult: 1 }'), "param {"),
    ("NS0610", 'input: "x" input_shape { dim: 1 dim: 2 dim: 3 dim: 3 }\n' + dense_block("numTransition: 1 filter_H: 5"),
     "5 }"),
    ("NS0603", 'input: "s" input_shape { dim: 6 dim: 4 }\n'
     'layer { name: "d" type: "CTCGreedyDecoder" bottom: "s" top: "d" }', '"s" top'),
    ("NS0603", X + 'layer { name: "d" type: "CTCGreedyDecoder" bottom: "x" top: "d" ctc_decoder_param { blank_index: 4 } }',
     "4"),
    ("NS0603", X + 'input: "l" input_shape { dim: 2 dim: 5 }\n'
     'layer { name: "d" type: "CTCGreedyDecoder" bottom: "x" bottom: "l" top: "d" }', '"l" top'),
]  # fmt: skip


@pytest.mark.parametrize("code, text, token", BROKEN, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BROKEN)])
def test_bad_ocr_layers_are_diagnosed_where_they_are(code, text, token):
    found = diagnostic(text, code)
    assert found.help or code == "NS0603"
    assert (found.span.line, found.span.column) == position(text, token, after=text.index("layer {"))


# A CRNN-like net (after caffe_ocr's resnet/deploy.prototxt, much smaller): convolutions to one row,
# Transpose to (W, N, C, H) and Reshape to (T, N, C·H), a bidirectional LSTM (forward, and
# Reverse + Lstm + Reverse), Concat, InnerProduct over axis 2, CTCGreedyDecoder.
CRNN = """name: "crnn"
input: "data" input_shape { dim: 1 dim: 1 dim: 8 dim: 40 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_h: 4 kernel_w: 1 stride_h: 4 stride_w: 1 } }
layer { name: "tr" type: "Transpose" bottom: "pool1" top: "tr" transpose_param { dim: 3 dim: 0 dim: 1 dim: 2 } }
layer { name: "seq" type: "Reshape" bottom: "tr" top: "seq" reshape_param { shape { dim: -1 } axis: 2 num_axes: 2 } }
layer { name: "lstm1" type: "Lstm" bottom: "seq" top: "lstm1" lstm_param { num_output: 5 } }
layer { name: "rev1" type: "Reverse" bottom: "seq" top: "rseq" reverse_param { axis: 0 } }
layer { name: "rlstm1" type: "Lstm" bottom: "rseq" top: "rlstm1_out" lstm_param { num_output: 5 } }
layer { name: "rev2" type: "Reverse" bottom: "rlstm1_out" top: "rlstm1" reverse_param { axis: 0 } }
layer { name: "blstm" type: "Concat" bottom: "lstm1" bottom: "rlstm1" top: "blstm" concat_param { axis: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "blstm" top: "fc" inner_product_param { num_output: 7 axis: 2 } }
layer { name: "result" type: "CTCGreedyDecoder" bottom: "fc" top: "result" }
"""


def test_crnn_like_net_checks_compiles_and_runs_as_the_forks_compute():
    _, analysis, diagnostics = compile_text(CRNN)
    assert not [d for d in diagnostics if d.code.startswith("NS06")]
    weights = scaled(random_weights(analysis))
    weights["rlstm1"] = [w * 2 for w in weights["rlstm1"]]
    outputs = ("seq", "lstm1", "rlstm1", "fc", "result")
    model, _, _ = compile_text(CRNN, weights, outputs=outputs)
    got = run_onnx(model, random_inputs(analysis))
    assert got["seq"].shape == (20, 1, 6) and got["result"].shape == (1, 20, 1, 1)
    seq = got["seq"].reshape(20, 6)
    assert rel_error(got["lstm1"], fork_lstm(seq, None, *weights["lstm1"], 1).reshape(20, 1, 5)) < 1e-5
    backward = fork_lstm(seq[::-1], None, *weights["rlstm1"], 1)[::-1]
    assert rel_error(got["rlstm1"], backward.reshape(20, 1, 5)) < 1e-5
    fc_w, fc_b = weights["fc"]
    blstm = np.concatenate([got["lstm1"], got["rlstm1"]], axis=2)
    assert rel_error(got["fc"], blstm @ fc_w.T + fc_b) < 1e-5
    assert np.array_equal(got["result"], fork_greedy_decode(got["fc"], 0, True))


# The same net reading sequences of their own length (caffe_ocr's ReverseTime for the backward LSTM).
VARIABLE = (
    CRNN.replace('input: "data" input_shape { dim: 1 dim: 1 dim: 8 dim: 40 }\n',
                 'input: "data" input_shape { dim: 1 dim: 1 dim: 8 dim: 40 }\ninput: "len" input_shape { dim: 1 }\n')
    .replace('type: "Reverse" bottom: "seq" top: "rseq" reverse_param { axis: 0 }',
             'type: "ReverseTime" bottom: "seq" bottom: "len" top: "rseq" reverse_time_param { copy_remaining: true }')
    .replace('type: "Reverse" bottom: "rlstm1_out" top: "rlstm1" reverse_param { axis: 0 }',
             'type: "ReverseTime" bottom: "rlstm1_out" bottom: "len" top: "rlstm1" '
             "reverse_time_param { copy_remaining: true }")
)  # fmt: skip


def test_a_crnn_like_net_with_reverse_time_checks_compiles_and_runs_as_the_fork_computes():
    assert VARIABLE.count('"ReverseTime"') == 2 and '"Reverse"' not in VARIABLE
    _, analysis, diagnostics = compile_text(VARIABLE)
    assert not [d for d in diagnostics if d.code.startswith("NS06")]
    weights = scaled(random_weights(analysis))
    model, _, _ = compile_text(VARIABLE, weights, outputs=("seq", "rlstm1", "result"))
    feeds = random_inputs(analysis)
    feeds["len"] = np.array([14], np.float32)  # the first 14 of 20 columns are the text
    got = run_onnx(model, feeds)
    seq = got["seq"]
    rseq = fork_reverse_time(seq, feeds["len"], True)
    backward = fork_lstm(rseq.reshape(20, 6), None, *weights["rlstm1"], 1).reshape(20, 1, 5)
    assert rel_error(got["rlstm1"], fork_reverse_time(backward, feeds["len"], True)) < 1e-5
    assert got["result"].shape == (1, 20, 1, 1)


# A DenseNet text recogniser's front, after caffe_ocr's densenet-no-blstm deploy file (much smaller):
# a convolution, DenseBlock, BatchNorm + Scale + ReLU, a 1 x 1 convolution and pooling between blocks,
# a DenseBlock with use_BC, global pooling, InnerProduct, Softmax.
DENSENET = """name: "densenet"
input: "data" input_shape { dim: 1 dim: 1 dim: 8 dim: 16 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }
layer { name: "DenseBlock1" type: "DenseBlock" bottom: "conv1" top: "DenseBlock1"
  denseblock_param { numTransition: 3 initChannel: 6 growthRate: 4 Filter_Filler { type: "msra" }
    BN_Scaler_Filler { type: "constant" value: 1 } BN_Bias_Filler { type: "constant" value: 0 } use_dropout: false } }
layer { name: "BatchNorm1" type: "BatchNorm" bottom: "DenseBlock1" top: "BatchNorm1" }
layer { name: "Scale1" type: "Scale" bottom: "BatchNorm1" top: "BatchNorm1" scale_param { bias_term: true } }
layer { name: "ReLU1" type: "ReLU" bottom: "BatchNorm1" top: "BatchNorm1" }
layer { name: "Convolution2" type: "Convolution" bottom: "BatchNorm1" top: "Convolution2"
  convolution_param { num_output: 8 bias_term: false kernel_size: 1 } }
layer { name: "Pooling1" type: "Pooling" bottom: "Convolution2" top: "Pooling1" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "DenseBlock2" type: "DenseBlock" bottom: "Pooling1" top: "DenseBlock2"
  denseblock_param { numTransition: 2 growthRate: 4 use_BC: true } }
layer { name: "pool" type: "Pooling" bottom: "DenseBlock2" top: "pool" pooling_param { pool: AVE global_pooling: true } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc" inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


def test_a_densenet_like_net_checks_compiles_and_runs_as_the_fork_computes():
    _, analysis, diagnostics = compile_text(DENSENET)
    assert not [d for d in diagnostics if d.code.startswith("NS06")]
    assert analysis.info("DenseBlock1").tops == [(1, 6 + 3 * 4, 8, 16)]
    assert analysis.info("DenseBlock2").tops == [(1, 8 + 2 * 4, 4, 8)]
    weights = random_weights(analysis)
    for name in ("DenseBlock1", "DenseBlock2"):
        weights[name][-1] = np.ones(1, np.float32)
    outputs = ("conv1", "DenseBlock1", "Pooling1", "DenseBlock2", "prob")
    model, _, _ = compile_text(DENSENET, weights, outputs=outputs)
    got = run_onnx(model, random_inputs(analysis))
    assert (
        rel_error(got["DenseBlock1"], fork_dense_block(got["conv1"], weights["DenseBlock1"], 3, False)) < 1e-5
    )
    assert (
        rel_error(got["DenseBlock2"], fork_dense_block(got["Pooling1"], weights["DenseBlock2"], 2, True))
        < 1e-5
    )
    assert got["prob"].shape == (1, 5) and abs(got["prob"].sum() - 1) < 1e-5


def test_ocr_fields_have_the_forks_defaults():
    from netspec.proto import caffe_pb2

    lstm, ctc = caffe_pb2.LSTMParameter(), caffe_pb2.CTCDecoderParameter()
    assert (lstm.clipping_threshold, lstm.batch_size, caffe_pb2.ReverseParameter().axis) == (0, 1, 0)
    assert (ctc.blank_index, ctc.ctc_merge_repeated) == (0, True)
