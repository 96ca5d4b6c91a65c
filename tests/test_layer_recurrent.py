"""RNN and LSTM: shapes and weights of Caffe's unrolled nets, the unrolled ONNX lowering against
real Caffe (sequence resets through cont, static input, exposed hidden state), broken specs."""

from __future__ import annotations

import numpy as np
import oracles
import pytest
from oracles import (
    analyse,
    assert_diagnosed,
    check_shapes_match_onnx,
    compile_text,
    needs_caffe,
    random_weights,
    rel_error,
    run_caffe,
    run_onnx,
)

STATES = {"LSTM": ("h0", "c0"), "RNN": ("h0",)}
FINAL = {"LSTM": ("hT", "cT"), "RNN": ("hT",)}


def recurrent(kind: str, x=(3, 2, 4), cont=(3, 2), static=None, expose=False, hidden=5, extra=""):
    """A net: Input (x, cont[, x_static][, initial states]) -> recurrent layer 'rec'.
    Returns (text, {input name: shape}, tops)."""
    feeds = {"x": x, "cont": cont}
    if static:
        feeds["xs"] = static
    if expose:
        feeds.update({name: (1, x[1], hidden) for name in STATES[kind]})
    tops = ["out", *(FINAL[kind] if expose else ())]

    def dims(shape):
        return "shape { " + " ".join(f"dim: {d}" for d in shape) + " }"

    text = (
        'name: "t"\nlayer { name: "in" type: "Input" '
        + " ".join(f'top: "{n}"' for n in feeds)
        + " input_param { "
        + " ".join(dims(s) for s in feeds.values())
        + " } }\n"
        + f'layer {{ name: "rec" type: "{kind}" '
        + " ".join(f'bottom: "{n}"' for n in feeds)
        + " "
        + " ".join(f'top: "{t}"' for t in tops)
        + f" recurrent_param {{ num_output: {hidden} expose_hidden: {str(expose).lower()} }} {extra}}}\n"
    )
    return text, feeds, tops


def feeds_for(shapes: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}
    steps, streams = shapes["cont"]
    cont = np.ones((steps, streams), np.float32)
    cont[0] = 0  # every stream starts a sequence
    cont[steps // 2 + 1 :, 1] = 0  # the second stream starts another one part way
    feeds["cont"] = cont
    return feeds


def test_lstm_shapes_and_weights_follow_caffes_unrolled_net() -> None:
    analysis, _ = analyse(recurrent("LSTM", x=(6, 2, 3, 4), cont=(6, 2), static=(2, 7))[0])
    info = analysis.info("rec")
    assert info.tops == [(6, 2, 5)]
    assert [(w.name, w.shape) for w in info.weights] == [
        ("W_xc", (20, 12)),
        ("b_c", (20,)),
        ("W_xc_static", (20, 7)),
        ("W_hc", (20, 5)),
    ]
    assert info.macs == 6 * 2 * 20 * (12 + 5) + 2 * 20 * 7


def test_rnn_shapes_and_weights_follow_caffes_unrolled_net() -> None:
    analysis, _ = analyse(recurrent("RNN", expose=True)[0])
    info = analysis.info("rec")
    assert info.tops == [(3, 2, 5), (1, 2, 5)]
    assert [(w.name, w.shape) for w in info.weights] == [
        ("W_xh", (5, 4)),
        ("b_h", (5,)),
        ("W_hh", (5, 5)),
        ("W_ho", (5, 5)),
        ("b_o", (5,)),
    ]
    assert info.macs == 3 * 2 * 5 * (4 + 5 + 5)


def test_recurrent_fillers_come_from_recurrent_param() -> None:
    text = recurrent("LSTM")[0].replace(
        "expose_hidden: false",
        'expose_hidden: false weight_filler { type: "uniform" min: -0.1 max: 0.1 } '
        'bias_filler { type: "constant" value: 0.5 }',
    )
    analysis, _ = analyse(text)
    fillers = [w.filler.type for w in analysis.info("rec").weights]
    assert fillers == ["uniform", "constant", "uniform"]


VARIANTS = {
    "plain": {},
    "static_input": {"static": (2, 3, 2), "x": (4, 2, 2, 2), "cont": (4, 2)},
    "exposed_hidden": {"expose": True},
    "static_and_exposed": {"static": (2, 6), "expose": True},
    "one_step": {"x": (1, 3, 4), "cont": (1, 3)},
}


@needs_caffe
@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_unrolled_lowering_matches_caffe(kind: str, variant: dict) -> None:
    text, shapes, tops = recurrent(kind, **variant)
    model, analysis, _ = compile_text(text)
    weights = random_weights(analysis)
    feeds = feeds_for(shapes)
    got = run_onnx(model, feeds)
    ref = run_caffe(text, weights, feeds, tops)  # Caffe refuses weights of any other shape
    for top in tops:
        assert rel_error(got[top], ref[top]) <= 1e-5, top


def test_lstm_reset_by_cont_matches_a_numpy_lstm_unit() -> None:
    """Caffe's LSTMUnit: gates (i, f, o, g) in that order; cont 0 forgets c and zeroes h's input."""
    text, shapes, _ = recurrent("LSTM", x=(4, 2, 3), cont=(4, 2), hidden=3)
    model, analysis, _ = compile_text(text)
    w_x, b, w_h = random_weights(analysis)["rec"]
    feeds = feeds_for(shapes)
    got = run_onnx(model, feeds)["out"]

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    h = c = np.zeros((2, 3))
    ref = []
    for x, cont in zip(feeds["x"], feeds["cont"]):
        gates = x @ w_x.T + b + (cont[:, None] * h) @ w_h.T
        i, f, o, g = np.split(gates, 4, axis=1)
        c = cont[:, None] * sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        ref.append(h)
    assert rel_error(got, np.stack(ref)) <= 1e-5


@pytest.mark.parametrize("opset", [13, 18, 22])
@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_recurrent_lowering_checks_at_every_opset(kind: str, opset: int) -> None:
    text, shapes, tops = recurrent(kind, static=(2, 6), expose=True)
    model, _, _ = compile_text(text, opset=opset)
    check_shapes_match_onnx(model)
    out = run_onnx(model, feeds_for(shapes))
    assert [out[t].shape for t in tops] == [(3, 2, 5)] + [(1, 2, 5)] * (len(tops) - 1)


def test_recurrent_graph_has_no_identity_or_squeeze() -> None:
    model, _, _ = compile_text(recurrent("LSTM", expose=True)[0])
    assert not {"Identity", "Squeeze", "Reshape"} & {n.op_type for n in model.graph.node}


CATALOGUE = [
    (
        "num_output_missing",
        recurrent("LSTM")[0].replace("num_output: 5 ", ""),
        "NS0389",
        "recurrent_param",
        ["num_output is not given"],
    ),
    (
        "cont_wrong_steps",
        recurrent("LSTM", cont=(2, 2))[0],
        "NS0388",
        '"cont" top',
        ["cont 2x2 must be (timesteps, streams) = 3x2"],
    ),
    (
        "cont_three_axes",
        recurrent("RNN", cont=(3, 2, 1))[0],
        "NS0388",
        '"cont" top',
        ["(timesteps, streams)"],
    ),
    (
        "static_wrong_streams",
        recurrent("LSTM", static=(3, 4))[0],
        "NS0388",
        '"xs" top',
        ["static input 3x4 must have the 2 streams"],
    ),
    (
        "exposed_state_wrong_shape",
        recurrent("RNN", expose=True)[0].replace("dim: 1 dim: 2 dim: 5", "dim: 2 dim: 5"),
        "NS0388",
        '"h0" top',
        ["initial h_0 2x5 must be 1x2x5"],
    ),
    (
        "state_bottoms_without_expose_hidden",
        recurrent("LSTM", expose=True)[0].replace("expose_hidden: true", "expose_hidden: false"),
        "NS0387",
        '"c0" top',
        ["2 or 3 bottoms, got 4", "expose_hidden: true"],
    ),
    (
        "final_state_tops_without_expose_hidden",
        recurrent("RNN")[0].replace('top: "out"', 'top: "out" top: "hT"'),
        "NS0387",
        '"hT"',
        ["writes 1 top, got 2"],
    ),
    ("x_one_axis", recurrent("LSTM", x=(3,), cont=(3, 2))[0], "NS0370", '"x" bottom', ["at least 2 axes"]),
]


def position(text: str, token: str) -> tuple[int, int]:
    """(line, column) of `token` in the layer 'rec'."""
    return oracles.position(text, token, after=text.index('name: "rec"'))


@pytest.mark.parametrize(
    ("text", "code", "token", "words"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE]
)
def test_broken_recurrent_spec_is_diagnosed_at_the_field(
    text: str, code: str, token: str, words: list[str]
) -> None:
    assert_diagnosed(text, code, position(text, token), words)
