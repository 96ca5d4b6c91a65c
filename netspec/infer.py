"""Shape inference and costs: walks the Net in order and asks each layer type.

`check` keeps going after an error: a blob whose shape cannot be known
becomes unknown, and the layers below it are skipped quietly, so one run
reports every independent problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netspec import fillers, sharing
from netspec.diagnostics import Diagnostics, misspellings
from netspec.ir import Blob, Layer, Net
from netspec.layers import REGISTRY
from netspec.layers.base import (
    GLOBAL,
    LayerType,
    Shape,
    ShapeContext,
    ShapeError,
    WeightSpec,
    count,
    shape_text,
)
from netspec.unread import report_unread_blocks

if TYPE_CHECKING:
    from netspec.stubs import StubRule

FLOAT_BYTES = 4
NO_OUTPUTS = "the inference graph has no outputs: every value is only read by training layers or is an input"
INT_MAX = 2**31 - 1


@dataclass
class LayerInfo:
    """What the checker knows of one layer after inference."""

    layer: Layer
    kind: LayerType | None
    tops: list[Shape | None]
    weights: list[WeightSpec] = field(default_factory=list)
    macs: int = 0
    receptive: list[tuple[float, float]] | None = None  # (size, stride) in input pixels per spatial axis
    config: Any = None  # the layer's parameters as its type's setup() read them
    provisional: bool = False  # shaped with a field's default while the field is typed (SourceMap.mended)

    @property
    def params(self) -> int:
        return sum(count(w.shape) for w in self.weights if w.learnable)

    @property
    def buffers(self) -> int:
        return sum(count(w.shape) for w in self.weights if not w.learnable)

    @property
    def memory(self) -> int:
        """Bytes of the values this layer writes (an in-place top reuses its bottom's memory)."""
        bottoms = {b.name for b in self.layer.bottoms}
        return sum(
            count(s) * FLOAT_BYTES
            for s, t in zip(self.tops, self.layer.tops)
            if s is not None and t.name not in bottoms
        )


@dataclass
class Analysis:
    net: Net
    diagnostics: Diagnostics
    shapes: dict[str, Shape | None] = field(default_factory=dict)  # by blob key
    layers: list[LayerInfo] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # infer's inputs, batch and phase, to check again

    @property
    def batch(self) -> int | None:
        """The batch size the inputs share (None when they disagree, or there are none)."""
        sizes = {s[0] for i in self.layers if i.kind is not None and i.kind.source for s in i.tops if s}
        return sizes.pop() if len(sizes) == 1 else None

    def batch_axes(self) -> dict[str, dict[int, str | None]] | Diagnostics:
        """For a symbolic batch: each blob's axes that follow the batch, found by checking the net
        again at one more than its batch; "N" for an axis equal to the batch, None for one that
        merely grows with it (a batch folded into another axis).  The second check's diagnostics
        when it fails: a layer whose sizes fix the batch, as a Reshape with a literal batch does."""
        batch = self.batch
        if batch is None:
            return {}
        again = Diagnostics()
        other = infer(self.net, again, **{**self.options, "batch": batch + 1})
        for info, grown in zip(self.layers, other.layers):
            if [w.shape for w in info.weights] != [w.shape for w in grown.weights]:
                again.error(
                    "NS0419",
                    f"{info.layer.name}: its weights are sized by the batch "
                    f"({shape_text(info.weights[0].shape)} at batch {batch})",
                    self.net.source_map.span(info.layer.path + ("type",), value=True),
                )
        if again.has_errors:
            return again
        axes: dict[str, dict[int, str | None]] = {}
        for key, shape in self.shapes.items():
            grown = other.shapes.get(key)
            if shape is None or grown is None:
                continue
            moved = {
                axis: ("N" if (d, g) == (batch, batch + 1) else None)
                for axis, (d, g) in enumerate(zip(shape, grown))
                if d != g
            }
            if moved:
                axes[key] = moved
        return axes

    def shape(self, blob: Blob) -> Shape | None:
        return self.shapes.get(blob.key)

    def passed_through(self) -> list[Blob] | None:
        """For a net that computes nothing at inference (no deployed layer but its data sources):
        the sources' tops of known shape, which its model outputs as they came in, as Caffe's
        deploy net of it would; None for a net that computes."""
        if any(i.kind and i.kind.deploy and not i.kind.source for i in self.layers):
            return None
        tops = (t for i in self.layers if i.kind and i.kind.source for t in i.layer.tops)
        latest = {t.name: t for t in tops if self.shape(t) is not None}
        return list(latest.values())

    def computes_an_output(self) -> bool:
        """Whether the inference graph has an output: a value passed through, or one a deployed
        layer makes that no deployed layer reads (a Silence reads its bottoms and makes nothing)."""
        through = self.passed_through()
        if through is not None:
            return bool(through)
        deployed = [i.layer for i in self.layers if i.kind and i.kind.deploy and not i.kind.source]
        read = {b.key for layer in deployed for b in layer.bottoms}
        return any(t.key not in read for layer in deployed for t in layer.tops)

    def names_shared_with_weights(self) -> list[tuple[LayerInfo, LayerInfo]]:
        """(first layer of a name, a later one) for every layer name given twice where either
        layer has weights, which are held by layer name."""
        first: dict[str, LayerInfo] = {}
        pairs = []
        for info in self.layers:
            name = info.layer.param.name
            earlier = first.setdefault(name, info) if name else info
            if earlier is not info and (info.weights or earlier.weights):
                pairs.append((earlier, info))
        return pairs

    def index_bounds(self) -> dict[str, int]:
        """The net's inputs that layers read as indices (Embed's, BatchReindex's), by blob name,
        each with the exclusive bound its values must keep below (the least its readers allow)."""
        return {name: bound for name, (bound, _) in self.index_inputs().items()}

    def index_inputs(self) -> dict[str, tuple[int, int | None]]:
        """index_bounds with where each input holds its indices: a position on its last axis (a
        ROI's batch index, column 0), or None for every value."""
        sources = {id(i.layer) for i in self.layers if i.kind is not None and i.kind.source}
        bounds: dict[str, tuple[int, int | None]] = {}
        for info in self.layers:
            if info.kind is None or any(s is None for s in info.tops):
                continue
            shapes = [self.shape(b) for b in info.layer.bottoms]
            ctx = ShapeContext(info.layer, shapes, Diagnostics(), self.net.source_map, config=info.config)
            for j, bound in info.kind.index_bounds(ctx).items():
                blob = info.layer.bottoms[j]
                if blob.producer is not None and id(blob.producer) in sources:
                    least = min(bound, bounds.get(blob.name, (bound, None))[0])
                    bounds[blob.name] = (least, info.kind.index_column)
        return bounds

    def info(self, name: str) -> LayerInfo:
        return next(i for i in self.layers if i.layer.name == name)

    @property
    def totals(self) -> dict:
        params = sum(i.params for i in self.layers)
        fc = sum(i.params for i in self.layers if i.kind is not None and i.kind.param_share == "fc")
        conv = sum(i.params for i in self.layers if i.kind is not None and i.kind.param_share == "conv")
        return {
            "params": params,
            "buffers": sum(i.buffers for i in self.layers),
            "macs": sum(i.macs for i in self.layers),
            "activation_bytes": sum(i.memory for i in self.layers),
            "peak_activation_bytes": self.peak_memory(),
            "param_bytes": params * FLOAT_BYTES,
            "fc_params": fc,
            "conv_params": conv,
            "fc_share": fc / params if params else 0.0,
            "conv_share": conv / params if params else 0.0,
        }

    def peak_memory(self) -> int:
        """The most activation bytes alive at once in a forward pass, layer by layer."""
        last_use: dict[str, int] = {}
        for index, layer in enumerate(self.net.layers):
            for blob in layer.bottoms:
                last_use[blob.key] = index
        live: dict[str, int] = {}
        peak = 0
        for index, info in enumerate(self.layers):
            for blob, shape in zip(info.layer.tops, info.tops):
                if shape is not None and not any(b.name == blob.name for b in info.layer.bottoms):
                    live[blob.name] = count(shape) * FLOAT_BYTES
            peak = max(peak, sum(live.values()))
            for blob in info.layer.bottoms:
                if last_use.get(blob.key) == index and blob.name not in {t.name for t in info.layer.tops}:
                    live.pop(blob.name, None)
        return peak


def infer(
    net: Net,
    diagnostics: Diagnostics,
    *,
    inputs: dict[str, Shape] | None = None,
    batch: int | None = None,
    phase: int | None = None,
    stubs: dict[str, StubRule] | None = None,
) -> Analysis:
    """Every blob's shape and every layer's costs, by Caffe's arithmetic.

    Multiply-adds follow the convention papers use: those of convolutions,
    deconvolutions, inner products and recurrent layers; pooling, normalisation
    and activations count 0.
    """
    analysis = Analysis(
        net, diagnostics, options={"inputs": inputs, "batch": batch, "phase": phase, "stubs": stubs}
    )
    options = {"inputs": dict(inputs or {}), "batch": batch}
    if phase is not None:
        options["phase"] = phase
    receptive: dict[str, list[tuple[float, float]] | None] = {}
    provisional: set[str] = set()  # blobs a mended layer (SourceMap.mended) wrote, or a layer reading one
    if stubs:
        from netspec.stubs import Stubbed, choose  # here: a check without --stub needs none of it
    for layer in net.layers:
        kind = REGISTRY.get(layer.type)
        rule = choose(stubs, layer.name, layer.type) if stubs else None
        forks = _fork_blocks(layer, net, diagnostics) if rule is not None or kind is None else []
        if rule is not None:
            kind = Stubbed(rule)
            say = diagnostics.info if rule.shapes is None else diagnostics.warning
            say(
                "NS0206",
                f"{layer.name}: a {layer.type} layer stubbed as --stub asked: {rule}"
                + ("" if rule.shapes is None else "; compile refuses a layer stubbed with a shape"),
                net.source_map.span(layer.path + ("type",), value=True),
                layer=layer.name,
                notes=forks,
            )
        info = LayerInfo(layer, kind, [None] * len(layer.tops))
        analysis.layers.append(info)
        if kind is None:
            if layer.path not in net.source_map.faulty:  # a type the parser lost is said once, there
                _unknown_type(layer, net, diagnostics, forks)
        else:
            bottoms = [analysis.shapes.get(b.key) for b in layer.bottoms]
            if (
                len(bottoms) == len(layer.param.bottom)
                and all(s is not None for s in bottoms)
                and layer.path not in net.source_map.faulty
            ):
                mended = layer.path in net.source_map.mended or any(
                    b.key in provisional for b in layer.bottoms
                )
                said = len(diagnostics)
                ctx = ShapeContext(layer, bottoms, diagnostics, net.source_map, options)
                _run(kind, ctx, info)
                info.receptive = _receptive(kind, ctx, info, [receptive.get(b.key) for b in layer.bottoms])
                if mended:  # the dropped field's error is said; one from shapes of its default would mislead
                    del diagnostics.items[said:]
                    provisional.update(blob.key for blob in layer.tops)
                    info.provisional = True
        for blob, shape in zip(layer.tops, info.tops):
            analysis.shapes[blob.key] = shape
            receptive[blob.key] = info.receptive
    sharing.check(analysis, diagnostics)
    _report_names_used_twice(analysis, diagnostics)
    report_unread_blocks(analysis, diagnostics)
    if not net.layers:
        diagnostics.error(
            "NS0205",
            "the net has no layers (in this phase): there is nothing to check, and nothing to compile",
            help="check the file and --phase/--stage; a solver names its net's file in `net:`",
        )
    elif all(i.kind for i in analysis.layers) and not analysis.computes_an_output():
        diagnostics.error(
            "NS0403", NO_OUTPUTS, help="a data source's tops need their shapes (--input NAME=DIMS)"
        )
    return analysis


def _report_names_used_twice(analysis: Analysis, diagnostics: Diagnostics) -> None:
    """NS0203 for a layer name given twice.  Caffe accepts it (HED has four 'crop' layers), but
    binds trained weights by name: where either layer has weights, compile refuses the pair;
    between weightless layers it is almost always a copy-paste mistake, said in the lint group
    `names` that `--allow names` turns off."""
    source_map = analysis.net.source_map
    weighted = {id(info) for _, info in analysis.names_shared_with_weights()}
    first: dict[str, LayerInfo] = {}
    for info in analysis.layers:
        name = info.layer.param.name
        earlier = first.setdefault(name, info) if name else info
        if earlier is info:
            continue
        where = source_map.span(earlier.layer.path + ("name",), value=True)
        labels = [(where, "first used here")] if where else []
        span = source_map.span(info.layer.path + ("name",), value=True)
        if id(info) in weighted:
            diagnostics.error(
                "NS0203",
                f"layer name '{name}' is used twice, and weights are bound to layers by name",
                span,
                labels=labels,
                help="give each layer its own name: Caffe copies a .caffemodel's blobs into the first layer "
                "of a name only, and netspec cannot give the two their own",
                layer=name,
            )
        else:
            diagnostics.warning(
                "NS0203",
                f"layer name '{name}' is used twice",
                span,
                labels=labels,
                help="give each layer its own name: Caffe accepts the two, but a second layer of a name is "
                "usually a copy-paste left unrenamed, and weights and logs go by layer name",
                layer=name,
                lint="names",
            )


def _run(kind: LayerType, ctx: ShapeContext, info: LayerInfo) -> None:
    layer = ctx.layer
    if not _counts_ok(kind, ctx):
        return
    try:
        ctx.config = info.config = kind.setup(ctx)
        tops = kind.shapes(ctx)
        if len(tops) != len(layer.tops):
            raise ctx.error("NS0399", f"netspec computed {len(tops)} shapes for {len(layer.tops)} tops")
        if kind.source and ctx.options.get("batch"):
            tops = [(ctx.options["batch"], *s[1:]) if s else s for s in tops]
        for j, (top, shape) in enumerate(zip(layer.tops, tops)):
            if j < len(layer.bottoms) and top.name == layer.bottoms[j].name and shape != ctx.bottoms[j]:
                # Caffe reshapes the shared blob before reading it: the layer reads garbage.
                raise ctx.error(
                    "NS0312",
                    f"computes in place, but its output {shape_text(shape)} differs from its input "
                    f"{shape_text(ctx.bottoms[j])}",
                    ("top", j),
                    help=f"give top {j} a name of its own",
                )
        info.tops = list(tops)
        info.weights = kind.weights(ctx)
        _check_sizes(ctx, tops, info.weights)
        for spec, path, problem in fillers.problems(layer, info.weights):
            ctx.error(problem.code, f"{spec.name}: {problem}", path or ("name",), help=problem.help)
        if all(s is not None for s in tops):
            info.macs = kind.macs(ctx, tops)
    except ShapeError:
        info.tops = [None] * len(layer.tops)
    except Exception as problem:  # a bug of ours must not become a user's traceback
        ctx.error(
            "NS0399",
            f"netspec failed inside the {layer.type} shape rule ({type(problem).__name__}: "
            f"{problem}); this is a bug in netspec, please report it with this spec",
            help="the blobs this layer writes are treated as unknown",
        )
        info.tops = [None] * len(layer.tops)


def _check_sizes(ctx: ShapeContext, tops: list[Shape | None], weights: list[WeightSpec]) -> None:
    """Caffe's Blob::Reshape refuses a blob of more than INT_MAX values (its counts are ints), and
    an empty blob gets no memory: the first layer to fill, read or write it stops (CHECK data_)."""
    blobs = [(f"top '{t.name}'", shape, ("top", j)) for j, (t, shape) in enumerate(zip(ctx.layer.tops, tops))]
    blobs += [(f"blob '{w.name}'", w.shape, "type") for w in weights]
    for what, shape, where in blobs:
        if shape is not None and count(shape) == 0:
            raise ctx.error(
                "NS0301",
                f"{what} {shape_text(shape)} holds no values; Caffe allocates no memory for an empty blob "
                "and stops at the first layer that fills, reads or writes it",
                where,
                help="give every dim a size of at least 1",
            )
        if shape is not None and count(shape) > INT_MAX:
            raise ctx.error(
                "NS0397",
                f"{what} {shape_text(shape)} holds {count(shape):,} values; a Caffe blob holds at most "
                f"{INT_MAX:,} (INT_MAX)",
                where,
                help="use a smaller batch or input size (--batch N, --input NAME=DIMS)",
            )


def _counts_ok(kind: LayerType, ctx: ShapeContext) -> bool:
    layer = ctx.layer
    ok = True
    for what, (low, high), n in (
        ("bottom", kind.bottoms, len(layer.param.bottom)),
        ("top", kind.tops, len(layer.param.top)),
    ):
        if n < low or (high is not None and n > high):
            want = (
                f"exactly {low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            )
            ctx.error(
                "NS0300",
                f"a {layer.type} layer takes {want} {what}{'s' if want != 'exactly 1' else ''}, got {n}",
                (what, max(n - 1, 0)) if n else None,
            )
            ok = False
    return ok


def _receptive(
    kind: LayerType, ctx: ShapeContext, info: LayerInfo, below: list[list[tuple[float, float]] | None]
) -> list[tuple[float, float]] | None:
    """Compose the receptive field: size grows by (k − 1)·jump, jump multiplies by stride."""
    if kind.source or not ctx.bottoms:
        top = info.tops[0] if info.tops else None
        return [(1.0, 1.0)] * max(len(top) - 2, 0) if top else None
    known = [rf for rf in below if rf is not None]
    if not known or not info.tops or info.tops[0] is None:
        return None
    rf = [max(axis) for axis in zip(*known)] if len(known) > 1 else list(known[0])
    try:
        window = kind.window(ctx)
    except ShapeError:
        return None
    if window is None:
        return rf
    bottom = ctx.bottoms[0]
    if window == GLOBAL:
        if len(bottom) - 2 != len(rf):  # no spatial axes left: the field is already the whole input
            return rf
        return [(size + (n - 1) * jump, jump * n) for (size, jump), n in zip(rf, bottom[2:])]
    steps = window[-len(rf) :] if rf else []
    out = list(rf)
    for i, w in enumerate(steps):
        size, jump = rf[len(rf) - len(steps) + i]
        if w.transposed:
            # An output of a transposed window reads ceil(k/s) neighbouring inputs.
            out[len(rf) - len(steps) + i] = (size + (-(-w.kernel // w.stride) - 1) * jump, jump / w.stride)
        else:
            out[len(rf) - len(steps) + i] = (size + (w.kernel - 1) * jump, jump * w.stride)
    return out


def _fork_blocks(layer: Layer, net: Net, diagnostics: Diagnostics) -> list[str]:
    """Take back the NS0103 of each unknown `*_param { }` block of a layer whose type is stubbed
    or unknown: it is the fork's block for that type, which Caffe built with the fork reads.  The
    note that says so, for the layer's one diagnostic (NS0206 or NS0309)."""
    blocks = net.source_map.fork_blocks.get(layer.path, [])
    if not blocks:
        return []
    taken = {id(said) for _, said in blocks}
    diagnostics.items[:] = [d for d in diagnostics.items if id(d) not in taken]
    names = ", ".join(f"{name} {{ }}" for name, _ in blocks)
    return [
        f"{names}: not a BVLC Caffe field, taken as the block of the fork that defines "
        f"'{layer.type}' (Caffe built with that fork reads it; netspec does not)"
    ]


def _unknown_type(layer: Layer, net: Net, diagnostics: Diagnostics, forks: list[str] = ()) -> None:
    import difflib  # a mistake's suggestion: imported only when there is one

    known = list(REGISTRY)
    near = difflib.get_close_matches(layer.type, known, n=3, cutoff=0.7)
    near += [k for k in known if k.lower() == layer.type.lower() and k not in near]
    span = net.source_map.span(layer.path + ("type",), value=True)
    if not layer.type:
        diagnostics.error(
            "NS0308",
            f"layer '{layer.name}' has no type",
            span,
            help='set type: "Convolution" (or another layer type)',
            layer=layer.name,
        )
        return
    typos = misspellings(layer.type, near)
    if typos:
        help = "did you mean " + " or ".join(f"'{n}'" for n in typos) + "?"
    else:
        above = ",".join(blob.name for blob in layer.bottoms) or "BLOB"
        help = (
            f"it is not a BVLC Caffe layer type{f' (nor a misspelt {near[0]!r})' if near else ''}; "
            "see `netspec layers` for the known ones. To check the net around it, stand it in with "
            f"--stub {layer.type}=shape:DIMS (its output's shape); to compile the net above it, add "
            f"--outputs {above}"
        )
    diagnostics.error(
        "NS0309",
        f"layer '{layer.name}' has type '{layer.type}', which netspec does not know",
        span,
        layer=layer.name,
        notes=["the blobs it writes are unknown; layers below them are not checked", *forks],
        help=help,
    )
