"""Caffe's sliding-window arithmetic, and the checker's voice when a window does not tile.

The rule is W' = (W − K + 2P)/S + 1.  Convolution floors it, pooling ceils it
(and then drops a last window that would start inside the padding).  When
(W − K + 2P) is not divisible by S the design wastes or invents pixels at the
border: the warning shows the arithmetic and suggests a pad or stride that
tiles exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from netspec.layers.base import Shape, ShapeContext

AXIS_WORDS = {1: ("position", "positions"), 2: ("row", "rows"), 3: ("column", "columns")}


@dataclass(frozen=True)
class Axis:
    """One spatial axis of a window: input size, effective kernel (dilation included), stride, pad,
    and the dilation that spreads the kernel (suggested kernels are counted in undilated taps)."""

    size: int
    kernel: int
    stride: int
    pad: int
    dilation: int = 1


def conv_out(a: Axis) -> int:
    """Caffe's compute_output_shape: C++ integer division, which truncates toward zero, so a kernel
    up to stride − 1 larger than the padded input still gives one window."""
    span = a.size + 2 * a.pad - a.kernel
    return (span // a.stride if span >= 0 else -(-span // a.stride)) + 1


def pool_out(a: Axis) -> int:
    """Caffe's PoolingLayer::Reshape: ceil, then clip a last window that starts in the padding."""
    n = -(-(a.size + 2 * a.pad - a.kernel) // a.stride) + 1
    if a.pad and (n - 1) * a.stride >= a.size + a.pad:
        n -= 1
    return n


def overhang(a: Axis, out: int) -> int:
    """How far the last of `out` windows reaches past the padded input (0 when it does not)."""
    return max((out - 1) * a.stride + a.kernel - a.size - 2 * a.pad, 0)


def end_pads(
    sizes: list[int], extents: list[int], strides: list[int], pads: list[int], ends: list[int], outs: Shape
) -> list[int]:
    """ONNX end pads for a convolution: the spec's (`ends`: the pad after each axis), plus how far a
    last window that Caffe's rounding keeps reaches past the padded input."""
    return [
        z + max((o - 1) * s + e - (i + q + z), 0)
        for i, e, s, q, z, o in zip(sizes, extents, strides, pads, ends, outs)
    ]


SMALL_BORDER = 32  # a border under 1/32 of the input along an axis is one a design accepts


def meant(a: Axis, out: int, pooling: bool) -> bool:
    """Whether a window that does not tile its input is a textbook design rather than a likely
    mistake.  Convolution: no real input goes unread beyond the gaps the stride leaves anyway (only
    padding is dropped, as a 3x3 stride-2 pad-1 convolution over an even size does), or what goes
    unread is a thin border (NIN's 11x11 stride-4 over 224 leaves 1 of 224).  Pooling: the last
    window still lies mostly on the input (GoogLeNet's 3x3 stride-2 pools), or what it covers past
    the border is thin.  The lecture's 3x3 stride 3 over 7 is neither."""
    if pooling:
        start = (out - 1) * a.stride - a.pad  # the last window, in input coordinates
        covered = min(a.size, start + a.kernel) - max(0, start)
        return 2 * covered >= a.kernel or (a.kernel - covered) * SMALL_BORDER < a.size
    unread = (a.size + 2 * a.pad - a.kernel) % a.stride - a.pad
    return unread <= max(0, a.stride - a.kernel) or unread * SMALL_BORDER < a.size


def windows(
    ctx: ShapeContext,
    axes: list[Axis],
    *,
    pooling: bool,
    field: str,
    word: str = "window",
    verb: str = "convolves",
) -> list[int]:
    """Output sizes along `axes`, with Caffe's rounding (ceil where `pooling`); errors and tiling
    lints reported, `verb` saying what the layer does with its windows ("pools").

    The axes are the trailing spatial axes; a 2-D window names them rows and columns.
    """
    n = len(axes)
    sizes = []
    reported: set[Axis] = set()
    for i, a in enumerate(axes):
        span = a.size + 2 * a.pad
        out = pool_out(a) if pooling else conv_out(a)
        if out < 1:
            raise ctx.error(
                "NS0302",
                f"{_dims(axes, 'kernel')} {word} is larger than the padded input "
                f"{_dims(axes, 'size')} (pad {_dims(axes, 'pad')}): "
                f"({a.size} + 2·{a.pad} − {a.kernel})/{a.stride} + 1 = "
                f"{_fmt((span - a.kernel) / a.stride + 1)}, not a positive size",
                field,
                help=_shrink_help(a),
            )
        sizes.append(out)
        if a.kernel > span:  # Caffe's rounding still gives whole windows; they reach past the border
            if a not in reported:
                reported.add(a)
                over = overhang(a, out)
                ctx.warning(
                    "NS0320",
                    f"{_dims(axes, 'kernel')} {word} is larger than the padded input "
                    f"{_dims(axes, 'size')} (pad {_dims(axes, 'pad')}): Caffe's rounding still "
                    f"{verb} {_count(out, 'window')} reaching {over} "
                    f"{_unit(n, i, all(b == a for b in axes), plural=over > 1)} past the border, "
                    f"{'where it reads nothing' if pooling else 'where it reads zeros'}",
                    field,
                    help="if the input size is a placeholder, give the real one with --input; "
                    + _shrink_help(a),
                    lint="tiling",
                )
            continue
        rest = (span - a.kernel) % a.stride
        if rest == 0 or a in reported:
            continue
        reported.add(a)
        same = all(b == a for b in axes)
        unit = _unit(n, i, same, plural=False)
        units = _unit(n, i, same, plural=True)
        exact = (span - a.kernel) / a.stride + 1
        head = (
            f"{_dims(axes, 'kernel')} {word}, stride {a.stride} over {a.size} (pad {a.pad}): "
            f"({a.size} − {a.kernel}{f' + 2·{a.pad}' if a.pad else ''})/{a.stride} + 1 = {_fmt(exact)}"
        )
        if pooling:
            over = (out - 1) * a.stride + a.kernel - span
            what = (
                f"Caffe {verb} {_count(out, 'window')} and the last one hangs {over} "
                f"{unit if over == 1 else units} past the border"
            )
        elif rest > a.pad:  # the padded span ends in `pad` rows of padding: the rest reach into the input
            unread = rest - a.pad
            noun = unit if unread == 1 else units
            what = (
                f"Caffe {verb} {_count(out, 'window')} and the last {unread} {noun} of the input "
                f"{'are' if unread > 1 or ' and ' in noun else 'is'} never read"
            )
        else:
            what = (
                f"Caffe {verb} {_count(out, 'window')}, which read every input {unit} but not the last "
                f"{rest} {unit if rest == 1 else units} of padding: in effect it pads {a.pad} before and "
                f"{a.pad - rest} after"
            )
        report = ctx.info if meant(a, out, pooling) else ctx.warning
        report("NS0320", f"{head}; {what}", field, help=_tiling_help(a, pooling), lint="tiling")
    return sizes


def _shrink_help(a: Axis) -> str:
    return (
        f"use a kernel of at most {(a.size + 2 * a.pad - 1) // a.dilation + 1}, "
        f"or pad by at least {-(-(a.kernel - a.size) // 2)}"
    )


def _tiling_help(a: Axis, pooling: bool) -> str:
    span = a.size + 2 * a.pad
    extra = (-(span - a.kernel)) % a.stride
    options = []
    if extra % 2 == 0:
        options.append(f"pad {a.pad + extra // 2} tiles exactly")
    else:
        cut = (span - a.kernel) % a.stride
        if cut % 2 == 0 and a.pad >= cut // 2:
            options.append(f"pad {a.pad - cut // 2} tiles exactly")
    for s in range(a.stride - 1, 0, -1):
        if (span - a.kernel) % s == 0:
            options.append(f"stride {s} tiles exactly")
            break
    taps = (a.kernel - 1) // a.dilation + 1
    for k in (taps + 1, taps - 1):
        extent = a.dilation * (k - 1) + 1
        if k > 0 and extent <= span and (span - extent) % a.stride == 0:
            options.append(f"a kernel of {k} tiles exactly")
            break
    return (
        "; ".join(options) if options else "choose pad, kernel and stride so that (W − K + 2P) divides by S"
    )


def _unit(n: int, i: int, same: bool, *, plural: bool) -> str:
    if n == 2 and same:
        return "rows and columns" if plural else "row and column"
    key = 3 if n >= 2 and i == n - 1 else 2 if n >= 2 else 1
    return AXIS_WORDS[key][1 if plural else 0]


def _dims(axes: list[Axis], attr: str) -> str:
    values = [getattr(a, attr) for a in axes]
    return "x".join(str(v) for v in values) if len(set(values)) > 1 or attr == "kernel" else str(values[0])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"
