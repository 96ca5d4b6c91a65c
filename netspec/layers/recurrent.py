"""RNN and LSTM: Caffe's recurrent layers, which unroll a small net over T timesteps; the OCR
forks' one-layer Lstm and CTCGreedyDecoder (docs/dialects.md).

Bottoms: x (T, N, ...), cont (T, N) (0 where a sequence starts, flushing the
state), an optional static input (N, ...) added at every step, and with
expose_hidden the initial states (1, N, num_output) each.  Tops: the outputs
(T, N, num_output), and with expose_hidden the final states.  The weights are
the parameters of Caffe's unrolled net, in the order its layers own them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from netspec.layers.base import (
    DocRow,
    LayerType,
    NotLowered,
    Shape,
    ShapeContext,
    WeightSpec,
    count,
    register,
    shape_text,
)
from netspec.lazy import numpy as np

if TYPE_CHECKING:
    from netspec.lower import LowerContext


def _to(name: str | None) -> list[str] | int:
    """A node's outputs: the name given, or one fresh name."""
    return [name] if name else 1


class _Recurrent(LayerType):
    param = "recurrent_param"
    bottoms = (2, None)  # exact counts depend on expose_hidden and the static input: checked below
    tops = (1, None)
    states: ClassVar[tuple[str, ...]]  # the recurrent state blobs, in Caffe's order
    gates: ClassVar[int]  # rows of the input transform per output (LSTM: i, f, o, g)
    names: ClassVar[tuple[str, str, str, str]]  # input weights, bias, static weights, hidden weights
    output_transform: ClassVar[bool] = False  # RNN: o_t = tanh(W_ho·h_t + b_o), two more blobs

    def _layout(self, ctx: ShapeContext) -> tuple[int, int, int, bool]:
        """(T, N, num_output, static input?) after Caffe's RecurrentLayer checks."""
        p = ctx.layer.param.recurrent_param
        if p.num_output < 1:
            raise ctx.error(
                "NS0389",
                "num_output is not given",
                "recurrent_param",
                help="set recurrent_param { num_output: N }",
            )
        exposed = len(self.states) if p.expose_hidden else 0
        low, bottoms, tops = 2 + exposed, len(ctx.bottoms), len(ctx.layer.tops)
        if not low <= bottoms <= low + 1:
            what = "x, cont, an optional static input"
            if exposed:
                what += " and the initial " + " and ".join(f"{s}_0" for s in self.states)
            raise ctx.error(
                "NS0387",
                f"{ctx.layer.type} takes {what}: {low} or {low + 1} bottoms, got {bottoms}",
                ("bottom", max(bottoms - 1, 0)),
                help=None
                if exposed
                else "to feed the initial state, set recurrent_param { expose_hidden: true }",
            )
        if tops != 1 + exposed:
            raise ctx.error(
                "NS0387",
                f"{ctx.layer.type} with expose_hidden {str(bool(exposed)).lower()} "
                f"writes {1 + exposed} top{'s' * bool(exposed)}, got {tops}",
                ("top", max(tops - 1, 0)),
            )
        x, cont = ctx.bottoms[0], ctx.bottoms[1]
        if len(x) < 2:
            raise ctx.error(
                "NS0370", f"x {shape_text(x)} needs at least 2 axes (timesteps, streams, ...)", ("bottom", 0)
            )
        steps, streams = x[0], x[1]
        if cont != (steps, streams):
            raise ctx.error(
                "NS0388",
                f"cont {shape_text(cont)} must be (timesteps, streams) = {shape_text((steps, streams))}, "
                f"as x {shape_text(x)} gives",
                ("bottom", 1),
            )
        static = bottoms > low
        if static and (not ctx.bottoms[2] or ctx.bottoms[2][0] != streams):
            raise ctx.error(
                "NS0388",
                f"the static input {shape_text(ctx.bottoms[2])} must have the {streams} streams "
                f"of x {shape_text(x)} on its first axis",
                ("bottom", 2),
            )
        for j, state in enumerate(self.states[:exposed]):
            index = 2 + static + j
            if ctx.bottoms[index] != (1, streams, p.num_output):
                raise ctx.error(
                    "NS0388",
                    f"the initial {state}_0 {shape_text(ctx.bottoms[index])} must be "
                    f"{shape_text((1, streams, p.num_output))}: one timestep, the streams, num_output",
                    ("bottom", index),
                )
        return steps, streams, p.num_output, static

    def setup(self, ctx: ShapeContext) -> tuple[int, int, int, bool]:
        return self._layout(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        steps, streams, hidden, _ = ctx.config
        return [(steps, streams, hidden)] + [(1, streams, hidden)] * (len(ctx.layer.tops) - 1)

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        _, _, hidden, static = ctx.config
        p = ctx.layer.param.recurrent_param
        weight = p.weight_filler if p.HasField("weight_filler") else None
        bias = p.bias_filler if p.HasField("bias_filler") else None
        rows = self.gates * hidden
        x_weights, x_bias, static_weights, h_weights = self.names
        specs = [
            WeightSpec(x_weights, (rows, count(ctx.bottoms[0][2:])), weight),
            WeightSpec(x_bias, (rows,), bias),
        ]
        if static:
            specs.append(WeightSpec(static_weights, (rows, count(ctx.bottoms[2][1:])), weight))
        specs.append(WeightSpec(h_weights, (rows, hidden), weight))
        if self.output_transform:
            specs += [WeightSpec("W_ho", (hidden, hidden), weight), WeightSpec("b_o", (hidden,), bias)]
        return specs

    def macs(self, ctx: ShapeContext, tops: list[Shape]) -> int:
        """The matrix products: inputs and states at every step, the static input once."""
        steps, streams, _, _ = ctx.config
        matrices = {w.name: count(w.shape) for w in self.weights(ctx) if len(w.shape) == 2}
        once = matrices.pop(self.names[2], 0)
        return steps * streams * sum(matrices.values()) + streams * once

    def lower(self, ctx: LowerContext) -> None:
        """Unrolled over the T timesteps, as Caffe's own unrolled net computes.

        Without expose_hidden the initial state is 0: Caffe's first forward pass (later passes in
        Caffe start from the previous batch's last state, which a stateless graph cannot keep), so
        the first step's state terms are left out."""
        steps, _, _, static = ctx.config
        blobs = list(ctx.blobs)
        x_weights, x_bias = blobs[0], blobs[1]
        h_weights = ctx.const(blobs[2 + static].T, "W_h")
        extra = self.constants(ctx, blobs[3 + static :])
        x = ctx.inputs[0]
        if len(ctx.in_shapes[0]) != 3:
            x = ctx.op("Reshape", [x, ctx.ints([0, 0, -1], "x_shape")])
        x = ctx.op("MatMul", [x, ctx.const(x_weights.T, "W_x")])
        x = ctx.op("Add", [x, ctx.const(x_bias, "b_x")])
        if static:
            x_static = ctx.inputs[2]
            if len(ctx.in_shapes[2]) != 2:
                x_static = ctx.op("Reshape", [x_static, ctx.ints([0, -1], "static_shape")])
            x_static = ctx.op("MatMul", [x_static, ctx.const(blobs[2].T, "W_static")])
            x = ctx.op("Add", [x, x_static])  # (T, N, G) + (N, G): the same at every step
        # Every per-step value keeps a leading axis of 1, as in Caffe's unrolled net: (1, N, ...).
        cont = ctx.op("Unsqueeze", [ctx.inputs[1], ctx.ints([2], "axis_2")])  # (T, N, 1)
        exposed = len(ctx.outputs) > 1
        state: list[str | None] = list(ctx.inputs[2 + static :]) if exposed else [None] * len(self.states)
        outputs = []
        for t in range(steps):
            index = ctx.ints([t], f"t{t + 1}")
            gate = ctx.op("Gather", [x, index], axis=0)
            keep = ctx.op("Gather", [cont, index], axis=0)  # 0 where a new sequence starts
            if state[0] is not None:
                conted = ctx.op("Mul", [keep, state[0]])
                gate = ctx.op("Add", [ctx.op("MatMul", [conted, h_weights]), gate])
            names = list(ctx.outputs[1:]) if exposed and t == steps - 1 else [None] * len(self.states)
            output, state = self.step(ctx, gate, keep, state, extra, names)
            outputs.append(output)
        ctx.node("Concat", outputs, [ctx.outputs[0]], axis=0)

    def constants(self, ctx: LowerContext, blobs: list[np.ndarray]) -> list[str]:
        """The initializers every step uses, from the blobs after the hidden weights."""
        raise NotImplementedError

    def step(
        self,
        ctx: LowerContext,
        gate: str,
        keep: str,
        state: list[str | None],
        extra: list[str],
        names: list[str | None],
    ) -> tuple[str, list[str | None]]:
        """One timestep from its gate input (1, N, G): (this step's output, the new state, its
        values written under `names`, fresh where None)."""
        raise NotImplementedError


@register
class LSTM(_Recurrent):
    """c_t = f·c_{t−1} + i·g, h_t = o·tanh(c_t), gates (i, f, o, g) from W_xc·x_t + b_c + W_hc·h_{t−1}."""

    type = "LSTM"
    family = "recurrent"
    states = ("h", "c")
    gates = 4
    names = ("W_xc", "b_c", "W_xc_static", "W_hc")

    def constants(self, ctx: LowerContext, blobs: list[np.ndarray]) -> list[str]:
        return [ctx.ints([ctx.param.recurrent_param.num_output] * 4, "gate_sizes")]

    def step(
        self,
        ctx: LowerContext,
        gate: str,
        keep: str,
        state: list[str | None],
        extra: list[str],
        names: list[str | None],
    ) -> tuple[str, list[str | None]]:
        """Caffe's LSTMUnit: gates (i, f, o, g); f is scaled by cont, so a new sequence forgets c."""
        i, f, o, g = ctx.node("Split", [gate, *extra], 4, axis=2)
        i, o = (ctx.op("Sigmoid", [v]) for v in (i, o))
        c = ctx.op("Mul", [i, ctx.op("Tanh", [g])])
        if state[1] is not None:
            f = ctx.op("Mul", [keep, ctx.op("Sigmoid", [f])])
            c = ctx.node("Add", [ctx.op("Mul", [f, state[1]]), c], _to(names[1]))[0]
        h = ctx.node("Mul", [o, ctx.op("Tanh", [c])], _to(names[0]))[0]
        return h, [h, c]


@register
class RNN(_Recurrent):
    """h_t = tanh(W_xh·x_t + b_h + W_hh·h_{t−1}), o_t = tanh(W_ho·h_t + b_o)."""

    type = "RNN"
    family = "recurrent"
    states = ("h",)
    gates = 1
    names = ("W_xh", "b_h", "W_xh_static", "W_hh")
    output_transform = True

    def constants(self, ctx: LowerContext, blobs: list[np.ndarray]) -> list[str]:
        w_o, b_o = blobs
        return [ctx.const(w_o.T, "W_o"), ctx.const(b_o, "b_o")]

    def step(
        self,
        ctx: LowerContext,
        gate: str,
        keep: str,
        state: list[str | None],
        extra: list[str],
        names: list[str | None],
    ) -> tuple[str, list[str | None]]:
        h = ctx.node("Tanh", [gate], _to(names[0]))[0]
        w_o, b_o = extra
        o = ctx.op("Add", [ctx.op("MatMul", [h, w_o]), b_o])
        return ctx.op("Tanh", [o]), [h]


@register
class Lstm(LSTM):
    """The forks' LstmLayer::Forward_cpu, per step t and stream n, cont = clip[t + n] ≠ 0 (with a
    clip bottom; else t > 0, from a zero state): gates = W_x·x + b (+ W_h·h_{t−1} if cont);
    i, o = σ, f = σ if cont else 0, g = tanh; c = f·c_{t−1} + i·g; h = o·tanh(c).

    The unit is BVLC's LSTMUnit (the step is LSTM's).  The fork reads clip at flat index t + n
    (offset(t) of a (K, 1) blob is t), in both its CPU and GPU paths; its CPU path also adds stream
    0's W_h·h_{t−1} to every stream (h_to_gate is not advanced), which its GPU path does not:
    netspec computes each stream's own, as the GPU does (NS0601 says so when N > 1)."""

    type = "Lstm"
    family = "recurrent"
    dialect = "ocr"
    param = "lstm_param"
    bottoms = (1, 2)
    tops = (1, 1)
    doc_rows = (
        DocRow(
            parameters=(
                "`lstm_param`: `num_output`, `weight_filler`, `bias_filler`, `clipping_threshold`"
                " (0; bounds gradients only), `batch_size` (1; junhyukoh's layout)"
            ),
            computes=(
                "bottoms x and an optional clip; per step t and stream n, cont = clip[t + n] ≠ 0 "
                "(no clip: t > 0): gates W_x·x + b + (W_h·h_{t−1} if cont), i, o = σ, f = σ if "
                "cont else 0, g = tanh; c = f·c_{t−1} + i·g; h = o·tanh(c)"
            ),
            onnx=(
                "unrolled: `MatMul`, `Add`, `Split`, `Sigmoid`, `Tanh`, `Mul`, `Concat` (cont "
                "from the clip by `Gather`, `Equal`, `Not`, `Cast`)"
            ),
        ),
    )

    def layout(self, ctx: ShapeContext) -> tuple[int, int, int, bool]:
        """(T, N, I, caffe_ocr's layout?) after the forks' checks."""
        p = ctx.layer.param.lstm_param
        if p.num_output < 1:
            raise ctx.error(
                "NS0600",
                "num_output is not given",
                ctx.block("lstm_param"),
                help="set lstm_param { num_output: H } (the hidden units)",
            )
        x = ctx.bottoms[0]
        ocr = len(x) == 3 and not p.HasField("batch_size")
        if ocr:
            steps, streams, features = x
        else:
            if len(x) < 1 or p.batch_size < 1 or x[0] % p.batch_size:
                raise ctx.error(
                    "NS0600",
                    f"x {shape_text(x)} does not split into timesteps of batch_size {p.batch_size} "
                    "(junhyukoh/caffe-lstm reads x as (T·batch_size, ...))",
                    "lstm_param.batch_size" if p.HasField("batch_size") else ("bottom", 0),
                    help="give x as (T, N, I) without batch_size (caffe_ocr's layout), or a batch_size "
                    f"that divides its {x[0] if x else 0} rows",
                )
            steps, streams, features = x[0] // p.batch_size, p.batch_size, count(x[1:])
        if len(ctx.bottoms) == 2:
            clip = ctx.bottoms[1]
            if not clip or count(clip) != clip[0] or clip[0] < steps + streams - 1:
                raise ctx.error(
                    "NS0600",
                    f"the clip {shape_text(clip)} must be (K,) or (K, 1, ...), K ≥ {steps + streams - 1}: "
                    f"the fork reads clip[t + n] for the {steps} timesteps and {streams} streams",
                    ("bottom", 1),
                    help="give one clip value per timestep, 0 where a sequence starts",
                )
        return steps, streams, features, ocr

    def setup(self, ctx: ShapeContext) -> tuple[int, int, int, bool]:
        return self.layout(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        steps, streams, _, ocr = ctx.config
        if streams > 1:
            ctx.warning(
                "NS0601",
                f"{streams} streams: the fork's CPU path gives every stream stream 0's recurrent input; "
                "netspec follows its GPU path, each stream its own recurrence"
                + (" (both read stream n's clip at t + n)" if len(ctx.bottoms) == 2 else ""),
                ("bottom", 0),
                help="with one stream (batch 1) both paths agree",
            )
        hidden = ctx.layer.param.lstm_param.num_output
        return [(steps, streams, hidden) if ocr else (steps * streams, hidden)]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        features = ctx.config[2]
        p = ctx.layer.param.lstm_param
        weight = p.weight_filler if p.HasField("weight_filler") else None
        bias = p.bias_filler if p.HasField("bias_filler") else None
        rows = 4 * p.num_output
        return [
            WeightSpec("W_x", (rows, features), weight),
            WeightSpec("W_h", (rows, p.num_output), weight),
            WeightSpec("b", (rows,), bias),
        ]

    def macs(self, ctx: ShapeContext, tops: list[Shape]) -> int:
        steps, streams, features, _ = ctx.config
        hidden = ctx.layer.param.lstm_param.num_output
        return steps * streams * 4 * hidden * (features + hidden)

    def lower(self, ctx) -> None:
        steps, streams, features, ocr = ctx.config
        hidden = ctx.param.lstm_param.num_output
        x_weights, h_weights, bias = ctx.blobs
        x = ctx.inputs[0]
        if not ocr:
            x = ctx.op("Reshape", [x, ctx.ints([steps, streams, features], "x_shape")])
        x = ctx.op("MatMul", [x, ctx.const(np.asarray(x_weights).T, "W_x")])
        x = ctx.op("Add", [x, ctx.const(bias, "b")])
        w_h = ctx.const(np.asarray(h_weights).T, "W_h")
        keep = self._cont(ctx, steps, streams) if len(ctx.inputs) == 2 else None
        one = None if keep else ctx.const(np.ones((1, 1, 1), np.float32), "one")  # no clip: no resets
        sizes = [ctx.ints([hidden] * 4, "gate_sizes")]
        state: list[str | None] = [None, None]
        outputs = []
        for t in range(steps):
            index = ctx.ints([t], f"t{t + 1}")
            gate = ctx.op("Gather", [x, index], axis=0)
            step_keep = ctx.op("Gather", [keep, index], axis=0) if keep else one
            if state[0] is not None:
                h = ctx.op("Mul", [step_keep, state[0]]) if keep else state[0]
                gate = ctx.op("Add", [ctx.op("MatMul", [h, w_h]), gate])
            output, state = self.step(ctx, gate, step_keep, state, sizes, [None, None])
            outputs.append(output)
        if ocr:
            ctx.node("Concat", outputs, [ctx.outputs[0]], axis=0)
            return
        joined = ctx.op("Concat", outputs, axis=0)
        ctx.node("Reshape", [joined, ctx.ints([steps * streams, hidden], "top_shape")], [ctx.outputs[0]])

    @staticmethod
    def _cont(ctx, steps: int, streams: int) -> str:
        """(T, N, 1): 1 where clip[t + n] ≠ 0, else 0 (the fork reads clip as a bool)."""
        flat = ctx.op("Reshape", [ctx.inputs[1], ctx.ints([-1], "flat")])
        index = np.arange(steps)[:, None] + np.arange(streams)[None, :]
        clip = ctx.op("Gather", [flat, ctx.const(index, "clip_index", np.int64)], axis=0)
        zero = ctx.op("Equal", [clip, ctx.const(np.float32(0), "zero")])
        keep = ctx.op("Cast", [ctx.op("Not", [zero])], to=np.float32)
        return ctx.op("Unsqueeze", [keep, ctx.ints([2], "axis_2")])


@register
class CTCGreedyDecoder(LayerType):
    """CTCGreedyDecoderLayer: for each stream n, the first best class k_t at each step t of the
    (T, N, C) scores; k_t is kept unless it is the blank or (ctc_merge_repeated) equals k_{t−1};
    the kept classes, in order, start row n of the (N, T, 1, 1) top, the rest is −1.
    With the labels as bottom 1, the fork writes instead its accuracy (1, 2, 1, 1), evaluated
    only (not compiled)."""

    type = "CTCGreedyDecoder"
    family = "decoding"
    dialect = "ocr"
    param = "ctc_decoder_param"
    bottoms = (1, 2)
    doc_rows = (
        DocRow(
            parameters=(
                "`ctc_decoder_param`: `blank_index` (0; negative: the last class), "
                "`ctc_merge_repeated` (true)"
            ),
            computes=(
                "scores (T, N, C) to (N, T, 1, 1): per stream the first best class at each step, "
                "a class equal to the step before dropped (with merging), blanks dropped, the "
                "rest in order, then −1 to the end"
            ),
            onnx=(
                "`ArgMax`, `Pad`/`Slice` (the step before), `Equal`/`And`/`Not`; the kept steps "
                "moved to the front by `TopK` (smallest) of t + T·dropped, `GatherElements`, "
                "`Where` (−1 past the count), `Transpose`"
            ),
        ),
    )

    def geometry(self, ctx: ShapeContext) -> tuple[int, int, int, int]:
        """(T, N, C, blank)."""
        scores = ctx.bottoms[0]
        if len(scores) < 3 or count(scores[3:]) != 1:
            raise ctx.error(
                "NS0603",
                f"the scores are {shape_text(scores)}; the decoder reads (T, N, C)",
                ("bottom", 0),
                help="an InnerProduct with axis: 2 over the (T, N, features) sequence gives (T, N, C)",
            )
        steps, streams, classes = scores[:3]
        blank = ctx.layer.param.ctc_decoder_param.blank_index
        if blank >= classes:
            raise ctx.error(
                "NS0603",
                f"blank_index {blank} is not one of the {classes} classes",
                "ctc_decoder_param.blank_index",
                help="the blank is a class: 0 (the default), or −1 for the last",
            )
        return steps, streams, classes, blank % classes

    def setup(self, ctx: ShapeContext) -> tuple[int, int, int, int]:
        return self.geometry(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        steps, streams, _, _ = ctx.config
        if len(ctx.bottoms) == 2:
            labels = ctx.bottoms[1]
            if len(labels) < 2 or labels[0] != streams:
                raise ctx.error(
                    "NS0603",
                    f"the labels are {shape_text(labels)}; the fork reads (N, labels, ...) with the "
                    f"{streams} streams first",
                    ("bottom", 1),
                )
            return [(1, 2, 1, 1)]
        return [(streams, steps, 1, 1)]

    def lower(self, ctx) -> None:
        steps, _, _, blank = ctx.config
        if len(ctx.inputs) == 2:
            raise NotLowered(
                "the accuracy form of CTCGreedyDecoder (labels as bottom 1) evaluates against labels",
                help="for inference, decode with one bottom: remove the labels bottom",
            )
        best = ctx.op("ArgMax", [ctx.inputs[0]], axis=2, keepdims=0)  # (T, N): the first maximum
        kept = ctx.op("Not", [ctx.op("Equal", [best, ctx.const(blank, "blank", np.int64)])])
        if ctx.param.ctc_decoder_param.ctc_merge_repeated:
            before = [ctx.ints([1, 0, 0, 0], "pads"), ctx.const(-1, "before", np.int64)]  # k_{-1} = -1
            padded = ctx.op("Pad", [best, *before])
            bounds = [ctx.ints([0], "zero"), ctx.ints([steps], "T"), ctx.ints([0], "axis_0")]
            previous = ctx.op("Slice", [padded, *bounds])
            repeat = ctx.op("Equal", [best, previous])
            kept = ctx.op("And", [kept, ctx.op("Not", [repeat])])
        # The kept steps first, in order: TopK (smallest) of t + T·(not kept), keys all distinct.
        dropped = ctx.op("Cast", [ctx.op("Not", [kept])], to=np.int64)
        time = ctx.const(np.arange(steps)[:, None], "time", np.int64)
        keys = ctx.op("Add", [time, ctx.op("Mul", [dropped, ctx.const(steps, "steps", np.int64)])])
        order = ctx.node("TopK", [keys, ctx.ints([steps], "k")], 2, axis=0, largest=0, sorted=1)[1]
        labels = ctx.op("GatherElements", [best, order], axis=0)
        length = ctx.op("ReduceSum", [ctx.op("Cast", [kept], to=np.int64), ctx.ints([0], "axis")],
                          keepdims=1)  # fmt: skip
        inside = ctx.op("Less", [time, length])
        rows = ctx.op("Where", [inside, labels, ctx.const(-1, "pad", np.int64)])
        values = ctx.op("Cast", [ctx.op("Transpose", [rows], perm=[1, 0])], to=np.float32)
        ctx.node("Unsqueeze", [values, ctx.ints([2, 3], "axes_2_3")], [ctx.outputs[0]])
