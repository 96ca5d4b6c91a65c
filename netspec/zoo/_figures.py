"""Parameter and multiply-add counts of the zoo's specs, from their layer shapes.

A small, independent walk over a NetParameter (deploy nets only, Caffe's
arithmetic: convolution floors, pooling ceils and clips), kept apart from
netspec.infer on purpose so the two can be cross-checked.

Conventions (as the zoo's headers state them):

- parameters: learnable blobs: Convolution/Deconvolution weights and biases,
  InnerProduct weights and biases, Scale's scale and bias (Caffe's half of
  batch normalisation), PReLU slopes.  BatchNorm's mean, variance and
  scale-factor blobs are running statistics (buffers), not parameters.
- multiply-adds: convolutions, deconvolutions and inner products only, at
  batch 1 (bias additions, pooling, normalisation and activations are not
  counted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from netspec.proto import caffe_pb2

Shape = tuple[int, ...]

POINTWISE = {
    "ReLU",
    "TanH",
    "Sigmoid",
    "Dropout",
    "Clip",
    "BatchNorm",
    "Scale",
    "LRN",
    "Softmax",
    "AbsVal",
    "Power",
    "ELU",
    "PReLU",
    "Swish",
    "Bias",
    "Split",
    "MVN",
}


@dataclass
class Figures:
    params: int = 0
    macs: int = 0
    shapes: dict[str, Shape] = field(default_factory=dict)  # blob -> shape, the last value written
    # per layer: (name, type, params, macs, top shape)
    layers: list[tuple[str, str, int, int, Shape]] = field(default_factory=list)


def _prod(values) -> int:
    return math.prod(values)


def _spatial(p, name: str, h: str, w: str, default: int, n: int) -> list[int]:
    if p.HasField(h) or p.HasField(w):
        return [getattr(p, h) if p.HasField(h) else default, getattr(p, w) if p.HasField(w) else default]
    value = getattr(p, name)
    if isinstance(value, int):  # PoolingParameter's fields are single values
        return [value if p.HasField(name) else default] * n
    values = list(value)
    if not values:
        return [default] * n
    return values * n if len(values) == 1 else values


def _conv(layer, bottom: Shape, transposed: bool) -> tuple[Shape, int, int]:
    p = layer.convolution_param
    n = len(bottom) - 2
    kernel = _spatial(p, "kernel_size", "kernel_h", "kernel_w", 0, n)
    stride = _spatial(p, "stride", "stride_h", "stride_w", 1, n)
    pad = _spatial(p, "pad", "pad_h", "pad_w", 0, n)
    dilation = list(p.dilation) or [1]
    dilation = dilation * n if len(dilation) == 1 else dilation
    cin, out, group = bottom[1], p.num_output, p.group
    assert cin % group == 0 and out % group == 0, (layer.name, cin, out, group)
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    ends = list(pad)
    if p.causal:  # netspec's extension: the time axis is padded (k − 1)·d before and 0 after
        pad[-1], ends[-1] = extent[-1] - 1, 0
    if transposed:
        spatial = [s * (i - 1) + e - 2 * q for i, e, s, q in zip(bottom[2:], extent, stride, pad)]
        weights = cin * (out // group) * _prod(kernel)
        macs = _prod(bottom[1:]) * (out // group) * _prod(kernel)
    else:
        spatial = [(i + q + z - e) // s + 1 for i, e, s, q, z in zip(bottom[2:], extent, stride, pad, ends)]
        weights = out * (cin // group) * _prod(kernel)
        macs = out * _prod(spatial) * (cin // group) * _prod(kernel)
    params = weights + (out if p.bias_term else 0)
    return (bottom[0], out, *spatial), params, macs


def _pool(layer, bottom: Shape) -> Shape:
    p = layer.pooling_param
    if p.global_pooling:
        return (*bottom[:2], 1, 1)
    kernel = _spatial(p, "kernel_size", "kernel_h", "kernel_w", 0, 2)
    stride = _spatial(p, "stride", "stride_h", "stride_w", 1, 2)
    pad = _spatial(p, "pad", "pad_h", "pad_w", 0, 2)
    out = []
    for i, k, s, q in zip(bottom[2:], kernel, stride, pad):
        o = -(-(i + 2 * q - k) // s) + 1  # Caffe ceils
        if q and (o - 1) * s >= i + q:  # ... and clips a last window that starts in the padding
            o -= 1
        out.append(o)
    return (*bottom[:2], *out)


def figures(net: caffe_pb2.NetParameter, inputs: dict[str, Shape] | None = None) -> Figures:
    """Walk a deploy net in order; `inputs` overrides Input layers' shapes by top name."""
    fig = Figures()
    shapes = fig.shapes
    for layer in net.layer:
        t = layer.type
        bottoms = [shapes[b] for b in layer.bottom]
        params = macs = 0
        if t == "Input":
            for i, top in enumerate(layer.top):
                p = layer.input_param
                shape = tuple(p.shape[min(i, len(p.shape) - 1)].dim)
                shapes[top] = tuple(inputs[top]) if inputs and top in inputs else shape
            fig.layers.append((layer.name, t, 0, 0, shapes[layer.top[0]]))
            continue
        if t in ("Convolution", "Deconvolution"):
            top, params, macs = _conv(layer, bottoms[0], t == "Deconvolution")
        elif t == "InnerProduct":
            p = layer.inner_product_param
            assert p.axis == 1, layer.name
            k = _prod(bottoms[0][1:])
            params = p.num_output * k + (p.num_output if p.bias_term else 0)
            macs = bottoms[0][0] * p.num_output * k
            top = (bottoms[0][0], p.num_output)
        elif t == "Pooling":
            top = _pool(layer, bottoms[0])
        elif t == "Unpooling":  # netspec's extension: sized by a third bottom, else out_h x out_w, else scale
            p = layer.unpooling_param
            if len(bottoms) == 3:
                size = bottoms[2][2:]
            elif p.HasField("out_h"):
                size = (p.out_h, p.out_w)
            else:
                size = tuple(d * p.scale for d in bottoms[0][2:])
            top = (*bottoms[0][:2], *size)
        elif t == "Concat":
            axis = layer.concat_param.axis
            top = list(bottoms[0])
            top[axis] = sum(b[axis] for b in bottoms)
            top = tuple(top)
        elif t == "Eltwise":
            assert all(b == bottoms[0] for b in bottoms), (layer.name, bottoms)
            top = bottoms[0]
        elif t == "Crop":
            p = layer.crop_param
            axis = p.axis
            offsets = list(p.offset) or [0]
            top = list(bottoms[0])
            for i, d in enumerate(range(axis, len(top))):
                off = offsets[0] if len(offsets) == 1 else offsets[i]
                assert off + bottoms[1][d] <= bottoms[0][d], (layer.name, bottoms)
                top[d] = bottoms[1][d]
            top = tuple(top)
        elif t == "Flatten":
            top = (bottoms[0][0], _prod(bottoms[0][1:]))
        elif t in POINTWISE:
            top = bottoms[0]
            if t == "Scale" and len(bottoms) == 1:
                c = top[layer.scale_param.axis]
                params = c + (c if layer.scale_param.bias_term else 0)
            elif t == "PReLU":
                params = 1 if layer.prelu_param.channel_shared else top[1]
        else:
            raise ValueError(f"{layer.name}: _figures does not know layer type {t}")
        for name in layer.top:
            shapes[name] = top
        fig.params += params
        fig.macs += macs
        fig.layers.append((layer.name, t, params, macs, top))
    return fig


def human(n: int) -> str:
    """1234567 -> '1.23M', with G for 1e9."""
    for unit, scale in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)
