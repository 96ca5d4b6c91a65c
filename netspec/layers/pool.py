"""Pooling and SPP, with Caffe's border arithmetic and exact ONNX lowerings.

Caffe ceils the output size and then drops a last window that would start in
the padding (arith.pool_out); its AVE divisor counts the padding but not the
ceil overhang beyond it.  ONNX's own rules differ at exactly those borders
(before MaxPool-22, ONNX's ceil_mode keeps a window that starts in the
padding; AveragePool's divisor at the overhang is not pinned down), so the
lowerings make every window explicit: the overhang becomes extra end padding
with ceil_mode 0 (ignored by MaxPool; for AVE, divided out again by a constant
map of Caffe's divisors), which gives Caffe's shapes and values at every opset
from 13 to 22.  STOCHASTIC lowers to its test-time form.

Multiply-adds: pooling counts as 0, as the papers that publish MAC counts
count convolution and fully connected layers only.
"""

from __future__ import annotations

from dataclasses import dataclass

from netspec.layers.arith import Axis, overhang, pool_out, windows
from netspec.layers.base import GLOBAL, LayerType, Shape, ShapeContext, Window, register, shape_text
from netspec.lazy import numpy as np
from netspec.proto import caffe_pb2

Pool_ = caffe_pb2.PoolingParameter
MAX, AVE, STOCHASTIC, L2 = Pool_.MAX, Pool_.AVE, Pool_.STOCHASTIC, Pool_.L2  # L2: netspec's extension
AXES = ("h", "w")


@dataclass(frozen=True)
class Pool:
    """One pooling over the two spatial axes, as Caffe's PoolingLayer runs it."""

    method: int  # PoolingParameter.PoolMethod (SPPParameter's has the same values)
    axes: tuple[Axis, Axis]
    out: tuple[int, int]

    @property
    def overhang(self) -> list[int]:
        """Per axis, how far the last window reaches past the padded input (Caffe's ceil)."""
        return [overhang(a, o) for a, o in zip(self.axes, self.out)]

    @property
    def is_global(self) -> bool:
        return all(a.kernel == a.size and a.pad == 0 for a in self.axes)

    def divisors(self) -> np.ndarray:
        """Caffe's AVE divisor per output cell, (1, 1, H', W'): the window clipped to the padded input."""
        sizes = [
            np.minimum(np.arange(o) * a.stride - a.pad + a.kernel, a.size + a.pad)
            - (np.arange(o) * a.stride - a.pad)
            for a, o in zip(self.axes, self.out)
        ]
        return np.outer(*sizes).reshape(1, 1, *self.out)


def _spatial(ctx: ShapeContext) -> tuple[int, int]:
    """(H, W) of a 4-D bottom; Caffe's pooling layers CHECK_EQ(4, num_axes)."""
    shape = ctx.bottoms[0]
    if len(shape) != 4:
        raise ctx.error(
            "NS0336",
            f"{ctx.layer.type} takes a 4-D input (N, C, H, W), got {len(shape)}-D ({shape_text(shape)})",
            ("bottom", 0),
            help="reshape the input to N x C x H x W first",
        )
    return shape[2], shape[3]


def _pair(ctx: ShapeContext, p, name: str, default: int, *, required: bool) -> tuple[list[int], str | None]:
    """A (h, w) pair from `name` or `name_h`/`name_w`, with Caffe's LayerSetUp checks; also the
    field that gave it (None: the default)."""
    base = "kernel" if name == "kernel_size" else name
    h, w = f"{base}_h", f"{base}_w"
    has, has_h, has_w = p.HasField(name), p.HasField(h), p.HasField(w)
    if required:  # kernel: kernel_size OR (kernel_h AND kernel_w)
        if has and has_h and has_w:
            raise ctx.error(
                "NS0332", "give either kernel_size or kernel_h/kernel_w, not both", f"pooling_param.{h}"
            )
        if not has and not (has_h and has_w):
            given = h if has_h else w if has_w else None
            raise ctx.error(
                "NS0331",
                f"{given} is given without {w if given == h else h}"
                if given
                else "the kernel size is not given",
                f"pooling_param.{given}" if given else "pooling_param",
                help="set kernel_size: K (or kernel_h and kernel_w), or global_pooling: true",
            )
    elif (has_h or has_w) and (has or not (has_h and has_w)):  # pad/stride: X OR (X_h AND X_w)
        raise ctx.error(
            "NS0332",
            f"give either {name} or both {h} and {w}",
            f"pooling_param.{h if has_h else w}",
            help=f"{name} sets both axes; {h} and {w} set one each and come together",
        )
    if has:
        return [getattr(p, name)] * 2, f"pooling_param.{name}"
    if has_h:
        return [getattr(p, h), getattr(p, w)], f"pooling_param.{h}"
    return [default] * 2, None


def _floor(ctx: ShapeContext, p) -> bool:
    """Whether the output size floors: BVLC's round_mode FLOOR or the forks' ceil_mode: false."""
    if p.HasField("round_mode") and p.HasField("ceil_mode") and (p.round_mode == Pool_.FLOOR) == p.ceil_mode:
        raise ctx.error(
            "NS0337",
            f"round_mode {Pool_.RoundMode.Name(p.round_mode)} and ceil_mode {str(p.ceil_mode).lower()} "
            "disagree",
            "pooling_param.ceil_mode",
            help="keep one of them: round_mode is BVLC Caffe's spelling, ceil_mode a fork's",
        )
    return p.round_mode == Pool_.FLOOR or not p.ceil_mode


def _geometry(ctx: ShapeContext, p) -> tuple[list[Axis], str]:
    """The Pooling layer's axes, checked as Caffe's LayerSetUp checks them, and the kernel's field."""
    size = _spatial(ctx)
    method = p.pool
    if p.global_pooling:
        given = next((f for f in ("kernel_size", "kernel_h", "kernel_w") if p.HasField(f)), None)
        if given:
            raise ctx.error(
                "NS0330",
                f"{given} {getattr(p, given)} is given with global_pooling, which pools the whole "
                f"{size[0]}x{size[1]} input",
                f"pooling_param.{given}",
                help=f"drop {given}, or drop global_pooling",
            )
        pad, pad_field = _pair(ctx, p, "pad", 0, required=False)
        stride, stride_field = _pair(ctx, p, "stride", 1, required=False)
        if any(pad) or stride != [1, 1]:
            field = pad_field if any(pad) else stride_field
            raise ctx.error(
                "NS0330",
                f"global_pooling takes pad 0 and stride 1, got pad {_hw(pad)} and stride {_hw(stride)}",
                field,
                help="drop pad and stride, or use a kernel_size instead of global_pooling",
            )
        kernel = list(size)
        kernel_field = "pooling_param.global_pooling"
    else:
        kernel, kernel_field = _pair(ctx, p, "kernel_size", 0, required=True)
        stride, stride_field = _pair(ctx, p, "stride", 1, required=False)
        pad, pad_field = _pair(ctx, p, "pad", 0, required=False)
        for name, values, field in (("kernel", kernel, kernel_field), ("stride", stride, stride_field)):
            if min(values) < 1:
                raise ctx.error("NS0331", f"{name} must be at least 1, got {_hw(values)}", field)
    if any(pad):
        if method == STOCHASTIC:
            raise ctx.error(
                "NS0335",
                f"STOCHASTIC pooling takes no padding (Caffe pads only MAX and AVE), got pad {_hw(pad)}",
                pad_field,
                help="drop pad, or pool with MAX or AVE",
            )
        for axis, q, k in zip(AXES, pad, kernel):
            if q >= k:
                name = "pad" if pad_field == "pooling_param.pad" else f"pad_{axis}"
                of = "kernel" if kernel[0] == kernel[1] else f"kernel_{axis}"
                raise ctx.error(
                    "NS0333",
                    f"{name} {q} is not smaller than {of} {k}: "
                    "a window could lie wholly in the padding (Caffe: CHECK_LT(pad, kernel))",
                    f"pooling_param.{name}",
                    help=f"use pad {k - 1} or less, or a larger kernel",
                )
    return [Axis(*a) for a in zip(size, kernel, stride, pad)], kernel_field


def _pool(ctx: ShapeContext, p) -> Pool:
    """The Pooling layer's pooling, with Caffe's output size (tiling warnings reported)."""
    method = p.pool
    if len(ctx.layer.tops) > 1 and method != MAX:  # Caffe's MaxTopBlobs: 2 for MAX, else 1
        raise ctx.error(
            "NS0335",
            "only MAX pooling writes a second top (the argmax mask); this layer pools "
            + Pool_.PoolMethod.Name(method),
            ("top", 1),
            help="drop the second top",
        )
    axes, kernel_field = _geometry(ctx, p)
    ceil = not _floor(ctx, p)
    for a, unit in zip(axes, ("row", "column")):
        n = pool_out(a)
        start = (n - 1) * a.stride - a.pad
        if ceil and a.kernel <= a.size + 2 * a.pad and start >= a.size:  # never with padding: Caffe clips
            raise ctx.error(
                "NS0334",
                f"the last of {n} windows starts at {unit} {start}, past the {a.size}-{unit} input, "
                f"and reads nothing (stride {a.stride} exceeds kernel {a.kernel}); Caffe writes -FLT_MAX "
                "(MAX) or NaN (AVE) there",
                kernel_field,
                help=f"use a stride of at most {a.kernel}, or floor the count with round_mode: FLOOR "
                "(ceil_mode: false in forks)",
            )
    out = windows(ctx, axes, pooling=ceil, field=kernel_field, verb="pools")
    return Pool(method, (axes[0], axes[1]), (out[0], out[1]))


def _hw(values: list[int]) -> str:
    return str(values[0]) if values[0] == values[1] else f"{values[0]}x{values[1]}"


def lower_pool(ctx, pool: Pool, x: str, y: str, mask: str | None = None) -> None:
    """ONNX nodes computing Caffe's pooling of `x` into `y` (and its argmax mask into `mask`)."""
    kernel = [a.kernel for a in pool.axes]
    strides = [a.stride for a in pool.axes]
    pad = [a.pad for a in pool.axes]
    over = pool.overhang
    explicit = pad + [q + o for q, o in zip(pad, over)]  # the overhang as end padding: ceil_mode 0 fits
    if pool.method == MAX:
        if pool.is_global and mask is None:
            ctx.node("GlobalMaxPool", [x], [y])
            return
        ceil = ctx.maxpool_clips_ceil and any(over)
        outputs = ctx.node(
            "MaxPool",
            [x],
            [y] if mask is None else [y, ctx.tmp("indices")],
            kernel_shape=kernel,
            strides=strides,
            pads=pad + pad if ceil else explicit,
            ceil_mode=1 if ceil else None,
        )
        if mask is not None:  # ONNX indexes N x C x H x W; Caffe's mask indexes the H x W plane
            plane = ctx.node("Mod", [outputs[1], ctx.ints(pool.axes[0].size * pool.axes[1].size, "plane")])
            ctx.node("Cast", plane, [mask], to=np.float32)
        return
    if pool.method == AVE and pool.is_global:
        ctx.node("GlobalAveragePool", [x], [y])
        return
    attrs = {"kernel_shape": kernel, "strides": strides, "pads": explicit if any(explicit) else None}
    if pool.method == L2:  # the padding and the overhang add zeros, which add nothing to a sum of squares
        ctx.node("LpPool", [x], [y], p=2, **attrs)
        return
    if pool.method == AVE:
        # Every window lies inside the explicitly padded input, so count_include_pad divides by K·K;
        # the map turns that into Caffe's divisor, which leaves out the overhang.
        correct = any(over)
        mean = ctx.node(
            "AveragePool", [x], 1 if correct else [y], count_include_pad=1 if any(explicit) else None, **attrs
        )
        if correct:
            ctx.node("Mul", [*mean, ctx.const(kernel[0] * kernel[1] / pool.divisors(), "divisor")], [y])
        return
    # STOCHASTIC at test time (Caffe's StoPoolForwardTest): sum(x²)/sum(x) over the window, 0 where the
    # sum is not positive.  Both means divide by the same count, which cancels.
    squares = ctx.node("AveragePool", ctx.node("Mul", [x, x]), **attrs)
    mean = ctx.node("AveragePool", [x], **attrs)
    zero = ctx.const(np.zeros(()), "zero")
    ratio = ctx.node("Div", squares + mean)
    ctx.node("Where", [ctx.op("Greater", [*mean, zero]), *ratio, zero], [y])


class _PoolBase(LayerType):
    def macs(self, ctx: ShapeContext, tops: list[Shape]) -> int:
        """0: pooling's comparisons and additions are not counted, as published MAC counts do not."""
        return 0


@register
class Pooling(_PoolBase):
    type = "Pooling"
    family = "pooling"
    param = "pooling_param"
    tops = (1, 2)  # MAX may write its argmax mask as a second top

    def setup(self, ctx: ShapeContext) -> Pool:
        return _pool(ctx, ctx.layer.param.pooling_param)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        pool: Pool = ctx.config
        return [(*ctx.bottoms[0][:2], *pool.out)] * len(ctx.layer.tops)

    def window(self, ctx: ShapeContext) -> list[Window] | str:
        p = ctx.layer.param.pooling_param
        if p.global_pooling:
            return GLOBAL
        return [Window(a.kernel, a.stride, a.pad) for a in _geometry(ctx, p)[0]]

    def lower(self, ctx) -> None:
        lower_pool(
            ctx, ctx.config, ctx.inputs[0], ctx.outputs[0], ctx.outputs[1] if len(ctx.outputs) > 1 else None
        )


@register
class SPP(_PoolBase):
    """Spatial pyramid pooling: level l pools into 2^l x 2^l bins, flattened and concatenated.

    With pyramid_height 1, Caffe's SPPLayer hands its top to the one pooling
    layer directly, so the top stays 4-D: (N, C, 1, 1).
    """

    type = "SPP"
    family = "pooling"
    param = "spp_param"

    def setup(self, ctx: ShapeContext) -> list[Pool]:
        """Each level's pooling, with the kernel, stride and pad of Caffe's SPPLayer::GetPoolingParam."""
        p = ctx.layer.param.spp_param
        size = _spatial(ctx)
        if p.pyramid_height < 1:
            raise ctx.error(
                "NS0338",
                "pyramid_height is not given"
                if not p.HasField("pyramid_height")
                else "pyramid_height must be at least 1",
                "spp_param.pyramid_height" if p.HasField("pyramid_height") else "spp_param",
                help="set spp_param { pyramid_height: L } (L levels of 1, 2, 4, ... bins per side)",
            )
        pools = []
        for level in range(p.pyramid_height):
            bins = 2**level
            axes = []
            for s in size:
                kernel = -(-s // bins)
                pad = (kernel * bins - s + 1) // 2
                if pad and (pad >= kernel or p.pool == STOCHASTIC):
                    why = (
                        "pad must be smaller than the kernel"
                        if pad >= kernel
                        else "STOCHASTIC takes no padding"
                    )
                    raise ctx.error(
                        "NS0339",
                        f"a {size[0]}x{size[1]} input does not fit the {bins}x{bins} bins of pyramid level "
                        f"{level}: Caffe pools that level with kernel {kernel} and pad {pad}, and {why}",
                        "spp_param.pyramid_height",
                        help=f"use pyramid_height {level} or less (levels 0 to {level - 1} fit)",
                    )
                axes.append(Axis(s, kernel, kernel, pad))
            pools.append(Pool(p.pool, (axes[0], axes[1]), (pool_out(axes[0]), pool_out(axes[1]))))
        return pools

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        levels: list[Pool] = ctx.config
        n, c = ctx.bottoms[0][:2]
        if len(levels) == 1:
            return [(n, c, *levels[0].out)]
        return [(n, c * sum(pool.out[0] * pool.out[1] for pool in levels))]

    def window(self, ctx: ShapeContext) -> str:
        return GLOBAL

    def lower(self, ctx) -> None:
        levels: list[Pool] = ctx.config
        if len(levels) == 1:
            lower_pool(ctx, levels[0], ctx.inputs[0], ctx.outputs[0])
            return
        flat = []
        for level, pool in enumerate(levels):
            pooled = ctx.tmp(f"level{level}")
            lower_pool(ctx, pool, ctx.inputs[0], pooled)
            flat += ctx.node("Flatten", [pooled], axis=1)
        ctx.node("Concat", flat, [ctx.outputs[0]], axis=1)
