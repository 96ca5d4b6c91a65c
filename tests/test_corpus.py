"""Real Caffe files written by other people (../shared/corpus): read, upgraded, checked, compiled, run.

Numbers are held against OpenCV's Caffe importer (cv2.dnn) and, where it is
built, real BVLC Caffe: shapes of every blob, and the values of every net's
outputs on random weights of realistic scale.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from google.protobuf import text_format
from oracles import (
    CORPUS,
    check_shapes_match_onnx,
    compile_text,
    needs_caffe,
    random_inputs,
    random_weights,
    rel_error,
    run_caffe,
    run_onnx,
    run_opencv,
)

from netspec.cli import main
from netspec.diagnostics import Diagnostics, render_all
from netspec.frontend.bind import Binder
from netspec.frontend.text import parse
from netspec.frontend.upgrade import upgrade
from netspec.pipeline import check, load
from netspec.proto import caffe_pb2
from netspec.source import SourceFile, SourceMap

SOURCE_TYPES = {"Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "DummyData"}
WHOLE_NET_TOLERANCE = 1e-3


def manifest() -> list[dict]:
    if not CORPUS.is_dir():
        return []
    with open(CORPUS / "MANIFEST.tsv") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = manifest()
NETS = [r for r in ROWS if r["format"] != "solver"]
V2 = [r for r in NETS if r["format"] == "V2"]
skip_without_corpus = pytest.mark.skipif(not ROWS, reason=f"the shared corpus is absent ({CORPUS})")


def deployable() -> list[str]:
    """Nets whose inputs are Input layers (or net-level input fields), not databases, and
    whose TEST phase selects a whole net (mnist_autoencoder's data layers need a stage)."""
    out = []
    for row in NETS:
        checked = check(str(CORPUS / row["local_path"]))
        if (
            checked.net
            and not any(layer.type in SOURCE_TYPES for layer in checked.net.layers)
            and not any(d.code == "NS0201" for d in checked.diagnostics)
        ):
            out.append(row["local_path"])
    return out


DEPLOYABLE = deployable() if ROWS else []


def ids(rows):
    return [r["local_path"] if isinstance(r, dict) else r for r in rows]


@skip_without_corpus
@pytest.mark.parametrize("row", NETS, ids=ids(NETS))
def test_every_corpus_net_reads_without_error(row):
    spec = load(str(CORPUS / row["local_path"]))
    assert not spec.diagnostics.has_errors, render_all(spec.diagnostics, spec.sources)
    assert len(spec.param.layer) > 0


@skip_without_corpus
@pytest.mark.parametrize("row", V2, ids=ids(V2))
def test_v2_files_bind_exactly_as_protobufs_own_parser(row):
    """Bound by netspec, then upgraded, equals parsed by protobuf, then upgraded (Caffe's
    upgrade also rewrites V2 files: net-level inputs, old BatchNorm params)."""
    path = CORPUS / row["local_path"]
    bound = caffe_pb2.NetParameter()
    source = SourceFile(str(path), path.read_text())
    diagnostics = Diagnostics()
    Binder(SourceMap(source), diagnostics).bind(parse(source, diagnostics), bound)
    assert not diagnostics.has_errors
    assert bound == text_format.Parse(path.read_text(), caffe_pb2.NetParameter())
    theirs = upgrade(
        text_format.Parse(path.read_text(), caffe_pb2.NetParameter()), SourceMap(), Diagnostics()
    )
    assert load(str(path)).param == theirs


@skip_without_corpus
@pytest.mark.parametrize("row", NETS, ids=ids(NETS))
def test_upgrade_output_reads_back_to_the_same_net(row, tmp_path, capsys):
    out = tmp_path / "v2.prototxt"
    assert main(["upgrade", str(CORPUS / row["local_path"]), "-o", str(out)]) == 0
    again = load(str(out))
    assert not again.diagnostics.has_errors
    assert again.param == load(str(CORPUS / row["local_path"])).param
    assert again.param == text_format.Parse(out.read_text(), caffe_pb2.NetParameter())


@skip_without_corpus
@pytest.mark.parametrize("path", DEPLOYABLE)
def test_deployable_corpus_net_checks_with_no_error(path):
    checked = check(str(CORPUS / path))
    assert not checked.diagnostics.has_errors, render_all(checked.diagnostics, checked.spec.sources)
    assert all(s is not None for s in checked.analysis.shapes.values())


def _compiled(path: str, *, fold: bool = True):
    text = (CORPUS / path).read_text()
    checked = check(str(CORPUS / path))
    weights = random_weights(checked.analysis, seed=1)
    model, analysis, _ = compile_text(text, weights, fold=fold)
    check_shapes_match_onnx(model)  # ONNX's own shape inference agrees with every declared shape
    return text, model, analysis, weights


def _every_blob(model, analysis, feeds):
    """Run the model with every intermediate tensor exposed as an output."""
    import onnx

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    names = {o.name for o in exposed.graph.output}
    exposed.graph.output.extend(vi for vi in model.graph.value_info if vi.name not in names)
    return run_onnx(exposed, feeds)


@skip_without_corpus
@pytest.mark.parametrize("path", DEPLOYABLE)
def test_corpus_net_blob_shapes_and_outputs_match_opencv(path):
    """Every layer's output, unfolded so each keeps its tensor; the folded graph is held
    against real Caffe below."""
    text, model, analysis, weights = _compiled(path, fold=False)
    feeds = random_inputs(analysis, seed=2)
    ours = _every_blob(model, analysis, feeds)
    # The value each layer writes, under the name OpenCV gives it (the layer's name).
    layers = [i for i in analysis.layers if i.kind is not None and i.kind.deploy and not i.kind.source]
    reference = run_opencv(text, weights, feeds, [i.layer.name for i in layers])
    from netspec.lower import tensor_names

    names = tensor_names(analysis)
    worst = 0.0
    for info in layers:
        top = info.layer.tops[0]
        if names[top.key] not in ours:  # an identity at inference: no tensor of its own
            assert info.layer.type in ("Dropout", "Split"), f"{info.layer.name}: no output tensor"
            continue
        got = ours[names[top.key]]
        ref = reference[info.layer.name]
        assert tuple(got.shape) == tuple(ref.shape) == info.tops[0], f"{info.layer.name}: shapes differ"
        # Every layer's values, not only the outputs: random weights saturate a final
        # softmax (ResNet-50's prob is one-hot), which alone would hide any slip above it.
        worst = max(worst, rel_error(got, ref))
    print(f"{path}: worst layer error vs OpenCV {worst:.2e}")
    assert worst <= WHOLE_NET_TOLERANCE


@skip_without_corpus
@needs_caffe
@pytest.mark.parametrize("path", DEPLOYABLE)
def test_corpus_net_outputs_match_real_caffe(path):
    text, model, analysis, weights = _compiled(path)
    feeds = random_inputs(analysis, seed=3)
    ours = run_onnx(model, feeds)
    outputs = [o.name for o in model.graph.output]
    reference = run_caffe(text, weights, feeds, outputs)
    worst = max(rel_error(ours[name], reference[name]) for name in outputs)
    print(f"{path}: worst output error vs Caffe {worst:.2e}")
    assert worst <= WHOLE_NET_TOLERANCE
    assert not np.isnan(worst)
