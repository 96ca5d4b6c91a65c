"""Pooling of regions of interest (family "pooling"; Fast/Faster R-CNN and R-FCN forks):

- ROIPooling (rbgirshick/caffe-fast-rcnn): max pooling of each region of interest of a feature map
  into pooled_h x pooled_w bins, with ROIPoolingLayer::Forward_cpu's integer arithmetic.
- PSROIPooling (R-FCN, daijifeng001/caffe-rfcn): position-sensitive average pooling of each region
  into a group_size x group_size grid, each bin from its own score map.

The proposal layer before them is a Python layer (netspec.layers.data.Python): its rois top is
sized with --input and enters the ONNX graph as an input.  Diagnostics NS0604-NS0606.
"""

from __future__ import annotations

from netspec.layers.base import GLOBAL, DocRow, LayerType, Shape, ShapeContext, count, register, shape_text
from netspec.layers.structure import last_axis
from netspec.lazy import FLT_MAX
from netspec.lazy import numpy as np

ROI_COLUMNS = 5  # [batch index, x1, y1, x2, y2]


def _positive(ctx: ShapeContext, code: str, param: str, names: tuple[str, ...], help: str) -> None:
    """Each of `names` in `param` at least 1, as the forks' LayerSetUp CHECK_GT(..., 0) them."""
    p = getattr(ctx.layer.param, param)
    for name in names:
        if getattr(p, name) < 1:
            raise ctx.error(
                code,
                f"{name} is {getattr(p, name)}: the fork needs it above 0 (CHECK_GT)",
                f"{param}.{name}" if p.HasField(name) else ctx.block(param),
                help=help,
            )


def _map_and_rois(ctx: ShapeContext, code: str, maps: str, made_by: str) -> tuple[Shape, Shape]:
    """Bottoms (N, C, H, W) and (R, 5): the map the ROIs pool and the rois, read as the forks do."""
    data, rois = ctx.bottoms
    if len(data) != 4:
        raise ctx.error(
            code,
            f"{maps} {'is' if maps.startswith('the feature') else 'are'} {shape_text(data)}; "
            f"{ctx.layer.type} pools an (N, C, H, W) map",
            ("bottom", 0),
            help=f"bottom 0 is {made_by}, bottom 1 the rois",
        )
    if not 2 <= len(rois) <= 4 or count(rois[1:]) != ROI_COLUMNS:
        raise ctx.error(
            code,
            f"the rois are {shape_text(rois)}; the fork reads one row [batch index, x1, y1, x2, y2] "
            "of 5 values per ROI, (R, 5)"
            + (" (its CPU path steps by the row's size, its GPU path by 5)" if len(rois) >= 2 else ""),
            ("bottom", 1),
            help="give the rois as (R, 5): a proposal layer's rois top, or --input rois=Rx5",
        )
    return data, rois


@register
class ROIPooling(LayerType):
    """Per ROI r = [b, x1, y1, x2, y2] and bin (i, j), the maximum of map b over rows
    [floor(i·h/P) + y1', ceil((i + 1)·h/P) + y1') and columns likewise, clipped to the map; an empty
    bin gives 0.  y1' = round(y1 · spatial_scale) (half away from zero), h = max(y2' − y1' + 1, 1),
    h/P a float, as in the fork's Forward_cpu (its Forward_gpu is the same arithmetic)."""

    type = "ROIPooling"
    family = "pooling"
    dialect = "rcnn"
    param = "roi_pooling_param"
    bottoms = (2, 2)
    doc_rows = (
        DocRow(
            parameters=(
                "`roi_pooling_param`: `pooled_h`, `pooled_w` (both required, > 0), `spatial_scale` (1)"
            ),
            computes=(
                "bottoms a map (N, C, H, W) and rois (R, 5) = [image, x1, y1, x2, y2] in image "
                "coordinates; top (R, C, pooled_h, pooled_w): each bin's maximum over the map, 0 "
                "for an empty bin"
            ),
            onnx=(
                "a sparse table of the map (`Transpose`, `Slice`, `Pad`, `Max`, `Concat`), the "
                "bins' bounds (`Mul`, `Cast`, `Sign`, `Floor`, `Ceil`, `Div`, `Min`/`Max`), four "
                "`GatherND`, `Max`, `Where`, `Transpose`"
            ),
        ),
    )

    def pooled(self, ctx: ShapeContext) -> tuple[int, int]:
        p = ctx.layer.param.roi_pooling_param
        help = (
            "set roi_pooling_param { pooled_h: 7 pooled_w: 7 } (Faster R-CNN's VGG16 head; "
            "6 x 6 for ZF and CaffeNet)"
        )
        _positive(ctx, "NS0604", "roi_pooling_param", ("pooled_h", "pooled_w"), help)
        return p.pooled_h, p.pooled_w

    def setup(self, ctx: ShapeContext) -> tuple[Shape, Shape, tuple[int, int]]:
        data, rois = _map_and_rois(ctx, "NS0604", "the feature map", "the last convolution's output")
        return data, rois, self.pooled(ctx)

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        data, rois, pooled = ctx.config
        return [(rois[0], data[1], *pooled)]

    def window(self, ctx: ShapeContext) -> str:
        return GLOBAL  # a bin may cover any part of the map

    def index_bounds(self, ctx: ShapeContext) -> dict[int, int]:
        # Column 0 is an image of the batch; whole numbers below N make every row a valid ROI.
        return {1: ctx.bottoms[0][0]}

    index_column = 0

    def lower(self, ctx) -> None:
        height, width = ctx.in_shapes[0][2:]
        pooled = ctx.config[2]
        scale = ctx.param.roi_pooling_param.spatial_scale
        rows = ctx.op("Reshape", [ctx.inputs[1], ctx.ints([0, ROI_COLUMNS], "rows")])
        image = _image(ctx, rows)
        rounded = ctx.op("Cast", [_rounded_corners(ctx, rows, scale)], to=np.int64)
        start, end = (
            ctx.op("Squeeze", [half, ctx.ints([1], "axis")])
            for half in ctx.node("Split", [rounded, ctx.ints([1, 1], "split")], 2, axis=1)
        )
        size = ctx.op("Sub", [ctx.op("Add", [end, ctx.ints(1, "one")]), start])
        size = ctx.op("Max", [size, ctx.ints(1, "one")])  # malformed ROIs are 1 x 1
        size = ctx.op("Cast", [size], to=np.float32)
        bins = ctx.op("Div", [size, ctx.const(list(pooled), "pooled")])  # (R, 2) bin sizes
        (first_h, second_h, level_h, empty_h), (first_w, second_w, level_w, empty_w) = (
            _bin_ranges(ctx, axis, bins, start, pooled[axis], (height, width)[axis]) for axis in (0, 1)
        )
        table = _sparse_table(ctx, height, width)
        level_h = ctx.op("Mul", [last_axis(ctx, level_h), ctx.ints(width.bit_length(), "levels_w")])
        level = ctx.op("Add", [level_h, _columns(ctx, level_w)])  # (R, ph, pw)
        image = ctx.op("Expand", [last_axis(ctx, last_axis(ctx, image)), ctx.op("Shape", [level])])
        picks = []
        for h in (first_h, second_h):
            for w in (first_w, second_w):
                cell = ctx.op("Mul", [last_axis(ctx, h), ctx.ints(width, "width")])
                cell = ctx.op("Add", [cell, _columns(ctx, w)])
                at = [last_axis(ctx, x) for x in (image, level, cell)]
                at = ctx.op("Concat", at, axis=-1)
                picks.append(ctx.op("GatherND", [table, at]))
        # Caffe starts each bin at -FLT_MAX, and writes 0 where a bin is empty.
        best = ctx.op("Max", [*picks, ctx.const(-FLT_MAX, "lowest")])  # (R, ph, pw, C)
        empty = ctx.op("Or", [last_axis(ctx, empty_h), _columns(ctx, empty_w)])
        pooled_last = ctx.op("Where", [last_axis(ctx, empty), ctx.const(0.0, "empty"), best])
        ctx.node("Transpose", [pooled_last], [ctx.outputs[0]], perm=[0, 3, 1, 2])


@register
class PSROIPooling(LayerType):
    """R-FCN's position-sensitive RoI pooling (daijifeng001/caffe-rfcn, PSROIPoolingForward): per ROI
    r = [b, x1, y1, x2, y2], output channel k and bin (i, j) of a group_size × group_size grid, the
    average of map b's channel (k·G + i)·G + j over the bin's cells; an empty bin gives 0.  Corners
    are rounded half away from zero, then scaled (x2 and y2 one past: (round(x2) + 1)·scale); the
    ROI is at least 0.1 wide and high; bin i covers rows floor(i·h/G + y1) to ceil((i + 1)·h/G + y1),
    clipped to the map, in float."""

    type = "PSROIPooling"
    family = "pooling"
    dialect = "rfcn"
    param = "psroi_pooling_param"
    bottoms = (2, 2)
    doc_rows = (
        DocRow(
            parameters=(
                "`psroi_pooling_param`: `spatial_scale`, `output_dim`, `group_size` (all three "
                "required by the fork)"
            ),
            computes=(
                "bottoms score maps (N, output_dim·k², H, W) and rois (R, 5); top (R, output_dim,"
                " k, k): bin (i, j) of output channel c is the mean of map (c·k + i)·k + j over "
                "the bin, 0 for an empty bin"
            ),
            onnx=(
                "a summed-area table of the maps in double (`Cast`, two `CumSum`, `Pad`), the "
                "bins' bounds (`Sign`, `Floor`, `Ceil`, `Min`/`Max`), four `GatherND` at the "
                "bins' corners, `Div`, `Where`"
            ),
        ),
    )

    def setup(self, ctx: ShapeContext) -> tuple[int, int]:
        """(output_dim, group_size), checked as the fork's LayerSetUp and Reshape do."""
        p = ctx.layer.param.psroi_pooling_param
        help = (
            "set psroi_pooling_param { spatial_scale: 0.0625 output_dim: 21 group_size: 7 } "
            "(R-FCN's class head on VOC)"
        )
        _positive(ctx, "NS0606", "psroi_pooling_param", ("output_dim", "group_size"), help)
        if not p.HasField("spatial_scale"):
            raise ctx.error(
                "NS0606",
                "spatial_scale is not given (the fork requires it)",
                ctx.block("psroi_pooling_param"),
                help="set spatial_scale: 1 / the score maps' stride, e.g. 0.0625 for stride 16",
            )
        data, _ = _map_and_rois(ctx, "NS0606", "the score maps", "the position-sensitive score maps")
        if data[1] != p.output_dim * p.group_size**2:
            raise ctx.error(
                "NS0606",
                f"the score maps have {data[1]} channels; output_dim {p.output_dim} x group_size² "
                f"{p.group_size**2} = {p.output_dim * p.group_size**2} (the fork's CHECK_EQ)",
                ("bottom", 0),
                help="the convolution before it gives output_dim · group_size² channels, one map per "
                "class (or box coordinate) and bin",
            )
        return p.output_dim, p.group_size

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        output_dim, group = ctx.config
        return [(ctx.bottoms[1][0], output_dim, group, group)]

    def window(self, ctx: ShapeContext) -> str:
        return GLOBAL  # a bin may cover any part of the map

    def index_bounds(self, ctx: ShapeContext) -> dict[int, int]:
        return {1: ctx.bottoms[0][0]}

    index_column = 0

    def lower(self, ctx) -> None:
        output_dim, group = ctx.config
        rows = ctx.op("Reshape", [ctx.inputs[1], ctx.ints([0, ROI_COLUMNS], "rows")])
        low, high = _ps_bins(ctx, rows, group)  # (R, 2, G) each, [rows, columns]
        (low_h, low_w), (high_h, high_w), (extent_h, extent_w) = (
            ctx.node("Split", [x, ctx.ints([1, 1], "split")], 2, axis=1)
            for x in (low, high, ctx.op("Max", [ctx.op("Sub", [high, low]), ctx.ints(0, "zero")]))
        )  # (R, 1, G) each
        area = ctx.op("Mul", [last_axis(ctx, extent_h), _columns_last(ctx, extent_w)])  # (R, 1, G, G)
        area = ctx.op("Cast", [area], to=np.float32)
        # Each bin's sum from a summed-area table of the maps (in double), at four corners of the bin.
        table = ctx.op("Cast", [ctx.inputs[0]], to=np.float64)
        for axis in (2, 3):
            table = ctx.op("CumSum", [table, ctx.ints(axis, f"axis_{axis}")])
        table = ctx.op("Pad", [table, ctx.ints([0, 0, 1, 1, 0, 0, 0, 0], "corner")])  # (N, C, H+1, W+1)
        image = ctx.op("Reshape", [_image(ctx, rows), ctx.ints([-1, 1, 1, 1], "per_roi")])
        channel = ctx.ints(
            np.arange(output_dim * group * group).reshape(1, output_dim, group, group), "channel"
        )
        roi_count = ctx.op("Slice", [ctx.op("Shape", [rows]), *_span(ctx, 0, 1)])
        full = ctx.op("Concat", [roi_count, ctx.ints([output_dim, group, group], "grid")], axis=0)
        total = None
        corners = [
            (high_h, high_w, None),
            (low_h, high_w, "Sub"),
            (high_h, low_w, "Sub"),
            (low_h, low_w, "Add"),
        ]
        for rows_at, columns_at, op in corners:
            at = [image, channel, last_axis(ctx, rows_at), _columns_last(ctx, columns_at)]
            at = [last_axis(ctx, ctx.op("Expand", [x, full])) for x in at]  # (R, D, G, G, 1) each
            picked = ctx.op("GatherND", [table, ctx.op("Concat", at, axis=-1)])
            total = picked if op is None else ctx.op(op, [total, picked])
        total = ctx.op("Cast", [total], to=np.float32)
        empty = ctx.op("Equal", [area, ctx.const(np.float32(0), "none")])
        area = ctx.op("Where", [empty, ctx.const(np.float32(1), "unit"), area])
        mean = ctx.op("Div", [total, area])
        ctx.node("Where", [empty, ctx.const(np.float32(0), "empty"), mean], [ctx.outputs[0]])


def _image(ctx, rows: str) -> str:
    """Each ROI's image, column 0 truncated (static_cast<int>); one below 0, which the forks would
    read outside the batch, is made one past it, which GatherND refuses."""
    image = ctx.op("Cast", [ctx.op("Gather", [rows, ctx.ints(0, "batch_column")], axis=1)], to=np.int64)
    below = ctx.op("Less", [image, ctx.ints(0, "zero")])
    return ctx.op("Where", [below, ctx.ints(2**62, "outside"), image])


def _rounded_corners(ctx, rows: str, scale: float | None = None) -> str:
    """The ROIs' corners (R, 2, 2), [start, end] × [y, x], times `scale` in float when given, then
    rounded half away from zero (C's round), in double: in float, |v| + 0.5 can round up."""
    corners = ctx.op("Gather", [rows, ctx.ints([[2, 1], [4, 3]], "corners")], axis=1)
    if scale is not None:
        corners = ctx.op("Mul", [corners, ctx.const(scale, "scale")])
    wide = ctx.op("Cast", [corners], to=np.float64)
    half_up = ctx.op("Add", [ctx.op("Abs", [wide]), ctx.const(0.5, "half", np.float64)])
    return ctx.op("Mul", [ctx.op("Sign", [wide]), ctx.op("Floor", [half_up])])


def _ps_bins(ctx, rows: str, group: int) -> tuple[str, str]:
    """PSROIPooling's bins: (R, 2, G) first and one-past-last rows ([:, 0]) and columns ([:, 1]),
    PSROIPoolingForward's float arithmetic, clipped to the map."""
    height, width = ctx.in_shapes[0][2:]
    scale = ctx.param.psroi_pooling_param.spatial_scale
    corners = ctx.op("Cast", [_rounded_corners(ctx, rows)], to=np.float32)
    corners = ctx.op("Add", [corners, ctx.const([[0, 0], [1, 1]], "one_past")])  # round(x2) + 1
    scaled = ctx.op("Mul", [corners, ctx.const(scale, "scale")])
    start, end = (
        ctx.op("Squeeze", [half, ctx.ints([1], "axis")])
        for half in ctx.node("Split", [scaled, ctx.ints([1, 1], "split")], 2, axis=1)
    )  # (R, 2) each, [y, x]
    size = ctx.op("Max", [ctx.op("Sub", [end, start]), ctx.const(np.float32(0.1), "least")])
    bins = ctx.op("Div", [size, ctx.const(float(group), "group")])
    steps = ctx.const(np.arange(group + 1, dtype=np.float32)[None, None, :], "steps")
    edges = ctx.op("Add", [ctx.op("Mul", [last_axis(ctx, bins), steps]), last_axis(ctx, start)])
    limits = ctx.ints(np.array([height, width])[None, :, None], "limits")
    clipped = []
    for rounding, first, last in (("Floor", 0, group), ("Ceil", 1, group + 1)):
        edge = ctx.op(rounding, [ctx.op("Slice", [edges, *_span(ctx, first, last)])])
        edge = ctx.op("Max", [ctx.op("Cast", [edge], to=np.int64), ctx.ints(0, "zero")])
        clipped.append(ctx.op("Min", [edge, limits]))
    return clipped[0], clipped[1]


def _span(ctx, first: int, last: int) -> list[str]:
    """Slice's starts, ends and axes for [first, last) of the last axis."""
    return [ctx.ints([first], "from"), ctx.ints([last], "to"), ctx.ints([-1], "last")]


def _columns_last(ctx, x: str) -> str:
    """x (..., G) as (..., 1, G): the bins along the last axis become columns."""
    return ctx.op("Unsqueeze", [x, ctx.ints([-2], "axis")])


def _bin_ranges(ctx, axis: int, bins: str, start: str, pooled: int, size: int) -> list[str]:
    """Along `axis` (rows 0, columns 1), (R, pooled) tensors for each ROI's bins: two positions
    whose runs of 2^level cover the bin, the level, and whether the bin is empty (Forward_cpu's
    floor/ceil of the bin edges, offset by the ROI's start and clipped to [0, size])."""
    pick = ctx.ints([axis], "axis")
    bin_size = ctx.op("Gather", [bins, pick], axis=1)  # (R, 1)
    offset = ctx.op("Gather", [start, pick], axis=1)
    steps = np.arange(pooled + 1, dtype=np.float32)
    edges = []
    for rounding, at in (("Floor", steps[:-1]), ("Ceil", steps[1:])):
        edge = ctx.op(rounding, [ctx.op("Mul", [bin_size, ctx.const(at, "steps")])])
        edge = ctx.op("Add", [ctx.op("Cast", [edge], to=np.int64), offset])
        edge = ctx.op("Max", [edge, ctx.ints(0, "zero")])
        edges.append(ctx.op("Min", [edge, ctx.ints(size, "size")]))
    extent = ctx.op("Sub", [edges[1], edges[0]])
    empty = ctx.op("LessOrEqual", [extent, ctx.ints(0, "zero")])
    extent = ctx.op("Max", [extent, ctx.ints(1, "one")])  # an empty bin reads a valid cell
    lengths = np.maximum(np.arange(size + 1), 1)
    levels = np.array([n.bit_length() - 1 for n in lengths.tolist()], np.int64)
    first = ctx.op("Min", [edges[0], ctx.ints(size - 1, "last")])
    tail = ctx.op("Gather", [ctx.ints(lengths - (1 << levels), "tail"), extent])
    second = ctx.op("Add", [first, tail])  # the end − 2^level
    level = ctx.op("Gather", [ctx.ints(levels, "levels"), extent])
    return [first, second, level, empty]


def _sparse_table(ctx, height: int, width: int) -> str:
    """The map's sparse table (N, Lh·Lw, H·W, C): entry (n, kh·Lw + kw, h·W + w) holds each channel's
    maximum over rows h to h + 2^kh − 1 and columns w to w + 2^kw − 1 (where they fit the map; other
    entries are never read), L = the bits of the size.  A bin's maximum is then the maximum of four
    entries whose runs overlap to cover it: exact, whatever the ROIs."""
    levels_h, levels_w = height.bit_length(), width.bit_length()
    along_w = [ctx.op("Transpose", [ctx.inputs[0]], perm=[0, 2, 3, 1])]  # (N, H, W, C)
    for k in range(1, levels_w):
        along_w.append(_doubled(ctx, along_w[-1], 2, 1 << (k - 1), width))
    by_level = {}
    for kw, level in enumerate(along_w):
        by_level[0, kw] = level
        for kh in range(1, levels_h):
            by_level[kh, kw] = _doubled(ctx, by_level[kh - 1, kw], 1, 1 << (kh - 1), height)
    stacked = ctx.op(
        "Concat",
        [_columns(ctx, by_level[kh, kw]) for kh in range(levels_h) for kw in range(levels_w)],
        axis=1,
    )
    shape = [0, levels_h * levels_w, height * width, ctx.in_shapes[0][1]]
    return ctx.op("Reshape", [stacked, ctx.ints(shape, "table")])


def _doubled(ctx, level: str, axis: int, shift: int, size: int) -> str:
    """The next level of a sparse table along `axis` of (N, H, W, C): max(t[i], t[i + shift])."""
    ahead = ctx.node(
        "Slice", [level, ctx.ints([shift], "from"), ctx.ints([size], "to"), ctx.ints([axis], "axes")]
    )
    pads = [0] * 8
    pads[4 + axis] = shift
    return ctx.op("Max", [level, ctx.op("Pad", [*ahead, ctx.ints(pads, "pads")])])


def _columns(ctx, x: str) -> str:
    """x with a new axis 1."""
    return ctx.op("Unsqueeze", [x, ctx.ints([1], "axis")])
