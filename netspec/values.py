"""How `netspec run` tells an output's values: shape and dtype, statistics of the finite values,
how many are not finite, and for a classifier's probabilities the five most likely classes."""

from __future__ import annotations

import numpy as np

TOP = 5
MIN_CLASSES = 10
ITEMS_SHOWN = 4


def describe(name: str, value: np.ndarray) -> str:
    """One line for the output, then a top-5 line per item (the first few) of a classifier."""
    head = f"{name}: {'x'.join(map(str, value.shape))} {value.dtype}"
    if not value.size:
        return head
    lines = [f"{head}  {_statistics(value)}"]
    scores = _class_scores(value)
    if scores is not None:
        for item, row in enumerate(scores[:ITEMS_SHOWN]):
            best = np.argsort(-row, kind="stable")[:TOP]
            ranked = ", ".join(f"{int(k)} ({float(row[k]):.4f})" for k in best)
            lines.append(f"  top-{TOP}" + (f" of item {item}" if len(scores) > 1 else "") + f": {ranked}")
        if len(scores) > ITEMS_SHOWN:
            lines.append(f"  ... and {len(scores) - ITEMS_SHOWN} more items (--out OUT.npz keeps them all)")
    return "\n".join(lines)


def _statistics(value: np.ndarray) -> str:
    """min, max and mean of the finite values (in float64, so a large sum does not overflow), and
    the count of NaN and infinite values where there are any."""
    if value.dtype.kind not in "fc":
        return _spread(value)
    finite = np.isfinite(value)
    counts = []
    nan = int(np.isnan(value).sum())
    if nan:
        counts.append(f"{nan:,} NaN")
    for sign, what in ((1, "+inf"), (-1, "-inf")):
        n = int((value == sign * np.inf).sum())
        if n:
            counts.append(f"{n:,} {what}")
    if not counts:
        return _spread(value)
    shown = value[finite]
    stats = f"finite values: {_spread(shown)}" if shown.size else "no finite value"
    return f"NOT FINITE: {', '.join(counts)} of {value.size:,} values; {stats}"


def _spread(value: np.ndarray) -> str:
    """min, max and mean, taken in float64."""
    data = value.astype(np.float64)
    return f"min {data.min():.6g}, max {data.max():.6g}, mean {data.mean():.6g}"


def _class_scores(value: np.ndarray) -> np.ndarray | None:
    """(items, classes) when the value is a classifier's probabilities: after the batch, one axis
    of at least MIN_CLASSES with the others 1, every value in [0, 1] and each item's summing to 1
    (a Softmax on top); None otherwise."""
    if value.ndim < 2 or value.dtype.kind != "f":
        return None
    axes = [d for d in value.shape[1:] if d != 1]
    if len(axes) != 1 or axes[0] < MIN_CLASSES:
        return None
    rows = value.reshape(value.shape[0], axes[0]).astype(np.float64)
    if not np.isfinite(rows).all() or rows.min() < 0 or not np.allclose(rows.sum(axis=1), 1.0, atol=1e-3):
        return None
    return rows
