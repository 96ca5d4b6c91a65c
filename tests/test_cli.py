"""The `netspec` command as a user runs it: exit codes, formats, files written whole or not at all."""

from __future__ import annotations

import io
import json

import numpy as np
import onnx
import pytest
from oracles import CORPUS, ROOT, needs_corpus

from netspec.cli import COMMANDS, INTERNAL_ERROR, build_parser, main

LENET = "zoo:lenet"
BROKEN = (
    'name: "b"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 7 dim: 7 } } }\n'
    'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAX kernel_size: 3 stride: 3 } }\n'
)


def test_check_ok_exits_0_and_says_what_it_found(capsys):
    assert main(["check", LENET]) == 0
    out = capsys.readouterr().out
    assert "ok" in out and "431,080 parameters" in out


def test_check_missing_file_exits_2(capsys):
    assert main(["check", "/nonexistent/net.prototxt"]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "was, typed, said",
    [
        (
            "pooling_param {",
            "pooling_param {\n    pad:\n",
            "4:5: error[NS0101]: syntax error: field 'pad' has no value",
        ),
        (
            "pooling_param {",
            "pooling_param { strid: 3",
            "3:75: error[NS0103]: unknown field 'strid' in PoolingParameter",
        ),
        ("pool: MAX", "pool: MA", "3:81: error[NS0104]: 'MA' is not a value of PoolMethod"),
        (
            "pooling_param {",
            'pooling_param { pad: "0"',
            "3:80: error[NS0105]: field 'pad' expects an unsigned integer",
        ),
    ],
    ids=["no_value_yet", "unknown_field", "enum_value", "value_of_another_kind"],
)
def test_check_of_a_field_being_typed_is_one_error_and_summary_still_shapes_the_layers_below(
    tmp_path, capsys, was, typed, said
):
    """A field with no value yet, or one that does not bind (a name or an enum value typed halfway,
    a value of the wrong kind): the layer is read without it, so its mistake is the one error and
    the layers below keep their shapes."""
    path = tmp_path / "typing.prototxt"
    path.write_text(BROKEN.replace(was, typed, 1) + 'layer { name: "r" type: "ReLU" bottom: "p" top: "r" }\n')
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("error[") == 1 and f"{path}:{said}" in err and "warning[" not in err
    assert main(["summary", str(path)]) == 1
    rows = {line.split()[0]: line.split()[2] for line in capsys.readouterr().out.splitlines()[2:5]}
    assert rows == {"data": "1x1x7x7", "p": "1x1x3x3", "r": "1x1x3x3"}  # pad's default, 0: (7 - 3) / 3 + 1


def standard_input(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


TILING = "<stdin>:3:98: warning[NS0320]"  # BROKEN's pooling leaves a row unread


@pytest.mark.parametrize(
    "command, says, warns",
    [
        (["check"], "<stdin>: ok: 2 layers", TILING),
        (["summary"], "1x1x3x3", TILING),
        (["draw", "-o", "-"], "<svg", TILING),
        (["report", "-o", "REPORT"], "", TILING),
        (["upgrade"], "pool: MAX\n    kernel_size: 3", ""),  # (no shapes checked, so no lint)
    ],
    ids=["check", "summary", "draw", "report", "upgrade"],
)
def test_a_dash_reads_the_spec_from_standard_input_named_stdin_in_diagnostics(
    command, says, warns, tmp_path, monkeypatch, capsys
):
    report = tmp_path / "report.html"
    standard_input(monkeypatch, BROKEN.encode())
    assert main([command[0], "-", *(str(report) if c == "REPORT" else c for c in command[1:])]) == 0
    out, err = capsys.readouterr()
    assert says in out and warns in err
    assert command[0] != "report" or "<title>&lt;stdin&gt;" in report.read_text()


def test_a_dash_compiles_and_runs_the_spec_from_standard_input(tmp_path, monkeypatch, capsys):
    """compile - writes a checked model whose source is <stdin>; run - compiles and runs it, and
    its pooling is Caffe's (ceil: the third window of 3 over 7 reads the last row and column alone)."""
    model = tmp_path / "m.onnx"
    standard_input(monkeypatch, BROKEN.encode())
    assert main(["compile", "-", "-o", str(model)]) == 0
    assert TILING in capsys.readouterr().err
    checked = onnx.load(str(model))
    onnx.checker.check_model(checked, full_check=True)
    assert {p.key: p.value for p in checked.metadata_props}["netspec.source"] == "<stdin>"
    x = np.random.default_rng(0).standard_normal((1, 1, 7, 7)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    standard_input(monkeypatch, BROKEN.encode())
    assert main(["run", "-", "--input", f"data={tmp_path / 'x.npy'}", "--out", str(tmp_path / "o.npz")]) == 0
    assert TILING in capsys.readouterr().err
    expected = [[x[0, 0, 3 * i : 3 * i + 3, 3 * j : 3 * j + 3].max() for j in range(3)] for i in range(3)]
    assert np.array_equal(np.load(tmp_path / "o.npz")["out:p"][0, 0], np.array(expected, np.float32))


def test_a_dash_with_errors_is_compiled_to_nothing_and_not_run(tmp_path, monkeypatch, capsys):
    broken = BROKEN.replace("pool: MAX", "pool: MAXX")
    for command in (["compile", "-", "-o", str(tmp_path / "m.onnx")], ["run", "-"]):
        standard_input(monkeypatch, broken.encode())
        assert main(command) == 1
        assert "<stdin>:3:81: error[NS0104]" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_dash_with_a_binary_or_for_view_is_refused_saying_why(monkeypatch, capsys):
    standard_input(monkeypatch, b"\x08\x01\x12\x00")
    assert main(["check", "-"]) == 2
    assert "netspec: error: <stdin>: " in capsys.readouterr().err
    standard_input(monkeypatch, BROKEN.encode())
    assert main(["view", "-", "--no-browser"]) == 2
    assert "standard input (-) is read once" in capsys.readouterr().err


def test_check_of_a_directory_exits_2_saying_so(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a directory, not a network file" in capsys.readouterr().err


def test_check_spec_error_exits_1_with_position(tmp_path, capsys):
    path = tmp_path / "bad.prototxt"
    path.write_text('layer { name: "x" type: "ReLU" bottom: "nothing" top: "x" }\n')
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:1:40: error[NS0201]" in err and "^^^^^^^^^" in err


def test_warnings_keep_exit_0_unless_werror(tmp_path, capsys):
    path = tmp_path / "warn.prototxt"
    path.write_text(BROKEN)
    assert main(["check", str(path)]) == 0
    assert "warning[NS0320]" in capsys.readouterr().err
    assert main(["check", str(path), "--werror"]) == 1


def test_check_json_has_records_layers_and_totals(tmp_path, capsys):
    path = tmp_path / "warn.prototxt"
    path.write_text(BROKEN)
    assert main(["check", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    record = doc["diagnostics"][0]
    assert {"severity", "code", "message", "file", "line", "column"} <= set(record)
    assert record["code"] == "NS0320" and record["line"] == 3
    assert doc["layers"][1]["shapes"] == [[1, 1, 3, 3]]
    assert {"params", "buffers", "macs", "activation_bytes", "peak_activation_bytes"} <= set(doc["totals"])


def test_input_and_batch_override_shapes(capsys):
    assert main(["check", LENET, "--batch", "4", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layers"][0]["shapes"] == [[4, 1, 28, 28]]
    assert main(["check", LENET, "--input", "data=2x1x32x32", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layers"][1]["shapes"] == [[2, 20, 28, 28]]


def test_bad_input_dims_is_a_usage_error(capsys):
    assert main(["check", LENET, "--input", "data=1xthree"]) == 2
    assert "NAME=DIMS" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_summary_formats(fmt, capsys):
    assert main(["summary", LENET, "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        assert json.loads(out)["totals"]["params"] == 431_080
    elif fmt == "csv":
        assert out.splitlines()[0].startswith("name,type,output,params")
        assert "conv1,Convolution,1x20x24x24,520," in out
    else:
        assert "431,080" in out and "fully connected" in out


@needs_corpus
def test_upgrade_prints_v2_text_of_a_v0_net(capsys):
    assert main(["upgrade", str(CORPUS / "BVLC__caffe@v0.99/examples/lenet/lenet.prototxt")]) == 0
    out = capsys.readouterr().out
    assert 'type: "Convolution"' in out and "layers" not in out


def test_compile_writes_a_checked_model_and_run_executes_it(tmp_path, capsys):
    out = tmp_path / "lenet.onnx"
    assert main(["compile", LENET, "-o", str(out)]) == 0
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert {p.key: p.value for p in model.metadata_props}["netspec.source"] == "lenet.prototxt"
    x = np.random.default_rng(0).standard_normal((1, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert (
        main(
            [
                "run",
                str(out),
                "--input",
                f"data={tmp_path / 'x.npy'}",
                "--out",
                str(tmp_path / "o.npz"),
                "--repeat",
                "3",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "ran on CPUExecutionProvider" in captured.err and "latency: median" in captured.out
    saved = np.load(tmp_path / "o.npz")
    assert np.array_equal(saved["in:data"], x)
    assert saved["out:prob"].shape == (1, 10)
    assert abs(float(saved["out:prob"].sum()) - 1.0) < 1e-5


def test_compile_to_an_unwritable_place_leaves_nothing(tmp_path, capsys):
    target = tmp_path / "missing-dir" / "m.onnx"
    assert main(["compile", LENET, "-o", str(target)]) == 2
    assert not target.exists() and not list(tmp_path.rglob("*.onnx"))


def test_compile_does_not_clobber_output_when_the_spec_has_errors(tmp_path):
    bad = tmp_path / "bad.prototxt"
    bad.write_text('layer { name: "x" type: "ReLU" bottom: "nothing" top: "x" }\n')
    out = tmp_path / "keep.onnx"
    out.write_bytes(b"precious")
    assert main(["compile", str(bad), "-o", str(out)]) == 1
    assert out.read_bytes() == b"precious"


def test_init_weights_then_compile_with_them(tmp_path, capsys):
    weights = tmp_path / "w.caffemodel"
    assert main(["init-weights", LENET, "-o", str(weights)]) == 0
    assert main(["compile", LENET, "--weights", str(weights), "-o", str(tmp_path / "m.onnx")]) == 0


def test_run_with_cuda_where_there_is_none_says_why(capsys):
    from netspec.runtime import cuda_really_available

    if cuda_really_available():
        pytest.skip("this machine has CUDA")
    assert main(["run", LENET, "--provider", "cuda"]) == 2
    assert "NS0500" in capsys.readouterr().err


def test_zoo_commands(capsys):
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "25,557,096" in out
    assert main(["zoo", "path", "lenet"]) == 0
    assert capsys.readouterr().out.strip().endswith("lenet.prototxt")
    assert main(["zoo", "path", "resnet5"]) == 2
    assert "resnet50" in capsys.readouterr().err


def test_written_files_get_ordinary_permissions(tmp_path):
    """Atomic writes go through a temporary file (mode 0600); the result must not keep that mode."""
    import os

    out = tmp_path / "m.onnx"
    old = os.umask(0o022)
    try:
        assert main(["compile", LENET, "-o", str(out)]) == 0
        assert main(["init-weights", LENET, "-o", str(tmp_path / "w.caffemodel")]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "w.caffemodel").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_layers_sharing_a_name_compile_to_a_model_onnxruntime_loads(tmp_path, capsys):
    """Caffe accepts two layers of one name (NS0203); ONNX wants each node's name once."""
    spec = tmp_path / "twice.prototxt"
    spec.write_text(
        'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }\n'
        'layer { name: "act" type: "ReLU" bottom: "data" top: "a" }\n'
        'layer { name: "act" type: "Sigmoid" bottom: "a" top: "b" }\n'
    )
    out = tmp_path / "twice.onnx"
    assert main(["compile", str(spec), "-o", str(out)]) == 0
    names = [node.name for node in onnx.load(str(out)).graph.node]
    assert len(set(names)) == len(names) == 2
    assert main(["run", str(out)]) == 0


def test_a_blob_named_empty_compiles_to_a_named_tensor(tmp_path, capsys):
    """Caffe accepts top: "" (a blob named ""); every ONNX tensor needs a name."""
    spec = tmp_path / "empty.prototxt"
    spec.write_text(
        'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }\n'
        'layer { name: "r" type: "ReLU" bottom: "data" top: "" }\n'
    )
    out = tmp_path / "empty.onnx"
    assert main(["compile", str(spec), "-o", str(out)]) == 0
    assert [o.name for o in onnx.load(str(out)).graph.output] == ["unnamed"]
    assert main(["run", str(out)]) == 0
    assert "unnamed: 1x2 float32" in capsys.readouterr().out


def test_an_opset_out_of_range_is_a_usage_error(tmp_path, capsys):
    assert main(["compile", LENET, "--opset", "5", "-o", str(tmp_path / "m.onnx")]) == 2
    assert "netspec: error: --opset 5: netspec writes opsets" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_a_model_the_onnx_checker_refuses_is_reported_not_written(tmp_path, capsys, monkeypatch):
    """A lowering bug that yields an invalid model is an NS0499 diagnostic, never a traceback."""
    import netspec.lower

    named = netspec.lower.tensor_names

    def output_unnamed(analysis):
        names = named(analysis)
        return {**names, list(names)[-1]: ""}

    monkeypatch.setattr(netspec.lower, "tensor_names", output_unnamed)
    assert main(["compile", LENET, "-o", str(tmp_path / "m.onnx")]) == 1
    assert "error[NS0499]: netspec built a model that ONNX's checker refuses" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["compile", "SPEC", "-o", "SPEC"], "is the spec this command reads"),
        (["upgrade", "SPEC", "-o", "SPEC"], "is the spec this command reads"),
        (["init-weights", "SPEC", "-o", "SPEC"], "is the spec this command reads"),
        (["compile", "SPEC", "--weights", "W", "-o", "W"], "is the --weights file this command reads"),
        (["run", "SPEC", "--input", "data=X", "--out", "X"], "is an --input file this command reads"),
    ],
    ids=["compile", "upgrade", "init-weights", "weights", "npy"],
)
def test_an_output_never_overwrites_an_input(tmp_path, capsys, command, what):
    spec, weights, array = tmp_path / "net.prototxt", tmp_path / "w.caffemodel", tmp_path / "x.npy"
    spec.write_text((ROOT / "netspec" / "zoo" / "lenet.prototxt").read_text())
    assert main(["init-weights", str(spec), "-o", str(weights)]) == 0
    np.save(array, np.zeros((1, 1, 28, 28), np.float32))
    before = {p: p.read_bytes() for p in (spec, weights, array)}
    paths = {"SPEC": str(spec), "W": str(weights), "X": str(array)}
    argv = [paths.get(a, a.replace("X", str(array))) for a in command]
    capsys.readouterr()
    assert main(argv) == 2
    assert what in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before


def test_a_bug_is_an_internal_error_in_three_lines_not_a_traceback(monkeypatch, capsys):
    from netspec import summary

    def broken(analysis):
        raise KeyError("boom")

    monkeypatch.setattr(summary, "table", broken)
    monkeypatch.delenv("NETSPEC_BACKTRACE")
    assert main(["summary", "zoo:lenet"]) == INTERNAL_ERROR
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "netspec: internal error: KeyError: 'boom'",
        "note: this is a bug in netspec, not in your files; please report it with the command and the "
        "files it read",
        "note: run with NETSPEC_BACKTRACE=1 for the Python traceback",
    ]
    monkeypatch.setenv("NETSPEC_BACKTRACE", "1")
    with pytest.raises(KeyError):
        main(["summary", "zoo:lenet"])


def _options(parser) -> dict[str, list]:
    """Each command's options as argparse holds them: strings, destinations, defaults, choices."""
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    return {
        name: [(a.option_strings, a.dest, a.default, a.choices, a.required) for a in sub._actions]
        for name, sub in commands.choices.items()
    }


def test_a_command_parser_built_alone_is_the_whole_parsers_command():
    whole = _options(build_parser())
    assert len(whole) == len(COMMANDS)
    for name in COMMANDS:
        assert _options(build_parser([name, "--help"])) == {name: whole[name]}
    assert _options(build_parser(["--help", "check"])) == whole  # not a command first: all of them


@pytest.mark.parametrize("columns", ["60", "100", "0"])
def test_help_is_wrapped_as_argparse_wraps_it(columns, monkeypatch, capsys):
    """netspec's help formatter asks os for the width, not shutil: the same help either way."""
    import argparse

    import netspec.cli

    monkeypatch.setenv("COLUMNS", columns)
    helps = []
    for formatter in (netspec.cli.HelpFormatter, argparse.HelpFormatter):
        monkeypatch.setattr(netspec.cli, "HelpFormatter", formatter)
        with pytest.raises(SystemExit):
            main(["check", "--help"])
        helps.append(capsys.readouterr().out)
    assert helps[0] == helps[1] and "--werror" in helps[0]
