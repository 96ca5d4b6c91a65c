"""`netspec report`: one self-contained page with the picture, the table, the diagnostics, the cost
charts and, with --weights, the first convolution's filters and every layer's weight statistics."""

from __future__ import annotations

import base64
import html
import re

import cv2
import numpy as np
import pytest

from netspec import cli
from netspec.layers import REGISTRY
from netspec.pipeline import check
from netspec.proto import caffe_pb2

SMALL = """name: "small"
input: "data" input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 5 kernel_size: 3 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc" inner_product_param { num_output: 10 } }
"""


def _report(tmp_path, *argv) -> tuple[int, str]:
    out = tmp_path / "net.html"
    status = cli.main(["report", *argv, "-o", str(out)])
    return status, out.read_text() if out.exists() else ""


def _legend(page: str, title: str) -> list[str]:
    """The families of a share bar, largest first."""
    bar = re.search(rf"<h3>{title}: [\d,]+</h3>.*?<ul class=\"legend\">(.*?)</ul>", page, re.S).group(1)
    return re.findall(r"</i>([a-z ]+) [\d.]+%</li>", bar)


@pytest.mark.parametrize("net", ["alexnet", "vgg16"])
def test_the_charts_show_fully_connected_parameters_and_convolution_compute(tmp_path, net):
    status, page = _report(tmp_path, f"zoo:{net}")
    assert status == cli.OK
    # the lecture's point: fully-connected layers hold most parameters, convolutions do most compute
    assert _legend(page, "parameters")[0] == "fully connected"
    assert _legend(page, "multiply-adds")[0] == "convolution"


def test_the_page_is_self_contained_and_prints_numbers_with_thousands_separators(tmp_path):
    status, page = _report(tmp_path, "zoo:alexnet")
    assert status == cli.OK
    # nothing fetched: no script, style, image or font from anywhere but the page itself
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(?!data:|#)[^"'\s>]+""", page) == []
    assert "@import" not in page and re.findall(r"url\((?![#]|data:)", page) == []
    # fc6 holds 9216 x 4096 weights and 4096 biases, the figure AlexNet's paper implies
    row = re.search(r'<tr data-layer="fc6">.*?</tr>', page, re.S).group()
    assert '<td class="num">37,752,832</td>' in row
    assert "60,965,224 parameters" in page
    assert all(f'data-layer="{name}"' in page for name in ("conv1", "relu1", "pool5", "prob"))
    # the header's legend: one colour for each thing AlexNet's layers do
    legend = re.search(r'<div id="totals">.*?<ul class="legend">(.*?)</ul>', page, re.S).group(1)
    said = {"dense" if f == "fully connected" else f for f in re.findall(r"</i>([a-z ]+)</li>", legend)}
    assert said == {REGISTRY[i.layer.type].family for i in check("zoo:alexnet").analysis.layers}


def test_a_broken_net_reports_its_diagnostics_on_the_page_and_fails(tmp_path):
    spec = tmp_path / "broken.prototxt"
    spec.write_text(SMALL.replace("kernel_size: 3", "kernel_size: 30"))
    status, page = _report(tmp_path, str(spec))
    assert status == cli.SPEC_ERRORS
    assert 'class="node family-convolution error"' in page and "error[NS" in html.unescape(page)


def _caffemodel(path, blobs: dict[str, list[np.ndarray]]) -> None:
    """A V2 .caffemodel written with protobuf itself, not with netspec's writer."""
    net = caffe_pb2.NetParameter(name="small")
    for name, arrays in blobs.items():
        layer = net.layer.add(name=name, type="Convolution" if name.startswith("conv") else "InnerProduct")
        for array in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(array.shape)
            blob.data.extend(array.ravel().tolist())
    path.write_bytes(net.SerializeToString())


def test_weights_draw_the_first_convolutions_filters_and_every_blobs_statistics(tmp_path):
    rng = np.random.default_rng(3)
    blobs = {
        "conv1": [
            rng.normal(0, 0.2, (5, 3, 3, 3)).astype(np.float32),
            rng.normal(0, 0.1, 5).astype(np.float32),
        ],
        "fc": [rng.normal(0, 0.05, (10, 980)).astype(np.float32), np.full(10, 0.5, np.float32)],
    }
    _caffemodel(tmp_path / "w.caffemodel", blobs)
    spec = tmp_path / "small.prototxt"
    spec.write_text(SMALL)
    status, page = _report(tmp_path, str(spec), "--weights", str(tmp_path / "w.caffemodel"))
    assert status == cli.OK
    assert "conv1: 5 filters, 3x3x3 each, input channels as colour" in page
    data = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    filters = blobs["conv1"][0]
    scaled = (filters - filters.min()) / (filters.max() - filters.min()) * 255
    zoom, gap = 16, 2  # 3x3 kernels enlarged to 48 pixels, 2 white pixels apart, 3 filters a row
    assert image.shape == (2 * (3 * zoom + gap) + gap, 3 * (3 * zoom + gap) + gap, 3)
    for f, (i, j) in [(0, (0, 0)), (1, (2, 1)), (4, (1, 2))]:
        row, column = divmod(f, 3)
        y = gap + row * (3 * zoom + gap) + i * zoom + zoom // 2
        x = gap + column * (3 * zoom + gap) + j * zoom + zoom // 2
        np.testing.assert_allclose(image[y, x], scaled[f, :, i, j], atol=0.51)
    assert (image[0] == 255).all()  # the gaps are white
    for name, arrays in blobs.items():
        for index, array in enumerate(arrays):
            cells = re.search(
                rf'<tr data-layer="{name}"><td>{name}</td><td>{index}</td>(.*?)</tr>', page
            ).group(1)
            numbers = [
                float(v) for v in re.findall(r'<td class="num">([^<]*)</td>', cells)[1:5]
            ]  # after the count
            values = array.astype(np.float64)
            assert numbers == pytest.approx(
                [values.mean(), values.std(), values.min(), values.max()], rel=1e-3, abs=1e-7
            )


def test_filters_of_other_than_three_channels_are_drawn_in_grey_from_their_first_channel():
    from netspec.draw.weights import filter_grid

    filters = np.array([[[[0.0, 1.0]], [[9.0, 9.0]]], [[[2.0, 3.0]], [[-9.0, -9.0]]]])  # (2, 2, 1, 2)
    image = filter_grid(filters, cell=2, gap=1)
    assert image.shape == (1 + 1 * (1 + 1), 1 + 2 * (2 + 1), 3)  # one row of two 1x2 filters, 1 pixel each
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    # the first channel's values 0..3 scaled together to 0..255; the second channel is not drawn
    assert image[1, 1:3, 0].tolist() == [0, 85] and image[1, 4:6, 0].tolist() == [170, 255]


def test_the_filters_drawn_are_the_first_layer_s_whose_type_has_filters(tmp_path):
    """ConvolutionDepthwise's filters (a fork type's), not a Deconvolution's before it (its first
    blob is (in, out, kh, kw)), nor the later Convolution's."""
    rng = np.random.default_rng(4)
    spec = tmp_path / "dw.prototxt"
    spec.write_text(
        'name: "dw"\ninput: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
        'layer { name: "up" type: "Deconvolution" bottom: "data" top: "up"\n'
        "        convolution_param { num_output: 3 kernel_size: 2 stride: 2 bias_term: false } }\n"
        'layer { name: "dw" type: "ConvolutionDepthwise" bottom: "up" top: "dw"\n'
        "        convolution_param { num_output: 3 group: 3 kernel_size: 3 bias_term: false } }\n"
        'layer { name: "conv1" type: "Convolution" bottom: "dw" top: "conv1"\n'
        "        convolution_param { num_output: 4 kernel_size: 1 bias_term: false } }\n"
    )
    net = caffe_pb2.NetParameter(name="dw")
    shapes = {"up": (3, 3, 2, 2), "dw": (3, 1, 3, 3), "conv1": (4, 3, 1, 1)}
    for name, shape in shapes.items():
        blob = net.layer.add(name=name).blobs.add()
        blob.shape.dim.extend(shape)
        blob.data.extend(rng.normal(0, 0.2, shape).ravel().tolist())
    (tmp_path / "w.caffemodel").write_bytes(net.SerializeToString())
    status, page = _report(tmp_path, str(spec), "--weights", str(tmp_path / "w.caffemodel"))
    assert status == cli.OK
    assert re.findall(r'<div class="filters"><h3>([^<]*)</h3>', page) == [
        "dw: 3 filters, 1x3x3 each, first input channel in grey"
    ]


def test_a_net_below_an_unsized_input_does_not_total_its_unshaped_layers_as_zero(tmp_path):
    spec = tmp_path / "unsized.prototxt"
    spec.write_text(SMALL.replace('input: "data" input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }', (
        'layer { name: "data" type: "Data" top: "data" data_param { source: "db" batch_size: 2 } }'
    )))  # fmt: skip
    status, page = _report(tmp_path, str(spec))
    assert status == cli.SPEC_ERRORS
    totals = html.unescape(re.search(r'<div id="totals"><p>(.*?)</p>', page, re.S).group(1))
    assert totals.startswith(
        "4 layers · 4 not shaped, so the parameters and multiply-adds are not known · 1 error"
    )
    assert "0 parameters" not in totals
