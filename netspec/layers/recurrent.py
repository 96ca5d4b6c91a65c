"""RNN and LSTM: Caffe's recurrent layers, which unroll a small net over T timesteps.

Bottoms: x (T, N, ...), cont (T, N) (0 where a sequence starts, flushing the
state), an optional static input (N, ...) added at every step, and with
expose_hidden the initial states (1, N, num_output) each.  Tops: the outputs
(T, N, num_output), and with expose_hidden the final states.  The weights are
the parameters of Caffe's unrolled net, in the order its layers own them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from netspec.layers.base import LayerType, Shape, ShapeContext, WeightSpec, count, register

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
            raise ctx.error("NS0370", f"x {x} needs at least 2 axes (timesteps, streams, ...)", ("bottom", 0))
        steps, streams = x[0], x[1]
        if cont != (steps, streams):
            raise ctx.error(
                "NS0388",
                f"cont {cont} must be (timesteps, streams) = ({steps}, {streams}), as x {x} gives",
                ("bottom", 1),
            )
        static = bottoms > low
        if static and (not ctx.bottoms[2] or ctx.bottoms[2][0] != streams):
            raise ctx.error(
                "NS0388",
                f"the static input {ctx.bottoms[2]} must have the {streams} streams "
                f"of x {x} on its first axis",
                ("bottom", 2),
            )
        for j, state in enumerate(self.states[:exposed]):
            index = 2 + static + j
            if ctx.bottoms[index] != (1, streams, p.num_output):
                raise ctx.error(
                    "NS0388",
                    f"the initial {state}_0 {ctx.bottoms[index]} must be "
                    f"(1, {streams}, {p.num_output}): one timestep, the streams, num_output",
                    ("bottom", index),
                )
        return steps, streams, p.num_output, static

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        steps, streams, hidden, _ = self._layout(ctx)
        return [(steps, streams, hidden)] + [(1, streams, hidden)] * (len(ctx.layer.tops) - 1)

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        _, _, hidden, static = self._layout(ctx)
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
        steps, streams, _, _ = self._layout(ctx)
        matrices = {w.name: count(w.shape) for w in self.weights(ctx) if len(w.shape) == 2}
        once = matrices.pop(self.names[2], 0)
        return steps * streams * sum(matrices.values()) + streams * once

    def lower(self, ctx: LowerContext) -> None:
        """Unrolled over the T timesteps, as Caffe's own unrolled net computes.

        Without expose_hidden the initial state is 0: Caffe's first forward pass (later passes in
        Caffe start from the previous batch's last state, which a stateless graph cannot keep), so
        the first step's state terms are left out."""
        steps, _, _, static = self._layout(ctx.shape_context)
        blobs = list(ctx.blobs)
        x_weights, x_bias = blobs[0], blobs[1]
        h_weights = ctx.const(blobs[2 + static].T, "W_h")
        extra = self.constants(ctx, blobs[3 + static :])
        x = ctx.inputs[0]
        if len(ctx.in_shapes[0]) != 3:
            x = ctx.node("Reshape", [x, ctx.ints([0, 0, -1], "x_shape")])[0]
        x = ctx.node("MatMul", [x, ctx.const(x_weights.T, "W_x")])[0]
        x = ctx.node("Add", [x, ctx.const(x_bias, "b_x")])[0]
        if static:
            x_static = ctx.inputs[2]
            if len(ctx.in_shapes[2]) != 2:
                x_static = ctx.node("Reshape", [x_static, ctx.ints([0, -1], "static_shape")])[0]
            x_static = ctx.node("MatMul", [x_static, ctx.const(blobs[2].T, "W_static")])[0]
            x = ctx.node("Add", [x, x_static])[0]  # (T, N, G) + (N, G): the same at every step
        # Every per-step value keeps a leading axis of 1, as in Caffe's unrolled net: (1, N, ...).
        cont = ctx.node("Unsqueeze", [ctx.inputs[1], ctx.ints([2], "axis_2")])[0]  # (T, N, 1)
        exposed = len(ctx.outputs) > 1
        state: list[str | None] = list(ctx.inputs[2 + static :]) if exposed else [None] * len(self.states)
        outputs = []
        for t in range(steps):
            index = ctx.ints([t], f"t{t + 1}")
            gate = ctx.node("Gather", [x, index], axis=0)[0]
            keep = ctx.node("Gather", [cont, index], axis=0)[0]  # 0 where a new sequence starts
            if state[0] is not None:
                conted = ctx.node("Mul", [keep, state[0]])[0]
                gate = ctx.node("Add", [ctx.node("MatMul", [conted, h_weights])[0], gate])[0]
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
        i, o = (ctx.node("Sigmoid", [v])[0] for v in (i, o))
        c = ctx.node("Mul", [i, ctx.node("Tanh", [g])[0]])[0]
        if state[1] is not None:
            f = ctx.node("Mul", [keep, ctx.node("Sigmoid", [f])[0]])[0]
            c = ctx.node("Add", [ctx.node("Mul", [f, state[1]])[0], c], _to(names[1]))[0]
        h = ctx.node("Mul", [o, ctx.node("Tanh", [c])[0]], _to(names[0]))[0]
        return h, [h, c]


@register
class RNN(_Recurrent):
    """h_t = tanh(W_xh·x_t + b_h + W_hh·h_{t−1}), o_t = tanh(W_ho·h_t + b_o)."""

    type = "RNN"
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
        o = ctx.node("Add", [ctx.node("MatMul", [h, w_o])[0], b_o])[0]
        return ctx.node("Tanh", [o])[0], [h]
