"""Which fillers Caffe refuses, and where the spec writes them: checked when the net is set up.

Caffe's GetFiller and Fill CHECK-fail at net setup on an unknown filler type or a parameter
out of range, before any weights are loaded; `check` reports them there too (infer calls
`problems`), and weights.fill draws only fillers that pass `validate`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from google.protobuf.message import Message

from netspec.diagnostics import shape_text
from netspec.layers.base import Shape, WeightSpec
from netspec.proto import caffe_pb2

if TYPE_CHECKING:
    from netspec.ir import Layer

Filler = caffe_pb2.FillerParameter
TYPES = ("constant", "uniform", "gaussian", "positive_unitball", "xavier", "msra", "bilinear")


class FillerError(Exception):
    """A filler Caffe would refuse for this blob (Caffe CHECK-fails); `field` is where in the filler."""

    def __init__(self, code: str, message: str, field: str = "type", help: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field, self.help = code, field, help


def validate(filler: Filler, shape: Shape) -> None:
    """Raise FillerError where Caffe refuses `filler` for a blob of `shape`."""
    if filler.type not in TYPES:
        import difflib  # a mistake's suggestion: imported only when there is one

        near = difflib.get_close_matches(filler.type, TYPES, n=1, cutoff=0.5)
        raise FillerError(
            "NS0415",
            f"unknown filler type '{filler.type}'",
            help=f"did you mean '{near[0]}'?" if near else "Caffe's fillers: " + ", ".join(TYPES),
        )
    if filler.sparse != -1 and filler.type != "gaussian":
        raise FillerError(
            "NS0416",
            f"the {filler.type} filler does not support sparse (only gaussian does)",
            "sparse",
            help='remove sparse, or use type: "gaussian"',
        )
    if filler.type == "uniform" and filler.min > filler.max:
        raise FillerError(
            "NS0417",
            f"uniform filler's min {filler.min:g} is above its max {filler.max:g}",
            "min",
            help="Caffe requires min <= max",
        )
    if filler.type == "gaussian":
        _validate_gaussian(filler, shape)
    if filler.type == "bilinear" and (len(shape) != 4 or shape[2] != shape[3]):
        raise FillerError(
            "NS0416",
            f"the bilinear filler needs a 4-D blob with a square kernel, not {shape_text(shape)}",
            help="use it on a Deconvolution's weights with one kernel_size (and group = num_output)",
        )


def _validate_gaussian(filler: Filler, shape: Shape) -> None:
    if filler.std <= 0:
        raise FillerError(
            "NS0417",
            f"gaussian filler's std {filler.std:g} is not positive",
            "std",
            help="Caffe requires std > 0",
        )
    if filler.sparse < -1:
        raise FillerError(
            "NS0417",
            f"sparse {filler.sparse} is below -1",
            "sparse",
            help="-1 (the default) turns sparsity off",
        )
    outputs = shape[0] if shape else 1
    if filler.sparse > outputs:
        raise FillerError(
            "NS0417",
            f"sparse {filler.sparse} exceeds the blob's {outputs} outputs",
            "sparse",
            help=f"sparse is the expected non-zeros per input: at most {outputs}",
        )


def problems(
    layer: Layer, specs: list[WeightSpec]
) -> Iterator[tuple[WeightSpec, tuple[str, ...], FillerError]]:
    """(blob, path of the offending field in the layer, why) for each filler Caffe refuses."""
    for spec in specs:
        if spec.filler is None:
            continue
        try:
            validate(spec.filler, spec.shape)
        except FillerError as problem:
            path = filler_path(layer, spec)
            yield spec, (*path, problem.field) if path else (), problem


def filler_path(layer: Layer, spec: WeightSpec) -> tuple[str, ...]:
    """Where the spec's filler is written in the layer, e.g. ("convolution_param", "weight_filler")."""
    found = []
    for field, value in layer.param.ListFields():
        if not isinstance(value, Message):  # a scalar or a repeated field
            continue
        for sub, sub_value in value.ListFields():
            if isinstance(sub_value, Filler) and sub_value == spec.filler:
                found.append((field.name, sub.name))
    ranked = sorted(found, key=lambda path: not path[1].startswith(spec.name[:4]))
    return ranked[0] if ranked else ()
