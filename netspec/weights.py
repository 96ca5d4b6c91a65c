"""Weight blobs for every layer: bound from a .caffemodel by layer name, or filled.

The fillers are Caffe's own (include/caffe/filler.hpp): constant, uniform,
gaussian (with `sparse`), positive_unitball, xavier, msra and bilinear, with
Caffe's fan-in / fan-out arithmetic and the parameter checks Caffe makes.
Random fillers draw from a numpy Generator seeded by (seed, layer name), so
one seed fixes the whole net and adding a layer does not reshuffle the others.

A blob whose spec gives no filler gets netspec's default rather than Caffe's
constant 0 (which makes every output of a fresh net 0 and every parity test
vacuous).  Chosen by WeightSpec.name:

    bias            0
    mean            0      (BatchNorm's running mean)
    variance        1      (BatchNorm's running variance)
    scale_factor    1      (BatchNorm's third blob; Caffe would start it at 0)
    scale           1      (Scale, as Caffe's own default)
    slopes          0.25   (PReLU, as Caffe's own default)
    anything else   msra (He, fan-in) when learnable and at least 2-D, else 0

A filler a layer type sets in its WeightSpec always wins over these.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from netspec import fillers, sharing
from netspec.diagnostics import Diagnostics, shape_text
from netspec.fillers import validate
from netspec.infer import FLOAT_BYTES, Analysis, LayerInfo
from netspec.layers import REGISTRY
from netspec.layers.base import Shape, WeightSpec, count
from netspec.proto import caffe_pb2

if TYPE_CHECKING:
    from netspec.ir import Layer

Filler = caffe_pb2.FillerParameter
VarianceNorm = caffe_pb2.FillerParameter.VarianceNorm

# WeightSpec.name -> (value, how the default-filler info describes it)
NAMED_DEFAULTS: dict[str, tuple[float, str]] = {
    "bias": (0.0, "0 for biases"),
    "mean": (0.0, "0 for means"),
    "variance": (1.0, "1 for variances"),
    "scale_factor": (1.0, "1 for scale factors"),
    "scale": (1.0, "1 for scales"),
    "slopes": (0.25, "0.25 for slopes"),
}
HE_DEFAULT = "msra (He) for weights"
LEARNABLE_ZERO = NAMED_DEFAULTS["bias"][1]
BUFFER_ZERO = "0 for other buffers"
LISTED = 10  # names shown before "and N more"
PROTOBUF_LIMIT = 2**31 - 2**20  # bytes of weights one protobuf message can hold, with room for the graph


def _fans(shape: Shape) -> tuple[int, int]:
    """Caffe's fan_in = count / shape[0] and fan_out = count / shape[1] (count for a 1-D blob)."""
    n = count(shape)
    fan_in = n // shape[0] if shape and shape[0] else n
    fan_out = n // shape[1] if len(shape) > 1 and shape[1] else n
    return fan_in, fan_out


def _scale_n(filler: Filler, shape: Shape) -> float:
    """The n of xavier's sqrt(3/n) and msra's sqrt(2/n), by variance_norm."""
    fan_in, fan_out = _fans(shape)
    if filler.variance_norm == Filler.AVERAGE:
        return (fan_in + fan_out) / 2.0
    return float(fan_out if filler.variance_norm == Filler.FAN_OUT else fan_in)


def _draw_uniform(rng: np.random.Generator, low: float, high: float, shape: Shape) -> np.ndarray:
    """U[low, high) drawn in float32, as Caffe's float blobs are (and several times faster than float64)."""
    data = rng.random(shape, dtype=np.float32)
    data *= np.float32(high - low)
    data += np.float32(low)
    return data


def _draw_normal(rng: np.random.Generator, mean: float, std: float, shape: Shape) -> np.ndarray:
    data = rng.standard_normal(shape, dtype=np.float32)
    data *= np.float32(std)
    data += np.float32(mean)
    return data


def _constant(filler: Filler, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    return np.full(shape, filler.value, dtype=np.float32)


def _uniform(filler: Filler, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    return _draw_uniform(rng, filler.min, filler.max, shape)


def _gaussian(filler: Filler, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    data = _draw_normal(rng, filler.mean, filler.std, shape)
    if filler.sparse >= 0:
        # Caffe: each weight stays with probability sparse / num_outputs (shape[0]).
        outputs = shape[0] if shape else 1
        data *= rng.random(shape, dtype=np.float32) < np.float32(filler.sparse / outputs)
    return data


def _positive_unitball(filler: Filler, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    data = _draw_uniform(rng, 0.0, 1.0, shape)
    rows = data.reshape(shape[0] if shape else 1, -1)
    rows /= rows.sum(axis=1, keepdims=True)
    return data


def _xavier(filler: Filler, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    bound = math.sqrt(3.0 / _scale_n(filler, shape))
    return _draw_uniform(rng, -bound, bound, shape)


def _msra(filler: Filler, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    return _draw_normal(rng, 0.0, math.sqrt(2.0 / _scale_n(filler, shape)), shape)


def _bilinear(filler: Filler, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """Caffe's BilinearFiller, computed in float32 as Caffe's Dtype arithmetic does."""
    width = shape[3]
    f = math.ceil(width / 2.0)
    c = np.float32((width - 1) / (2.0 * f))
    x = np.arange(width, dtype=np.float32)
    line = np.float32(1) - np.abs(x / np.float32(f) - c)
    return np.broadcast_to(np.outer(line, line), shape).copy()


FILLERS: dict[str, Callable[[Filler, Shape, np.random.Generator], np.ndarray]] = {
    "constant": _constant,
    "uniform": _uniform,
    "gaussian": _gaussian,
    "positive_unitball": _positive_unitball,
    "xavier": _xavier,
    "msra": _msra,
    "bilinear": _bilinear,
}


def fill(filler: Filler, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """A fresh float32 array of `shape` filled as Caffe's `filler` would; FillerError if Caffe refuses."""
    validate(filler, shape)
    if count(shape) == 0:
        return np.zeros(shape, np.float32)
    return FILLERS[filler.type](filler, shape, rng)


def layer_rng(seed: int, name: str) -> np.random.Generator:
    """The generator for one layer's blobs: fixed by the net's seed and the layer's name alone."""
    words = np.frombuffer(hashlib.sha256(name.encode()).digest()[:16], dtype=np.uint32)
    return np.random.default_rng([seed, *(int(w) for w in words)])


def default_filler(spec: WeightSpec) -> tuple[Filler, str]:
    """netspec's filler for a blob whose spec names none, and how the info describes it."""
    if spec.name in NAMED_DEFAULTS:
        value, what = NAMED_DEFAULTS[spec.name]
        return Filler(type="constant", value=value), what
    if spec.learnable and len(spec.shape) >= 2:
        return Filler(type="msra"), HE_DEFAULT
    return Filler(type="constant", value=0.0), LEARNABLE_ZERO if spec.learnable else BUFFER_ZERO


def _known(info: LayerInfo) -> bool:
    """Whether the layer's WeightSpecs are known (its type is known and its shape rule ran)."""
    return info.kind is not None and all(t is not None for t in info.tops)


def _layer_span(analysis: Analysis, layer: Layer):
    return analysis.net.source_map.span(layer.path + ("name",), value=True)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def _legacy_match(found: Shape, expected: Shape) -> bool:
    """A legacy 4-D (num, channels, height, width) blob Caffe accepts: same count, same non-1 dims."""
    return (
        len(found) == 4
        and len(expected) <= 4
        and count(found) == count(expected)
        and [d for d in found if d != 1] == [d for d in expected if d != 1]
    )


def bind(
    analysis: Analysis,
    weights: Mapping[str, list[np.ndarray]] | None,
    diagnostics: Diagnostics,
    *,
    seed: int = 0,
) -> dict[str, list[np.ndarray]]:
    """Every layer's blobs, in Caffe's order and WeightSpec shapes, as float32 arrays.

    With `weights` (a read .caffemodel), blobs are bound by layer name, as
    Caffe's CopyTrainedLayersFrom does; without, they are filled from the
    spec's fillers (netspec's defaults where none is given).  A layer whose
    blobs cannot be bound or filled is left out; the errors say why.
    """
    if _names_shared_by_weighted_layers(analysis, diagnostics):
        return {}
    if weights is None:
        return _fill_all(analysis, diagnostics, seed)
    return _bind_file(analysis, weights, diagnostics)


def _names_shared_by_weighted_layers(analysis: Analysis, diagnostics: Diagnostics) -> bool:
    """NS0420 for each later layer of a name shared with a layer that has weights (check warns,
    NS0203): blobs are held by layer name, so the two cannot be given weights apart."""
    pairs = analysis.names_shared_with_weights()
    for earlier, info in pairs:
        diagnostics.error(
            "NS0420",
            f"layer name '{info.layer.name}' is also a {earlier.layer.type} layer's, and weights are "
            "bound to layers by name: netspec cannot give the two their own",
            analysis.net.source_map.span(info.layer.path + ("name",), value=True),
            help="give each layer its own name (Caffe keeps each layer's own weights, and fills only "
            "the first from a .caffemodel)",
            layer=info.layer.name,
        )
    return bool(pairs)


def _fill_all(analysis: Analysis, diagnostics: Diagnostics, seed: int) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    defaulted: list[str] = []
    used: set[str] = set()
    if _too_large(analysis, diagnostics):
        return out
    for info in analysis.layers:
        if not info.weights or any(fillers.problems(info.layer, info.weights)):
            continue  # no blobs, or a filler Caffe refuses (the checker has said why)
        layer, rng = info.layer, layer_rng(seed, info.layer.name)
        blobs = []
        for spec in info.weights:
            filler = spec.filler
            if filler is None:
                filler, what = default_filler(spec)
                used.add(what)
                if layer.name not in defaulted:
                    defaulted.append(layer.name)
            blobs.append(fill(filler, spec.shape, rng))
        out[layer.name] = blobs
    _tie(analysis, out, None)
    if defaulted:
        order = [HE_DEFAULT, *(what for _, what in NAMED_DEFAULTS.values()), BUFFER_ZERO]
        diagnostics.info(
            "NS0414",
            f"no filler given for {_names(defaulted)}: used "
            + ", ".join(what for what in dict.fromkeys(order) if what in used),
            help="set weight_filler / bias_filler (or pass --weights) to choose",
        )
    return out


def _too_large(analysis: Analysis, diagnostics: Diagnostics) -> bool:
    """Whether the filled weights would pass protobuf's 2 GiB, which bounds an ONNX model and a
    .caffemodel alike (Caffe reads at most INT_MAX bytes); reported before anything is drawn."""
    sizes = [(count(s.shape) * FLOAT_BYTES, info.layer, s) for info in analysis.layers for s in info.weights]
    total = sum(size for size, _, _ in sizes)
    if total <= PROTOBUF_LIMIT:
        return False
    _, layer, spec = max(sizes, key=lambda entry: entry[0])
    diagnostics.error(
        "NS0418",
        f"the weights take {total / 2**30:.1f} GiB; an ONNX model or a .caffemodel holds at most 2 GiB "
        "(protobuf's limit)",
        _layer_span(analysis, layer),
        help=f"the largest blob is {layer.name}'s {spec.name} {shape_text(spec.shape)}: check its "
        "num_output and the input size that reaches it",
        layer=layer.name,
    )
    return True


def _bind_file(
    analysis: Analysis, weights: Mapping[str, list[np.ndarray]], diagnostics: Diagnostics
) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    stored = [name for name, blobs in weights.items() if len(blobs)]
    covered = _covered_by_sharing(analysis, stored)
    for i, info in enumerate(analysis.layers):
        if not _known(info):
            continue
        layer, specs = info.layer, info.weights
        if layer.name not in weights:
            if i in covered:  # every blob is shared with a layer the file has: Caffe copies that one
                out[layer.name] = [np.zeros(spec.shape, np.float32) for spec in specs]
            elif specs:
                _missing(analysis, layer, specs, stored, diagnostics)
            continue
        blobs = list(weights[layer.name])
        if len(blobs) != len(specs):
            _count_differs(analysis, layer, specs, blobs, diagnostics)
            continue
        bound = [_blob(analysis, layer, spec, blob, diagnostics) for spec, blob in zip(specs, blobs)]
        if specs and all(b is not None for b in bound):
            out[layer.name] = bound
    _tie(analysis, out, {name: n for n, name in enumerate(stored)})
    _verdict(analysis, weights, stored, covered, diagnostics)
    used = {info.layer.name for info in analysis.layers}
    extra = [name for name in stored if name not in used]
    if extra:
        diagnostics.info(
            "NS0413",
            f"the weights file has blobs for {len(extra)} layer{'s' * (len(extra) != 1)} "
            f"this net does not have, ignored as Caffe ignores them: {_names(extra)}",
        )
    return out


def _verdict(
    analysis: Analysis,
    weights: Mapping[str, list[np.ndarray]],
    stored: list[str],
    covered: set[int],
    diagnostics: Diagnostics,
) -> None:
    """One line before the layer-by-layer errors (NS0421): how many of the net's weighted layers
    found their blobs by name; when fewer than half did, the file likely belongs to another net,
    and the help pairs a few of the net's layers with the file's closest names."""
    weighted = [(i, info) for i, info in enumerate(analysis.layers) if _known(info) and info.weights]
    missing = [info.layer.name for i, info in weighted if info.layer.name not in weights and i not in covered]
    if not missing:
        return
    found = len(weighted) - len(missing)
    few = 2 * found < len(weighted)
    pairs = []
    for name in missing:
        near = difflib.get_close_matches(name, stored, n=1, cutoff=0.5)
        if near:
            pairs.append(f"{name} ~ {near[0]}")
        if len(pairs) == 3:
            break
    diagnostics.error(
        "NS0421",
        f"{found} of the net's {len(weighted)} weighted layers found their blobs by name in "
        f"{getattr(weights, 'path', 'the weights file')}"
        + ("; these weights look like they belong to another net" if few else ""),
        help=(
            f"the file holds weights for {len(stored)} layers: {_names(stored)}"
            + (f"; the closest names: {', '.join(pairs)}" if pairs else "")
        )
        if few
        else "the layers below name what each one lacks",
    )


def _groups(analysis: Analysis) -> list[list[sharing.Key]]:
    """The blobs that share one parameter, owner first (netspec.sharing)."""
    groups: dict[sharing.Key, list[sharing.Key]] = {}
    for member, owner in sharing.owners(analysis).items():
        groups.setdefault(owner, [owner]).append(member)
    return list(groups.values())


def _covered_by_sharing(analysis: Analysis, stored: list[str]) -> set[int]:
    """Layers (by index) the file lacks whose every blob shares a parameter with a layer it has."""
    have = {(i, k) for group in _groups(analysis) for i, k in group
            if any(analysis.layers[j].layer.name in stored for j, _ in group)}  # fmt: skip
    return {
        i
        for i, info in enumerate(analysis.layers)
        if info.weights and all((i, k) in have for k in range(len(info.weights)))
    }


def _tie(analysis: Analysis, out: dict[str, list[np.ndarray]], order: dict[str, int] | None) -> None:
    """One array for every blob of a shared parameter, as Caffe's ShareData makes it: the owner's
    when filled; from a .caffemodel the one copied last, since CopyTrainedLayersFrom writes each
    layer's blobs, in the file's layer order, into the one shared memory."""
    for group in _groups(analysis):
        present = [(i, k) for i, k in group if analysis.layers[i].layer.name in out]
        names = {i: analysis.layers[i].layer.name for i, _ in group}
        if order is not None:
            present = [m for m in present if names[m[0]] in order]
            present.sort(key=lambda m: order[names[m[0]]])
        if not present:
            continue
        i, k = present[-1] if order is not None else present[0]
        value = out[names[i]][k]
        for j, m in group:
            if names[j] in out:
                out[names[j]][m] = value.reshape(analysis.layers[j].weights[m].shape)


def _missing(
    analysis: Analysis, layer: Layer, specs: list[WeightSpec], stored: list[str], diagnostics: Diagnostics
) -> None:
    near = difflib.get_close_matches(layer.name, stored, n=3, cutoff=0.5)
    if near:
        help = "the nearest names in the file: " + ", ".join(f"'{n}'" for n in near)
    elif stored:
        help = f"no similar name; the file's layers with weights: {_names(stored)}"
    else:
        help = "the weights file holds no blobs at all"
    expected = ", ".join(f"{s.name} {shape_text(s.shape)}" for s in specs)
    diagnostics.error(
        "NS0410",
        f"{layer.name}: the weights file has no layer named '{layer.name}' (it needs {expected})",
        _layer_span(analysis, layer),
        help=help,
        layer=layer.name,
    )


def _has_bias_term(layer: Layer) -> bool:
    """Whether the layer's type reads a bias_term that a trained layer may have set otherwise."""
    kind = REGISTRY.get(layer.type)
    p = kind.params(layer) if kind is not None else None
    return p is not None and "bias_term" in p.DESCRIPTOR.fields_by_name


def _count_differs(
    analysis: Analysis,
    layer: Layer,
    specs: list[WeightSpec],
    blobs: list[np.ndarray],
    diagnostics: Diagnostics,
) -> None:
    names = ", ".join(s.name for s in specs)
    want = f"{len(specs)} blob{'s' * (len(specs) != 1)}" + (f" ({names})" if specs else "")
    found = ", ".join(shape_text(np.shape(b)) for b in blobs)
    help = None
    if any(s.name == "bias" for s in specs) and len(blobs) == len(specs) - 1:
        help = "the trained layer may have had no bias: set bias_term: false"
    elif len(blobs) == len(specs) + 1 and _has_bias_term(layer):
        help = "the trained layer may have had a bias: remove bias_term: false"
    diagnostics.error(
        "NS0411",
        f"{layer.name}: expected {want}, the weights file has {len(blobs)}" + (f": {found}" if blobs else ""),
        _layer_span(analysis, layer),
        help=help,
        layer=layer.name,
    )


def _blob(
    analysis: Analysis, layer: Layer, spec: WeightSpec, blob: np.ndarray, diagnostics: Diagnostics
) -> np.ndarray | None:
    array = np.asarray(blob, dtype=np.float32)
    if array.shape == spec.shape:
        return np.ascontiguousarray(array)
    if _legacy_match(array.shape, spec.shape):
        return np.ascontiguousarray(array.reshape(spec.shape))
    diagnostics.error(
        "NS0412",
        f"{layer.name}: blob '{spec.name}' has shape {shape_text(array.shape)} in the weights file, "
        f"the spec expects {shape_text(spec.shape)}",
        _layer_span(analysis, layer),
        layer=layer.name,
        help="the weights were trained for a different layer: check num_output, kernel_size, group "
        "and the input channels against the trained net",
    )
    return None


def init_weights(analysis: Analysis, path: str, *, seed: int = 0, diagnostics: Diagnostics) -> None:
    """Write a .caffemodel of the filled weights (Caffe's own format); nothing when filling failed."""
    from netspec import caffemodel

    blobs = _fill_all(analysis, diagnostics, seed)
    if not diagnostics.has_errors:
        caffemodel.write_weights(path, analysis.net.layers, blobs)
