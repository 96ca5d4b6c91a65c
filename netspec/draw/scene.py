"""What a picture of a checked net shows, before any geometry: boxes, tags and labelled arrows.

One box per layer, except that a layer computing in place (top == bottom: ReLU, BatchNorm, Scale)
is folded into the box whose value it rewrites, as a small tag.  Every arrow is one blob read,
labelled with the blob's shape.  Diagnostics mark the layer they are about.  With `collapse`,
runs of repeated blocks (ResNet's bottlenecks, inception modules, dense layers) become one box
each, with the run's first and last names, its count and its shapes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from netspec.diagnostics import Diagnostic, Severity
from netspec.infer import Analysis, LayerInfo
from netspec.layers.base import LayerType, shape_text
from netspec.summary import human


def family(kind: LayerType | None) -> str:
    """What a layer does (convolution, pooling, normalization, activation, ...): its colour.  A type
    netspec does not know has none."""
    return kind.family if kind is not None else "unknown"


@dataclass
class Tag:
    """A layer folded into the box it rewrites in place."""

    layer: str
    type: str
    family: str
    severity: Severity | None = None


@dataclass
class Node:
    key: str
    title: str
    type: str
    family: str
    detail: str  # key parameters: "k3 s2 p1 · out 64"
    shapes: str  # output shapes
    cost: str  # "1.7 K params"
    layers: list[str]  # every layer this box stands for, its own first
    tags: list[Tag] = field(default_factory=list)
    severity: Severity | None = None
    notes: list[str] = field(default_factory=list)  # its errors and warnings, as the mark's tooltip
    unknown: bool = False  # an output the checker could not shape
    blocks: int = 0  # > 0: a collapsed run of this many blocks


@dataclass
class Edge:
    source: str
    target: str
    blob: str
    label: str


@dataclass
class Scene:
    name: str
    nodes: list[Node]
    edges: list[Edge]


_ABBREVIATIONS = {
    "kernel_size": "k",
    "kernel_h": "kh",
    "kernel_w": "kw",
    "stride": "s",
    "stride_h": "sh",
    "stride_w": "sw",
    "pad": "p",
    "pad_h": "ph",
    "pad_w": "pw",
    "dilation": "d",
    "group": "g",
    "num_output": "out ",
}
_ORDER = {name: i for i, name in enumerate(_ABBREVIATIONS)}
_QUIET = {"bias_term", "engine", "weight_filler", "bias_filler", "filler"}


def key_parameters(info: LayerInfo) -> str:
    """The fields a spec sets in the layer's own *_param, shortest first: "MAX k3 s2", "k3 p1 · out 64"."""
    kind = info.kind
    if kind is None or not kind.param or not info.layer.param.HasField(kind.param):
        return ""
    short, long = [], []
    for fd, value in getattr(info.layer.param, kind.param).ListFields():
        if fd.name in _QUIET or fd.message_type is not None:
            continue
        values = list(value) if isinstance(value, Sequence) else [value]
        if fd.enum_type is not None:
            text = "/".join(fd.enum_type.values_by_number[v].name for v in values)
        elif fd.type == fd.TYPE_BOOL:
            text = fd.name if value else ""
        else:
            text = "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        if fd.name in _ABBREVIATIONS:
            short.append((_ORDER[fd.name], _ABBREVIATIONS[fd.name] + text))
        elif fd.enum_type is not None or fd.type == fd.TYPE_BOOL:
            short.append((-1, text))
        else:
            long.append(f"{fd.name} {text}")
    items = [t for t in [text for _, text in sorted(short)] + long if t and len(t) <= 24]
    return " ".join(items[:6])


def layer_diagnostics(analysis: Analysis) -> dict[str, list[Diagnostic]]:
    """Each layer's diagnostics, by layer name: those that name it, and those inside its text."""
    from netspec.draw.source import layer_lines

    spans = layer_lines(analysis.net)
    found: dict[str, list[Diagnostic]] = {}
    for d in analysis.diagnostics:
        name = d.layer
        if name is None and d.span is not None:
            name = next((n for n, (a, b) in spans.items() if a <= d.span.line <= b), None)
        if name is not None:
            found.setdefault(name, []).append(d)
    return found


def _worst(diagnostics: list[Diagnostic]) -> Severity | None:
    shown = [d.severity for d in diagnostics if d.severity is not Severity.INFO]
    return max(shown) if shown else None


def _notes(diagnostics: list[Diagnostic]) -> list[str]:
    return [f"{d.severity}[{d.code}]: {d.message}" for d in diagnostics if d.severity is not Severity.INFO]


def _in_place(info: LayerInfo) -> bool:
    layer = info.layer
    return (
        len(layer.bottoms) == len(layer.tops) == 1
        and layer.tops[0].name == layer.bottoms[0].name
        and layer.bottoms[0].producer is not None
    )


def build(analysis: Analysis, *, collapse: bool = False) -> Scene:
    """The scene of a checked net; `collapse` folds runs of repeated blocks into one box each."""
    diagnostics = layer_diagnostics(analysis)
    nodes: list[Node] = []
    host: dict[int, Node] = {}  # id(layer) -> the box that shows it
    for info in analysis.layers:
        layer = info.layer
        severity = _worst(diagnostics.get(layer.name, []))
        if _in_place(info) and id(layer.bottoms[0].producer) in host:
            box = host[id(layer.bottoms[0].producer)]
            box.tags.append(Tag(layer.name, layer.type, family(info.kind), severity))
            box.layers.append(layer.name)
            box.severity = max(filter(None, (box.severity, severity)), default=None)
            box.notes += _notes(diagnostics.get(layer.name, []))
            box.unknown = box.unknown or info.kind is None or None in info.tops
            host[id(layer)] = box
            continue
        box = Node(
            key=f"n{len(nodes)}",
            title=layer.name,
            type=layer.type,
            family=family(info.kind),
            detail=key_parameters(info),
            shapes=", ".join(shape_text(s) for s in info.tops),
            cost=f"{human(info.params)} params" if info.params else "",
            layers=[layer.name],
            severity=severity,
            notes=_notes(diagnostics.get(layer.name, [])),
            unknown=info.kind is None or None in info.tops,
        )
        nodes.append(box)
        host[id(layer)] = box
    edges: list[Edge] = []
    seen = set()
    for info in analysis.layers:
        target = host[id(info.layer)]
        for blob in info.layer.bottoms:
            source = host.get(id(blob.producer)) if blob.producer is not None else None
            if source is None or source is target or (source.key, target.key, blob.name) in seen:
                continue
            seen.add((source.key, target.key, blob.name))
            edges.append(Edge(source.key, target.key, blob.name, shape_text(analysis.shape(blob))))
    scene = Scene(analysis.net.name or "net", nodes, edges)
    if collapse:
        _collapse(scene, {i.layer.name: i for i in analysis.layers})
    return scene


# ---------------------------------------------------------------------------------------------
# Collapsing repeated blocks

_STEM = re.compile(r"(.*?\d+)(?:[a-z]\d*)")  # res4a, res4b22 -> res4


def _segments(scene: Scene) -> list[tuple[int, int]]:
    """The net cut at every box that all paths go through: [start, end) ranges of boxes, each
    ending at such a box (a block's merge: ResNet's Eltwise, an inception module's Concat)."""
    position = {n.key: i for i, n in enumerate(scene.nodes)}
    reach = list(range(len(scene.nodes)))
    for e in scene.edges:
        s = position[e.source]
        reach[s] = max(reach[s], position[e.target])
    cuts, furthest = [], 0
    for i in range(len(scene.nodes)):
        if furthest <= i:
            cuts.append(i)
        furthest = max(furthest, reach[i])
    return [(a + 1, b + 1) for a, b in itertools.pairwise(cuts)]


def _signature(scene: Scene, start: int, end: int) -> tuple:
    position = {n.key: i - start for i, n in enumerate(scene.nodes)}
    kinds = tuple((n.type, tuple(t.type for t in n.tags)) for n in scene.nodes[start:end])
    links = tuple(
        (position[e.source], position[e.target])
        for e in scene.edges
        if start <= position[e.target] + start < end
    )
    return kinds, links


def _same_run(scene: Scene, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two blocks repeat each other: the same layer types wired the same way (inception modules,
    dense layers), or merges named as one stage (ResNet's res4a and res4b: the first block of a
    stage has a projection shortcut the others lack, yet belongs to the run)."""
    if _signature(scene, *a) == _signature(scene, *b):
        return True
    stems = [_STEM.fullmatch(scene.nodes[end - 1].title) for _, end in (a, b)]
    return all(stems) and stems[0].group(1) == stems[1].group(1)


def _runs(scene: Scene) -> list[tuple[int, int, int, int]]:
    """(start, end, blocks, the end of the first block) of every run of at least two like blocks
    of at least two boxes each."""
    runs: list[list[tuple[int, int]]] = []
    for segment in (s for s in _segments(scene) if s[1] - s[0] >= 2):
        if runs and runs[-1][-1][1] == segment[0] and _same_run(scene, runs[-1][-1], segment):
            runs[-1].append(segment)
        else:
            runs.append([segment])
    return [(run[0][0], run[-1][1], len(run), run[0][1]) for run in runs if len(run) >= 2]


def _names(first: str, last: str) -> str:
    """ "res4a…res4f"; a suffix both share after a separator is said once: "inception_4a…inception_4e"
    for inception_4a/output and inception_4e/output."""
    match = re.search(r"[/_.-][A-Za-z_]+$", first)
    if match and last.endswith(match.group()):
        first, last = first[: -len(match.group())], last[: -len(match.group())]
    return f"{first}…{last}"


def _collapse(scene: Scene, infos: dict[str, LayerInfo]) -> None:
    for start, end, blocks, first_end in reversed(_runs(scene)):
        inner = scene.nodes[start:end]
        keys = {n.key for n in inner}
        entering = [e for e in scene.edges if e.target in keys and e.source not in keys]
        layers = [name for n in inner for name in n.layers]
        params = sum(infos[name].params for name in layers)
        macs = sum(infos[name].macs for name in layers)
        block = Node(
            key=inner[-1].key,
            title=_names(scene.nodes[first_end - 1].title, inner[-1].title),
            type=f"{blocks} blocks",
            family="block",
            detail=f"in {entering[0].label}" if entering else "",
            shapes=inner[-1].shapes,
            cost=", ".join(
                t
                for t in (f"{human(params)} params" if params else "", f"{human(macs)} MACs" if macs else "")
                if t
            ),
            layers=layers,
            severity=max((n.severity for n in inner if n.severity is not None), default=None),
            notes=[note for n in inner for note in n.notes],
            unknown=any(n.unknown for n in inner),
            blocks=blocks,
        )
        scene.nodes[start:end] = [block]
        edges, seen = [], set()
        for e in scene.edges:
            source = block.key if e.source in keys else e.source
            target = block.key if e.target in keys else e.target
            if source == target or (source, target, e.blob) in seen:
                continue
            seen.add((source, target, e.blob))
            edges.append(Edge(source, target, e.blob, e.label))
        scene.edges = edges
