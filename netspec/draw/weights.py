"""What trained weights look like: the first convolution's filters as an image grid (the lecture's
"visualize the kernel weights": AlexNet's conv1 shows edge and colour detectors), and each
layer's weight statistics.  Images are PNGs written with numpy and zlib, inline as data URIs.
The first layer whose type's class says its first blob holds filters (has_filters: Convolution,
ConvolutionDepthwise; not Deconvolution's (in, out, kh, kw) nor DenseBlock's) and whose first
blob is 4-D is drawn."""

from __future__ import annotations

import base64
import struct
import zlib
from html import escape

import numpy as np

from netspec.infer import Analysis
from netspec.layers.base import shape_text


def png(pixels: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of an (H, W, 3) uint8 array."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def filter_grid(filters: np.ndarray, *, cell: int = 48, gap: int = 2) -> np.ndarray:
    """Filters (O, C, kh, kw) as one RGB image: three input channels as colour, otherwise the first
    input channel in grey; scaled together (so strong and weak filters look it), each enlarged to about
    `cell` pixels, `gap` white pixels apart."""
    out_channels, channels, kh, kw = filters.shape
    values = filters if channels == 3 else np.repeat(filters[:, :1], 3, axis=1)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.full(values.shape, 0.5)
    zoom = max(1, cell // max(kh, kw))
    tiles = np.kron(scaled.transpose(0, 2, 3, 1), np.ones((1, zoom, zoom, 1)))  # (O, kh*z, kw*z, 3)
    columns = int(np.ceil(np.sqrt(out_channels)))
    rows = int(np.ceil(out_channels / columns))
    th, tw = kh * zoom, kw * zoom
    image = np.ones((rows * (th + gap) + gap, columns * (tw + gap) + gap, 3))
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        image[
            gap + r * (th + gap) : gap + r * (th + gap) + th, gap + c * (tw + gap) : gap + c * (tw + gap) + tw
        ] = tile
    return (image * 255).round().astype(np.uint8)


def section(analysis: Analysis, weights: dict[str, list[np.ndarray]], path: str) -> str:
    """The report's weights section: the first convolution's filters and per-layer statistics."""
    parts = [f'<section id="weights"><h2>Weights: {escape(path)}</h2>']
    first = next(
        (
            i.layer.name
            for i in analysis.layers
            if i.kind is not None
            and i.kind.has_filters
            and weights.get(i.layer.name)
            and weights[i.layer.name][0].ndim == 4
        ),
        None,
    )
    if first is not None:
        filters = weights[first][0]
        data = base64.b64encode(png(filter_grid(filters))).decode()
        parts.append(
            f'<div class="filters"><h3>{escape(first)}: {filters.shape[0]:,} filters, '
            f"{shape_text(filters.shape[1:])} each"
            + (", input channels as colour" if filters.shape[1] == 3 else ", first input channel in grey")
            + f'</h3><img alt="the filters of {escape(first)}" src="data:image/png;base64,{data}"></div>'
        )
    rows = []
    for info in analysis.layers:
        for index, blob in enumerate(weights.get(info.layer.name, [])):
            values = blob.astype(np.float64, copy=False)
            rows.append(
                f'<tr data-layer="{escape(info.layer.name)}"><td>{escape(info.layer.name)}</td>'
                f"<td>{index}</td>"
                f'<td>{shape_text(blob.shape)}</td><td class="num">{blob.size:,}</td>'
                + "".join(
                    f'<td class="num">{v:.4g}</td>'
                    for v in (values.mean(), values.std(), values.min(), values.max(), np.abs(values).mean())
                )
                + "</tr>"
            )
    parts.append(
        '<table class="summary weights"><thead><tr><th>layer</th><th>blob</th><th>shape</th><th>values</th>'
        "<th>mean</th><th>std</th><th>min</th><th>max</th><th>mean |w|</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )
    return "".join(parts)
