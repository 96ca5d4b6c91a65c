"""`netspec draw`: one box per layer with its shape, one arrow per blob read, errors drawn apart."""

from __future__ import annotations

import re
import shutil

import pytest
from oracles import analyse

from netspec import cli
from netspec.draw import to_dot
from netspec.pipeline import check

SPEC = """name: "two \\"quoted\\" branches"
input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "slice" type: "Slice" bottom: "conv" top: "a" top: "b" slice_param { slice_point: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "b" bottom: "b" top: "sum" }
"""

NODE = re.compile(r'^  (L\d+) \[label="((?:[^"\\]|\\.)*)", style="([^"]*)"', re.M)
EDGE = re.compile(r'^  (L\d+) -> (L\d+)(?: \[label="((?:[^"\\]|\\.)*)"\])?;$', re.M)


def test_every_layer_is_a_box_with_its_type_shapes_and_parameters():
    analysis, _ = analyse(SPEC)
    nodes = {key: label.split("\\n") for key, label, _ in NODE.findall(to_dot(analysis))}
    assert nodes["L1"] == ["conv", "Convolution", "1x4x8x8", "112 params"]
    assert nodes["L3"] == ["slice", "Slice", "1x1x8x8", "1x3x8x8"]
    assert len(nodes) == len(analysis.layers) == 5


def test_every_blob_read_is_an_arrow_named_where_the_layer_name_does_not_say_it():
    dot = to_dot(analyse(SPEC)[0])
    edges = EDGE.findall(dot)
    # the legacy `input:` becomes a layer named "input", so its arrow names the blob "data"
    assert edges == [
        ("L0", "L1", "data"),
        ("L1", "L2", ""),
        ("L2", "L3", "conv"),
        ("L3", "L4", "b"),
        ("L3", "L4", "b"),
    ]
    assert dot.startswith('digraph "two \\"quoted\\" branches" {') and dot.endswith("}\n")


def test_layers_the_checker_could_not_shape_are_drawn_dashed():
    checked = check("bad.prototxt", content=SPEC.replace("kernel_size: 3 pad: 1", "kernel_size: 30"))
    styles = dict((key, style) for key, _, style in NODE.findall(to_dot(checked.analysis)))
    assert "dashed" in styles["L1"] and "dashed" in styles["L4"] and "dashed" not in styles["L0"]


def test_draw_writes_dot_and_refuses_pictures_without_graphviz(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "net.prototxt"
    spec.write_text(SPEC)
    assert cli.main(["draw", str(spec), "--direction", "LR", "-o", str(tmp_path / "net.dot")]) == cli.OK
    assert "rankdir=LR;" in (tmp_path / "net.dot").read_text()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert cli.main(["draw", str(spec), "-o", str(tmp_path / "net.svg")]) == cli.CANNOT_RUN
    assert "Graphviz's `dot` is not installed" in capsys.readouterr().err
    assert not (tmp_path / "net.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed here")
def test_draw_renders_svg_with_graphviz(tmp_path):
    assert cli.main(["draw", "zoo:lenet", "-o", str(tmp_path / "lenet.svg")]) == cli.OK
    assert "<svg" in (tmp_path / "lenet.svg").read_text()
