"""Binary .caffemodel files: a NetParameter whose layers carry their learned blobs.

Reading walks the protobuf wire format once.  Every layer's bytes except its
blobs' values go to protobuf (small), and each blob's packed values are turned
into a float32 array straight from the file's bytes, so a 500 MB VGG16 model
costs about its own size once more in memory, not several times.  The file is
memory-mapped and its pages are handed back as soon as their values are copied,
so the peak stays near the weights' own size.

Every way a file can fail to be a caffemodel ends in a LoadError with a
one-line message naming the file; none ends in a traceback.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import re
from collections.abc import Iterable, Mapping

import numpy as np
from google.protobuf.message import DecodeError

from netspec.diagnostics import Diagnostics
from netspec.files import open_to_read
from netspec.frontend.load import LoadError
from netspec.frontend.upgrade import needs_v0_upgrade, upgrade
from netspec.proto import caffe_pb2
from netspec.proto.wire import LEN, ONNX, Corrupt, encode_varint, field_key, fields, kind_of
from netspec.source import SourceMap

# Field numbers (caffe.proto).
NET_LAYER, NET_LAYERS = 100, 2  # NetParameter.layer (V2), NetParameter.layers (V1/V0)
LAYER_BLOBS = 7  # LayerParameter.blobs
V1_BLOBS, V1_V0LAYER = 6, 1  # V1LayerParameter.blobs, V1LayerParameter.layer
V0_BLOBS = 50  # V0LayerParameter.blobs
BLOB_DATA, BLOB_DIFF, BLOB_DOUBLE_DATA, BLOB_DOUBLE_DIFF = 5, 6, 8, 9
LEGACY_DIMS = ("num", "channels", "height", "width")

PIECE = 1 << 22  # values copied at a time from the file (16 MiB of float32)

NOT_DECODING = "not a Caffe weights file: the bytes do not decode as a NetParameter (truncated or corrupt?)"


class Weights(dict):
    """Layer name -> that layer's blobs (float32 arrays, in Caffe's order).

    `net` is the file's net upgraded to V2 without its blobs (layer names and
    types), `path` the file it came from, `diagnostics` what the upgrade said.
    Layers without blobs are left out.
    """

    def __init__(
        self,
        path: str,
        net: caffe_pb2.NetParameter,
        blobs: Mapping[str, list[np.ndarray]] | Iterable[tuple[str, list[np.ndarray]]] = (),
        diagnostics: Diagnostics | None = None,
    ) -> None:
        super().__init__(blobs)
        self.path = path
        self.net = net
        self.diagnostics = diagnostics if diagnostics is not None else Diagnostics()

    def __repr__(self) -> str:
        return f"Weights({self.path!r}, {len(self)} layers, {self.nbytes} bytes)"

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for arrays in self.values() for array in arrays)


# ---------------------------------------------------------------------------------------------
# Reading


def read_weights(path: str) -> Weights:
    """Read a binary .caffemodel (V0, V1 or V2): its blobs by layer name, and its net in V2 form."""
    path = os.fspath(path)
    with open_to_read(path, "weights file") as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(4096)
        except OSError as problem:
            raise LoadError(f"{path}: cannot read: {problem.strerror}") from None
        if not head:
            raise LoadError(f"{path}: empty file (0 bytes); not a Caffe weights file")
        text = _text_kind(head)
        if text:
            raise LoadError(f"{path}: {text}")
        if kind_of(head, size) == ONNX:
            raise LoadError(
                f"{path}: is an ONNX model, not Caffe weights; --weights takes a .caffemodel "
                "(`netspec run` takes an .onnx model)"
            )
        buffer, mapped = _map(handle, size)
        reader = _Reader(buffer, mapped)
        try:
            stripped = reader.net()
        except Corrupt:
            raise LoadError(f"{path}: {NOT_DECODING}") from None
        finally:
            reader.release()
            if mapped:
                with contextlib.suppress(BufferError):
                    buffer.close()
    try:
        net = caffe_pb2.NetParameter.FromString(stripped)
    except (DecodeError, RuntimeError, ValueError):
        raise LoadError(f"{path}: {NOT_DECODING}") from None
    if not net.layer and not net.layers:
        raise LoadError(f"{path}: not a Caffe weights file: it decodes as a NetParameter but holds no layers")
    weights = Weights(path, net)
    _collect(weights, net, reader)
    diagnostics = Diagnostics()
    weights.net = upgrade(net, SourceMap(), diagnostics)
    for diagnostic in diagnostics:  # no positions in a binary file: say which file instead
        diagnostic.notes.append(f"in the weights file {path}")
    weights.diagnostics = diagnostics
    return weights


def _text_kind(head: bytes) -> str | None:
    """Why `head` (a file's first bytes) is text rather than a binary caffemodel, or None."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as problem:
        if problem.start < len(head) - 3:  # not just a character cut at the end of the sample
            return None
        text = head[: problem.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\t\n\r\f\v" for c in text):
        return None
    if re.match(r"\s*(#|[A-Za-z_][A-Za-z0-9_]*\s*[:{])", text):
        return "looks like a text .prototxt; --weights takes a binary .caffemodel"
    return "is a text file, not a binary .caffemodel"


def _map(handle, size: int):
    """The file's bytes: a read-only memory map where possible, else read whole."""
    try:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ), True
    except (OSError, ValueError):
        handle.seek(0)
        return handle.read(), False


class _Blob:
    """One blob as read: its header (shape fields) and its values."""

    __slots__ = ("array", "header")

    def __init__(self, header: caffe_pb2.BlobProto, array: np.ndarray) -> None:
        self.header = header
        self.array = array

    def shape(self) -> tuple[int, ...]:
        """Blob::FromProto: the legacy 4-D shape when any of num/channels/height/width is set."""
        h = self.header
        if any(h.HasField(name) for name in LEGACY_DIMS):
            return tuple(getattr(h, name) for name in LEGACY_DIMS)
        return tuple(h.shape.dim)


class _Reader:
    """One pass over a NetParameter's bytes: the message without blob values, and the blobs."""

    def __init__(self, buffer, mapped: bool) -> None:
        self.buffer = buffer
        self.mapped = mapped and hasattr(buffer, "madvise") and hasattr(mmap, "MADV_DONTNEED")
        self.v2: list[list[_Blob]] = []  # per `layer` entry
        self.v1: list[list[_Blob]] = []  # per `layers` entry, its V1 blobs
        self.v0: list[list[_Blob]] = []  # per `layers` entry, the blobs of its V0 `layer`

    def release(self) -> None:
        self.buffer = None

    def net(self) -> bytes:
        buffer = self.buffer
        parts: list[bytes] = []
        for number, wire, start, stop, first in fields(buffer, 0, len(buffer)):
            if number == NET_LAYER and wire == LEN:
                blobs: list[_Blob] = []
                parts.append(self._strip(NET_LAYER, start, stop, {LAYER_BLOBS: blobs}))
                self.v2.append(blobs)
            elif number == NET_LAYERS and wire == LEN:
                blobs, v0_blobs = [], []
                parts.append(self._strip(NET_LAYERS, start, stop, {V1_BLOBS: blobs}, v0_blobs))
                self.v1.append(blobs)
                self.v0.append(v0_blobs)
            else:
                parts.append(bytes(buffer[first:stop]))
        return b"".join(parts)

    def _strip(self, number: int, start: int, stop: int, sinks: dict, v0_blobs: list | None = None) -> bytes:
        """Field `number` holding the message in [start, stop) without its blobs; blobs go to `sinks`."""
        buffer = self.buffer
        parts: list[bytes] = []
        for field, wire, begin, end, first in fields(buffer, start, stop):
            if field in sinks and wire == LEN:
                sinks[field].append(self._blob(begin, end))
            elif v0_blobs is not None and field == V1_V0LAYER and wire == LEN:
                parts.append(self._strip(V1_V0LAYER, begin, end, {V0_BLOBS: v0_blobs}))
            else:
                parts.append(bytes(buffer[first:end]))
        body = b"".join(parts)
        return field_key(number, LEN) + encode_varint(len(body)) + body

    def _blob(self, start: int, stop: int) -> _Blob:
        buffer = self.buffer
        header: list[bytes] = []
        floats: list[tuple[int, int]] = []
        doubles: list[tuple[int, int]] = []
        for field, wire, begin, end, first in fields(buffer, start, stop):
            if field == BLOB_DATA and wire == LEN:
                floats.append((begin, end))
            elif field == BLOB_DOUBLE_DATA and wire == LEN:
                doubles.append((begin, end))
            elif field in (BLOB_DATA, BLOB_DOUBLE_DATA):
                return self._unpacked_blob(start, stop)  # values written one by one (old writers)
            elif field in (BLOB_DIFF, BLOB_DOUBLE_DIFF):
                continue  # gradients: not needed
            else:
                header.append(bytes(buffer[first:end]))
        try:
            proto = caffe_pb2.BlobProto.FromString(b"".join(header))
        except (DecodeError, RuntimeError, ValueError):
            raise Corrupt from None
        # Blob::FromProto: double_data when there is any, else data.
        chunks, dtype, width = (doubles, "<f8", 8) if doubles else (floats, "<f4", 4)
        count = 0
        for begin, end in chunks:
            if (end - begin) % width:
                raise Corrupt
            count += (end - begin) // width
        array = np.empty(count, dtype=np.float32)
        at = 0
        for begin, end in chunks:
            # Copy in pieces, handing each piece's pages back, so that the file's copy of
            # even the largest blob is never resident beside all of its array.
            for piece in range(begin, end, PIECE * width):
                n = min(PIECE, (end - piece) // width)
                view = np.frombuffer(buffer, dtype=dtype, count=n, offset=piece)
                array[at : at + n] = view
                del view
                at += n
                self._forget(piece, piece + n * width)
        return _Blob(proto, array)

    def _unpacked_blob(self, start: int, stop: int) -> _Blob:
        try:
            proto = caffe_pb2.BlobProto.FromString(bytes(self.buffer[start:stop]))
        except (DecodeError, RuntimeError, ValueError):
            raise Corrupt from None
        values = proto.double_data if len(proto.double_data) else proto.data
        array = np.fromiter(values, dtype=np.float32, count=len(values))
        for name in ("data", "diff", "double_data", "double_diff"):
            proto.ClearField(name)
        return _Blob(proto, array)

    def _forget(self, begin: int, end: int) -> None:
        """Hand the pages of a copied blob back, so the file and the arrays are not both resident."""
        if not self.mapped or end - begin < 1 << 16:
            return
        start = begin - begin % mmap.PAGESIZE
        with contextlib.suppress(OSError, ValueError):
            self.buffer.madvise(mmap.MADV_DONTNEED, start, end - start)


def _collect(weights: Weights, net: caffe_pb2.NetParameter, reader: _Reader) -> None:
    """Blobs by layer name, from the entries Caffe's upgrade keeps them in; a later name wins."""
    entries: list[tuple[str, list[_Blob]]] = []
    entries += [(layer.name, blobs) for layer, blobs in zip(net.layer, reader.v2)]
    if needs_v0_upgrade(net):
        # UpgradeV0LayerParameter keeps the V0 layer's blobs and drops anything else.
        entries += [
            (layer.layer.name, blobs)
            for layer, blobs in zip(net.layers, reader.v0)
            if layer.HasField("layer")
        ]
    else:
        entries += [(layer.name, blobs) for layer, blobs in zip(net.layers, reader.v1)]
    for name, blobs in entries:
        if not blobs:
            continue
        if isinstance(name, bytes):  # not UTF-8: Caffe keeps the bytes, upb hands them over raw
            name = name.decode("utf-8", "backslashreplace")
        arrays = []
        for index, blob in enumerate(blobs):
            shape = blob.shape()
            need = math.prod(shape)
            if need != blob.array.size:
                dims = " x ".join(map(str, shape)) or "a scalar"
                raise LoadError(
                    f"{weights.path}: layer '{name}' blob {index} holds {blob.array.size} values, "
                    f"but its shape ({dims}) needs {need} (truncated or corrupt?)"
                )
            arrays.append(blob.array.reshape(shape))
        weights[name] = arrays
