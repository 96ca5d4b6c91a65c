"""Net + shapes + weights -> onnx.ModelProto.

Each layer type lowers itself (LayerType.lower) through a LowerContext that
hands it tensor names, shapes and weights and collects its nodes and
initializers.  This module decides names, graph inputs and outputs, drops
training-only layers, stamps the opset with its matching IR version, and
records every intermediate shape in value_info.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from netspec import __version__
from netspec import outputs as outputs_of
from netspec.diagnostics import Diagnostics
from netspec.fold import FoldPlan, plan_folds
from netspec.infer import NO_OUTPUTS, Analysis, LayerInfo
from netspec.ir import Blob, Layer
from netspec.layers.base import LayerType, Shape
from netspec.opsets import DEFAULT_OPSET, INDEX_COLUMNS, INDEX_INPUTS, WEIGHTS
from netspec.source import SourceMap


@dataclass
class Options:
    opset: int = DEFAULT_OPSET
    dynamic_batch: bool = False
    fold: bool = True
    source: str = ""
    outputs: tuple[str, ...] = ()  # blob names: the model's outputs, in order (all the net's when empty)
    weights: str = ""  # where the weights came from, stamped for `netspec run` to say


def _attribute(key: str, value):
    """Layers speak numpy, so that checking a net never imports onnx: a numpy type (Cast's `to`)
    becomes ONNX's element type, an array given as `value` (Constant, ConstantOfShape) a tensor."""
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return helper.np_dtype_to_tensor_dtype(np.dtype(value))
    if key == "value" and isinstance(value, np.ndarray):
        return numpy_helper.from_array(value, "value")
    return value


class LowerContext:
    """What a layer's lowering sees, and where it puts its nodes."""

    def __init__(
        self,
        graph: GraphBuilder,
        info: LayerInfo,
        inputs: list[str],
        outputs: list[str],
        in_shapes: list[Shape],
        blobs: list[np.ndarray],
        source_map: SourceMap,
    ) -> None:
        self.graph = graph
        self.layer = info.layer
        self.info = info
        self.inputs = inputs
        self.outputs = outputs
        self.in_shapes = in_shapes
        self.out_shapes: list[Shape] = list(info.tops)
        self.blobs = blobs
        self.source_map = source_map
        self.config = info.config  # the layer's parameters as its type's setup() read them
        self.opset = graph.opset
        self._count = 0

    @property
    def param(self):
        return self.layer.param

    def node(self, op: str, inputs: list[str], outputs: list[str] | int = 1, **attrs) -> list[str]:
        """Add a node; `outputs` names its results, or counts fresh ones.  Returns the output names."""
        if isinstance(outputs, int):
            outputs = [self.tmp(op.lower()) for _ in range(outputs)]
        name = self.graph.node_name(
            self.layer.name if self._count == 0 else f"{self.layer.name}/{op}_{self._count}"
        )
        self._count += 1
        attrs = {k: _attribute(k, v) for k, v in attrs.items() if v is not None}
        self.graph.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs

    def op(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        """Add a node with one output, `output` or a fresh name, and return that name."""
        return self.node(op, inputs, [output] if output else 1, **attrs)[0]

    # -- operators whose signature changed across the opsets netspec writes: one place each ----

    def reduce(
        self, op: str, x: str, axes: list[int], outputs: list[str] | int = 1, *, keepdims: int
    ) -> list[str]:
        """A Reduce* node: ReduceSum takes its axes as an input from opset 13, the others from 18."""
        if self.opset >= (13 if op == "ReduceSum" else 18):
            return self.node(op, [x, self.ints(axes, "axes")], outputs, keepdims=keepdims)
        return self.node(op, [x], outputs, axes=axes, keepdims=keepdims)

    def resize(self, x: str, y: str, sizes, **attrs) -> None:
        """Resize of the axes after N and C to exactly `sizes` (sizes, not scales, so no rounding can
        change them), the batch left open: from opset 18 Resize takes the axes it resizes; before,
        its sizes cover N and C too, taken from x at run time."""
        if self.opset >= 18:
            axes = list(range(2, 2 + len(sizes)))
            self.node("Resize", [x, "", "", self.ints(list(sizes), "sizes")], [y], axes=axes, **attrs)
            return
        nc = self.node("Slice", [*self.node("Shape", [x]), self.ints([0], "start"), self.ints([2], "end")])
        full = self.node("Concat", [*nc, self.ints(list(sizes), "sizes")], axis=0)
        self.node("Resize", [x, "", "", *full], [y], **attrs)

    @property
    def maxpool_clips_ceil(self) -> bool:
        """Whether MaxPool's ceil_mode drops a last window that starts in the end padding, as Caffe
        does: from MaxPool-22 on (onnx PR 5741); before it, ONNX's shape inference keeps that window."""
        return self.opset >= 22

    def const(self, array, hint: str, dtype=np.float32) -> str:
        """An initializer holding `array`, named after this layer."""
        return self.graph.initializer(f"{self.layer.name}/{hint}", np.asarray(array, dtype=dtype))

    def ints(self, values, hint: str) -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint, dtype=np.int64)

    def tmp(self, hint: str) -> str:
        return self.graph.fresh(f"{self.layer.name}/{hint}")

    def subgraph(self, inputs: list[tuple[str, type, list | None]], build) -> onnx.GraphProto:
        """A Loop's body: `build` gets fresh names for `inputs` (hint, numpy element type, shape or
        None) and returns its outputs as (name, numpy element type); the nodes it makes with this
        context go into the body, not the graph, and may read any tensor of the graph."""
        outer, self.graph.nodes = self.graph.nodes, []
        try:
            names = [self.tmp(hint) for hint, _, _ in inputs]
            results = build(*names)
            nodes = self.graph.nodes
        finally:
            self.graph.nodes = outer

        def typed(name: str, dtype: type, shape: list | None = None) -> onnx.ValueInfoProto:
            return helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape
            )

        return helper.make_graph(
            nodes,
            self.tmp("body"),
            [typed(n, t, shape) for n, (_, t, shape) in zip(names, inputs)],
            [typed(n, t) for n, t in results],
        )

    def alias(self, top: int, tensor: str) -> None:
        """Top `top` is `tensor` unchanged: emit no node for it (an identity at inference)."""
        self.graph.alias(self.outputs[top], tensor)


def _unique(hint: str, taken: set[str]) -> str:
    """`hint`, or `hint_2`, `hint_3`, ... whichever `taken` lacks first; it is then taken."""
    name, n = hint, 1
    while name in taken:
        n += 1
        name = f"{hint}_{n}"
    taken.add(name)
    return name


class GraphBuilder:
    """Nodes, names and aliases of the graph being built.  Initializers go straight into `model`,
    the ModelProto `lower` returns, without their values, which wait in `values` (Lowered): a file
    is then written straight from them (proto.wire.write), and a ModelProto gets them once
    (Lowered.inline), not again by make_graph and make_model."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.model = onnx.ModelProto()
        self.values: dict[str, np.ndarray] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.names: set[str] = set()
        self.node_names: set[str] = set()
        self.aliases: dict[str, str] = {}

    def fresh(self, hint: str) -> str:
        """A tensor name no other tensor has: `hint`, else `hint_2`, ..."""
        return _unique(hint, self.names)

    def node_name(self, hint: str) -> str:
        """A node name no other node has: Caffe lets two layers share a name (NS0203), ONNX does not."""
        return _unique(hint, self.node_names)

    def initializer(self, hint: str, array: np.ndarray) -> str:
        name = self.fresh(hint)
        array = np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")  # ONNX's raw_data order
        self.model.graph.initializer.add(
            name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype), dims=array.shape
        )
        self.values[name] = array
        return name

    def alias(self, name: str, target: str) -> None:
        """Let tensor `name` be `target` itself: no node computes it (Dropout, Split, ...)."""
        self.aliases[name] = self.resolve(target)

    def resolve(self, name: str) -> str:
        return self.aliases.get(name, name)

    def rewrite_aliases(self) -> None:
        """Point every node input at the tensor its alias stands for."""
        if not self.aliases:
            return
        for node in self.nodes:
            for i, name in enumerate(node.input):
                if name in self.aliases:
                    node.input[i] = self.aliases[name]


def tensor_names(analysis: Analysis) -> dict[str, str]:
    """ONNX names for blob values: an input keeps its blob's name (a user feeds it by that name,
    even when an in-place layer rewrites it, as a Scale on `data` does); otherwise the value a
    blob holds last has the Caffe name, as Caffe keeps it, and earlier values written in place
    get `name/producer`."""
    sources = {id(i.layer) for i in analysis.layers if i.kind is not None and i.kind.source}
    fed = {
        key
        for key, blob in analysis.net.blobs.items()
        if blob.producer is not None and id(blob.producer) in sources
    }
    inputs = {analysis.net.blobs[key].name for key in fed}
    latest: dict[str, Blob] = {}
    for blob in analysis.net.blobs.values():
        latest[blob.name] = blob
    names = {}
    taken = set(latest)
    for blob in analysis.net.blobs.values():
        if blob.key not in fed and (latest[blob.name] is not blob or blob.name in inputs):
            names[blob.key] = f"{blob.name}/{blob.producer.name}"
        else:  # Caffe lets a blob be named "", ONNX does not let a tensor
            names[blob.key] = blob.name or _unique("unnamed", taken)
    return names


PROBED_BYTES = 1 << 16  # initializers the checker's probe keeps as constants (Lowered.probe)


@dataclass
class Lowered:
    """A lowered model whose initializers' values are kept apart, by name, until they are written
    (proto.wire.write streams them from these arrays) or inlined: so the weights are in memory
    once, not once as arrays and again as protobuf bytes (VGG-16's 553 MB)."""

    model: onnx.ModelProto
    values: dict[str, np.ndarray]

    def inline(self) -> onnx.ModelProto:
        """The model with every initializer's raw_data, each array let go once copied."""
        for tensor in self.model.graph.initializer:
            if tensor.name in self.values:
                tensor.raw_data = self.values.pop(tensor.name).tobytes()
        return self.model

    def probe(self, limit: int = PROBED_BYTES) -> onnx.ModelProto:
        """What onnx.checker.check_model(full_check=True) needs to judge this model, with the weights
        in memory once: initializers up to `limit` bytes as they are (the shapes, axes and pads that
        shape inference reads as constants), larger ones (weights, which it reads only by type and
        shape) as typed graph inputs.  What that leaves unchecked, each large raw_data's size against
        its dims, holds by construction: both come from one array (GraphBuilder.initializer)."""
        probe = onnx.ModelProto()
        probe.CopyFrom(self.model)  # small: the values are apart
        kept = []
        for tensor in probe.graph.initializer:
            array = self.values.get(tensor.name)
            if array is None or array.nbytes <= limit:
                if array is not None:
                    tensor.raw_data = array.tobytes()
                kept.append(tensor)
            else:
                probe.graph.input.append(
                    helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
                )
        probe.graph.ClearField("initializer")
        probe.graph.initializer.extend(kept)
        return probe


def lower(
    analysis: Analysis,
    weights: dict[str, list[np.ndarray]],
    diagnostics: Diagnostics,
    options: Options | None = None,
) -> onnx.ModelProto | None:
    """The ONNX model of an analysed net, or None when a layer cannot be lowered (reported)."""
    lowered = lower_apart(analysis, weights, diagnostics, options)
    return lowered.inline() if lowered is not None else None


def lower_apart(
    analysis: Analysis,
    weights: dict[str, list[np.ndarray]],
    diagnostics: Diagnostics,
    options: Options | None = None,
) -> Lowered | None:
    """The ONNX model of an analysed net with its weights apart (Lowered), or None when a layer
    cannot be lowered (reported).

    Training-only layers are left out (one info says which); a value that only
    they read becomes a graph output, as a deploy net of the same spec would have it.
    With `options.outputs` the graph's outputs are those blobs' latest values, and the layers
    they do not need are left out (netspec.outputs).
    """
    options = options or Options()
    net = analysis.net
    asked = _asked_outputs(analysis, options, diagnostics)
    if asked is None:
        return None
    chosen, needed = asked
    graph = GraphBuilder(options.opset)
    names = tensor_names(analysis)
    graph.names.update(names.values())
    inputs: list[onnx.ValueInfoProto] = []
    dropped: list[str] = []
    lowered: set[str] = set()  # keys of the values the graph computes or takes as inputs
    read: set[str] = set()  # keys of the values a lowered layer reads
    ok = True
    follow = analysis.batch_axes() if options.dynamic_batch else {}
    if isinstance(follow, Diagnostics):
        _report_fixed_batch(analysis, follow, diagnostics)
        return None
    kept = {b.key for b in chosen or ()}  # values a fold must not swallow
    plan = plan_folds(analysis, weights, kept) if options.fold else FoldPlan()
    unneeded = 0
    kinds = {id(i.layer): i.kind for i in analysis.layers}
    for info in analysis.layers:
        if needed is not None and info.layer not in needed:
            unneeded += 1
            continue
        if info.layer.name in plan.skip:  # folded into the convolution before it
            continue
        info, blobs = plan.rewrite(info, weights)
        layer, kind = info.layer, info.kind
        if kind is not None and not kind.deploy:
            dropped.append(layer.name)
            continue
        if kind is not None and kind.source:  # only the tops the graph reads need a shape
            for blob, shape in zip(layer.tops, info.tops):
                if _consumed_by_deploy(blob, needed, kinds) or blob.key in kept:
                    if shape is None:
                        ok = False  # infer has said why (NS0375)
                        continue
                    inputs.append(_value_info(names[blob.key], shape, follow.get(blob.key, {})))
                    lowered.add(blob.key)
            continue
        if kind is None or any(s is None for s in info.tops):
            ok = False  # infer has said why
            continue
        in_shapes = [analysis.shape(b) for b in layer.bottoms]
        ctx = LowerContext(
            graph,
            info,
            [graph.resolve(names[b.key]) for b in layer.bottoms],
            [names[t.key] for t in layer.tops],
            in_shapes,
            blobs,
            net.source_map,
        )
        if not _lower_layer(kind, ctx, diagnostics):
            ok = False
            continue
        lowered.update(t.key for t in layer.tops)
        read.update(b.key for b in layer.bottoms)
    if dropped:
        diagnostics.info("NS0401", f"left out of the inference graph, as training-only: {', '.join(dropped)}")
    if unneeded:
        diagnostics.info(
            "NS0405",
            f"{unneeded} of {len(analysis.layers)} layers are not needed for --outputs "
            f"{', '.join(options.outputs)} and are left out",
        )
    if not ok:
        return None
    input_names = {vi.name for vi in inputs}
    if chosen is not None:
        outputs = [b.key for b in chosen]
    else:
        outputs = [key for key in lowered if key not in read and names[key] not in input_names]
        outputs.sort(key=list(net.blobs).index)
    if not outputs:
        diagnostics.error("NS0403", NO_OUTPUTS)
        return None
    for key in outputs:  # an output must be a tensor of its own name
        blob = net.blobs[key]
        if names[key] != blob.name:
            diagnostics.warning(
                "NS0406",
                f"output '{blob.name}' is named '{names[key]}' in the model: the input '{blob.name}' keeps "
                "its name, and an ONNX value has one",
                help="`netspec run` prints and saves it by that name",
            )
        if graph.resolve(names[key]) != names[key]:
            graph.nodes.append(
                helper.make_node(
                    "Identity", [graph.resolve(names[key])], [names[key]], name=f"{names[key]}/output"
                )
            )
    graph.rewrite_aliases()
    _assemble(graph, analysis, options, names, inputs, outputs, lowered, follow)
    return Lowered(graph.model, graph.values)


def _asked_outputs(
    analysis: Analysis, options: Options, diagnostics: Diagnostics
) -> tuple[list[Blob] | None, set[Layer] | None] | None:
    """(the blobs the model outputs, the layers they need): those --outputs names, or a net's unread
    inputs when it computes nothing, else (None, None) for the net's own outputs; None when an
    --outputs name is wrong (said)."""
    net = analysis.net
    if options.outputs:
        chosen = outputs_of.resolve(net, list(options.outputs), diagnostics)
        return None if chosen is None else (chosen, outputs_of.needed(chosen))
    return analysis.passed_through(), None


def _lower_layer(kind: LayerType, ctx: LowerContext, diagnostics: Diagnostics) -> bool:
    """The layer type's lowering of one layer; False, with the reason said, where it fails."""
    layer = ctx.layer
    try:
        kind.lower(ctx)
    except NotImplementedError as problem:
        diagnostics.error(
            "NS0402",
            f"{layer.name}: {problem}",
            ctx.source_map.span(layer.path + ("type",), value=True),
            layer=layer.name,
            help=getattr(problem, "help", None),
        )
        return False
    except Exception as problem:  # a bug of ours must not become a user's traceback
        diagnostics.error(
            "NS0499",
            f"{layer.name}: netspec failed while compiling this {layer.type} layer "
            f"({type(problem).__name__}: {problem}); this is a bug in netspec, please report it",
            ctx.source_map.span(layer.path + ("type",), value=True),
            layer=layer.name,
        )
        return False
    return True


def _assemble(
    graph: GraphBuilder,
    analysis: Analysis,
    options: Options,
    names: dict[str, str],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[str],
    lowered: set[str],
    follow: dict,
) -> None:
    """graph.model made whole: its nodes, inputs, outputs and value infos (symbolic where the batch
    or the values decide a size), opset, IR version and netspec's metadata."""
    net = analysis.net
    input_names = {vi.name for vi in inputs}
    output_keys = set(outputs)
    varying = {  # axes whose size the values decide (DetectionOutput's rows): symbolic
        top.key: axes
        for info in analysis.layers
        if info.kind is not None
        for j, top in enumerate(info.layer.tops)
        if (axes := info.kind.data_dependent.get(j))
    }
    value_info = [
        _value_info(names[key], analysis.shapes[key], follow.get(key, {}), varying.get(key, ()))
        for key in analysis.shapes
        if key in lowered
        and key not in output_keys
        and names[key] not in input_names
        and names[key] not in graph.aliases
    ]
    model = graph.model  # what helper.make_model(helper.make_graph(...)) builds, without copying it
    model.graph.node.extend(graph.nodes)
    model.graph.name = net.name or "net"
    model.graph.input.extend(inputs)
    model.graph.output.extend(
        _value_info(names[key], analysis.shapes[key], follow.get(key, {}), varying.get(key, ()))
        for key in outputs
    )
    model.graph.value_info.extend(value_info)
    model.opset_import.append(helper.make_opsetid("", options.opset))
    model.producer_name, model.producer_version = "netspec", __version__
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    props = {"netspec.source": options.source, "netspec.version": __version__}
    if options.weights and any(info.weights for info in analysis.layers):  # a ReLU has none to speak of
        props[WEIGHTS] = options.weights
    given = {vi.name for vi in inputs}
    indices = {name: read for name, read in analysis.index_inputs().items() if name in given}
    if indices:  # for `netspec run`'s random inputs: indices, not Gaussian noise; and to check given ones
        props[INDEX_INPUTS] = json.dumps({name: bound for name, (bound, _) in indices.items()})
        columns = {name: column for name, (_, column) in indices.items() if column is not None}
        if columns:
            props[INDEX_COLUMNS] = json.dumps(columns)
    helper.set_model_props(model, props)


def _consumed_by_deploy(blob: Blob, needed: set[Layer] | None, kinds: dict[int, LayerType | None]) -> bool:
    """Whether a layer of the inference graph (one `needed`, when given) reads `blob`.  A source
    layer with bottoms (a Python proposal layer) reads it outside the graph, so does not count;
    `kinds` are the layers' types as the analysis took them (a stubbed Python layer computes)."""

    def computes(layer: Layer) -> bool:
        kind = kinds.get(id(layer))
        return kind is not None and kind.deploy and not kind.source and (needed is None or layer in needed)

    return any(computes(c) for c in blob.consumers)


def _report_fixed_batch(analysis: Analysis, again: Diagnostics, diagnostics: Diagnostics) -> None:
    """NS0419: the net does not check at another batch, so no graph can take any batch."""
    batch = analysis.batch
    first = next(iter(again.errors), None)
    diagnostics.error(
        "NS0419",
        f"--dynamic-batch: the net does not check at batch {batch + 1}, only at {batch}"
        + (f": {first.message}" if first else ""),
        first.span if first else None,
        help="make the sizes follow the batch (Reshape's 0 copies it, -1 infers it), or compile with "
        "--batch N for the batch you will run",
    )


def _value_info(
    name: str, shape: Shape, follow: dict[int, str | None], varying: tuple[int, ...] = ()
) -> onnx.ValueInfoProto:
    """A tensor's type; with a dynamic batch, the axes that follow the batch (Analysis.batch_axes)
    are the symbol N, or unknown where the batch is folded into them; the axes in `varying`
    (sizes the values decide) become symbols of their own."""
    dims: list = list(shape)
    for axis, symbol in follow.items():
        dims[axis] = symbol
    for axis in varying:
        dims[axis] = f"{name}_{axis}"
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)
