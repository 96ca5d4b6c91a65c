"""Data sources: the layers whose tops are the net's inputs (BVLC's, SSD's AnnotatedData and
Caffe-SegNet's DenseImageData)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from netspec.layers.base import REGISTRY, DocRow, LayerType, Shape, ShapeContext, register, shape_text
from netspec.proto import caffe_pb2

if TYPE_CHECKING:
    from netspec.ir import Blob


def override(ctx: ShapeContext, index: int) -> Shape | None:
    """The shape a user gave with --input NAME=DIMS for this layer's top `index`, if any."""
    return ctx.options.get("inputs", {}).get(ctx.layer.tops[index].name)


@register
class Input(LayerType):
    type = "Input"
    family = "data"
    param = "input_param"
    bottoms = (0, 0)
    tops = (1, None)
    source = True

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        shapes = ctx.layer.param.input_param.shape
        out: list[Shape | None] = []
        for i, _ in enumerate(ctx.layer.tops):
            given = override(ctx, i)
            if given is not None:
                out.append(given)
                continue
            if not shapes:
                raise ctx.error(
                    "NS0311",
                    f"the shape of input '{ctx.layer.tops[i].name}' is not given",
                    "input_param",
                    help=f"add input_param {{ shape {{ dim: ... }} }} or pass "
                    f"--input {ctx.layer.tops[i].name}=NxCxHxW",
                )
            # Caffe: one shape for every top, or one shape per top.
            shape = shapes[0] if len(shapes) == 1 else shapes[i] if i < len(shapes) else None
            if shape is None:
                raise ctx.error(
                    "NS0311",
                    f"input_param gives {len(shapes)} shapes for {len(ctx.layer.tops)} tops",
                    "input_param",
                    help="give one shape for all tops, or one per top",
                )
            k = 0 if len(shapes) == 1 else i
            what = f"input '{ctx.layer.tops[i].name}'"
            out.append(given_shape(ctx, shape.dim, ("input_param", "shape", k, "dim"), what))
        return out


def given_shape(ctx: ShapeContext, dims, path: tuple, what: str) -> Shape:
    """The dims a spec writes for a blob; Caffe's Blob::Reshape refuses a negative one."""
    shape = tuple(int(d) for d in dims)
    negative = [j for j, d in enumerate(shape) if d < 0]
    if negative:
        j = negative[0]
        raise ctx.error(
            "NS0313",
            f"{what} has dim {j} = {shape[j]} in its shape ({', '.join(map(str, shape))}); "
            "a blob's dims cannot be negative",
            (*path, j),
            help="give every dim as a size, 0 or more",
        )
    return shape


def _deploy_reads(blob: Blob) -> bool:
    """Whether a layer kept in the inference graph reads this blob."""
    kinds = [REGISTRY.get(layer.type) for layer in blob.consumers]
    return any(kind is not None and kind.deploy for kind in kinds)


def require_positive(ctx: ShapeContext, fields: dict[str, int]) -> None:
    """Caffe's CHECK_GT(…, 0) on sizes the spec must give (an unset uint32 reads as 0)."""
    missing = [name.split(".") for name, value in fields.items() if value <= 0]
    if missing:
        fields_text = " and ".join(f"{section} {{ {field}: ... }}" for section, field in missing)
        raise ctx.error(
            "NS0376",
            " and ".join(field for _, field in missing) + " must be given and positive",
            ".".join(missing[0]),
            help=f"set {fields_text}",
        )


class DataSource(LayerType):
    """A data layer: tops are graph inputs.  `known` gives the shapes the spec determines,
    with −1 for a size Caffe reads from the data itself, or None when even the rank is
    unknown; `--input NAME=DIMS` overrides any top."""

    bottoms = (0, 0)
    source = True

    examples: ClassVar[tuple[str, str]] = ("NxCxHxW", "N")  # dims to show for top 0 and the others

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        raise NotImplementedError

    def origin(self, ctx: ShapeContext) -> str:
        """Where Caffe reads the sizes the spec leaves open."""
        return "the data it reads"

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        out: list[Shape | None] = []
        for i, shape in enumerate(self.known(ctx)):
            given = override(ctx, i)
            if given is not None:
                out.append(given)
            elif shape is not None and min(shape, default=0) >= 0:
                out.append(shape)
            else:
                self._unknown(ctx, i, shape)
                out.append(None)
        return out

    def _unknown(self, ctx: ShapeContext, index: int, shape: Shape | None) -> None:
        """Report a top the spec cannot size: an error when the inference graph reads it,
        a warning when only training-only layers (losses) do, nothing when nothing does."""
        blob = ctx.layer.tops[index]
        if not blob.consumers:
            return
        if shape is None:  # an example: images for the first top, one label per item for the others
            dims = self.examples[min(index, 1)]
        else:
            dims = "x".join(str(d) if d >= 0 else "NCHW"[axis] for axis, d in enumerate(shape))
        message = f"the shape of '{blob.name}' is not in the spec: Caffe reads it from {self.origin(ctx)}" + (
            f" (known so far: {dims})" if shape is not None else ""
        )
        help = f"pass --input {blob.name}={dims} with the sizes of the data"
        if _deploy_reads(blob):
            ctx.error("NS0375", message, ("top", index), help=help)
        else:
            ctx.warning(
                "NS0375",
                message + "; the training-only layers that read it are not checked",
                ("top", index),
                help=help,
            )


def _crop(ctx: ShapeContext) -> int:
    return ctx.layer.param.transform_param.crop_size


@register
class Data(DataSource):
    """A LevelDB/LMDB reader: (batch_size, C, H, W) with C, H, W from the first datum
    (H = W = crop_size when cropping), and labels (batch_size,)."""

    type = "Data"
    family = "data"
    param = "data_param"
    extra_params = ("transform_param",)
    tops = (1, 2)

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        batch = ctx.layer.param.data_param.batch_size
        require_positive(ctx, {"data_param.batch_size": batch})
        side = _crop(ctx) or -1
        return [(batch, -1, side, side), (batch,)][: len(ctx.layer.tops)]

    def origin(self, ctx: ShapeContext) -> str:
        p = ctx.layer.param.data_param
        return f"the first record of the {caffe_pb2.DataParameter.DB.Name(p.backend)} database '{p.source}'"


def _both(ctx: ShapeContext, section: str, first: str, second: str, does: str) -> None:
    """Caffe's CHECK that a pair of sizes is given together or not at all."""
    p = getattr(ctx.layer.param, section)
    if (getattr(p, first) > 0) != (getattr(p, second) > 0):
        given, other = (first, second) if getattr(p, first) else (second, first)
        raise ctx.error(
            "NS0377",
            f"{given} is set without {other}: Caffe {does} only when both are",
            f"{section}.{given}",
            help=f"set {other} too, or neither",
        )


@register
class ImageData(DataSource):
    """Images listed in a text file: (batch_size, 3 or 1 when not is_color, H, W), with H, W
    from crop_size, else new_height/new_width, else the first image; labels (batch_size,)."""

    type = "ImageData"
    family = "data"
    param = "image_data_param"
    extra_params = ("transform_param",)
    tops = (2, 2)

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.image_data_param
        require_positive(ctx, {"image_data_param.batch_size": p.batch_size})
        _both(ctx, "image_data_param", "new_height", "new_width", "resizes")
        height, width = (_crop(ctx),) * 2 if _crop(ctx) else (p.new_height or -1, p.new_width or -1)
        return [(p.batch_size, 3 if p.is_color else 1, height, width), (p.batch_size,)]

    def origin(self, ctx: ShapeContext) -> str:
        return f"the first image listed in '{ctx.layer.param.image_data_param.source}'"


@register
class DenseImageData(DataSource):
    """Caffe-SegNet's images with a label image each, listed in pairs in a text file
    (dense_image_data_layer.cpp): data (batch_size, 3 or 1 when not is_color, H, W) and labels
    (batch_size, 1, H, W), H × W from transform_param's crop_size, else crop_height × crop_width,
    else new_height × new_width, else the first image."""

    type = "DenseImageData"
    family = "data"
    dialect = "forks"
    param = "dense_image_data_param"
    extra_params = ("transform_param",)
    tops = (2, 2)
    doc_rows = (
        DocRow(
            fork="Caffe-SegNet (alexgkendall/caffe-segnet)",
            parameters="`dense_image_data_param` (`batch_size`, `new_height`/`new_width`, "
            "`crop_height`/`crop_width`, `is_color`, ...), `transform_param`",
            shapes="data (batch_size, 3 or 1, H, W), label (batch_size, 1, H, W): H × W the crop, "
            "else new_height × new_width, else the first image's (`--input`)",
        ),
    )

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.dense_image_data_param
        require_positive(ctx, {"dense_image_data_param.batch_size": p.batch_size})
        _both(ctx, "dense_image_data_param", "new_height", "new_width", "resizes")
        _both(ctx, "dense_image_data_param", "crop_height", "crop_width", "crops")
        if _crop(ctx):
            height = width = _crop(ctx)
        elif p.crop_height:
            height, width = p.crop_height, p.crop_width
        else:
            height, width = p.new_height or -1, p.new_width or -1
        given = override(ctx, 0)
        if height < 0 and given is not None and len(given) == 4:  # the label image is the image's size
            height, width = given[2], given[3]
        n = p.batch_size
        return [(n, 3 if p.is_color else 1, height, width), (n, 1, height, width)]

    def origin(self, ctx: ShapeContext) -> str:
        return f"the first image listed in '{ctx.layer.param.dense_image_data_param.source}'"


@register
class HDF5Data(DataSource):
    """Datasets of HDF5 files, one per top: (batch_size, sizes from the file...)."""

    type = "HDF5Data"
    family = "data"
    param = "hdf5_data_param"
    tops = (1, None)

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        if ctx.layer.param.HasField("transform_param"):
            raise ctx.error(
                "NS0377",
                "HDF5Data does not transform data: Caffe refuses transform_param",
                "transform_param",
                help="remove transform_param and preprocess the HDF5 data",
            )
        require_positive(ctx, {"hdf5_data_param.batch_size": ctx.layer.param.hdf5_data_param.batch_size})
        return [None] * len(ctx.layer.tops)

    def origin(self, ctx: ShapeContext) -> str:
        return f"the HDF5 files listed in '{ctx.layer.param.hdf5_data_param.source}'"


@register
class Python(DataSource):
    """BVLC Caffe's PythonLayer (built WITH_PYTHON_LAYER): the setup() of its Python class sizes
    its tops, so netspec, which runs no Python code, takes them from --input.  Without bottoms it
    is a data layer (FCN's and Faster R-CNN's); with bottoms, its tops enter the ONNX graph as
    inputs, as the values that code hands on."""

    type = "Python"
    family = "data"
    param = "python_param"
    bottoms = (0, None)
    tops = (0, None)
    examples = ("NxCxHxW", "NxCxHxW")  # its code decides: FCN's labels are maps, not one per item

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        return [None] * len(ctx.layer.tops)

    def origin(self, ctx: ShapeContext) -> str:
        p = ctx.layer.param.python_param
        return f"the setup() of Python layer '{p.module}.{p.layer}', which netspec does not run"


@register
class MemoryData(DataSource):
    """Arrays handed in from code: (batch_size, channels, height, width) and labels (batch_size,)."""

    type = "MemoryData"
    family = "data"
    param = "memory_data_param"
    extra_params = ("transform_param",)
    tops = (2, 2)

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.memory_data_param
        sizes = {
            f"memory_data_param.{name}": getattr(p, name)
            for name in ("batch_size", "channels", "height", "width")
        }
        require_positive(ctx, sizes)
        return [tuple(sizes.values()), (p.batch_size,)]


def _per_top(values, index: int):
    """Caffe's rule for a field given once, or once per top: its value for top `index`."""
    return values[index if len(values) > 1 else 0]


@register
class DummyData(DataSource):
    """Constant or random blobs of the shapes given: `shape` (one, or one per top), or the
    legacy num/channels/height/width (each one, or one per top)."""

    type = "DummyData"
    family = "data"
    param = "dummy_data_param"
    tops = (1, None)

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        p = ctx.layer.param.dummy_data_param
        n = len(ctx.layer.tops)
        self._count(ctx, "data_filler", len(p.data_filler), n, allow_none=True)
        legacy = ("num", "channels", "height", "width")
        if any(getattr(p, name) for name in legacy):
            if p.shape:
                raise ctx.error(
                    "NS0377",
                    "both shape and the legacy num/channels/height/width are given",
                    "dummy_data_param.shape",
                    help="keep shape and drop the legacy fields",
                )
            for name in legacy:
                self._count(ctx, name, len(getattr(p, name)), n)
            return [tuple(int(_per_top(getattr(p, name), i)) for name in legacy) for i in range(n)]
        self._count(ctx, "shape", len(p.shape), n)
        shapes = [tuple(int(d) for d in _per_top(p.shape, i).dim) for i in range(n)]
        for i, shape in enumerate(shapes):
            if min(shape, default=0) < 0:
                raise ctx.error(
                    "NS0377",
                    f"shape {shape_text(shape)} has a negative size",
                    ("dummy_data_param", "shape", i),
                )
        return shapes

    def _count(self, ctx: ShapeContext, name: str, given: int, tops: int, allow_none: bool = False) -> None:
        """Caffe's rule: a field given once applies to every top; else once per top."""
        if given in (1, tops) or (allow_none and given == 0):
            return
        if given == 0:
            raise ctx.error(
                "NS0376",
                f"{name} is not given",
                "dummy_data_param",
                help=f"give {name} once for all {tops} tops, or once per top",
            )
        raise ctx.error(
            "NS0377",
            f"{name} is given {given} times for {tops} tops; Caffe takes it once "
            "for all tops, or once per top",
            f"dummy_data_param.{name}",
        )


@register
class WindowData(DataSource):
    """R-CNN's window sampler: (batch_size, channels, crop_size, crop_size) and labels (batch_size,).

    Caffe takes channels from the window file (the channel count it lists per image);
    netspec assumes 3, the colour images R-CNN's files list; --input overrides it."""

    type = "WindowData"
    family = "data"
    param = "window_data_param"
    extra_params = ("transform_param",)
    tops = (2, 2)

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        batch = ctx.layer.param.window_data_param.batch_size
        require_positive(
            ctx, {"window_data_param.batch_size": batch, "transform_param.crop_size": _crop(ctx)}
        )
        return [(batch, 3, _crop(ctx), _crop(ctx)), (batch,)]


SSDResize = caffe_pb2.SSDResizeParameter


@register
class AnnotatedData(DataSource):
    """Images and their boxes from an LMDB of AnnotatedDatum (annotated_data_layer.cpp):
    data (batch_size, C, H, W) with C from the records, H × W the crop (crop_h/crop_w or
    crop_size), else transform_param.resize_param's height × width (WARP, FIT_LARGE_SIZE_AND_PAD),
    else the records' (DataTransformer::InferBlobShape); label (1, 1, boxes, 8), rows [item,
    label, instance, xmin, ymin, xmax, ymax, difficult], one per box of the batch (at least 1)."""

    type = "AnnotatedData"
    family = "data"
    dialect = "ssd"
    param = "annotated_data_param"
    extra_params = ("data_param", "transform_param")
    tops = (1, 2)
    doc_rows = (
        DocRow(
            parameters=(
                "`annotated_data_param`: `batch_sampler` (`sampler`, `sample_constraint`, "
                "`max_sample`, `max_trials`, `use_original_image`), `label_map_file`, "
                "`anno_type`; with `data_param` and `transform_param` (the fork's `resize_param`,"
                " `crop_h`/`crop_w`, `noise_param`, `distort_param`, `expand_param`, "
                "`emit_constraint`)"
            ),
            shapes=(
                "data (batch_size, C, H, W): H × W the crop, else `resize_param`'s height × width"
                " (WARP, FIT_LARGE_SIZE_AND_PAD), else the records'; C 3 with `force_color`, 1 "
                "with `force_gray`, else the records' (`--input` gives what the records hold); "
                "label (1, 1, boxes, 8), one row per box of the batch, checked as 1; "
                "FIT_SMALL_SIZE needs batch_size 1 (NS0377)"
            ),
        ),
    )
    data_dependent: ClassVar[dict[int, tuple[int, ...]]] = {1: (2,)}

    def known(self, ctx: ShapeContext) -> list[Shape | None]:
        t = ctx.layer.param.transform_param
        batch = ctx.layer.param.data_param.batch_size
        require_positive(ctx, {"data_param.batch_size": batch})
        resize = t.resize_param
        fixed = t.HasField("resize_param") and resize.resize_mode != SSDResize.FIT_SMALL_SIZE
        if t.HasField("resize_param") and resize.resize_mode == SSDResize.FIT_SMALL_SIZE and batch != 1:
            raise ctx.error(
                "NS0377",
                f"resize_mode FIT_SMALL_SIZE takes batch_size 1, got {batch}",
                "data_param.batch_size",
                help="set batch_size: 1, or resize with WARP",
            )
        height = t.crop_size or t.crop_h or (resize.height if fixed else 0) or -1
        width = t.crop_size or t.crop_w or (resize.width if fixed else 0) or -1
        channels = 3 if t.force_color else 1 if t.force_gray else -1
        return [(batch, channels, height, width), (1, 1, 1, 8)][: len(ctx.layer.tops)]

    def origin(self, ctx: ShapeContext) -> str:
        p = ctx.layer.param.data_param
        return f"the first record of the {caffe_pb2.DataParameter.DB.Name(p.backend)} database '{p.source}'"
