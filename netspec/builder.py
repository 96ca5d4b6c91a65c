"""Writing network specs in Python, in the spirit of Caffe's ``caffe.net_spec``.

    from netspec.builder import NetSpec, L, P

    n = NetSpec("LeNet")
    n.data = L.Input(shape=dict(dim=[1, 1, 28, 28]))
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type="xavier"))
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.pool1 = L.Pooling(n.relu1, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    print(n.to_text())

``L.<Type>(*bottoms, **fields)`` describes one layer of Caffe type ``<Type>``
and returns its top (a tuple of tops with ``ntop=N``; the layer itself with
``ntop=0``).  Assigning it to an attribute of a NetSpec names it: the layer
takes the attribute's name, and so does its top, unless the layer works in
place (``in_place=True``: its top is its bottom's blob).  ``name="..."`` gives
the layer a name of its own while the top keeps the attribute's name.

Keyword fields go where Caffe would look for them:

- a field of the layer type's parameter message (``kernel_size`` of a
  Convolution goes to ``convolution_param``); the message is found from the
  schema by convention (``InnerProduct`` -> ``InnerProductParameter`` ->
  ``inner_product_param``) with a few explicit exceptions (``Deconvolution``
  reads ``convolution_param``, loss layers also read ``loss_param``);
- otherwise a field of LayerParameter itself (``param``, ``include``,
  ``loss_weight``, ``propagate_down``, any ``*_param`` given whole).

Values: a dict fills a message, a list fills a repeated field (a single value
becomes a one-element list), an enum takes its number (``P.Pooling.MAX``) or
its name (``"MAX"``).  Anything the schema does not have is a ValueError that
names the layer type and the nearest valid field names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from google.protobuf import text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from netspec.proto import caffe_pb2
from netspec.proto.wire import is_repeated

__all__ = [
    "BuildError",
    "L",
    "Layer",
    "NetSpec",
    "P",
    "Top",
    "conv_bn_scale_relu",
    "param_fields",
]


class BuildError(ValueError):
    """A layer described in Python does not fit the schema."""


_LAYER = caffe_pb2.LayerParameter.DESCRIPTOR
# Fields of LayerParameter that the builder fills itself: never keyword arguments.
_COMPUTED = {"name", "type", "bottom", "top"}
_LAYER_FIELDS = sorted(f.name for f in _LAYER.fields if f.name not in _COMPUTED)


def _convention() -> dict[str, str]:
    """Layer type -> param field, from the schema: a field `x_param` of message type `<T>Parameter`
    belongs to layer type `<T>` (as Caffe's own net_spec reads it)."""
    table = {}
    for f in _LAYER.fields:
        if f.name.endswith("_param") and f.message_type is not None:
            type_name = f.message_type.name
            if type_name.endswith("Parameter"):
                table[type_name[: -len("Parameter")]] = f.name
    return table


_CONVENTION = _convention()


def param_fields(layer_type: str) -> tuple[str, ...]:
    """The LayerParameter fields (``*_param``) whose fields a layer of this type takes as keywords:
    those its registered layer type reads, else those the schema's naming convention gives it."""
    from netspec.layers import REGISTRY  # the layer types; imported when first asked

    kind = REGISTRY.get(layer_type)
    if kind is not None:
        return kind.reads
    fields = []
    if layer_type in _CONVENTION:
        fields.append(_CONVENTION[layer_type])
    if layer_type.endswith("Loss") and "loss_param" not in fields:
        fields.append("loss_param")
    return tuple(fields)


def _nearest(word: str, choices: Sequence[str], n: int = 3) -> list[str]:
    near = difflib.get_close_matches(word, choices, n=n, cutoff=0.5)
    if not near:
        near = [c for c in choices if word in c or c in word][:n]
    return near


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    near = _nearest(word, choices)
    return f"; did you mean {', '.join(repr(c) for c in near)}?" if near else ""


# ---------------------------------------------------------------------------
# Assigning Python values to protobuf fields
# ---------------------------------------------------------------------------


def _enum_value(field: FieldDescriptor, value: Any, where: str) -> int:
    enum = field.enum_type
    if isinstance(value, str):
        if value in enum.values_by_name:
            return enum.values_by_name[value].number
        names = [v.name for v in enum.values]
        raise BuildError(
            f"{where}: {value!r} is not a value of {enum.name} (valid: {', '.join(names)})"
            f"{_did_you_mean(value, names)}"
        )
    if isinstance(value, bool) or not isinstance(value, int) or value not in enum.values_by_number:
        names = [f"{v.name}={v.number}" for v in enum.values]
        raise BuildError(f"{where}: {value!r} is not a value of {enum.name} (valid: {', '.join(names)})")
    return value


def _scalar(field: FieldDescriptor, value: Any, where: str) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_value(field, value, where)
    return value


def _fill(message, values: Mapping[str, Any], where: str) -> None:
    """Fill a message from a dict, recursively."""
    if not isinstance(values, Mapping):
        raise BuildError(
            f"{where}: expected a dict for message {message.DESCRIPTOR.name}, got {type(values).__name__}"
        )
    for key, value in values.items():
        _assign(message, key, value, where)


def _assign(message, name: str, value: Any, where: str) -> None:
    """Set field `name` of `message` from a Python value (dict, list, enum name, scalar)."""
    desc: Descriptor = message.DESCRIPTOR
    field = desc.fields_by_name.get(name)
    here = f"{where}.{name}"
    if field is None:
        names = [f.name for f in desc.fields]
        raise BuildError(f"{where}: {desc.name} has no field {name!r}{_did_you_mean(name, names)}")
    is_message = field.type == FieldDescriptor.TYPE_MESSAGE
    if is_repeated(field):
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        target = getattr(message, name)
        for i, item in enumerate(items):
            if is_message:
                if hasattr(item, "DESCRIPTOR"):
                    target.add().CopyFrom(item)
                else:
                    _fill(target.add(), item, f"{here}[{i}]")
            else:
                try:
                    target.append(_scalar(field, item, f"{here}[{i}]"))
                except (TypeError, ValueError) as problem:
                    if isinstance(problem, BuildError):
                        raise
                    raise BuildError(f"{here}[{i}]: {problem}") from None
        return
    if is_message:
        if hasattr(value, "DESCRIPTOR"):
            getattr(message, name).CopyFrom(value)
        else:
            _fill(getattr(message, name), value, here)
        return
    if isinstance(value, (list, tuple, dict)):
        raise BuildError(f"{here}: takes a single value, not a {type(value).__name__}")
    try:
        setattr(message, name, _scalar(field, value, here))
    except (TypeError, ValueError) as problem:
        if isinstance(problem, BuildError):
            raise
        raise BuildError(f"{here}: {problem}") from None


# ---------------------------------------------------------------------------
# Layers and tops
# ---------------------------------------------------------------------------


class Top:
    """One output blob of a layer (a layer with ntop=2 has two)."""

    __slots__ = ("index", "layer")

    def __init__(self, layer: Layer, index: int) -> None:
        self.layer = layer
        self.index = index

    def __repr__(self) -> str:
        return f"<Top {self.index} of {self.layer.type}>"


class Layer:
    """One layer described in Python: its type, bottoms and keyword fields (checked at once)."""

    def __init__(self, type_name: str, bottoms: Sequence[Top], fields: dict[str, Any]) -> None:
        self.type = type_name
        for i, bottom in enumerate(bottoms):
            if not isinstance(bottom, Top):
                raise BuildError(
                    f"{type_name}: bottom {i} is a {type(bottom).__name__}, not a layer's top "
                    "(pass tops such as n.conv1, or L.<Type>(...) results)"
                )
        self.bottoms = tuple(bottoms)
        fields = dict(fields)
        self.ntop = fields.pop("ntop", 1)
        self.in_place = fields.pop("in_place", False)
        self.name = fields.pop("name", None)
        if not isinstance(self.ntop, int) or self.ntop < 0:
            raise BuildError(f"{type_name}: ntop must be a non-negative int, got {self.ntop!r}")
        if self.in_place and (len(self.bottoms) != 1 or self.ntop != 1):
            raise BuildError(f"{type_name}: in_place=True needs exactly one bottom and one top")
        for computed in ("top", "bottom", "type"):
            if computed in fields:
                raise BuildError(
                    f"{type_name}: {computed!r} is set by the builder "
                    "(bottoms are the positional arguments, tops are named by assignment)"
                )
        self.proto = caffe_pb2.LayerParameter(type=type_name)
        for key, value in fields.items():
            self._route(key, value)
        self.tops = tuple(Top(self, i) for i in range(self.ntop))

    def _route(self, key: str, value: Any) -> None:
        """Put keyword `key` where Caffe looks for it: the type's param message(s), else the layer."""
        owners = param_fields(self.type)
        for owner in owners:
            message = getattr(self.proto, owner)
            if key in message.DESCRIPTOR.fields_by_name:
                _assign(message, key, value, f"{self.type}.{owner}")
                return
        if key in _LAYER.fields_by_name:
            _assign(self.proto, key, value, self.type)
            return
        candidates = list(_LAYER_FIELDS)
        for owner in owners:
            candidates += [f.name for f in getattr(self.proto, owner).DESCRIPTOR.fields]
        where = " or ".join(
            [f"{getattr(self.proto, o).DESCRIPTOR.name} ({o})" for o in owners] + ["LayerParameter"]
        )
        hint = "" if owners else f" ({self.type} has no parameter message of its own)"
        raise BuildError(
            f"{self.type}: unknown field {key!r}: not a field of {where}{hint}"
            f"{_did_you_mean(key, candidates)}"
        )

    def __repr__(self) -> str:
        return f"<Layer {self.type}{' ' + self.name if self.name else ''}>"


class _Layers:
    """``L.<Type>(*bottoms, **fields)``: any Caffe layer type by attribute name."""

    def __getattr__(self, type_name: str):
        if type_name.startswith("__"):
            raise AttributeError(type_name)

        def make(*bottoms: Top, **fields: Any):
            layer = Layer(type_name, bottoms, fields)
            if layer.ntop == 0:
                return layer
            if layer.ntop == 1:
                return layer.tops[0]
            return layer.tops

        make.__name__ = type_name
        return make


class _Enums:
    """``P.<Type>.<VALUE>``: the enum values of ``<Type>Parameter`` (``P.Pooling.MAX``)."""

    def __getattr__(self, type_name: str):
        if type_name.startswith("__"):
            raise AttributeError(type_name)
        message = getattr(caffe_pb2, type_name + "Parameter", None)
        if message is None:
            known = sorted(_CONVENTION)
            raise AttributeError(f"the schema has no {type_name}Parameter{_did_you_mean(type_name, known)}")
        return _EnumValues(message)


class _EnumValues:
    def __init__(self, message) -> None:
        self._message = message

    def __getattr__(self, name: str) -> int:
        if name.startswith("__"):
            raise AttributeError(name)
        desc = self._message.DESCRIPTOR
        values = {v.name: v.number for e in desc.enum_types for v in e.values}
        if name in values:
            return values[name]
        raise AttributeError(f"{desc.name} has no enum value {name!r}{_did_you_mean(name, list(values))}")


L = _Layers()
P = _Enums()


# ---------------------------------------------------------------------------
# The net
# ---------------------------------------------------------------------------


class NetSpec:
    """A net built by assigning tops to attributes (``n.conv1 = L.Convolution(...)``).

    ``to_proto()`` emits every layer needed by the assigned tops, in the order
    they were assigned (a layer's bottoms first); unassigned intermediate
    layers get automatic names (``Convolution1``), as in Caffe.
    """

    def __init__(self, name: str | None = None) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_tops", {})

    # -- naming ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Top | Layer) -> None:
        if not isinstance(value, (Top, Layer)):
            raise BuildError(f"{name}: assign a layer's top (L.<Type>(...)), not a {type(value).__name__}")
        if name in self._tops:
            raise BuildError(f"{name!r} is already assigned in this NetSpec; names must be unique")
        self._tops[name] = value

    def __getattr__(self, name: str) -> Top | Layer:
        tops = object.__getattribute__(self, "_tops")
        if name in tops:
            return tops[name]
        raise AttributeError(f"NetSpec has no top {name!r}{_did_you_mean(name, list(tops))}")

    __setitem__ = __setattr__

    def __getitem__(self, name: str) -> Top | Layer:
        return self.__getattr__(name)

    def __contains__(self, name: str) -> bool:
        return name in self._tops

    def __iter__(self) -> Iterator[str]:
        return iter(self._tops)

    @property
    def tops(self) -> dict[str, Top | Layer]:
        return dict(self._tops)

    # -- output ---------------------------------------------------------------
    def to_proto(self) -> caffe_pb2.NetParameter:
        top_names: dict[Top, str] = {}
        layer_names: dict[Layer, str] = {}
        for name, value in self._tops.items():
            if isinstance(value, Layer):
                layer_names[value] = name
            else:
                top_names[value] = name
        emitted: dict[Layer, caffe_pb2.LayerParameter] = {}
        auto: dict[str, int] = {}
        used: set[str] = set()

        def auto_name(type_name: str) -> str:
            while True:
                auto[type_name] = auto.get(type_name, 0) + 1
                candidate = f"{type_name}{auto[type_name]}"
                if candidate not in used and candidate not in self._tops:
                    used.add(candidate)
                    return candidate

        def blob(top: Top) -> str:
            emit(top.layer)
            return emitted[top.layer].top[top.index]

        def emit(layer: Layer) -> None:
            if layer in emitted:
                return
            bottoms = [blob(b) for b in layer.bottoms]
            proto = caffe_pb2.LayerParameter()
            proto.CopyFrom(layer.proto)
            proto.bottom.extend(bottoms)
            if layer.in_place:
                tops = list(bottoms)
            else:
                tops = [top_names[t] if t in top_names else auto_name(layer.type) for t in layer.tops]
            proto.top.extend(tops)
            if layer.name:
                name = layer.name
            elif layer in layer_names:
                name = layer_names[layer]
            elif layer.tops and layer.tops[0] in top_names:
                name = top_names[layer.tops[0]]
            elif layer.tops and not layer.in_place:
                name = tops[0]
            else:
                name = auto_name(layer.type)
            proto.name = name
            emitted[layer] = proto

        for value in self._tops.values():
            emit(value if isinstance(value, Layer) else value.layer)
        net = caffe_pb2.NetParameter()
        if self._name:
            net.name = self._name
        net.layer.extend(emitted.values())
        return net

    def to_text(self, header: str | None = None) -> str:
        """Prototxt text in Caffe's usual layout, after an optional `#` comment header."""
        body = text_format.MessageToString(self.to_proto())
        if not header:
            return body
        lines = [("# " + line).rstrip() for line in header.strip("\n").splitlines()]
        return "\n".join(lines) + "\n" + body


# ---------------------------------------------------------------------------
# Helpers for common patterns
# ---------------------------------------------------------------------------


def conv_bn_scale_relu(
    n: NetSpec,
    name: str,
    bottom: Top,
    num_output: int,
    kernel_size: int,
    *,
    stride: int = 1,
    pad: int = 0,
    group: int = 1,
    relu: bool = True,
    filler: str = "msra",
    names: Mapping[str, str] | None = None,
    bn_eps: float | None = None,
    relu6: bool = False,
) -> Top:
    """Caffe's batch-normalised convolution: Convolution (no bias) + BatchNorm (use_global_stats) +
    Scale (bias_term) + ReLU, the last three in place.

    `names` may rename the parts: keys "bn", "scale" and "relu" (defaults
    ``<name>/bn``, ``<name>/scale``, ``<name>/relu``).  With ``relu6=True``
    the activation is a ``Clip`` to [0, 6] (Caffe has no ReLU6 layer).
    Returns the top after the last layer (its blob is named `name`).
    """
    names = dict(names or {})
    conv_fields: dict[str, Any] = dict(
        num_output=num_output, kernel_size=kernel_size, bias_term=False, weight_filler=dict(type=filler)
    )
    if pad:
        conv_fields["pad"] = pad
    if stride != 1:
        conv_fields["stride"] = stride
    if group != 1:
        conv_fields["group"] = group
    n[name] = L.Convolution(bottom, **conv_fields)
    bn_fields: dict[str, Any] = dict(use_global_stats=True)
    if bn_eps is not None:
        bn_fields["eps"] = bn_eps
    n[names.get("bn", f"{name}/bn")] = top = L.BatchNorm(n[name], in_place=True, **bn_fields)
    n[names.get("scale", f"{name}/scale")] = top = L.Scale(top, in_place=True, bias_term=True)
    if relu:
        if relu6:
            n[names.get("relu", f"{name}/relu")] = top = L.Clip(top, in_place=True, min=0, max=6)
        else:
            n[names.get("relu", f"{name}/relu")] = top = L.ReLU(top, in_place=True)
    return top
