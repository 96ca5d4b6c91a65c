"""The OCR and sequence forks' layer types (senlinuc/caffe_ocr; junhyukoh/caffe-lstm for Lstm), with
the forks' fields (caffe.proto, "fork OCR"; docs/dialects.md):

- Lstm: LstmLayer, one layer (not an unrolled net) with blobs W_x (4H, I), W_h (4H, H), b (4H),
  gates (i, f, o, g).  Two forks, one message, two layouts: caffe_ocr reads x as (T, N, I) and
  writes (T, N, H); junhyukoh/caffe-lstm reads x as (T·batch_size, ...) and writes (T·batch_size, H).
  A 3-D x without `batch_size` is caffe_ocr's (its files), any other is junhyukoh's.
- Transpose: output axis i is input axis dim[i].
- Reverse: the order along one axis reversed (the time axis, for a backward LSTM).
- ReverseTime: each stream's time reversed over its own length (the lengths are bottom 1).
- DenseBlock: a fused DenseNet block, BN-ReLU(-Conv1x1-BN-ReLU)-Conv3x3 per transition, concatenated.
- CTCGreedyDecoder: the best class at each step, repeats merged, blanks dropped, written as
  (N, T, 1, 1) rows padded with −1; with the labels as bottom 1, the accuracy (1, 2, 1, 1).

Diagnostics NS0600–NS0603, NS0607–NS0610, and NS0364 for Transpose, Reverse and ReverseTime in
place.
"""

from __future__ import annotations

import numpy as np

from netspec.layers.base import (
    LayerType,
    NotLowered,
    Shape,
    ShapeContext,
    WeightSpec,
    Window,
    count,
    register,
    shape_text,
)
from netspec.layers.recurrent import LSTM
from netspec.layers.structure import _not_in_place
from netspec.proto import caffe_pb2

INT64_MIN = -(2**63)


# ---------------------------------------------------------------------------------------------
# Lstm


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
    param = "lstm_param"
    bottoms = (1, 2)
    tops = (1, 1)

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

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        steps, streams, _, ocr = self.layout(ctx)
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
        features = self.layout(ctx)[2]
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
        steps, streams, features, _ = self.layout(ctx)
        hidden = ctx.layer.param.lstm_param.num_output
        return steps * streams * 4 * hidden * (features + hidden)

    def lower(self, ctx) -> None:
        steps, streams, features, ocr = self.layout(ctx.shape_context)
        hidden = ctx.param.lstm_param.num_output
        x_weights, h_weights, bias = ctx.blobs
        x = ctx.inputs[0]
        if not ocr:
            x = ctx.node("Reshape", [x, ctx.ints([steps, streams, features], "x_shape")])[0]
        x = ctx.node("MatMul", [x, ctx.const(np.asarray(x_weights).T, "W_x")])[0]
        x = ctx.node("Add", [x, ctx.const(bias, "b")])[0]
        w_h = ctx.const(np.asarray(h_weights).T, "W_h")
        keep = self._cont(ctx, steps, streams) if len(ctx.inputs) == 2 else None
        one = None if keep else ctx.const(np.ones((1, 1, 1), np.float32), "one")  # no clip: no resets
        sizes = [ctx.ints([hidden] * 4, "gate_sizes")]
        state: list[str | None] = [None, None]
        outputs = []
        for t in range(steps):
            index = ctx.ints([t], f"t{t + 1}")
            gate = ctx.node("Gather", [x, index], axis=0)[0]
            step_keep = ctx.node("Gather", [keep, index], axis=0)[0] if keep else one
            if state[0] is not None:
                h = ctx.node("Mul", [step_keep, state[0]])[0] if keep else state[0]
                gate = ctx.node("Add", [ctx.node("MatMul", [h, w_h])[0], gate])[0]
            output, state = self.step(ctx, gate, step_keep, state, sizes, [None, None])
            outputs.append(output)
        if ocr:
            ctx.node("Concat", outputs, [ctx.outputs[0]], axis=0)
            return
        joined = ctx.node("Concat", outputs, axis=0)[0]
        ctx.node("Reshape", [joined, ctx.ints([steps * streams, hidden], "top_shape")], [ctx.outputs[0]])

    @staticmethod
    def _cont(ctx, steps: int, streams: int) -> str:
        """(T, N, 1): 1 where clip[t + n] ≠ 0, else 0 (the fork reads clip as a bool)."""
        flat = ctx.node("Reshape", [ctx.inputs[1], ctx.ints([-1], "flat")])[0]
        index = np.arange(steps)[:, None] + np.arange(streams)[None, :]
        clip = ctx.node("Gather", [flat, ctx.const(index, "clip_index", np.int64)], axis=0)[0]
        zero = ctx.node("Equal", [clip, ctx.const(np.float32(0), "zero")])[0]
        keep = ctx.node("Cast", [ctx.node("Not", [zero])[0]], to=np.float32)[0]
        return ctx.node("Unsqueeze", [keep, ctx.ints([2], "axis_2")])[0]


# ---------------------------------------------------------------------------------------------
# Transpose and Reverse


@register
class Transpose(LayerType):
    """Output axis i is input axis dim[i] (TransposeLayer::permute); one dim per axis."""

    type = "Transpose"
    param = "transpose_param"

    def perm(self, ctx: ShapeContext) -> list[int]:
        _not_in_place(ctx)
        rank = len(ctx.bottoms[0])
        dims = list(ctx.layer.param.transpose_param.dim)
        if len(dims) != rank:
            raise ctx.error(
                "NS0602",
                f"{len(dims)} dims for a {rank}-D bottom ({shape_text(ctx.bottoms[0])}): "
                "the fork needs one per axis",
                ctx.block("transpose_param"),
                help="list every axis once, e.g. dim: 3 dim: 2 dim: 0 dim: 1 "
                "for N x C x H x W -> W x H x N x C",
            )
        for i, axis in enumerate(dims):
            if not 0 <= axis < rank or axis in dims[:i]:
                raise ctx.error(
                    "NS0602",
                    f"dim {axis} is given twice"
                    if axis in dims[:i]
                    else f"dim {axis} is out of range for a {rank}-D bottom (0 to {rank - 1})",
                    ("transpose_param", "dim", i),
                    help=f"dims are a permutation of 0 to {rank - 1}",
                )
        return dims

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [tuple(ctx.bottoms[0][a] for a in self.perm(ctx))]

    def lower(self, ctx) -> None:
        ctx.node("Transpose", [ctx.inputs[0]], [ctx.outputs[0]], perm=self.perm(ctx.shape_context))


@register
class Reverse(LayerType):
    """y[..., i, ...] = x[..., S − 1 − i, ...] along reverse_param.axis (ReverseLayer::Forward_cpu)."""

    type = "Reverse"
    param = "reverse_param"

    def axis(self, ctx: ShapeContext) -> int:
        _not_in_place(ctx)
        axis, rank = ctx.layer.param.reverse_param.axis, len(ctx.bottoms[0])
        if not 0 <= axis < rank:
            raise ctx.error(
                "NS0602",
                f"axis {axis} is {'negative' if axis < 0 else 'out of range'} for a {rank}-D bottom "
                f"(the fork takes 0 to {rank - 1})",
                "reverse_param.axis",
                help="axis 0 reverses the time of a (T, N, ...) sequence",
            )
        return axis

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        self.axis(ctx)
        return [ctx.bottoms[0]]

    def lower(self, ctx) -> None:
        axis = self.axis(ctx.shape_context)
        bounds = [ctx.ints([-1], "start"), ctx.ints([INT64_MIN], "end"), ctx.ints([axis], "axis")]
        ctx.node("Slice", [ctx.inputs[0], *bounds, ctx.ints([-1], "step")], [ctx.outputs[0]])


@register
class ReverseTime(LayerType):
    """ReverseTimeLayer: each stream n of x (T, N, ...) reversed over its own first L_n steps,
    y[t, n] = x[L_n − 1 − t, n] for t < L_n, L_n = the lengths bottom's n-th value truncated; the
    steps after it copied (copy_remaining) or left unwritten by the fork, which leaves the zeros a
    fresh blob holds on its first pass (netspec writes those zeros, NS0608)."""

    type = "ReverseTime"
    param = "reverse_time_param"
    bottoms = (2, 2)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        _not_in_place(ctx)
        x, lengths = ctx.bottoms
        if len(x) < 2:
            raise ctx.error(
                "NS0607",
                f"x is {shape_text(x)}; ReverseTime reads (T, N, ...): time first, then the streams",
                ("bottom", 0),
                help="give x with its streams as axis 1, e.g. (T, 1, features) for one sequence",
            )
        if len(lengths) != 1 or lengths[0] != x[1]:
            raise ctx.error(
                "NS0607",
                f"the lengths are {shape_text(lengths)}; the fork wants one axis, one length per each of "
                f"x's {x[1]} streams (CHECK_EQ)",
                ("bottom", 1),
                help=f"give the sequence lengths as a 1-D blob of {x[1]}",
            )
        if not ctx.layer.param.reverse_time_param.copy_remaining:
            ctx.warning(
                "NS0608",
                "the steps after a stream's length are left unwritten by the fork (zeros on its first "
                "pass, the last pass's values after); netspec writes zeros there",
                ctx.block("reverse_time_param"),
                help="set reverse_time_param { copy_remaining: true } to copy them unreversed",
            )
        return [x]

    def index_bounds(self, ctx: ShapeContext) -> dict[int, int]:
        return {1: ctx.bottoms[0][0] + 1}  # lengths 0 to T

    def lower(self, ctx) -> None:
        steps, streams = ctx.in_shapes[0][:2]
        rows = ctx.node("Reshape", [ctx.inputs[0], ctx.ints([steps, streams, -1], "rows")])[0]
        # L_n truncated as the fork's int does, kept to [0, T]: outside it the fork reads and writes
        # outside its blobs.
        length = ctx.node("Cast", [ctx.inputs[1]], to=np.int64)[0]
        length = ctx.node("Min", [ctx.node("Max", [length, ctx.ints(0, "zero")])[0], ctx.ints(steps, "T")])[0]
        time = ctx.ints(np.arange(steps)[:, None], "time")  # (T, 1) against (N,)
        inside = ctx.node("Less", [time, length])[0]  # (T, N)
        mirrored = ctx.node("Sub", [ctx.node("Sub", [length, ctx.ints(1, "one")])[0], time])[0]
        source = ctx.node("Where", [inside, mirrored, time])[0]
        source = ctx.node("Expand", [_last(ctx, source), ctx.node("Shape", [rows])[0]])[0]
        moved = ctx.node("GatherElements", [rows, source], axis=0)[0]
        if not ctx.param.reverse_time_param.copy_remaining:
            moved = ctx.node("Where", [_last(ctx, inside), moved, ctx.const(np.float32(0), "unwritten")])[0]
        ctx.node("Reshape", [moved, ctx.ints(ctx.in_shapes[0], "shape")], [ctx.outputs[0]])


def _last(ctx, x: str) -> str:
    """x with a new last axis."""
    return ctx.node("Unsqueeze", [x, ctx.ints([-1], "axis")])[0]


# ---------------------------------------------------------------------------------------------
# DenseBlock

BN_EPS = 1e-5  # DenseBlock's epsilon (BN_inf_Fwd's, and cuDNN's CUDNN_BN_MIN_EPSILON its GPU path passes)
IGNORED = {
    "pad_h": 1,
    "pad_w": 1,
    "conv_verticalStride": 1,
    "conv_horizentalStride": 1,
    "filter_H": 3,
    "filter_W": 3,
}


@register
class DenseBlock(LayerType):
    """caffe_ocr's DenseBlockLayer at TEST: numTransition times, on the channels so far, BN (the stored
    statistics, eps 1e-5, scale and bias), ReLU, with use_BC a 1 × 1 convolution to 4·growthRate and
    BN, ReLU again, then a 3 × 3 convolution (pad 1, no bias, the kernel flipped: both the CPU loop
    and cuDNN's CUDNN_CONVOLUTION mode convolve rather than correlate) to growthRate channels,
    concatenated after them.  Blobs, in the fork's order: the 3 × 3 filters, scales, biases, means,
    variances, one per transition each; with use_BC the 1 × 1 filters and the inner BN's scales,
    biases, means, variances; then one scale-factor blob.

    The GPU path (cudnnBatchNormalizationForwardInference) uses the stored statistics as they are;
    the CPU path divides them by the scale-factor blob, which only CPU training counts up (the GPU
    path leaves it 0, and the CPU path then reads statistics of 0).  netspec follows the GPU path,
    the one the published models were trained and run with."""

    type = "DenseBlock"
    param = "denseblock_param"

    def geometry(self, ctx: ShapeContext) -> tuple[int, int, int, bool]:
        """(input channels, transitions, growth rate, use_BC)."""
        p = ctx.layer.param.denseblock_param
        x = ctx.bottoms[0]
        if len(x) != 4:
            raise ctx.error(
                "NS0609",
                f"DenseBlock takes an (N, C, H, W) bottom, got {shape_text(x)}",
                ("bottom", 0),
                help="the fork reads the bottom's shape as N, C, H, W",
            )
        for name in ("numTransition", "growthRate"):
            if getattr(p, name) < 1:
                raise ctx.error(
                    "NS0609",
                    f"{name} is {getattr(p, name)}: a block needs at least one transition of one channel",
                    f"denseblock_param.{name}",
                    help="caffe_ocr's DenseNet writes numTransition: 8 growthRate: 8",
                )
        if ctx.layer.param.param:
            raise ctx.error(
                "NS0609",
                "the fork's DenseBlock stops on param { } entries: its LayerSetUp writes its own ('Nope')",
                ("param", 0),
                help="remove the param blocks: the block sets its statistics' learning rates itself",
            )
        return x[1], p.numTransition, p.growthRate, p.use_BC

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        channels, transitions, growth, _ = self.geometry(ctx)
        p = ctx.layer.param.denseblock_param
        for name, value in IGNORED.items():
            if getattr(p, name) != value:
                ctx.warning(
                    "NS0610",
                    f"{name} is {getattr(p, name)}, but the fork convolves 3 x 3 with pad 1 and stride 1 "
                    "whatever it says; netspec does as the fork",
                    f"denseblock_param.{name}",
                    help=f"remove {name}",
                )
        n, _, h, w = ctx.bottoms[0]
        return [(n, channels + transitions * growth, h, w)]

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        channels, transitions, growth, bc = self.geometry(ctx)
        p = ctx.layer.param.denseblock_param

        def filler(name: str) -> caffe_pb2.FillerParameter | None:
            return getattr(p, name) if p.HasField(name) else None

        def norms(widths: list[int]) -> list[WeightSpec]:  # kind by kind, one per transition each
            kinds = [("scale", filler("BN_Scaler_Filler"), True), ("bias", filler("BN_Bias_Filler"), True),
                     ("mean", None, False), ("variance", None, False)]  # fmt: skip
            return [WeightSpec(n, (1, w, 1, 1), f, learnable=learn) for n, f, learn in kinds for w in widths]

        widths, wide = [channels + t * growth for t in range(transitions)], 4 * growth
        specs = [
            WeightSpec("filter", (growth, wide if bc else w, 3, 3), filler("Filter_Filler")) for w in widths
        ]
        specs += norms(widths)
        if bc:
            specs += [WeightSpec("filter_1x1", (wide, w, 1, 1), filler("Filter_Filler")) for w in widths]
            specs += norms([wide] * transitions)
        zero = caffe_pb2.FillerParameter(type="constant", value=0)  # the fork's; only CPU training counts it
        return [*specs, WeightSpec("scale_factor", (1,), zero, learnable=False)]

    def macs(self, ctx: ShapeContext, tops: list[Shape]) -> int:
        channels, transitions, growth, bc = self.geometry(ctx)
        n, _, h, w = ctx.bottoms[0]
        per_pixel = sum(
            (4 * growth * c + growth * 4 * growth * 9) if bc else growth * c * 9
            for c in (channels + t * growth for t in range(transitions))
        )
        return n * h * w * per_pixel

    def window(self, ctx: ShapeContext) -> list[Window]:
        transitions = self.geometry(ctx)[1]
        return [Window(2 * transitions + 1, 1, transitions)] * 2  # the 3 x 3 convolutions in a chain

    def lower(self, ctx) -> None:
        _, transitions, _, bc = self.geometry(ctx.shape_context)
        blobs = [np.asarray(b, np.float32) for b in ctx.blobs]
        per = transitions
        x = ctx.inputs[0]
        for t in range(transitions):
            y = _bn_relu(ctx, x, *(blobs[k * per + t] for k in range(1, 5)))
            if bc:
                y = ctx.node("Conv", [y, ctx.const(blobs[5 * per + t], "filter_1x1")], kernel_shape=[1, 1])[0]
                y = _bn_relu(ctx, y, *(blobs[k * per + t] for k in range(6, 10)))
            flipped = np.ascontiguousarray(blobs[t][:, :, ::-1, ::-1])  # convolution, not correlation
            y = ctx.node("Conv", [y, ctx.const(flipped, "filter")], kernel_shape=[3, 3], pads=[1, 1, 1, 1])[0]
            last = t == transitions - 1
            x = ctx.node("Concat", [x, y], [ctx.outputs[0]] if last else 1, axis=1)[0]


def _bn_relu(ctx, x: str, scale, bias, mean, variance) -> str:
    """ReLU(scale · (x − mean) / sqrt(variance + eps) + bias), per channel, as one Mul and one Add."""
    factor = scale.astype(np.float64) / np.sqrt(variance.astype(np.float64) + BN_EPS)
    shift = bias.astype(np.float64) - mean.astype(np.float64) * factor
    y = ctx.node("Mul", [x, ctx.const(factor.astype(np.float32), "bn_scale")])[0]
    y = ctx.node("Add", [y, ctx.const(shift.astype(np.float32), "bn_shift")])[0]
    return ctx.node("Relu", [y])[0]


# ---------------------------------------------------------------------------------------------
# CTCGreedyDecoder


@register
class CTCGreedyDecoder(LayerType):
    """CTCGreedyDecoderLayer: for each stream n, the first best class k_t at each step t of the
    (T, N, C) scores; k_t is kept unless it is the blank or (ctc_merge_repeated) equals k_{t−1};
    the kept classes, in order, start row n of the (N, T, 1, 1) top, the rest is −1.
    With the labels as bottom 1, the fork writes instead its accuracy (1, 2, 1, 1), evaluated
    only (not compiled)."""

    type = "CTCGreedyDecoder"
    param = "ctc_decoder_param"
    bottoms = (1, 2)

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

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        steps, streams, _, _ = self.geometry(ctx)
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
        steps, _, _, blank = self.geometry(ctx.shape_context)
        if len(ctx.inputs) == 2:
            raise NotLowered(
                "the accuracy form of CTCGreedyDecoder (labels as bottom 1) evaluates against labels",
                help="for inference, decode with one bottom: remove the labels bottom",
            )
        best = ctx.node("ArgMax", [ctx.inputs[0]], axis=2, keepdims=0)[0]  # (T, N): the first maximum
        kept = ctx.node("Not", [ctx.node("Equal", [best, ctx.const(blank, "blank", np.int64)])[0]])[0]
        if ctx.param.ctc_decoder_param.ctc_merge_repeated:
            before = [ctx.ints([1, 0, 0, 0], "pads"), ctx.const(-1, "before", np.int64)]  # k_{-1} = -1
            padded = ctx.node("Pad", [best, *before])[0]
            bounds = [ctx.ints([0], "zero"), ctx.ints([steps], "T"), ctx.ints([0], "axis_0")]
            previous = ctx.node("Slice", [padded, *bounds])[0]
            repeat = ctx.node("Equal", [best, previous])[0]
            kept = ctx.node("And", [kept, ctx.node("Not", [repeat])[0]])[0]
        # The kept steps first, in order: TopK (smallest) of t + T·(not kept), keys all distinct.
        dropped = ctx.node("Cast", [ctx.node("Not", [kept])[0]], to=np.int64)[0]
        time = ctx.const(np.arange(steps)[:, None], "time", np.int64)
        keys = ctx.node("Add", [time, ctx.node("Mul", [dropped, ctx.const(steps, "steps", np.int64)])[0]])[0]
        order = ctx.node("TopK", [keys, ctx.ints([steps], "k")], 2, axis=0, largest=0, sorted=1)[1]
        labels = ctx.node("GatherElements", [best, order], axis=0)[0]
        length = ctx.node("ReduceSum", [ctx.node("Cast", [kept], to=np.int64)[0], ctx.ints([0], "axis")],
                          keepdims=1)[0]  # fmt: skip
        inside = ctx.node("Less", [time, length])[0]
        rows = ctx.node("Where", [inside, labels, ctx.const(-1, "pad", np.int64)])[0]
        values = ctx.node("Cast", [ctx.node("Transpose", [rows], perm=[1, 0])[0]], to=np.float32)[0]
        ctx.node("Unsqueeze", [values, ctx.ints([2, 3], "axes_2_3")], [ctx.outputs[0]])
