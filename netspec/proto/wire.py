"""The protobuf wire format, by hand: fields of a buffer walked without decoding them, varints,
what a binary file is (an ONNX model, a Caffe weights file, or neither, told from its first bytes
without importing onnx or reading the whole file), whether a field is repeated in any protobuf
release, and a faster serializer of models with large initializers.  Protobuf-level only: the
front end (reading caffemodels) and the back end (writing models) both use it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np
    from google.protobuf.descriptor import FieldDescriptor
    from google.protobuf.message import Message

LEN, I64, I32, VARINT = 2, 1, 5, 0  # wire types

# The top-level fields each kind of file may start with: number -> wire type.
ONNX_MODEL = {1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN, 20: LEN, 25: LEN}
CAFFE_NET = {1: LEN, 2: LEN, 3: LEN, 4: VARINT, 5: VARINT, 6: LEN, 7: VARINT, 8: LEN, 100: LEN}
ONNX, CAFFEMODEL = "an ONNX model", "a Caffe weights file"
RAW_DATA = 9  # onnx.TensorProto.raw_data


class Corrupt(Exception):
    """The bytes break the protobuf wire format."""


def varint(buffer, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise Corrupt
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def fields(buffer, start: int, end: int, *, limit: int | None = None):
    """(number, wire type, value start, value end, field start) for each field in buffer[start:end];
    a value may end past `end` up to `limit` (a file's size when `buffer` is only its head), and then
    the walk stops there."""
    pos = start
    while pos < end:
        first = pos
        key, pos = varint(buffer, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise Corrupt
        if wire == VARINT:
            _, stop = varint(buffer, pos, end)
        elif wire == LEN:
            length, pos = varint(buffer, pos, end)
            stop = pos + length
        elif wire == I64:
            stop = pos + 8
        elif wire == I32:
            stop = pos + 4
        else:  # groups (3, 4) never occur in Caffe files; 6 and 7 do not exist
            raise Corrupt
        if stop > (limit if limit is not None else end):
            raise Corrupt
        yield number, wire, pos, stop, first
        pos = stop


def field_key(number: int, wire: int) -> bytes:
    """The key that starts a field: its number and wire type."""
    return encode_varint(number << 3 | wire)


def encode_varint(value: int) -> bytes:
    """A protobuf base-128 varint."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def kind_of(head: bytes, size: int) -> str | None:
    """ONNX or CAFFEMODEL when a file of `size` bytes beginning with `head` walks as protobuf wire
    format, two fields at least or the whole file, and its first field is one that message has,
    with its wire type (a fork's caffemodel may add fields of its own after it); None otherwise."""
    walked = []
    try:
        for field in fields(head, 0, len(head), limit=size):
            walked.append(field)
    except Corrupt:
        if len(walked) < 2:
            return None
    if not walked:
        return None
    number, wire = walked[0][:2]
    for kind, known in ((ONNX, ONNX_MODEL), (CAFFEMODEL, CAFFE_NET)):
        if known.get(number) == wire:
            return kind
    return None


def is_repeated(field: FieldDescriptor) -> bool:
    """Whether a field is repeated: protobuf 6 and later say `is_repeated`, and older releases only
    have `label` (deprecated in 5, gone later)."""
    flag = getattr(field, "is_repeated", None)
    return flag if flag is not None else field.label == field.LABEL_REPEATED


def serialize(model: Message) -> bytes:
    """An ONNX model's SerializeToString(), byte for byte, in about a third of the time for a model of
    100 MB: upb encodes a whole message into one buffer that it grows by copying, and (with the
    page faults of each fresh copy) that is most of the cost.  Here each initializer is encoded on
    its own and spliced in where protobuf puts it (fields go in field-number order: the graph's
    initializers, field 5, after its nodes and name; the graph, field 7, inside the model)."""
    return b"".join(pieces(model))  # one copy


def write(out: BinaryIO, model: Message, values: Mapping[str, np.ndarray]) -> None:
    """Write what serialize() would give for `model` with each initializer's raw_data taken from
    `values` (by name), straight from the arrays' memory: no copy of the weights is made."""
    for piece in pieces(model, values):
        out.write(piece)


def pieces(model: Message, values: Mapping[str, np.ndarray] | None = None) -> Iterator[bytes | memoryview]:
    """The encoding of `model` in pieces that join to its SerializeToString(); an initializer
    without raw_data whose values are in `values` gets them spliced in, as raw_data (field 9, after
    the dims, data_type and name netspec sets, before any field it does not)."""
    graph = model.graph
    if not graph.initializer:
        yield model.SerializeToString()
        return
    key = encode_varint(_field_number(graph, "initializer") << 3 | 2)
    tensors: list[tuple[bytes, memoryview | None]] = []
    for tensor in graph.initializer:
        head = tensor.SerializeToString()
        array = None if tensor.HasField("raw_data") or values is None else values.get(tensor.name)
        if array is None:
            tensors.append((key + encode_varint(len(head)) + head, None))
            continue
        later = [f.name for f, _ in tensor.ListFields() if f.number > RAW_DATA]
        if later:
            raise ValueError(f"initializer {tensor.name} sets {', '.join(later)}, which follow raw_data")
        data = memoryview(array).cast("B")  # C order, as lower.GraphBuilder keeps them
        raw = encode_varint(RAW_DATA << 3 | 2) + encode_varint(data.nbytes)
        size = len(head) + len(raw) + data.nbytes
        tensors.append((key + encode_varint(size) + head + raw, data))
    graph_low, graph_high = _split_encoding(graph, "initializer")
    model_low, model_high = _split_encoding(model, "graph")
    size = len(graph_low) + sum(len(h) + (d.nbytes if d is not None else 0) for h, d in tensors)
    size += len(graph_high)
    yield model_low
    yield encode_varint(_field_number(model, "graph") << 3 | 2) + encode_varint(size)
    yield graph_low
    for head, data in tensors:
        yield head
        if data is not None:
            yield data
    yield graph_high
    yield model_high


def _field_number(message, name: str) -> int:
    return message.DESCRIPTOR.fields_by_name[name].number


def _split_encoding(message, skip: str) -> tuple[bytes, bytes]:
    """The encoding of `message` without its field `skip`, in two parts: the fields numbered below
    it and those above it."""
    number = _field_number(message, skip)
    low, high = type(message)(), type(message)()
    for field, value in message.ListFields():
        if field.name == skip:
            continue
        part = low if field.number < number else high
        if is_repeated(field):
            getattr(part, field.name).extend(value)
        elif field.message_type is not None:
            getattr(part, field.name).CopyFrom(value)
        else:
            setattr(part, field.name, value)
    return low.SerializeToString(), high.SerializeToString()
