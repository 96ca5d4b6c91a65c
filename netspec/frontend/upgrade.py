"""V0 and V1 nets (and other legacy forms) -> the V2 NetParameter, as Caffe's upgrade_proto.cpp does.

Caffe upgrades a net when it reads it (UpgradeNetAsNeeded), in this order:

1. V0 -> V1 (NetNeedsV0ToV1Upgrade: some `layers` entry wraps a V0 `layer`): padding
   layers fold into the `pad` of the conv/pool layer they feed (UpgradeV0PaddingLayers),
   then every V0 field moves to its V1 home (UpgradeV0LayerParameter), and the V0 type
   strings ("conv", "pool", ...) become V1 enum values (UpgradeV0LayerType).
2. Data transformation (NetNeedsDataUpgrade): `scale`, `mean_file`, `crop_size`,
   `mirror` in a V1 Data/ImageData/WindowData layer's own param move into
   `transform_param`.
3. V1 -> V2 (NetNeedsV1ToV2Upgrade: `layers` is not empty): the enum type becomes its
   V2 string (UpgradeV1LayerType), `blobs_lr`/`weight_decay`/`param`/`blob_share_mode`
   become ParamSpecs, and each per-layer param message is copied as it is.
4. Net inputs (NetNeedsInputUpgrade): net-level `input` with `input_shape` or
   `input_dim` becomes one Input layer named "input", placed first (UpgradeNetInput).
5. BatchNorm (NetNeedsBatchNormUpgrade): a BatchNorm layer with three param specs
   gets lr_mult and decay_mult 0 in each (BVLC master; older Caffe dropped the specs).

Where Caffe stops with a fatal error, netspec reports a diagnostic and goes on.
Positions follow the fields: after the upgrade, ("layer", j, ...) paths resolve
to the V1/V0 text they came from, field by field where a field maps 1:1.
"""

from __future__ import annotations

from netspec.diagnostics import Diagnostics
from netspec.proto import caffe_pb2
from netspec.proto.wire import is_repeated
from netspec.source import Path, SourceMap

V1 = caffe_pb2.V1LayerParameter
NetParameter = caffe_pb2.NetParameter

# UpgradeV0LayerType: the V0 type strings Caffe knows.
V0_TYPES: dict[str, int] = {
    "accuracy": V1.ACCURACY,
    "bnll": V1.BNLL,
    "concat": V1.CONCAT,
    "conv": V1.CONVOLUTION,
    "data": V1.DATA,
    "dropout": V1.DROPOUT,
    "euclidean_loss": V1.EUCLIDEAN_LOSS,
    "flatten": V1.FLATTEN,
    "hdf5_data": V1.HDF5_DATA,
    "hdf5_output": V1.HDF5_OUTPUT,
    "im2col": V1.IM2COL,
    "images": V1.IMAGE_DATA,
    "infogain_loss": V1.INFOGAIN_LOSS,
    "innerproduct": V1.INNER_PRODUCT,
    "lrn": V1.LRN,
    "multinomial_logistic_loss": V1.MULTINOMIAL_LOGISTIC_LOSS,
    "pool": V1.POOLING,
    "relu": V1.RELU,
    "sigmoid": V1.SIGMOID,
    "softmax": V1.SOFTMAX,
    "softmax_loss": V1.SOFTMAX_LOSS,
    "split": V1.SPLIT,
    "tanh": V1.TANH,
    "window_data": V1.WINDOW_DATA,
}

# UpgradeV1LayerType: V1 enum name -> V2 type string.
V1_TYPES: dict[str, str] = {
    "NONE": "",
    "ABSVAL": "AbsVal",
    "ACCURACY": "Accuracy",
    "ARGMAX": "ArgMax",
    "BNLL": "BNLL",
    "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution",
    "DATA": "Data",
    "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise",
    "EXP": "Exp",
    "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss",
    "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN",
    "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN",
    "POOLING": "Pooling",
    "POWER": "Power",
    "RELU": "ReLU",
    "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence",
    "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split",
    "SLICE": "Slice",
    "TANH": "TanH",
    "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}

# The per-layer messages UpgradeV1LayerParameter copies from a V1 layer, in its order.
V1_COPIED_PARAMS = (
    "accuracy_param",
    "argmax_param",
    "concat_param",
    "contrastive_loss_param",
    "convolution_param",
    "data_param",
    "dropout_param",
    "dummy_data_param",
    "eltwise_param",
    "exp_param",
    "hdf5_data_param",
    "hdf5_output_param",
    "hinge_loss_param",
    "image_data_param",
    "infogain_loss_param",
    "inner_product_param",
    "lrn_param",
    "memory_data_param",
    "mvn_param",
    "pooling_param",
    "power_param",
    "relu_param",
    "sigmoid_param",
    "softmax_param",
    "slice_param",
    "tanh_param",
    "threshold_param",
    "window_data_param",
    "transform_param",
    "loss_param",
)

# UpgradeV0LayerParameter's field mapping: V0 field -> {V0 type -> (param message, field)};
# the key None stands for every type.  Fields marked repeated are repeated in the V1/V2
# message (one value added).  A V0 field set on a layer type not listed here is dropped,
# and Caffe logs "Unknown parameter ... for layer type ...".
_ANY = None
_CONV, _IP, _POOL = "conv", "innerproduct", "pool"
_DATA_TYPES = {
    "data": "data_param",
    "hdf5_data": "hdf5_data_param",
    "images": "image_data_param",
    "window_data": "window_data_param",
}
V0_FIELDS: dict[str, dict[str | None, tuple[str, str]]] = {
    "num_output": {_CONV: ("convolution_param", "num_output"), _IP: ("inner_product_param", "num_output")},
    "biasterm": {_CONV: ("convolution_param", "bias_term"), _IP: ("inner_product_param", "bias_term")},
    "weight_filler": {
        _CONV: ("convolution_param", "weight_filler"),
        _IP: ("inner_product_param", "weight_filler"),
    },
    "bias_filler": {_CONV: ("convolution_param", "bias_filler"), _IP: ("inner_product_param", "bias_filler")},
    "pad": {_CONV: ("convolution_param", "pad"), _POOL: ("pooling_param", "pad")},
    "kernelsize": {_CONV: ("convolution_param", "kernel_size"), _POOL: ("pooling_param", "kernel_size")},
    "group": {_CONV: ("convolution_param", "group")},
    "stride": {_CONV: ("convolution_param", "stride"), _POOL: ("pooling_param", "stride")},
    "pool": {_POOL: ("pooling_param", "pool")},
    "dropout_ratio": {"dropout": ("dropout_param", "dropout_ratio")},
    "local_size": {"lrn": ("lrn_param", "local_size")},
    "alpha": {"lrn": ("lrn_param", "alpha")},
    "beta": {"lrn": ("lrn_param", "beta")},
    "k": {"lrn": ("lrn_param", "k")},
    "source": {
        **{t: (p, "source") for t, p in _DATA_TYPES.items()},
        "infogain_loss": ("infogain_loss_param", "source"),
    },
    "scale": {_ANY: ("transform_param", "scale")},
    "meanfile": {_ANY: ("transform_param", "mean_file")},
    "batchsize": {t: (p, "batch_size") for t, p in _DATA_TYPES.items()},
    "cropsize": {_ANY: ("transform_param", "crop_size")},
    "mirror": {_ANY: ("transform_param", "mirror")},
    "rand_skip": {"data": ("data_param", "rand_skip"), "images": ("image_data_param", "rand_skip")},
    "shuffle_images": {"images": ("image_data_param", "shuffle")},
    "new_height": {"images": ("image_data_param", "new_height")},
    "new_width": {"images": ("image_data_param", "new_width")},
    "concat_dim": {"concat": ("concat_param", "concat_dim")},
    "det_fg_threshold": {"window_data": ("window_data_param", "fg_threshold")},
    "det_bg_threshold": {"window_data": ("window_data_param", "bg_threshold")},
    "det_fg_fraction": {"window_data": ("window_data_param", "fg_fraction")},
    "det_context_pad": {"window_data": ("window_data_param", "context_pad")},
    "det_crop_mode": {"window_data": ("window_data_param", "crop_mode")},
    "hdf5_output_param": {"hdf5_output": ("hdf5_output_param", "")},  # the whole message
}
# The other V0 fields: name, type, blobs, blobs_lr and weight_decay are read on their own;
# new_num and new_channels Caffe's upgrade ignores without a word.

# NetNeedsDataUpgrade / UpgradeNetDataTransformation.
DATA_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")
DATA_LAYER_PARAMS = {
    V1.DATA: "data_param",
    V1.IMAGE_DATA: "image_data_param",
    V1.WINDOW_DATA: "window_data_param",
}


def _index_path(index: dict[Path, list[Path]], path: Path) -> None:
    """File `path` under its first two steps (see _Upgrade.index)."""
    if len(path) > 1:
        index.setdefault(path[:2], []).append(path)


def _by_prefix(table: dict[Path, tuple[int, int]]) -> dict[Path, list[Path]]:
    index: dict[Path, list[Path]] = {}
    for path in table:
        _index_path(index, path)
    return index


class _Upgrade:
    def __init__(self, source_map: SourceMap, diagnostics: Diagnostics) -> None:
        self.map = source_map
        self.diagnostics = diagnostics
        self.done: list[str] = []  # what was upgraded, for the one info diagnostic
        self.first: Path | None = None  # the first upgraded field
        self.unknown_v0: dict[int, str] = {}  # V2 layer index -> a V0 type string Caffe does not know
        # The recorded paths of each position table by their first two steps, so that an alias
        # finds the paths under `old` without scanning them all (which made upgrading a net of n
        # layers take n² steps).  Built at the first alias; changes made here to the tables are
        # made to it too.
        self.index: list[dict[Path, list[Path]]] | None = None

    # -- positions -------------------------------------------------------------
    def alias(self, old: Path, new: Path) -> None:
        """Let `new` (and everything under it) answer with the positions recorded under `old`."""
        if len(old) < 2:  # (not one the upgrade makes)
            self.map.remap(old, new)
            self.index = None
            return
        if self.index is None:
            self.index = [_by_prefix(table) for table in (self.map.names, self.map.values)]
        n = len(old)
        self.map.alias_marks(old, new)
        for table, index in zip((self.map.names, self.map.values), self.index):
            for path in [p for p in index.get(old[:2], ()) if p[:n] == old]:
                moved = new + path[n:]
                if moved not in table:
                    table[moved] = table[path]
                    _index_path(index, moved)

    def alias_exact(self, old: Path, new: Path) -> None:
        """Let `new` answer with the position recorded for `old` itself (not the fields under it)."""
        for t, table in enumerate((self.map.names, self.map.values)):
            if old in table and new not in table:
                table[new] = table[old]
                if self.index is not None:
                    _index_path(self.index[t], new)

    def span(self, path: Path, value: bool = False):
        return self.map.span(path, value=value)

    def shift_layers(self, by: int) -> None:
        """Move every recorded ("layer", j, ...) position to ("layer", j + by, ...)."""

        def moved(p: Path) -> Path:
            return (
                ("layer", p[1] + by, *p[2:])
                if len(p) > 1 and p[0] == "layer" and isinstance(p[1], int)
                else p
            )

        for table in (self.map.names, self.map.values):
            shifted = {moved(p): at for p, at in table.items()}
            table.clear()
            table.update(shifted)
        self.map.move_marks(moved)
        self.index = None

    def note(self, what: str, where: Path) -> None:
        self.done.append(what)
        if self.first is None:
            self.first = where

    # -- 1. V0 -> V1 -----------------------------------------------------------
    def v0_to_v1(self, v0: NetParameter) -> tuple[NetParameter, list[int]]:
        """UpgradeV0Net: the V1 net, and for each of its layers the V0 layer it came from."""
        padded, origins, folded = self.fold_padding(v0)
        net = NetParameter()
        if v0.HasField("name"):
            net.name = v0.name
        for j, (connection, origin) in enumerate(zip(padded, origins)):
            self.v0_layer(connection, net.layers.add(), origin, j)
        net.input.extend(v0.input)
        net.input_dim.extend(v0.input_dim)
        if v0.HasField("force_backward"):
            net.force_backward = v0.force_backward
        what = (
            f"upgraded a V0 net (`layers {{ layer {{ ... }} }}` with V0 type strings) to the V2 form: "
            f"{len(net.layers)} layers"
        )
        if folded:
            what += f" ({folded} padding layer{'s' if folded > 1 else ''} folded into the next layer's pad)"
        self.note(what, ("layers", 0))
        return net, [o[0] for o in origins]

    def fold_padding(self, v0: NetParameter):
        """UpgradeV0PaddingLayers: drop V0 "padding" layers, moving their pad into the conv/pool they feed."""
        last_top: dict[str, int] = {name: -1 for name in v0.input}
        padded: list[V1] = []
        origins: list[tuple[int, int | None]] = []  # (V0 index, index of the padding layer folded in)
        folded = 0
        for i, connection in enumerate(v0.layers):
            kind = connection.layer.type
            if kind != "padding":
                copy = V1()
                copy.CopyFrom(connection)
                padded.append(copy)
                origins.append((i, None))
            for j, blob in enumerate(connection.bottom):
                # Caffe stops at a bottom nothing produced ("Unknown blob input"); the graph
                # builder reports that one, so it is left alone here.
                source_index = last_top.get(blob, -1)
                if source_index == -1:
                    continue
                source = v0.layers[source_index]
                if source.layer.type != "padding":
                    continue
                problem = None
                if kind not in ("conv", "pool"):
                    problem = (
                        f"a padding layer feeds layer '{connection.layer.name}' of type '{kind}'; "
                        "Caffe folds padding only into a conv or pool layer"
                    )
                elif len(connection.bottom) != 1:
                    problem = (
                        f"layer '{connection.layer.name}' reads a padding layer's output and "
                        f"{len(connection.bottom)} blobs; Caffe folds padding only into a one-input layer"
                    )
                elif len(source.bottom) != 1 or len(source.top) != 1:
                    problem = (
                        f"padding layer '{source.layer.name}' must have one bottom and one top "
                        "to be folded into the layer it feeds"
                    )
                if problem:
                    self.diagnostics.error(
                        "NS0108",
                        problem,
                        self.span(("layers", i, "bottom", j), value=True),
                        layer=connection.layer.name or None,
                    )
                    continue
                target = padded[-1]
                target.layer.pad = source.layer.pad
                target.bottom[j] = source.bottom[0]
                origins[-1] = (i, source_index)
                k = len(padded) - 1
                # Positions: the pad comes from the padding layer's pad, the bottom from its bottom.
                pad_home = ("convolution_param", "pad", 0) if kind == "conv" else ("pooling_param", "pad")
                self.alias_exact(("layers", source_index, "layer", "pad"), ("layer", k, *pad_home))
                self.alias_exact(("layers", source_index), ("layer", k, *pad_home))
                self.alias_exact(("layers", source_index, "bottom", 0), ("layer", k, "bottom", j))
                folded += 1
            for blob in connection.top:
                last_top[blob] = i
        return padded, origins, folded

    def v0_layer(self, connection: V1, out: V1, origin: tuple[int, int | None], j: int) -> None:
        """UpgradeV0LayerParameter, plus the positions of the V2 layer `j` it becomes."""
        i = origin[0]
        base: Path = ("layers", i)
        here: Path = ("layer", j)
        out.bottom.extend(connection.bottom)
        out.top.extend(connection.top)
        if not connection.HasField("layer"):
            # Caffe keeps only the bottoms and tops of a layer without a V0 `layer` in a V0 net.
            self.alias(base, here)
            return
        v0 = connection.layer
        inner: Path = (*base, "layer")
        if v0.HasField("name"):
            out.name = v0.name
            self.alias((*inner, "name"), (*here, "name"))
        self._v0_type(v0, out, inner, here, j)
        self._v0_blobs(v0, out, inner, here)
        self._v0_fields(v0, out, inner, here)
        self.alias(base, here)

    def _v0_type(self, v0, out: V1, inner: Path, here: Path, j: int) -> None:
        """The V0 type's V2 name (an unknown one kept as it is, with NS0107)."""
        kind = v0.type
        if v0.HasField("type"):
            self.alias((*inner, "type"), (*here, "type"))
            if kind in V0_TYPES:
                out.type = V0_TYPES[kind]
            else:
                # Caffe stops here; netspec keeps the string as the V2 type and goes on.
                self.unknown_v0[j] = kind
                import difflib  # a mistake's suggestion: imported only when there is one

                near = difflib.get_close_matches(kind, list(V0_TYPES), n=1, cutoff=0.5)
                self.diagnostics.error(
                    "NS0107",
                    f"layer '{v0.name}' has V0 type '{kind}', which Caffe's upgrade does not know",
                    self.span((*inner, "type"), value=True),
                    help=f"did you mean '{near[0]}'?"
                    if near
                    else "V0 types are " + ", ".join(f"'{t}'" for t in V0_TYPES),
                    layer=v0.name or None,
                )

    def _v0_blobs(self, v0, out: V1, inner: Path, here: Path) -> None:
        """The blobs and their learning-rate and decay multipliers."""
        out.blobs.extend(v0.blobs)
        for k in range(len(v0.blobs)):
            self.alias((*inner, "blobs", k), (*here, "blobs", k))
        out.blobs_lr.extend(v0.blobs_lr)
        for k in range(len(v0.blobs_lr)):
            self.alias((*inner, "blobs_lr", k), (*here, "param", k, "lr_mult"))
            self.alias((*inner, "blobs_lr", k), (*here, "param", k))
        out.weight_decay.extend(v0.weight_decay)
        for k in range(len(v0.weight_decay)):
            self.alias((*inner, "weight_decay", k), (*here, "param", k, "decay_mult"))
            self.alias((*inner, "weight_decay", k), (*here, "param", k))

    def _v0_fields(self, v0, out: V1, inner: Path, here: Path) -> None:
        """Each V0 field into the V2 *_param message of the layer's type (V0_FIELDS), or NS0108 for
        one that does not apply to it."""
        kind = v0.type
        for name, homes in V0_FIELDS.items():
            if not v0.HasField(name):
                continue
            home = homes.get(kind, homes.get(_ANY))
            if home is None:
                self.diagnostics.warning(
                    "NS0108",
                    f"V0 field '{name}' does not apply to a '{kind}' layer; Caffe's upgrade drops it",
                    self.span((*inner, name)),
                    layer=v0.name or None,
                )
                continue
            message_name, field = home
            message = getattr(out, message_name)
            value = getattr(v0, name)
            target: Path = (*here, message_name)
            if not field:
                message.CopyFrom(value)
            elif name == "pool":
                setattr(
                    message,
                    field,
                    caffe_pb2.PoolingParameter.PoolMethod.Value(
                        caffe_pb2.V0LayerParameter.PoolMethod.Name(value)
                    ),
                )
                target += (field,)
            elif is_repeated(message.DESCRIPTOR.fields_by_name[field]):
                getattr(message, field).append(value)
                target += (field, len(getattr(message, field)) - 1)
            elif hasattr(value, "CopyFrom"):
                getattr(message, field).CopyFrom(value)
                target += (field,)
            else:
                setattr(message, field, value)
                target += (field,)
            self.alias((*inner, name), target)
            self.alias_exact((*inner, name), (*here, message_name))

    # -- 2. data transformation ------------------------------------------------
    def data_transform(self, net: NetParameter, from_text: bool) -> None:
        """UpgradeNetDataTransformation (only called when NetNeedsDataUpgrade)."""
        where = None
        for i, layer in enumerate(net.layers):
            param_name = DATA_LAYER_PARAMS.get(layer.type)
            if param_name is None:
                continue
            # Caffe's CONVERT_LAYER_TRANSFORM_PARAM takes mutable_*_param() of both messages,
            # so both are present afterwards, even when empty.
            param = getattr(layer, param_name)
            param.SetInParent()
            layer.transform_param.SetInParent()
            for field in DATA_TRANSFORM_FIELDS:
                if param.HasField(field):
                    setattr(layer.transform_param, field, getattr(param, field))
                    param.ClearField(field)
                    if from_text:
                        self.alias(("layers", i, param_name, field), ("layers", i, "transform_param", field))
                    where = where or ("layers", i, param_name, field)
        self.note("data-layer scale/mean_file/crop_size/mirror moved into transform_param", where)

    # -- 3. V1 -> V2 -----------------------------------------------------------
    def v1_to_v2(self, v1: NetParameter, from_text: bool) -> NetParameter:
        """UpgradeV1Net: every `layers` entry becomes a `layer`."""
        net = NetParameter()
        net.CopyFrom(v1)
        net.ClearField("layers")
        offset = len(v1.layer)
        if offset:
            # Caffe refuses such a net outright; keep the V2 layers and add the upgraded ones after them.
            self.diagnostics.error(
                "NS0108",
                "this net has both `layer` (V2) and `layers` (V1) entries; Caffe refuses to upgrade it",
                self.span(("layers", 0)),
                help='write every layer in one form: layer { type: "Convolution" ... }',
            )
        for i, layer in enumerate(v1.layers):
            self.v1_layer(layer, net.layer.add(), i, offset + i, from_text)
        return net

    def v1_layer(self, v1: V1, out, i: int, j: int, from_text: bool) -> None:
        """UpgradeV1LayerParameter, plus the positions of the V2 layer `j`."""
        base: Path = ("layers", i)
        here: Path = ("layer", j)
        out.bottom.extend(v1.bottom)
        out.top.extend(v1.top)
        if v1.HasField("name"):
            out.name = v1.name
        out.include.extend(v1.include)
        out.exclude.extend(v1.exclude)
        if v1.HasField("type"):
            name = V1.LayerType.Name(v1.type)
            out.type = V1_TYPES[name]
            if v1.type == V1.NONE:
                self.diagnostics.error(
                    "NS0107",
                    f"layer '{v1.name}' has V1 type NONE, which names no layer type",
                    self.span((*base, "type"), value=True),
                    layer=v1.name or None,
                    help="give the layer a type, e.g. type: CONVOLUTION",
                )
        out.blobs.extend(v1.blobs)
        positions = from_text
        for k, name in enumerate(v1.param):
            self._param(out, k).name = name
            if positions:
                self.alias((*base, "param", k), (*here, "param", k, "name"))
        for k, mode in enumerate(v1.blob_share_mode):
            self._param(out, k).share_mode = mode  # STRICT and PERMISSIVE have the same numbers
            if positions:
                self.alias((*base, "blob_share_mode", k), (*here, "param", k, "share_mode"))
                self.alias((*base, "blob_share_mode", k), (*here, "param", k))
        for k, value in enumerate(v1.blobs_lr):
            self._param(out, k).lr_mult = value
            if positions:
                self.alias((*base, "blobs_lr", k), (*here, "param", k, "lr_mult"))
                self.alias((*base, "blobs_lr", k), (*here, "param", k))
        for k, value in enumerate(v1.weight_decay):
            self._param(out, k).decay_mult = value
            if positions:
                self.alias((*base, "weight_decay", k), (*here, "param", k, "decay_mult"))
                self.alias((*base, "weight_decay", k), (*here, "param", k))
        out.loss_weight.extend(v1.loss_weight)
        for param_name in V1_COPIED_PARAMS:
            if v1.HasField(param_name):
                getattr(out, param_name).CopyFrom(getattr(v1, param_name))
        if positions:
            self.alias(base, here)

    @staticmethod
    def _param(layer, k: int):
        while len(layer.param) <= k:
            layer.param.add()
        return layer.param[k]

    # -- 4. net inputs ---------------------------------------------------------
    def net_input(self, net: NetParameter) -> None:
        """UpgradeNetInput: net-level inputs with shapes become one Input layer, placed first."""
        has_shape, has_dim = len(net.input_shape) > 0, len(net.input_dim) > 0
        if has_shape or has_dim:
            layer = caffe_pb2.LayerParameter(name="input", type="Input")
            self.shift_layers(1)
            here: Path = ("layer", 0)
            for name in ("", "name", "type"):
                self.alias(("input", 0), (*here, name) if name else here)
            for i, name in enumerate(net.input):
                layer.top.append(name)
                self.alias(("input", i), (*here, "top", i))
                shape = layer.input_param.shape.add()
                target: Path = (*here, "input_param", "shape", i)
                if has_shape:
                    if i < len(net.input_shape):
                        shape.CopyFrom(net.input_shape[i])
                        self.alias(("input_shape", i), target)
                    else:
                        self.diagnostics.error(
                            "NS0108",
                            f"net input '{name}' has no input_shape: {len(net.input)} inputs, "
                            f"{len(net.input_shape)} input_shape entries",
                            self.span(("input", i), value=True),
                            help="give one input_shape { dim: ... } per input",
                        )
                else:
                    dims = net.input_dim[4 * i : 4 * i + 4]
                    shape.dim.extend(dims)
                    for k in range(len(dims)):
                        self.alias(("input_dim", 4 * i + k), (*target, "dim", k))
                    self.alias(("input_dim", 4 * i), target)
                    if len(dims) < 4:
                        self.diagnostics.error(
                            "NS0108",
                            f"net input '{name}' needs four input_dim values (N, C, H, W); "
                            f"the net gives {len(net.input_dim)} for {len(net.input)} inputs",
                            self.span(("input", i), value=True),
                            help="give four input_dim values per input, or use input_shape { dim: ... }",
                        )
            extra = len(net.input_dim) - 4 * len(net.input) if has_dim and not has_shape else 0
            if extra > 0:
                self.diagnostics.warning(
                    "NS0108",
                    f"{extra} input_dim value{'s' if extra > 1 else ''} beyond four per input are ignored",
                    self.span(("input_dim", 4 * len(net.input))),
                )
            layers = list(net.layer)
            net.ClearField("layer")
            net.layer.add().CopyFrom(layer)
            net.layer.extend(layers)
            fields = "input_shape" if has_shape else "input_dim"
            self.note(f"net-level input/{fields} fields became an Input layer 'input'", ("input", 0))
        else:
            # A legacy caffemodel's bare inputs: Caffe simply drops them.
            self.note("net-level input fields without shapes were dropped", ("input", 0))
            if self.map.source is not None:
                name = net.input[0]
                producer = next((layer.name for layer in net.layer if name in layer.top), None)
                self.diagnostics.warning(
                    "NS0108",
                    f"net input '{name}' has no shape (no input_shape or input_dim); Caffe drops such inputs"
                    + (f", and layer '{producer}' writes '{name}'" if producer is not None else ""),
                    self.span(("input", 0), value=True),
                    help=f'remove `input: "{name}"`: the layer defines the blob'
                    if producer is not None
                    else "add input_shape { dim: N dim: C dim: H dim: W }, or an Input layer",
                    dropped_input=name,
                )
        net.ClearField("input")
        net.ClearField("input_shape")
        net.ClearField("input_dim")

    def shapes_without_input(self, net: NetParameter) -> None:
        """input_dim or input_shape with no `input` to size: Caffe's upgrade runs only for nets with
        inputs (NetNeedsInputUpgrade), so it makes no Input layer and the sizes go unread."""
        field = "input_shape" if len(net.input_shape) > 0 else "input_dim"
        self.diagnostics.warning(
            "NS0108",
            f"{field} is given but no net-level input names a blob: Caffe makes no input of it and "
            "ignores it",
            self.span((field, 0)),
            help=f'add `input: "data"` before it (a commented-out `input` line?), or remove {field}',
        )

    # -- 5. BatchNorm ----------------------------------------------------------
    def batch_norm(self, net: NetParameter) -> None:
        """UpgradeNetBatchNorm (BVLC master): three param specs keep their names, lr and decay become 0."""
        changed = []
        for j, layer in enumerate(net.layer):
            if layer.type == "BatchNorm" and len(layer.param) == 3:
                before = [spec.SerializeToString() for spec in layer.param]
                for spec in layer.param:
                    spec.lr_mult = 0.0
                    spec.decay_mult = 0.0
                if before != [spec.SerializeToString() for spec in layer.param]:
                    changed.append(j)
        if changed:
            count = len(changed)
            self.note(
                f"{count} BatchNorm layer{'s' if count > 1 else ''} with three param specs got "
                "lr_mult: 0 and decay_mult: 0 in each, as Caffe's BatchNorm upgrade does",
                ("layer", changed[0], "param", 0),
            )


def needs_v0_upgrade(net: NetParameter) -> bool:
    """NetNeedsV0ToV1Upgrade."""
    return any(layer.HasField("layer") for layer in net.layers)


def needs_data_upgrade(net: NetParameter) -> bool:
    """NetNeedsDataUpgrade."""
    for layer in net.layers:
        param_name = DATA_LAYER_PARAMS.get(layer.type)
        if param_name and layer.HasField(param_name):
            param = getattr(layer, param_name)
            if any(param.HasField(field) for field in DATA_TRANSFORM_FIELDS):
                return True
    return False


def needs_batch_norm_upgrade(net: NetParameter) -> bool:
    """NetNeedsBatchNormUpgrade."""
    return any(layer.type == "BatchNorm" and len(layer.param) == 3 for layer in net.layer)


def needs_upgrade(net: NetParameter) -> bool:
    """NetNeedsUpgrade: whether `upgrade` changes anything."""
    return len(net.layers) > 0 or len(net.input) > 0 or needs_batch_norm_upgrade(net)


def upgrade(param: NetParameter, source_map: SourceMap, diagnostics: Diagnostics) -> NetParameter:
    """The V2 form of a V0, V1 or V2 net, as Caffe's UpgradeNetAsNeeded gives it.

    A net that needs nothing is returned as it is (the same object); otherwise a new
    message is built and `param` is left untouched.  Positions recorded in
    `source_map` for the legacy fields also answer for the V2 paths.
    """
    if len(param.input) == 0 and (len(param.input_dim) > 0 or len(param.input_shape) > 0):
        _Upgrade(source_map, diagnostics).shapes_without_input(param)
    if not needs_upgrade(param):
        return param
    work = _Upgrade(source_map, diagnostics)
    net = param
    from_text = True  # V1 positions are the file's own (for V0 nets, the V0 step maps them)
    if needs_v0_upgrade(net):
        net, _ = work.v0_to_v1(net)
        from_text = False
    if needs_data_upgrade(net):
        if net is param:
            net = NetParameter()
            net.CopyFrom(param)
        work.data_transform(net, from_text)
    if len(net.layers) > 0:
        count = len(net.layers)
        net = work.v1_to_v2(net, from_text)
        for j, kind in work.unknown_v0.items():
            net.layer[j].type = kind
            source_map.faulty.add(("layer", j))  # NS0107 said it; the checker says no more of it
        if from_text:
            work.note(
                f"upgraded a V1 net (`layers` with enum types) to the V2 form: {count} layers", ("layers", 0)
            )
    if len(net.input) > 0:
        if net is param:
            net = NetParameter()
            net.CopyFrom(param)
        work.net_input(net)
    if needs_batch_norm_upgrade(net):
        if net is param:
            net = NetParameter()
            net.CopyFrom(param)
        work.batch_norm(net)
    if work.done:
        diagnostics.info(
            "NS0003",
            "; ".join(work.done),
            source_map.span(work.first or ()),
            notes=["Caffe upgrades such a net the same way when it reads it"],
        )
    return net
