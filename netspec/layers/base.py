"""What a layer type is: one class per Caffe type, registered once.

A LayerType carries, side by side, everything the stages need to know about
its type: how many bottoms and tops it takes, the shape rule (Caffe's exact
arithmetic), its weight blobs with their shapes and fillers, its
multiply-adds, its spatial window (for receptive fields), and its lowering to
ONNX.  Adding a layer type is adding one such class in one module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from netspec.diagnostics import Diagnostic, Diagnostics, Severity, shape_text
from netspec.files import read_cached, write_cached
from netspec.proto import caffe_pb2

if TYPE_CHECKING:
    import numpy as np

    from netspec.ir import Layer
    from netspec.lower import LowerContext
    from netspec.source import SourceMap

Shape = tuple[int, ...]
Affine = tuple["np.ndarray", "np.ndarray"]  # y = a·x + b per channel of axis 1, float64
GLOBAL = "global"  # a window that sees the whole input (InnerProduct, global pooling)


@dataclass
class WeightSpec:
    """One blob of a layer: Caffe's order, shape and filler.

    learnable=False marks a buffer (BatchNorm's running statistics): counted
    apart from parameters, filled with `filler` when no weights are given.
    """

    name: str
    shape: Shape
    filler: caffe_pb2.FillerParameter | None = None
    learnable: bool = True


@dataclass(frozen=True)
class Window:
    """A layer's sliding window along one spatial axis, for the receptive field."""

    kernel: int  # effective extent, dilation included
    stride: int
    pad: int = 0
    transposed: bool = False  # deconvolution: the stride divides the jump


class NotLowered(NotImplementedError):
    """A configuration the layer's lowering cannot express: checked, not compiled (NS0402, with help)."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


class ShapeError(Exception):
    """Raised by a shape rule after it has reported why; the tops become unknown."""


class ShapeContext:
    """What a shape rule sees: its layer, its bottoms' shapes, and a way to speak."""

    def __init__(
        self,
        layer: Layer,
        bottoms: list[Shape],
        diagnostics: Diagnostics,
        source_map: SourceMap,
        options: dict | None = None,
        config=None,
    ) -> None:
        self.layer = layer
        self.bottoms = bottoms
        self.diagnostics = diagnostics
        self.source_map = source_map
        self.options = options or {}
        self.config = config  # the layer's parameters as its type's setup() read them (LayerSetUp)

    @property
    def name(self) -> str:
        return self.layer.name

    def span(self, field: str | tuple | None = None, *, value: bool = True):
        """The span of a field of this layer: "convolution_param.kernel_size", or ("bottom", 1)."""
        path = self.layer.path
        if isinstance(field, str):
            path = path + tuple(field.split("."))
        elif field:
            path = path + tuple(field)
        return self.source_map.span(path, value=value)

    def block(self, param: str) -> str:
        """Where a problem with a whole *_param block points: the block if written, else the type."""
        return param if self.layer.param.HasField(param) else "type"

    def report(
        self,
        severity: Severity,
        code: str,
        message: str,
        field=None,
        *,
        help: str | None = None,
        notes: list[str] | None = None,
        lint: str | None = None,
    ) -> Diagnostic:
        return self.diagnostics.add(
            Diagnostic(
                severity,
                code,
                f"{self.name}: {message}",
                self.span(field),
                notes=list(notes or ()),
                help=help,
                layer=self.name,
                lint=lint,
            )
        )

    def error(self, code: str, message: str, field=None, **kw) -> ShapeError:
        """Report an error; returns a ShapeError for the rule to raise."""
        self.report(Severity.ERROR, code, message, field, **kw)
        return ShapeError(message)

    def warning(self, code: str, message: str, field=None, **kw) -> None:
        self.report(Severity.WARNING, code, message, field, **kw)

    def info(self, code: str, message: str, field=None, **kw) -> None:
        self.report(Severity.INFO, code, message, field, **kw)


@dataclass(frozen=True)
class DocRow:
    """One row of a dialect's table in docs/dialects.md, which netspec.dialects generates: a deploy
    type's parameters, what it computes and its ONNX operators, or a training type's parameters
    and shapes.  `fork` names the fork where a dialect gathers several; `dialect` puts a BVLC type
    in the table of the fork that gave it a field."""

    parameters: str
    computes: str = ""
    onnx: str = ""
    shapes: str = ""
    fork: str = ""
    dialect: str | None = None


class LayerType:
    """Base class of every layer type.  Subclasses set the class attributes
    and override what applies; the defaults describe a pointwise layer that
    passes its single bottom's shape through.
    """

    type: ClassVar[str]  # Caffe's type string, e.g. "Convolution"
    family: ClassVar[str]  # what it does: one of FAMILIES; its module is the family's
    dialect: ClassVar[str | None] = None  # who defined it: None for BVLC Caffe, else one of DIALECTS
    param: ClassVar[str | None] = None  # its LayerParameter field, e.g. "convolution_param"
    bottoms: ClassVar[tuple[int, int | None]] = (1, 1)  # (min, max); None: no maximum
    tops: ClassVar[tuple[int, int | None]] = (1, 1)
    deploy: ClassVar[bool] = True  # False: training-only, dropped from inference graphs
    source: ClassVar[bool] = False  # True: a data layer whose tops are graph inputs
    # top -> axes whose size the values decide (the shape rule gives the most); symbolic in ONNX
    data_dependent: ClassVar[dict[int, tuple[int, ...]]] = {}
    # What the other stages ask of a type, said here rather than in lists of type names there:
    absorbs_affine: ClassVar[bool] = (
        False  # a following channel_affine chain folds into its weights (fold.py)
    )
    # its first blob holds filters (out, in / group, kh, kw): the report draws the first such layer's
    has_filters: ClassVar[bool] = False
    param_share: ClassVar[str | None] = None  # "conv" or "fc": the totals' share its parameters count in
    extra_params: ClassVar[tuple[str, ...]] = ()  # *_param fields it reads besides `param` (the builder's)
    doc_rows: ClassVar[tuple[DocRow, ...]] = ()  # a fork type's rows in docs/dialects.md (netspec.dialects)

    @property
    def reads(self) -> tuple[str, ...]:
        """Every *_param block of LayerParameter this type reads: `param`, then `extra_params`."""
        return tuple(dict.fromkeys(f for f in (self.param, *self.extra_params) if f))

    def params(self, layer: Layer):
        """This layer's *_param message (the schema's default when the spec omits it)."""
        return getattr(layer.param, self.param) if self.param else None

    def setup(self, ctx: ShapeContext):
        """Caffe's LayerSetUp: read and validate this layer's parameters once, into a small typed
        object (reporting what is wrong and raising the ShapeError).  infer keeps it on the layer's
        LayerInfo.config; every other hook reads it as ctx.config, lowering and folding too."""
        return None

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        return [ctx.bottoms[0]] * len(ctx.layer.tops)

    def weights(self, ctx: ShapeContext) -> list[WeightSpec]:
        return []

    def macs(self, ctx: ShapeContext, tops: list[Shape]) -> int:
        return 0

    def window(self, ctx: ShapeContext) -> list[Window] | str | None:
        """Spatial windows (one per spatial axis), GLOBAL, or None for a pointwise layer."""
        return None

    def index_bounds(self, ctx: ShapeContext) -> dict[int, int]:
        """Bottoms this layer reads as indices, each with the exclusive bound on its values
        (Embed's input_dim rows): what random test inputs for them must respect, and given ones
        are checked against (in `index_column` of their last axis, where that is set)."""
        return {}

    index_column: int | None = None  # where index_bounds' bottoms hold their indices; None: every value

    def channel_affine(self, ctx: ShapeContext, blobs: list[np.ndarray]) -> Affine | None:
        """(a, b) of y = a·x + b per channel of axis 1, when this layer at inference is such a map
        given its blobs (netspec.fold folds it into an absorbs_affine layer before it); else None."""
        return None

    def lower(self, ctx: LowerContext) -> None:
        raise NotImplementedError(f"netspec cannot compile {self.type} layers to ONNX yet")


class Registry(Mapping[str, LayerType]):
    """Every layer type by its Caffe type string: REGISTRY["Convolution"].

    A type is registered when its family's module (netspec.layers.conv, ...) is imported, and the
    registry imports that module when one of its types is first asked for: checking a net of
    convolutions and pools does not define the detection, recurrent and loss layers.  Which module
    holds which type it reads from an index built by importing every family once, kept in the cache
    folder under the family files' sizes and times.  A type the index does not name, or does not
    find where it says, has every family imported: the index only saves time, and adding a type is
    still writing its class in its family's module.  Listing the types imports every family.
    """

    def __init__(self) -> None:
        self._types: dict[str, LayerType] = {}
        self._complete = False
        self._index: dict[str, str] | None = None

    def add(self, kind: LayerType) -> None:
        if kind.type in self._types:
            raise ValueError(f"layer type {kind.type} registered twice")
        self._types[kind.type] = kind

    def __getitem__(self, name: str) -> LayerType:
        kind = self._types.get(name)
        return kind if kind is not None else self._find(name)

    def get(self, name: str, default: LayerType | None = None) -> LayerType | None:
        kind = self._types.get(name)
        if kind is not None:
            return kind
        try:
            return self._find(name)
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        self._import_all()
        return iter(self._types)

    def __len__(self) -> int:
        self._import_all()
        return len(self._types)

    def _find(self, name: str) -> LayerType:
        if not self._complete:
            module = self.index().get(name)
            if module is not None:
                _import(module)
            if name not in self._types:
                self._import_all()
        return self._types[name]

    def _import_all(self) -> None:
        if not self._complete:
            for file in _family_files():
                _import(file[:-3])
            self._complete = True

    def index(self) -> dict[str, str]:
        """{type: the module of netspec.layers that defines it}, read from the cache or built."""
        if self._index is None:
            key = [
                (name, entry.stat().st_size, entry.stat().st_mtime_ns)
                for name, entry in _family_files().items()
            ]
            # One file per installed copy (a source checkout beside a pip install would take turns
            # rebuilding one shared file); the stats key says whether it is this copy's as it is now.
            here = "".join(c if c.isalnum() else "-" for c in os.path.dirname(__file__))[-160:]
            name = f"layer-types{here}.marshal"
            index = read_cached(name, key)
            if not isinstance(index, dict):
                self._import_all()
                index = {
                    name: type(kind).__module__.rpartition(".")[2]
                    for name, kind in self._types.items()
                    if type(kind).__module__.rpartition(".")[0] == __package__
                }
                write_cached(name, key, index)
            self._index = index
        return self._index


def _import(module: str) -> None:
    """Import netspec.layers.`module` as an import statement does (-X importtime times it, where
    importlib.import_module passes by its timer)."""
    __import__(f"{__package__}.{module}")


def _family_files() -> dict[str, os.DirEntry]:
    """The modules of netspec.layers that may define types (all but this one and the package's),
    by file name, in name order; files no import could name (an editor's `.#conv.py`) are not."""
    with os.scandir(os.path.dirname(__file__)) as entries:
        found = {
            e.name: e
            for e in entries
            if e.name.endswith(".py")
            and e.name[:-3].isidentifier()
            and e.name not in ("__init__.py", "base.py")
        }
    return dict(sorted(found.items()))


REGISTRY = Registry()
# The families a layer type belongs to, by what it does (the pictures colour by them).
FAMILIES = (
    "data",
    "convolution",
    "pooling",
    "activation",
    "normalization",
    "dense",
    "recurrent",
    "resize",
    "layout",
    "structure",
    "detection",
    "decoding",
    "loss",
    "metric",
    "sink",
)
DIALECTS = ("ssd", "forks", "ocr", "rcnn", "rfcn", "netspec")  # docs/dialects.md's sections; netspec: its own


def register(cls: type[LayerType]) -> type[LayerType]:
    """Class decorator: make a layer type known by its Caffe type string."""
    if getattr(cls, "family", None) not in FAMILIES or cls.dialect not in (None, *DIALECTS):
        raise ValueError(f"layer type {cls.type} needs a family of {FAMILIES} and a dialect of {DIALECTS}")
    REGISTRY.add(cls())
    return cls


def count(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def canonical_axis(ctx: ShapeContext, axis: int, ndim: int, field: str) -> int:
    """Caffe's CanonicalAxisIndex: negative axes count from the end; out of range is an error."""
    if not -ndim <= axis < ndim:
        raise ctx.error(
            "NS0310",
            f"axis {axis} is out of range for a {ndim}-D input (valid: {-ndim} to {ndim - 1})",
            field,
        )
    return axis % ndim


def filler_of(p, field: str) -> caffe_pb2.FillerParameter | None:
    """A *_param block's filler field, None when the spec leaves it out (the layer's default)."""
    return getattr(p, field) if p.HasField(field) else None


def required_size(ctx: ShapeContext, p, param: str, field: str, what: str, code: str) -> int:
    """A size the layer cannot do without (num_output, input_dim): unset or 0 is an error."""
    value = getattr(p, field)
    if value < 1:
        raise ctx.error(code, f"{field} is not given", param, help=f"set {param} {{ {field}: N }} ({what})")
    return value


def inner_products(ctx: ShapeContext, param: str, what: str) -> tuple[int, int, int, int]:
    """(axis, M independent products, K inputs, N outputs) of an inner product over the values from
    `param`'s axis on, with its num_output."""
    p = getattr(ctx.layer.param, param)
    shape = ctx.bottoms[0]
    n = required_size(ctx, p, param, "num_output", what, "NS0365")
    axis = canonical_axis(ctx, p.axis, len(shape), f"{param}.axis")
    return axis, count(shape[:axis]), count(shape[axis:]), n


def bottom_rank(ctx: ShapeContext, index: int, ranks: str, ok: bool, example: str) -> None:
    """NS0396 unless `ok`: bottom `index` has a rank this layer type cannot take."""
    if not ok:
        shape = ctx.bottoms[index]
        raise ctx.error(
            "NS0396",
            f"{ctx.layer.type} takes a {ranks} bottom {index}, got {len(shape)}-D ({shape_text(shape)})",
            ("bottom", index),
            help=f"reshape it to {example} first",
        )


def four_d(ctx: ShapeContext, code: str, index: int = 0) -> Shape:
    shape = ctx.bottoms[index]
    if len(shape) != 4:
        raise ctx.error(
            code,
            f"{ctx.layer.type} takes a 4-D (N, C, H, W) bottom {index}, got {shape_text(shape)}",
            ("bottom", index),
            help="reshape it to N x C x H x W first",
        )
    return shape
