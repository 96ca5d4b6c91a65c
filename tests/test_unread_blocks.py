"""NS0109, the lint `blocks`: a `*_param` block the layer's type never reads, which Caffe parses and
ignores, is a warning at the block, naming the type, the block and the blocks the type reads."""

from __future__ import annotations

import pytest
from oracles import CORPUS

from netspec.cli import main
from netspec.diagnostics import Severity
from netspec.frontend.select import TEST, TRAIN
from netspec.pipeline import check
from netspec.stubs import parse as parse_stub

INPUT = (
    'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n'
)


def unread(text: str, **kw) -> list:
    return [d for d in check("t.prototxt", content=text, **kw).diagnostics if d.code == "NS0109"]


def test_normalize_with_normalize_bbox_param_is_told_it_reads_norm_param():
    text = INPUT + (
        'layer { name: "norm" type: "Normalize" bottom: "data" top: "norm"\n'
        "  normalize_bbox_param { channel_shared: false } }\n"
    )
    (found,) = unread(text)
    assert (found.severity, found.lint, found.layer) == (Severity.WARNING, "blocks", "norm")
    assert (found.span.line, found.span.column, found.span.length) == (3, 3, len("normalize_bbox_param"))
    assert found.message == "norm: Normalize does not read normalize_bbox_param; Caffe ignores the block"
    # normalize_param is nearer by spelling, norm_param by its fields (the same as normalize_bbox_param's)
    assert found.help == "Normalize reads norm_param and normalize_param; did you mean norm_param?"
    assert found.notes == ["normalize_bbox_param is read by NormalizeBBox layers"]  # or the type is wrong


def test_blocks_copied_onto_a_convolution_beside_its_own_are_each_said():
    text = INPUT + (
        'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"\n'
        "  convolution_param { num_output: 4 kernel_size: 3 }\n"
        "  pooling_param { pool: MAX kernel_size: 2 }\n"
        "  inner_product_param { num_output: 10 } }\n"
    )
    found = unread(text)
    assert [(d.span.line, d.message.split("read ")[1].split(";")[0]) for d in found] == [
        (4, "pooling_param"),
        (5, "inner_product_param"),
    ]
    assert {d.help for d in found} == {"remove it: Convolution reads convolution_param, given beside it"}
    assert [d.notes for d in found] == [
        ["pooling_param is read by Pooling layers"],
        ["inner_product_param is read by InnerProduct layers"],
    ]


def test_a_type_that_reads_no_block_says_so_and_one_of_several_is_guessed():
    text = INPUT + (
        'layer { name: "abs" type: "AbsVal" bottom: "data" top: "abs" relu_param { negative_slope: 0.1 } }\n'
        'layer { name: "src" type: "Data" top: "x" top: "y" data_param { source: "db" batch_size: 2 }\n'
        '  image_data_param { source: "list.txt" } }\n'
    )
    assert [d.help for d in unread(text, phase=TRAIN)] == [
        "remove it: AbsVal reads no *_param block",
        "Data reads data_param and transform_param; did you mean transform_param?",
    ]


def test_blocks_a_type_reads_besides_its_own_are_not_said():
    text = (
        'layer { name: "src" type: "Data" top: "x" top: "y"\n'
        '  data_param { source: "db" batch_size: 2 } transform_param { crop_size: 8 mirror: true } }\n'
        'layer { name: "fc" type: "InnerProduct" bottom: "x" top: "fc" inner_product_param { num_output: 3 } }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "y" top: "loss"\n'
        "  loss_param { ignore_label: 0 normalization: VALID } softmax_param { axis: 1 } }\n"
        'layer { name: "l2" type: "EuclideanLoss" bottom: "fc" bottom: "fc" top: "l2"\n'
        "  loss_param { normalization: BATCH_SIZE } }\n"
        'layer { name: "nb" type: "NormalizeBBox" bottom: "x" top: "nb" norm_param { across_spatial: false } }\n'
    )
    checked = check("t.prototxt", content=text, phase=TRAIN, inputs={"x": (2, 3, 8, 8)})
    assert [d.code for d in checked.diagnostics if d.severity is Severity.WARNING] == []


def test_a_v1_layers_block_is_judged_after_the_upgrade_at_its_own_line():
    text = (
        'input: "data"\ninput_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
        'layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv"\n'
        "  convolution_param { num_output: 4 kernel_size: 3 }\n"
        "  pooling_param { pool: MAX kernel_size: 2 } }\n"
    )
    (found,) = unread(text)
    assert (found.span.line, found.span.column) == (5, 3)
    assert found.message.startswith("conv: Convolution does not read pooling_param")


def test_unknown_stubbed_and_already_refused_blocks_are_not_said():
    text = (
        INPUT + 'layer { name: "odd" type: "FancyFork" bottom: "data" top: "odd" pooling_param { pad: 1 } }\n'
    )
    assert unread(text) == []
    stubbed = INPUT + 'layer { name: "r" type: "ReLU" bottom: "data" top: "r" pooling_param { pad: 1 } }\n'
    assert len(unread(stubbed)) == 1
    assert unread(stubbed, stubs={"ReLU": parse_stub("ReLU=identity")}) == []
    hdf5 = (
        'layer { name: "d" type: "HDF5Data" top: "data" hdf5_data_param { source: "f.txt" batch_size: 1 }\n'
        "  transform_param { scale: 0.5 } }\n"
    )
    codes = [d.code for d in check("t.prototxt", content=hdf5, inputs={"data": (1, 3)}).diagnostics]
    assert "NS0377" in codes and "NS0109" not in codes  # Caffe refuses it: said once, as an error


def test_the_blocks_lint_is_turned_off_by_allow_and_fails_werror_without(tmp_path, capsys):
    spec = tmp_path / "t.prototxt"
    spec.write_text(
        INPUT + 'layer { name: "n" type: "Normalize" bottom: "data" top: "n" normalize_bbox_param { } }\n'
    )
    assert main(["check", str(spec)]) == 0
    assert "warning[NS0109]" in capsys.readouterr().err
    assert main(["check", str(spec), "--werror"]) == 1
    assert "error[NS0109]" in capsys.readouterr().err
    assert main(["check", str(spec), "--werror", "--allow", "blocks"]) == 0
    assert "NS0109" not in capsys.readouterr().err


CORPUS_NETS = sorted(CORPUS.glob("**/*.prototxt")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS_NETS, reason=f"the shared corpus is absent ({CORPUS})")
def test_no_real_corpus_file_trips_it_in_either_phase():
    said = [
        (path.relative_to(CORPUS), d.span.line if d.span else None)
        for path in CORPUS_NETS
        for phase in (TEST, TRAIN)
        for d in check(str(path), phase=phase).diagnostics
        if d.code == "NS0109"
    ]
    assert said == []
