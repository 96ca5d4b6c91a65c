"""The protobuf wire format, walked by hand: fields of a buffer without decoding them, varints,
and what a binary file is (an ONNX model, a Caffe weights file, or neither), told from its first
bytes without importing onnx or reading the whole file."""

from __future__ import annotations

LEN, I64, I32, VARINT = 2, 1, 5, 0  # wire types

# The top-level fields each kind of file may start with: number -> wire type.
ONNX_MODEL = {1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN, 20: LEN, 25: LEN}
CAFFE_NET = {1: LEN, 2: LEN, 3: LEN, 4: VARINT, 5: VARINT, 6: LEN, 7: VARINT, 8: LEN, 100: LEN}
ONNX, CAFFEMODEL = "an ONNX model", "a Caffe weights file"


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


def encode_varint(value: int) -> bytes:
    """A protobuf base-128 varint (also used by netspec.lower to splice serialized models)."""
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
