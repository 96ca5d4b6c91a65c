"""Writing binary .caffemodel files: a V2 NetParameter whose layers carry their blobs, as Caffe
writes them (reading them is the front end's, frontend/binary.py).  Each blob's values go from the
array to the file without a protobuf copy of them, and the file appears whole or not at all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netspec.files import atomic_output
from netspec.lazy import numpy as np
from netspec.proto import caffe_pb2
from netspec.proto.wire import LEN, encode_varint, field_key


def _number(message, name: str) -> int:
    return message.DESCRIPTOR.fields_by_name[name].number


NET_LAYER = _number(caffe_pb2.NetParameter, "layer")
LAYER_BLOBS = _number(caffe_pb2.LayerParameter, "blobs")
BLOB_DATA = _number(caffe_pb2.BlobProto, "data")


def write_weights(
    path: str,
    net: caffe_pb2.NetParameter | Iterable,
    blobs: Mapping[str, list[np.ndarray]],
) -> None:
    """Write a V2 binary caffemodel: every layer of `net` (name and type) with its blobs from `blobs`.

    `net` is a NetParameter (its `layer` list), or any iterable of (name, type) pairs
    or of objects with `.name` and `.type`.  Blobs are stored as float32 with
    `shape { dim ... }`.  The file appears atomically: it is written to a temporary
    file beside `path`, synced, then renamed over it.
    """
    name, layers = _layer_list(net)
    known = {layer_name for layer_name, _ in layers}
    unknown = [layer_name for layer_name in blobs if layer_name not in known]
    if unknown:
        raise ValueError(f"blobs for layers the net does not have: {', '.join(unknown)}")
    with atomic_output(path) as out:
        if name:
            out.write(caffe_pb2.NetParameter(name=name).SerializeToString())
        for layer_name, layer_type in layers:
            _write_layer(out, layer_name, layer_type, blobs.get(layer_name, ()))


def _layer_list(net) -> tuple[str, list[tuple[str, str]]]:
    if isinstance(net, caffe_pb2.NetParameter):
        if net.layers and not net.layer:
            raise ValueError("a V0/V1 net: upgrade it to V2 first (netspec.frontend.upgrade.upgrade)")
        return net.name, [(layer.name, layer.type) for layer in net.layer]
    layers = []
    for item in net:
        if isinstance(item, tuple):
            layers.append((str(item[0]), str(item[1])))
        else:
            layers.append((item.name, item.type))
    return getattr(net, "name", ""), layers


def _write_layer(out, name: str, layer_type: str, arrays) -> None:
    header = caffe_pb2.LayerParameter(name=name, type=layer_type).SerializeToString()
    blobs = []
    for array in arrays:
        values = np.asarray(array, dtype="<f4")
        if not values.flags.c_contiguous:
            values = values.copy(order="C")  # (not ascontiguousarray: it turns a 0-d array into 1-d)
        shape = caffe_pb2.BlobProto()
        shape.shape.dim.extend(int(d) for d in values.shape)
        shape.shape.SetInParent()
        tail = shape.SerializeToString()
        data = field_key(BLOB_DATA, LEN) + encode_varint(values.nbytes) if values.size else b""
        blobs.append((data, values, tail))
    sizes = [len(data) + (values.nbytes if data else 0) + len(tail) for data, values, tail in blobs]
    body = len(header) + sum(len(field_key(LAYER_BLOBS, LEN)) + len(encode_varint(s)) + s for s in sizes)
    out.write(field_key(NET_LAYER, LEN) + encode_varint(body) + header)
    for (data, values, tail), size in zip(blobs, sizes):
        out.write(field_key(LAYER_BLOBS, LEN) + encode_varint(size) + data)
        if data:
            out.write(memoryview(values.reshape(-1)).cast("B"))
        out.write(tail)
