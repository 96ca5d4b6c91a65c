"""The graph every later stage reads: ordered layers, blobs in SSA form.

Caffe names blobs, and an in-place layer (top == bottom) writes a new value
under the old name.  The IR gives each written value its own Blob with a
unique `key`, so every value has one producer; `name` stays Caffe's, which is
what users see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netspec.diagnostics import Diagnostic, Diagnostics
from netspec.proto import caffe_pb2
from netspec.source import Path, SourceMap


@dataclass(eq=False)
class Blob:
    name: str
    key: str
    producer: Layer | None = None
    consumers: list[Layer] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Blob({self.key!r})"


@dataclass(eq=False)
class Layer:
    name: str
    type: str
    param: caffe_pb2.LayerParameter
    path: Path  # where the layer is in the source: ("layer", 7)
    bottoms: list[Blob] = field(default_factory=list)
    tops: list[Blob] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Layer({self.name!r}, {self.type!r})"


@dataclass
class Net:
    name: str
    param: caffe_pb2.NetParameter
    source_map: SourceMap
    layers: list[Layer] = field(default_factory=list)
    blobs: dict[str, Blob] = field(default_factory=dict)  # by key, in creation order

    @property
    def outputs(self) -> list[Blob]:
        """The latest value of each name that nothing consumes: Caffe's net outputs."""
        latest = {blob.name: blob for blob in self.blobs.values()}
        return [blob for blob in latest.values() if not blob.consumers]

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)


def build(
    param: caffe_pb2.NetParameter, keep: list[int], source_map: SourceMap, diagnostics: Diagnostics
) -> Net:
    """The IR of `param`'s layers at indices `keep` (those the phase selects).

    Reports a bottom nothing produced, a top produced twice other than in
    place; the graph is still built, with the
    bad link left out, so later stages can go on checking.
    """
    net = Net(param.name, param, source_map)
    current: dict[str, Blob] = {}  # Caffe name -> its latest value
    missing: dict[str, Diagnostic] = {}
    for index in keep:
        lp = param.layer[index]
        path = ("layer", index)
        name = lp.name or f"{lp.type.lower() or 'layer'}{index}"
        layer = Layer(name, lp.type, lp, path)
        for i, bottom in enumerate(lp.bottom):
            blob = current.get(bottom)
            if blob is None:
                if bottom in missing:  # one error per missing blob; later readers are a note on it
                    missing[bottom].notes.append(f"layer '{name}' reads it too")
                    continue
                import difflib  # a mistake's suggestion: imported only when there is one

                near = difflib.get_close_matches(bottom, list(current), n=3, cutoff=0.6)
                elsewhere = _produced_when_excluded(param, keep, index, bottom)
                missing[bottom] = diagnostics.error(
                    "NS0201",
                    f"layer '{name}' reads blob '{bottom}', which no earlier layer produces",
                    source_map.span(path + ("bottom", i), value=True),
                    help=elsewhere
                    or (
                        ("did you mean " + " or ".join(f"'{n}'" for n in near) + "?")
                        if near
                        else "a bottom must be the top of a layer above this one"
                    ),
                    layer=name,
                )
                continue
            blob.consumers.append(layer)
            layer.bottoms.append(blob)
        for i, top in enumerate(lp.top):
            previous = current.get(top)
            # Caffe's rule (Net::AppendTop): top j is in place only when it names bottom j.
            in_place = i < len(lp.bottom) and lp.bottom[i] == top
            if previous is not None and not in_place:
                producer = previous.producer.name if previous.producer else "?"
                where = (
                    f"it is this layer's bottom {list(lp.bottom).index(top)}; Caffe writes in place only "
                    f"when top j names bottom j"
                    if top in lp.bottom
                    else f"layer '{producer}' already produces it"
                )
                diagnostics.error(
                    "NS0202",
                    f"layer '{name}' writes blob '{top}' as top {i}, but {where}",
                    source_map.span(path + ("top", i), value=True),
                    help="rename this top; only an in-place layer (top equal to its bottom) "
                    "may write a blob again",
                    layer=name,
                )
            key = top if previous is None else _fresh(top, name, net.blobs)
            blob = Blob(top, key, producer=layer)
            net.blobs[key] = blob
            current[top] = blob
            layer.tops.append(blob)
        net.layers.append(layer)
    return net


def _produced_when_excluded(
    param: caffe_pb2.NetParameter, keep: list[int], before: int, blob: str
) -> str | None:
    """When layers the phase or stage left out write `blob`, say how to select them."""
    kept = set(keep)
    producers, ways = [], []
    for index in range(before):
        layer = param.layer[index]
        if index in kept or blob not in layer.top:
            continue
        producers.append(f"'{layer.name}'")
        for rule in layer.include:
            parts = [f"--phase {caffe_pb2.Phase.Name(rule.phase).lower()}"] if rule.HasField("phase") else []
            parts += [f"--stage {stage}" for stage in rule.stage]
            if rule.HasField("min_level"):
                parts.append(f"--level {rule.min_level}")
            if parts and " ".join(parts) not in ways:
                ways.append(" ".join(parts))
    if not producers:
        return None
    how = " or ".join(f"`{w}`" for w in ways) if ways else "another phase or stage"
    names = list(dict.fromkeys(producers))
    return (
        f"layer{'s' * (len(names) > 1)} {', '.join(names)} write{'s' * (len(names) == 1)} '{blob}' but "
        f"{'are' if len(names) > 1 else 'is'} not selected in this phase and stage; select with {how}"
    )


def _fresh(name: str, layer: str, taken: dict) -> str:
    key = f"{name}/{layer}"
    n = 1
    while key in taken:
        n += 1
        key = f"{name}/{layer}#{n}"
    return key
