"""Caffe's sliding-window arithmetic, and the checker's voice when a window does not tile.

The rule is W' = (W − K + 2P)/S + 1.  Convolution floors it, pooling ceils it
(and then drops a last window that would start inside the padding).  When
(W − K + 2P) is not divisible by S the design wastes or invents pixels at the
border: the warning shows the arithmetic and suggests a pad or stride that
tiles exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from netspec.layers.base import ShapeContext

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
    return (a.size + 2 * a.pad - a.kernel) // a.stride + 1


def pool_out(a: Axis) -> int:
    """Caffe's PoolingLayer::Reshape: ceil, then clip a last window that starts in the padding."""
    n = -(-(a.size + 2 * a.pad - a.kernel) // a.stride) + 1
    if a.pad and (n - 1) * a.stride >= a.size + a.pad:
        n -= 1
    return n


def windows(
    ctx: ShapeContext, axes: list[Axis], *, pooling: bool, field: str, word: str = "window"
) -> list[int]:
    """Output sizes along `axes`, with Caffe's rounding; errors and tiling warnings reported.

    The axes are the trailing spatial axes; a 2-D window names them rows and columns.
    """
    n = len(axes)
    sizes = []
    reported: set[Axis] = set()
    for i, a in enumerate(axes):
        span = a.size + 2 * a.pad
        if a.kernel > span:
            raise ctx.error(
                "NS0302",
                f"{_dims(axes, 'kernel')} {word} is larger than the padded input "
                f"{_dims(axes, 'size')} (pad {_dims(axes, 'pad')}): "
                f"({a.size} + 2·{a.pad} − {a.kernel})/{a.stride} + 1 = "
                f"{_fmt((span - a.kernel) / a.stride + 1)}, not a positive size",
                field,
                help=f"use a kernel of at most {(span - 1) // a.dilation + 1}, "
                f"or pad by at least {-(-(a.kernel - a.size) // 2)}",
            )
        out = pool_out(a) if pooling else conv_out(a)
        sizes.append(out)
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
                f"Caffe pools {out} windows and the last one hangs {over} "
                f"{unit if over == 1 else units} past the border"
            )
        elif rest > a.pad:  # the padded span ends in `pad` rows of padding: the rest reach into the input
            unread = rest - a.pad
            noun = unit if unread == 1 else units
            what = (
                f"Caffe convolves {out} windows and the last {unread} {noun} of the input "
                f"{'are' if unread > 1 or ' and ' in noun else 'is'} never read"
            )
        else:
            what = (
                f"Caffe convolves {out} windows, which read every input {unit} but not the last {rest} "
                f"{unit if rest == 1 else units} of padding: in effect it pads {a.pad} before and "
                f"{a.pad - rest} after"
            )
        ctx.warning("NS0320", f"{head}; {what}", field, help=_tiling_help(a, pooling))
    return sizes


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


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"
