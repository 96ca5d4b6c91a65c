"""`netspec draw`: boxes, folded in-place layers, shapes on arrows, marks, collapsed blocks, and a
layout of netspec's own that keeps chains straight and boxes apart."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from oracles import analyse

from netspec import cli
from netspec.draw import build, layout, to_dot, to_svg
from netspec.draw.svg import box_size, text_width
from netspec.pipeline import check

SPEC = """name: "two \\"quoted\\" branches"
input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "slice" type: "Slice" bottom: "conv" top: "a" top: "b" slice_param { slice_point: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "b" bottom: "b" top: "sum" }
"""
SVG = "{http://www.w3.org/2000/svg}"


def test_in_place_layers_fold_into_the_box_they_rewrite_and_arrows_carry_shapes():
    scene = build(analyse(SPEC)[0])
    boxes = {n.title: n for n in scene.nodes}
    assert list(boxes) == ["input", "conv", "slice", "sum"]
    conv = boxes["conv"]
    assert (conv.type, conv.detail, conv.shapes, conv.cost) == (
        "Convolution",
        "k3 p1 out 4",
        "1x4x8x8",
        "112 params",
    )
    assert [(t.layer, t.type, t.family) for t in conv.tags] == [("relu", "ReLU", "activation")]
    assert conv.layers == ["conv", "relu"] and conv.family == "convolution"
    assert boxes["slice"].shapes == "1x1x8x8, 1x3x8x8"
    named = {n.key: n.title for n in scene.nodes}
    # the same blob read twice by one layer is one arrow
    assert [(named[e.source], named[e.target], e.blob, e.label) for e in scene.edges] == [
        ("input", "conv", "data", "1x3x8x8"),
        ("conv", "slice", "conv", "1x4x8x8"),
        ("slice", "sum", "b", "1x3x8x8"),
    ]


def test_diagnostics_mark_their_layer_and_unshaped_layers_are_dashed():
    checked = check("bad.prototxt", content=SPEC.replace("kernel_size: 3 pad: 1", "kernel_size: 30"))
    scene = build(checked.analysis)
    boxes = {n.title: n for n in scene.nodes}
    assert str(boxes["conv"].severity) == "error" and boxes["conv"].unknown
    assert boxes["input"].severity is None and not boxes["input"].unknown
    svg = ET.fromstring(to_svg(scene))
    marked = {
        g.get("data-layer"): g.get("class") for g in svg.iter(f"{SVG}g") if "node" in (g.get("class") or "")
    }
    assert "error" in marked["conv"] and marked["input"] == "node family-data"
    dashed = [r for r in svg.iter(f"{SVG}rect") if r.get("stroke-dasharray")]
    assert len(dashed) == 3  # conv (with its ReLU), slice and sum could not be shaped


def test_a_marks_tooltip_says_its_layers_errors_and_warnings():
    # a picture on its own (an .svg opened in a browser or an editor) says what the mark is for
    checked = check("bad.prototxt", content=SPEC.replace("kernel_size: 3 pad: 1", "kernel_size: 30"))
    svg = ET.fromstring(to_svg(build(checked.analysis)))
    conv = next(g for g in svg.iter(f"{SVG}g") if g.get("data-layer") == "conv")
    said = conv.find(f"{SVG}g[@class='mark']/{SVG}title").text
    assert said.startswith("error[NS") and "conv" in said and "30" in said
    assert len(said.splitlines()) == len([d for d in checked.diagnostics if str(d.severity) != "info"])


def test_a_diagnostic_without_a_layer_name_marks_the_layer_whose_text_it_points_into():
    checked = check("typo.prototxt", content=SPEC.replace("num_output: 4", "num_outptu: 4"))
    boxes = {n.title: n for n in build(checked.analysis).nodes}
    assert str(boxes["conv"].severity) == "error" and boxes["slice"].severity is None


@pytest.mark.parametrize(
    ("net", "runs"),
    [
        # the papers' stage sizes: ResNet-50 3-4-6-3, ResNet-152 3-8-36-3, DenseNet-121 6-12-24-16
        ("resnet50", [("res2a…res2c", 3), ("res3a…res3d", 4), ("res4a…res4f", 6), ("res5a…res5c", 3)]),
        ("resnet152", [("res2a…res2c", 3), ("res3a…res3b7", 8), ("res4a…res4b35", 36), ("res5a…res5c", 3)]),
        (
            "googlenet",
            [
                ("inception_3a…inception_3b", 2),
                ("inception_4a…inception_4e", 5),
                ("inception_5a…inception_5b", 2),
            ],
        ),
        ("densenet121", [(None, 6), (None, 12), (None, 24), (None, 16)]),
    ],
)
def test_collapse_folds_each_run_of_repeated_blocks_into_one_box_with_its_count(net, runs):
    analysis = check(f"zoo:{net}").analysis
    scene = build(analysis, collapse=True)
    blocks = [n for n in scene.nodes if n.blocks]
    assert [(n.title if runs[0][0] else None, n.blocks) for n in blocks] == runs
    # every layer is still shown by exactly one box, and the totals are the net's
    shown = [name for n in scene.nodes for name in n.layers]
    assert sorted(shown) == sorted(i.layer.name for i in analysis.layers)
    first = blocks[0]
    assert (
        first.type == f"{runs[0][1]} blocks"
        and first.detail.startswith("in 1x")
        and first.shapes.startswith("1x")
    )


def _boxes(net: str, direction: str = "TB") -> list[tuple[float, float, float, float, str]]:
    """(x, y, width, height, layer) of every box as drawn."""
    svg = ET.fromstring(to_svg(build(check(f"zoo:{net}").analysis), direction=direction))
    out = []
    for g in svg.iter(f"{SVG}g"):
        if "node" in (g.get("class") or "").split():
            r = g.find(f"{SVG}rect")
            out.append((*(float(r.get(k)) for k in ("x", "y", "width", "height")), g.get("data-layer")))
    return out


def _labels(net: str, direction: str) -> list[tuple[float, float, float, float, str]]:
    """(x, y, width, height, text) of every shape label, as wide as the picture's estimate says."""
    svg = ET.fromstring(to_svg(build(check(f"zoo:{net}").analysis), direction=direction))
    out = []
    for text in svg.find(f"{SVG}g[@class='labels']").iter(f"{SVG}text"):
        said = text.text if text.text else text.find(f"{SVG}title").tail
        width = text_width(said, 10)
        x = float(text.get("x")) - {"start": 0, "middle": width / 2, "end": width}[text.get("text-anchor")]
        out.append((x, float(text.get("y")) - 8, width, 10, said))
    return out


def _overlaps(boxes: list[tuple]) -> list[tuple[str, str]]:
    boxes = sorted(boxes)
    found = []
    for i, (x, y, w, h, a) in enumerate(boxes):
        for x2, y2, _, h2, b in boxes[i + 1 :]:
            if x2 >= x + w:
                break
            if y2 < y + h and y < y2 + h2:
                found.append((a, b))
    return found


@pytest.mark.parametrize("net", ["googlenet", "resnet50", "mobilenet_ssd", "segnet_basic"])
@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_no_two_boxes_or_labels_overlap(net, direction):
    boxes, labels = _boxes(net, direction), _labels(net, direction)
    assert len(labels) >= len(boxes) - 2  # every box but the last says its output's shape
    assert _overlaps(boxes + labels) == []


def test_a_chain_is_drawn_straight_down_or_straight_across():
    centres = [x + w / 2 for x, _, w, _, _ in _boxes("alexnet")]
    assert max(centres) - min(centres) < 0.2
    middles = [y + h / 2 for _, y, _, h, _ in _boxes("alexnet", "LR")]
    assert max(middles) - min(middles) < 0.2


TWINS = (
    """name: "twins"
input: "pair" input_shape { dim: 4 dim: 2 dim: 28 dim: 28 }
layer { name: "split" type: "Slice" bottom: "pair" top: "a" top: "b" slice_param { slice_point: 1 } }
"""
    + "".join(
        f'layer {{ name: "conv{s}" type: "Convolution" bottom: "{s}" top: "conv{s}" '
        f"convolution_param {{ num_output: 20 kernel_size: 5 }} }}\n"
        f'layer {{ name: "pool{s}" type: "Pooling" bottom: "conv{s}" top: "pool{s}" '
        f"pooling_param {{ pool: MAX kernel_size: 2 stride: 2 }} }}\n"
        f'layer {{ name: "wide_ip{s}" type: "InnerProduct" bottom: "pool{s}" top: "ip{s}" '
        f"inner_product_param {{ num_output: 500 }} }}\n"
        f'layer {{ name: "feat{s}" type: "InnerProduct" bottom: "ip{s}" top: "feat{s}" '
        f"inner_product_param {{ num_output: 2 }} }}\n"
        for s in "ab"
    )
    + 'layer { name: "join" type: "Concat" bottom: "feata" bottom: "featb" top: "join" }\n'
)


@pytest.mark.parametrize("net", ["zoo:googlenet", "zoo:densenet121", "zoo:resnet50", "twins"])
def test_every_chain_is_straight_where_branches_run_side_by_side(net):
    # a link that is its source's only way out and its target's only way in is drawn as one
    # vertical line: an inception module's reduce and its convolution, a bottleneck's 1x1 and 3x3,
    # each of a siamese net's twins, not zigzagging a few pixels left and right
    analysis = check(net, content=TWINS if net == "twins" else None).analysis
    scene = build(analysis)
    sizes = [box_size(n) for n in scene.nodes]
    index = {n.key: i for i, n in enumerate(scene.nodes)}
    edges = [(index[e.source], index[e.target]) for e in scene.edges]
    placed = layout.layout(sizes, edges, rank_gap=38, gap=28)
    outs, ins = [0] * len(sizes), [0] * len(sizes)
    for s, t in edges:
        outs[s] += 1
        ins[t] += 1
    chain = [(s, t) for s, t in edges if outs[s] == 1 and ins[t] == 1]
    assert len(chain) >= 6
    bent = [
        (scene.nodes[s].title, scene.nodes[t].title)
        for s, t in chain
        if abs(placed.centres[s][0] - placed.centres[t][0]) > 0.5
    ]
    assert bent == []


def test_every_arrow_goes_down_one_rank_per_step_and_branches_do_not_cross():
    analysis = check("zoo:googlenet").analysis
    scene = build(analysis)
    sizes = [box_size(n) for n in scene.nodes]
    index = {n.key: i for i, n in enumerate(scene.nodes)}
    edges = [(index[e.source], index[e.target]) for e in scene.edges]
    placed = layout.layout(sizes, edges, rank_gap=38, gap=28)
    for (s, t), route in zip(edges, placed.routes):
        assert route[0][1] == pytest.approx(placed.centres[s][1] + sizes[s][1] / 2)
        assert route[-1][1] == pytest.approx(placed.centres[t][1] - sizes[t][1] / 2)
        assert all(b[1] > a[1] for a, b in itertools.pairwise(route))
    ranks = layout._ranks(len(sizes), edges)
    assert max(ranks) + 1 == len({c[1] for c in placed.centres})
    # an inception module's four branches leave one box and meet at one: drawn without a crossing
    order = [[] for _ in range(max(ranks) + 1)]
    for v, (_x, _) in sorted(enumerate(placed.centres), key=lambda p: p[1][0]):
        order[ranks[v]].append(v)
    down = [[] for _ in range(len(sizes))]
    for s, t in edges:
        down[t].append((s, 1.0))
    positions = [0.0] * len(sizes)
    for layer in order:
        for i, v in enumerate(layer):
            positions[v] = i
    assert layout._crossings(order, down, positions) == 0


def test_dot_says_the_same_scene_for_graphviz():
    dot = to_dot(build(analyse(SPEC)[0]), direction="LR")
    assert dot.startswith('digraph "two \\"quoted\\" branches" {') and "rankdir=LR;" in dot
    assert re.search(r'n1 \[label="conv\\nConvolution  k3 p1 out 4\\n1x4x8x8 · 112 params\\nReLU"', dot)
    assert re.findall(r"(n\d) -> (n\d) \[label=\"([^\"]*)\"\]", dot) == [
        ("n0", "n1", "1x3x8x8"),
        ("n1", "n2", "1x4x8x8"),
        ("n2", "n3", "1x3x8x8"),
    ]


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(SPEC)
    return path


def test_draw_writes_svg_html_and_dot_with_nothing_installed(spec, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for suffix in ("svg", "html", "dot"):
        assert cli.main(["draw", str(spec), "--collapse", "-o", str(tmp_path / f"net.{suffix}")]) == cli.OK
    assert ET.parse(tmp_path / "net.svg").getroot().tag == f"{SVG}svg"
    assert "<svg" in (tmp_path / "net.html").read_text() and "digraph" in (tmp_path / "net.dot").read_text()
    assert cli.main(["draw", str(spec)]) == cli.OK
    assert capsys.readouterr().out.startswith("<svg")


def test_png_and_pdf_without_a_renderer_say_what_to_install_and_write_nothing(
    spec, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for name in ("net.png", "net.pdf"):
        assert cli.main(["draw", str(spec), "-o", str(tmp_path / name)]) == cli.CANNOT_RUN
        err = capsys.readouterr().err
        assert "rsvg-convert" in err and "librsvg2-bin" in err and "write .svg or .html" in err
        assert not (tmp_path / name).exists()
    assert cli.main(["draw", str(spec), "--engine", "dot", "-o", str(tmp_path / "net.svg")]) == cli.CANNOT_RUN
    assert "--engine dot needs Graphviz's `dot`" in capsys.readouterr().err
    assert cli.main(["draw", str(spec), "-o", str(tmp_path / "net.jpg")]) == cli.CANNOT_RUN
    assert "netspec draws .svg, .html, .png, .pdf, .dot files" in capsys.readouterr().err
    assert (
        cli.main(["draw", str(spec), "--engine", "dot", "-o", str(tmp_path / "net.html")]) == cli.CANNOT_RUN
    )
    assert "the .html page is laid out by netspec itself" in capsys.readouterr().err


def test_a_png_too_large_to_render_says_what_to_draw_instead_and_writes_nothing(tmp_path, capsys):
    # ResNet-152 left to right is some 60,000 pixels wide; librsvg renders 32,767 at most and told
    # the user to "specify a smaller size", which netspec has no option for
    out = tmp_path / "wide.png"
    assert cli.main(["draw", "zoo:resnet152", "--direction", "LR", "-o", str(out)]) == cli.CANNOT_RUN
    err = capsys.readouterr().err
    assert "32,767" in err and "write .svg or .pdf" in err and "--collapse" in err
    assert "specify a smaller size" not in err and not out.exists()
    assert (
        cli.main(["draw", "zoo:resnet152", "--direction", "LR", "-o", str(tmp_path / "wide.svg")]) == cli.OK
    )


def test_png_and_pdf_where_rsvg_convert_is_installed(spec, tmp_path):
    # .ci/run installs librsvg2-bin; a machine without it fails here rather than skipping
    assert shutil.which("rsvg-convert"), "rsvg-convert is not installed: apt-get install librsvg2-bin"
    assert cli.main(["draw", str(spec), "--direction", "LR", "-o", str(tmp_path / "net.png")]) == cli.OK
    assert cli.main(["draw", str(spec), "-o", str(tmp_path / "net.pdf")]) == cli.OK
    assert (tmp_path / "net.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (tmp_path / "net.pdf").read_bytes().startswith(b"%PDF")


def test_engine_dot_lays_the_same_scene_out_with_graphviz(spec, tmp_path):
    assert shutil.which("dot"), "Graphviz is not installed: apt-get install graphviz"
    assert cli.main(["draw", str(spec), "--engine", "dot", "-o", str(tmp_path / "net.svg")]) == cli.OK
    text = (tmp_path / "net.svg").read_text()
    assert "<svg" in text and "1x4x8x8 · 112 params" in text
    done = subprocess.run(
        ["dot", "-Tsvg"], input=to_dot(build(analyse(SPEC)[0])), capture_output=True, text=True
    )
    assert done.stdout == text
    assert cli.main(["draw", str(spec), "--engine", "dot", "-o", str(tmp_path / "net.png")]) == cli.OK
    assert (tmp_path / "net.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # a .dot file with --engine dot is Graphviz's layout (positions), not the plain scene
    assert cli.main(["draw", str(spec), "--engine", "dot", "-o", str(tmp_path / "laid.dot")]) == cli.OK
    assert cli.main(["draw", str(spec), "-o", str(tmp_path / "plain.dot")]) == cli.OK
    laid, plain = ((tmp_path / name).read_text() for name in ("laid.dot", "plain.dot"))
    assert "pos=" in laid and "pos=" not in plain


def test_boxes_are_coloured_by_what_the_layer_does_and_every_family_has_a_colour():
    from netspec.draw.svg import COLOURS
    from netspec.layers import REGISTRY

    families = {kind.family for kind in REGISTRY.values()}
    assert families <= set(COLOURS)
    # by function, not by module or fork: SSD's PriorBox and DetectionOutput are detection layers,
    # its Permute a layout change; BVLC's BatchNorm, folded into the convolution, a normalization
    scene = build(check("zoo:mobilenet_ssd").analysis)
    by_type = {n.type: n.family for n in scene.nodes}
    assert by_type["PriorBox"] == by_type["DetectionOutput"] == "detection"
    assert (by_type["Permute"], by_type["Convolution"]) == ("layout", "convolution")
    tags = {t.type: t.family for n in scene.nodes for t in n.tags}
    assert tags == {"BatchNorm": "normalization", "Scale": "normalization", "ReLU": "activation"}


def test_key_parameters_are_what_the_spec_sets_shortest_first():
    boxes = {n.title: n for n in build(check("zoo:alexnet").analysis).nodes}
    assert boxes["conv2"].detail == "k5 p2 g2 out 256"  # kernel, stride, pad, dilation, group, outputs
    assert boxes["pool1"].detail == "MAX k3 s2"  # an enum said by its name, first
    assert boxes["norm1"].detail == "local_size 5 alpha 0.0001 beta 0.75"
    assert boxes["fc8"].detail == "out 1000" and boxes["prob"].detail == ""
