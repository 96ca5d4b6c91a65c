"""Answers a user can trust: no option silently ignored, inputs keep their names, every output path
and every kind of file met with a clean message, run failures in Caffe's words, and a run that says
what it ran with (random weights, how long) and what came out (non-finite values, a top-5)."""

from __future__ import annotations

import os
import stat

import numpy as np
import onnx
import pytest

from netspec.cli import CANNOT_RUN, OK, SPEC_ERRORS, main
from netspec.zoo import names as zoo_names

LENET = "zoo:lenet"
PYTHON_DATA = (
    'name: "fcn"\n'
    'layer { name: "data" type: "Python" top: "data" top: "label" python_param { module: "voc" layer: "Seg" } }\n'
    'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 } }\n'
    'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "conv" bottom: "label" top: "loss" }\n'
)
IN_PLACE_ON_INPUT = (
    'name: "inplace"\n'
    'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n'
    'layer { name: "scale" type: "Power" bottom: "data" top: "data" power_param { scale: 2 } }\n'
    'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 } }\n'
)
ROIS = (
    'name: "t"\ninput: "data" input_shape { dim: 1 dim: 2 dim: 8 dim: 8 }\n'
    'input: "rois" input_shape { dim: 2 dim: 5 }\n'
    'layer { name: "pool" type: "ROIPooling" bottom: "data" bottom: "rois" top: "pool" '
    "roi_pooling_param { pooled_h: 2 pooled_w: 2 spatial_scale: 1 } }\n"
)


def write(tmp_path, text: str, name: str = "net.prototxt") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_python_data_layers_training_only_top_compiles_as_check_accepts_it(tmp_path, capsys):
    spec = write(tmp_path, PYTHON_DATA)
    assert main(["check", spec, "--input", "data=1x3x16x16"]) == OK
    assert main(["compile", spec, "--input", "data=1x3x16x16", "-o", str(tmp_path / "m.onnx")]) == OK
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [i.name for i in model.graph.input] == ["data"]
    assert [o.name for o in model.graph.output] == ["conv"]


def test_an_input_rewritten_in_place_keeps_its_name(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["compile", write(tmp_path, IN_PLACE_ON_INPUT), "-o", str(out)]) == OK
    assert [i.name for i in onnx.load(str(out)).graph.input] == ["data"]
    np.save(tmp_path / "x.npy", np.ones((1, 3, 8, 8), np.float32))
    assert main(["run", str(out), "--input", f"data={tmp_path / 'x.npy'}"]) == OK


def test_a_misspelled_input_name_is_refused_with_the_nets_inputs(capsys):
    assert main(["check", LENET, "--input", "dta=1x1x28x28"]) == CANNOT_RUN
    assert "no input 'dta'; did you mean 'data'? its inputs: data" in capsys.readouterr().err


def test_an_input_declared_without_a_shape_is_refused_not_ignored(tmp_path, capsys):
    spec = write(
        tmp_path, 'name: "n"\ninput: "data"\nlayer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n'
    )
    assert main(["check", spec, "--input", "data=1x3x4x4"]) == CANNOT_RUN
    assert "declares 'data' without a shape" in capsys.readouterr().err


def test_an_npy_given_where_a_shape_is_expected_gives_its_shape(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 32, 32), np.float32))
    assert main(["check", LENET, "--input", f"data={tmp_path / 'x.npy'}"]) == OK
    assert "outputs prob 2x10" in capsys.readouterr().out


def test_run_of_a_model_at_another_batch_runs_there_or_is_refused(tmp_path, capsys):
    fixed, dynamic = tmp_path / "fixed.onnx", tmp_path / "dynamic.onnx"
    assert main(["compile", LENET, "-o", str(fixed)]) == OK
    assert main(["compile", LENET, "--dynamic-batch", "-o", str(dynamic)]) == OK
    capsys.readouterr()
    assert main(["run", str(dynamic), "--batch", "4"]) == OK
    assert "prob: 4x10 float32" in capsys.readouterr().out
    assert main(["run", str(fixed), "--batch", "4"]) == CANNOT_RUN
    assert "compile the spec with --batch 4, or with --dynamic-batch" in capsys.readouterr().err
    assert main(["run", str(fixed), "--input", "data=1x1x32x32"]) == CANNOT_RUN
    assert main(["run", str(fixed), "--weights", "w.caffemodel"]) == CANNOT_RUN
    assert "--weights chooses how a spec is read or compiled" in capsys.readouterr().err
    assert main(["run", str(fixed), "--stub", "Python=identity"]) == CANNOT_RUN


@pytest.mark.parametrize("command", [["init-weights"], ["compile"], ["draw"], ["upgrade"], ["run", "--out"]])
def test_every_output_into_a_missing_folder_is_a_usage_error(command, tmp_path, capsys):
    target = tmp_path / "missing" / "out.file"
    args = [command[0], LENET, *command[1:]] + ([] if command[0] == "run" else ["-o"]) + [str(target)]
    assert main(args) == CANNOT_RUN
    assert f"the folder {tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()


def test_binaries_given_as_a_spec_are_told_apart(tmp_path, capsys):
    assert main(["compile", LENET, "-o", str(tmp_path / "m.onnx")]) == OK
    assert main(["init-weights", LENET, "-o", str(tmp_path / "w.caffemodel")]) == OK
    (tmp_path / "nul.prototxt").write_bytes(b'name: "x"\0\nlayer {}\n')
    capsys.readouterr()
    expected = {
        "m.onnx": "is an ONNX model, not a network spec: `netspec run FILE` runs it",
        "w.caffemodel": "is a binary Caffe weights file (.caffemodel)",
        "nul.prototxt": "is not a text file (byte 9 is NUL)",
    }
    for name, said in expected.items():
        assert main(["check", str(tmp_path / name)]) == CANNOT_RUN
        err = capsys.readouterr().err
        assert said in err and (name == "w.caffemodel" or "--weights" not in err)
    assert (
        main(["compile", LENET, "--weights", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "x.onnx")]) == 2
    )
    assert "is an ONNX model, not Caffe weights" in capsys.readouterr().err


def test_a_run_onnxruntime_rejects_names_the_caffe_layer_in_one_line(tmp_path, capsys):
    """A model that does not say which inputs are indices (written by an older netspec, or edited)
    fails in onnxruntime; the failure is still said in Caffe's words."""
    np.save(tmp_path / "rois.npy", np.array([[0, 0, 0, 4, 4], [4, 1, 1, 5, 5]], np.float32))
    model = tmp_path / "m.onnx"
    assert main(["compile", write(tmp_path, ROIS), "-o", str(model)]) == OK
    proto = onnx.load(str(model))
    kept = [p for p in proto.metadata_props if "index" not in p.key]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    onnx.save(proto, str(model))
    assert main(["run", str(model), "--input", f"rois={tmp_path / 'rois.npy'}"]) == SPEC_ERRORS
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "error[NS0511]" in x)
    assert line.startswith("error[NS0511]: layer 'pool' failed at run time (GatherND node 'pool/")
    assert "invalid index" in line and "batch index" in err


def test_a_wrong_shape_npy_for_a_compiled_model_is_a_usage_error_with_both_shapes(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    assert main(["compile", LENET, "-o", str(model)]) == OK
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 32, 32), np.float32))
    assert main(["run", str(model), "--input", f"data={tmp_path / 'x.npy'}"]) == CANNOT_RUN
    assert "shape 1x1x32x32, but the model's input 'data' is 1x1x28x28" in capsys.readouterr().err


def test_a_run_on_fillers_says_so_and_how_long_it_took_and_a_classifiers_top_5(capsys):
    assert main(["run", LENET]) == OK
    captured = capsys.readouterr()
    assert "weights: random, from the spec's fillers (seed 0)" in captured.err
    assert "first run: " in captured.err and "; --repeat N for steady latency" in captured.err
    assert "libcublas" not in captured.err and ".so" not in captured.err  # loader noise stays off
    top = next(line for line in captured.out.splitlines() if "top-5" in line)
    assert top.startswith("  top-5: ") and top.count("(") == 5


def test_a_repeated_run_calls_its_first_run_a_warm_up_and_prints_steady_latency(capsys):
    assert main(["run", LENET, "--repeat", "3"]) == OK
    captured = capsys.readouterr()
    assert "(warm-up, not counted below)" in captured.err and "--repeat N" not in captured.err
    assert "over 3 runs" in captured.out


def test_non_finite_outputs_are_reported_as_such_without_numpys_warning(tmp_path, capsys):
    spec = write(
        tmp_path,
        'name: "e"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 64 } } }\n'
        'layer { name: "e" type: "Exp" bottom: "data" top: "e" exp_param { scale: 200 } }\n',
    )
    assert main(["run", spec]) == OK
    captured = capsys.readouterr()
    assert "e: 1x64 float32  NOT FINITE: " in captured.out and "+inf of 64 values" in captured.out
    assert "RuntimeWarning" not in captured.err


def test_the_phase_is_taken_in_any_case(capsys):
    assert main(["check", LENET, "--phase", "TEST"]) == OK


LECTURE = (
    'name: "l"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 7 dim: 7 } } }\n'
    'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAX kernel_size: 3 stride: 3 } }\n'
)


@pytest.mark.parametrize("name", zoo_names())
def test_every_zoo_net_passes_check_werror(name, capsys):
    assert main(["check", f"zoo:{name}", "--werror"]) == OK
    assert "warning" not in capsys.readouterr().err


def test_the_lectures_bad_stride_still_warns_and_the_tiling_lint_turns_up_or_off(tmp_path, capsys):
    assert main(["check", write(tmp_path, LECTURE), "--werror"]) == SPEC_ERRORS
    err = capsys.readouterr().err
    assert "error[NS0320]: p: 3x3 window, stride 3 over 7" in err and "lint `tiling`" in err
    assert main(["check", write(tmp_path, LECTURE), "--werror", "--allow", "tiling"]) == OK
    assert "NS0320" not in capsys.readouterr().err
    assert main(["check", "zoo:mobilenet_v1", "--warn", "tiling"]) == OK
    assert "0 errors, 5 warnings" in capsys.readouterr().err


def test_repeats_of_one_diagnostic_are_said_once_with_where_the_others_are(tmp_path, capsys):
    layers = "".join(
        f'layer {{ name: "c{i}" type: "Convolution" bottom: "{"data" if i == 0 else f"c{i - 1}"}" '
        f'top: "c{i}" convolution_param {{ num_output: 2 kernel_size: 1 engine_fork: 1 }} }}\n'
        for i in range(24)
    )
    spec = write(tmp_path, LECTURE.split('layer { name: "p"')[0] + layers)
    assert main(["check", spec]) == SPEC_ERRORS
    err = capsys.readouterr().err
    assert err.count("error[NS0103]") == 1 and "... and 23 more like it, at lines 4, 5, 6," in err
    assert err.rstrip().endswith("24 errors, 0 warnings; repeats grouped (--format json lists each)")


def test_weights_of_another_net_lead_with_one_verdict_and_fit_a_screen(tmp_path, capsys):
    weights = tmp_path / "r18.caffemodel"
    assert main(["init-weights", "zoo:resnet18", "-o", str(weights)]) == OK
    capsys.readouterr()
    args = ["compile", "zoo:resnet50", "--weights", str(weights), "-o", str(tmp_path / "m.onnx")]
    assert main(args) == SPEC_ERRORS
    err = capsys.readouterr().err
    assert err.startswith(
        "error[NS0421]: 61 of the net's 160 weighted layers found their blobs by name in "
        f"{weights}; these weights look like they belong to another net"
    )
    assert "the closest names: res2a_branch1 ~ res5a_branch1" in err
    assert len(err.splitlines()) <= 50


def test_small_visible_things_say_the_right_words(tmp_path, capsys):
    assert main(["zoo", "list"]) == OK
    assert "van den Oord et al." in capsys.readouterr().out
    floor = LECTURE.replace("stride: 3 }", "stride: 3 round_mode: FLOOR }")
    assert main(["check", write(tmp_path, floor), "--warn", "tiling"]) == OK
    err = capsys.readouterr().err
    assert "Caffe pools 2 windows" in err and "convolves" not in err
    for command, name in (("draw", "n.dot"), ("report", "n.html")):
        assert main([command, LENET, "-o", str(tmp_path / name)]) == OK
        assert f"wrote {tmp_path / name}" in capsys.readouterr().err


def test_receptive_fields_after_a_resize_are_shown_rounded_and_say_why(tmp_path, capsys):
    spec = write(
        tmp_path,
        'name: "i"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 65 dim: 65 } } }\n'
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 3 stride: 2 } }\n'
        'layer { name: "up" type: "Interp" bottom: "c" top: "up" interp_param { height: 59 width: 59 } }\n',
    )
    assert main(["summary", spec]) == OK
    out = capsys.readouterr().out
    assert "5 /~1.07" in out and "a receptive field is not a whole number of input pixels" in out


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["upgrade"], "a .prototxt (V0, V1 or V2)"),
        (["check"], "text: diagnostics as a compiler prints them"),
        (["run"], "an .onnx model (compiled already)"),
    ],
)
def test_every_argument_has_help(command, said, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    assert said in " ".join(capsys.readouterr().out.split())


MANY_PYTHON = (
    'name: "py"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n'
    'layer { name: "p1" type: "Python" bottom: "data" top: "p1" python_param { module: "m" layer: "A" } }\n'
    'layer { name: "c" type: "Convolution" bottom: "p1" top: "c" convolution_param { num_output: 2 kernel_size: 3 } }\n'
    'layer { name: "p2" type: "Python" bottom: "c" top: "p2" python_param { module: "m" layer: "B" } }\n'
    'layer { name: "u" type: "FancyFork" bottom: "p2" top: "u" }\n'
    'layer { name: "r" type: "ReLU" bottom: "u" top: "r" }\n'
)


def test_stub_says_once_how_to_treat_every_python_layer_and_an_unknown_type(tmp_path, capsys):
    spec = write(tmp_path, MANY_PYTHON)
    assert main(["check", spec]) == SPEC_ERRORS
    stubs = ["--stub", "Python=identity", "--stub", "FancyFork=identity"]
    assert main(["check", spec, *stubs, "-v"]) == OK
    captured = capsys.readouterr()
    assert "outputs r 1x2x6x6" in captured.out
    assert "info[NS0206]: p1: a Python layer stubbed as --stub asked: identity" in captured.err
    out = tmp_path / "m.onnx"
    assert main(["compile", spec, *stubs, "-o", str(out)]) == OK
    model = onnx.load(str(out))
    assert [n.op_type for n in model.graph.node] == ["Conv", "Relu"]
    assert [i.name for i in model.graph.input] == ["data"]


def test_a_shape_stub_checks_but_compile_refuses_it(tmp_path, capsys):
    spec = write(tmp_path, MANY_PYTHON)
    stubs = ["--stub", "Python=identity", "--stub", "u=shape:1x2x3x3"]
    assert main(["check", spec, *stubs]) == OK
    assert "outputs r 1x2x3x3" in capsys.readouterr().out
    assert main(["compile", spec, *stubs, "-o", str(tmp_path / "m.onnx")]) == SPEC_ERRORS
    assert "error[NS0402]: u: stubbed with a shape" in capsys.readouterr().err
    assert main(["check", spec, "--stub", "Pyton=identity"]) == CANNOT_RUN
    assert "no layer and no layer type 'Pyton'; did you mean 'Python'?" in capsys.readouterr().err
    assert main(["check", spec, "--stub", "u=shape:3xfour"]) == CANNOT_RUN


def test_the_readmes_first_commands_print_no_warning(tmp_path, capsys):
    model = tmp_path / "mobilenet_v1.onnx"
    assert main(["compile", "zoo:mobilenet_v1", "-o", str(model)]) == OK
    assert main(["run", str(model), "--repeat", "2"]) == OK
    err = capsys.readouterr().err
    assert "warning" not in err.lower() and "ran on CPUExecutionProvider" in err


def test_a_report_checks_its_weights_against_the_net_as_compile_does(tmp_path, capsys):
    weights = tmp_path / "lenet.caffemodel"
    assert main(["init-weights", LENET, "-o", str(weights)]) == OK
    capsys.readouterr()
    page = tmp_path / "r.html"
    assert main(["report", "zoo:lenet5", "--weights", str(weights), "-o", str(page)]) == SPEC_ERRORS
    err = capsys.readouterr().err
    assert "error[NS04" in err and "wrote" in err
    assert "NS04" in page.read_text()


@pytest.mark.parametrize(
    "command", [["init-weights"], ["compile"], ["draw"], ["upgrade"], ["report"], ["run", "--out"]]
)
def test_an_empty_output_name_is_a_usage_error_not_the_default(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [command[0], LENET, *command[1:]] + ([] if command[0] == "run" else ["-o"]) + [""]
    assert main(args) == CANNOT_RUN
    assert "names no file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_like_diagnostics_on_one_layer_are_each_said(tmp_path, capsys):
    """A repeat is grouped with its like on other layers, never hidden behind one on its own layer:
    both tops of a Python source need --input, and each is named."""
    spec = write(
        tmp_path,
        'input: "x" input_shape { dim: 1 dim: 4 }\n'
        'layer { name: "fc" type: "InnerProduct" bottom: "x" top: "fc" inner_product_param { num_output: 2 } }\n'
        'layer { name: "data" type: "Python" top: "data" top: "label" python_param { module: "m" layer: "L" } }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "data" bottom: "label" top: "loss" }\n',
    )
    main(["check", spec])
    err = capsys.readouterr().err
    assert "pass --input data=NxCxHxW" in err and "pass --input label=NxCxHxW" in err
    assert "more like it, at layers data" not in err


def test_other_files_given_as_a_spec_say_what_they_are(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 3), np.float32))
    np.savez(tmp_path / "o.npz", a=np.zeros(2))
    (tmp_path / "u16.prototxt").write_bytes('name: "n"\n'.encode("utf-16"))
    expected = {
        "x.npy": "is a NumPy array (.npy), not a network spec: `--input NAME=FILE.npy` gives it to a net",
        "o.npz": "is a zip archive (an .npz of arrays, or zipped files), not a network spec",
        "u16.prototxt": "is UTF-16 text: save it as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 FILE`",
    }
    for name, said in expected.items():
        for command in ("check", "fmt"):
            assert main([command, str(tmp_path / name)]) == CANNOT_RUN
            assert said in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "run"])
def test_an_input_file_that_is_not_npy_is_said_so_in_plain_words(command, tmp_path, capsys):
    (tmp_path / "x.npy").write_text("1 2 3\n")
    assert main([command, LENET, "--input", f"data={tmp_path / 'x.npy'}"]) == CANNOT_RUN
    err = capsys.readouterr().err
    assert "(not a .npy file: numpy.save writes one)" in err and "pickle" not in err


def test_a_net_without_weights_is_not_said_to_run_on_random_ones(tmp_path, capsys):
    spec = write(
        tmp_path,
        'input: "data" input_shape { dim: 1 dim: 3 }\nlayer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n',
    )
    assert main(["run", spec]) == OK
    assert "random" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "summary", "compile", "run", "draw"])
def test_an_unknown_zoo_name_is_a_usage_error_with_the_nearest_names(command, capsys):
    assert main([command, "zoo:resnet5"]) == CANNOT_RUN
    assert "the zoo has no network 'resnet5'; did you mean resnet50" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--repeat", "0"], ["--repeat", "-3"], ["--threads", "0"]])
def test_a_count_below_one_is_refused_before_the_run(option, capsys):
    assert main(["run", LENET, *option]) == CANNOT_RUN
    captured = capsys.readouterr()
    assert f"{option[0]} {option[1]}: must be at least 1" in captured.err and captured.out == ""


def test_an_input_given_twice_to_a_compiled_model_is_refused(tmp_path, capsys):
    model = str(tmp_path / "m.onnx")
    assert main(["compile", LENET, "--dynamic-batch", "-o", model]) == OK
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 28, 28), np.float32))
    for second in ("data=3x1x28x28", f"data={tmp_path / 'x.npy'}"):
        capsys.readouterr()
        assert main(["run", model, "--input", "data=1x1x28x28", "--input", second]) == CANNOT_RUN
        assert "input 'data' is given twice" in capsys.readouterr().err


def test_an_input_caffe_drops_for_its_missing_shape_is_said_so_when_given(tmp_path, capsys):
    spec = write(
        tmp_path, 'name: "n"\ninput: "data"\nlayer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n'
    )
    assert main(["check", spec, "--input", "data=1x3x4x4"]) == 2
    err = capsys.readouterr().err
    assert "the net has no input 'data'; the spec declares 'data' without a shape" in err
    assert main(["check", spec, "--input", "dat=1x3x4x4"]) == 2
    assert "declares" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "name", "values", "said"),
    [
        (ROIS, "rois", [[0, 0, 0, 4, 4], [1, 0, 0, 4, 4]], "rois[1, 0] = 1 is not an index from 0 to 0"),
        (ROIS, "rois", [[-1, 0, 0, 4, 4], [0, 0, 0, 4, 4]], "rois[0, 0] = -1 is not an index from 0 to 0"),
        (
            'input: "w" input_shape { dim: 1 dim: 3 }\n'
            'layer { name: "e" type: "Embed" bottom: "w" top: "e" embed_param { input_dim: 10 num_output: 2 } }\n',
            "w",
            [[1, 12, 3]],
            "w[0, 1] = 12 is not an index from 0 to 9",
        ),
    ],
)
def test_an_input_index_out_of_range_is_said_with_its_place_and_value_before_the_run(
    text, name, values, said, tmp_path, capsys
):
    np.save(tmp_path / "x.npy", np.array(values, np.float32))
    spec = write(tmp_path, text)
    for model in (spec, str(tmp_path / "m.onnx")):
        assert main(["compile", spec, "-o", str(tmp_path / "m.onnx")]) == OK
        capsys.readouterr()
        assert main(["run", model, "--input", f"{name}={tmp_path / 'x.npy'}"]) == CANNOT_RUN
        captured = capsys.readouterr()
        assert said in captured.err and "GatherND" not in captured.err and captured.out == ""


def test_a_seed_beside_trained_weights_is_refused_by_compile(tmp_path, capsys):
    weights = str(tmp_path / "w.caffemodel")
    assert main(["init-weights", LENET, "-o", weights]) == OK
    args = ["compile", LENET, "--weights", weights, "--seed", "5", "-o", str(tmp_path / "m.onnx")]
    assert main(args) == CANNOT_RUN
    assert "--seed 5: seeds the spec's fillers, and --weights leaves none to draw" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_fmt_reads_a_zoo_net_as_every_command_does_and_never_rewrites_it(capsys):
    assert main(["fmt", "--check", LENET]) == OK
    assert main(["fmt", "-i", LENET]) == CANNOT_RUN
    assert "zoo:lenet is part of netspec: -i cannot rewrite it" in capsys.readouterr().err


def test_an_output_that_cannot_keep_its_blobs_name_says_what_it_is_called(tmp_path, capsys):
    """An input rewritten in place and read as an output: the input keeps 'data' (a user feeds it
    by that name), so the output needs another name, and compile says which."""
    spec = write(tmp_path, IN_PLACE_ON_INPUT)
    args = ["compile", spec, "--outputs", "data", "-o", str(tmp_path / "m.onnx")]
    assert main(args) == OK
    assert "warning[NS0406]: output 'data' is named 'data/scale' in the model" in capsys.readouterr().err
    assert [o.name for o in onnx.load(str(tmp_path / "m.onnx")).graph.output] == ["data/scale"]


@pytest.mark.parametrize("command", [["compile", "-o"], ["draw", "-o"], ["run", "--out"]])
def test_an_output_onto_a_device_writes_to_it_and_never_replaces_it(command, tmp_path, capsys):
    """`-o /dev/null` (here through a link to it, so that a failure cannot replace the machine's
    own): the rename that makes a file whole must not put a regular file where a device was."""
    link = tmp_path / "null.svg"
    link.symlink_to(os.devnull)
    assert main([command[0], LENET, command[1], str(link)]) == OK
    assert link.is_symlink() and os.readlink(link) == os.devnull
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize(
    "command", [["init-weights"], ["compile"], ["report"], ["run", "--out"], ["upgrade"]]
)
def test_a_dash_output_is_standard_output_or_refused_never_a_file_named_dash(
    command, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    args = [command[0], LENET, *command[1:]] + ([] if command[0] == "run" else ["-o"]) + ["-"]
    status = main(args)
    captured = capsys.readouterr()
    if command[0] == "upgrade":
        assert status == OK and captured.out.startswith('name: "LeNet"')
    else:
        assert status == CANNOT_RUN and "writes a file, and standard output is not one" in captured.err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_fork_type_holding_a_known_name_is_not_called_a_misspelling(tmp_path, capsys):
    """Yolov3DetectionOutput (MobileNet-YOLO) holds DetectionOutput, but renaming it would change
    what the net computes: the help says how to check and compile around it, and that works."""
    spec = tmp_path / "yolo.prototxt"
    spec.write_text(
        'input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
        'layer { name: "head" type: "Convolution" bottom: "data" top: "head" '
        "convolution_param { num_output: 6 kernel_size: 1 } }\n"
        'layer { name: "yolo" type: "Yolov3DetectionOutput" bottom: "head" top: "det" }\n'
    )
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "did you mean" not in err and "nor a misspelt 'DetectionOutput'" in err
    assert "--stub Yolov3DetectionOutput=shape:DIMS" in err and "--outputs head" in err
    out = tmp_path / "yolo.onnx"
    stub = ["--stub", "Yolov3DetectionOutput=shape:1x1x1x7", "--outputs", "head"]
    assert main(["compile", str(spec), *stub, "-o", str(out)]) == 0
    assert [o.name for o in onnx.load(str(out)).graph.output] == ["head"]


FORK_BLOCK = (
    'input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
    'layer { name: "head" type: "Convolution" bottom: "data" top: "head" '
    "convolution_param { num_output: 6 kernel_size: 1 } }\n"
    'layer { name: "yolo" type: "Yolov3DetectionOutput" bottom: "head" top: "det"\n'
    "  yolov3_detection_output_param { confidence_threshold: 0.3 } }\n"
)


def test_an_unknown_types_own_param_block_is_said_in_its_ns0309_not_as_a_second_error(tmp_path, capsys):
    """A fork's type carries the fork's block (yolov3_detection_output_param): it is part of the
    one NS0309 about the type, not an NS0103 of its own."""
    assert main(["check", write(tmp_path, FORK_BLOCK)]) == SPEC_ERRORS
    err = capsys.readouterr().err
    assert "error[NS0309]" in err and "NS0103" not in err and "1 error," in err
    assert "yolov3_detection_output_param { }: not a BVLC Caffe field" in err


def test_a_solvers_embedded_net_takes_the_fork_block_back_as_a_plain_net_does(tmp_path, capsys):
    """The marks on a net's layers move with it into a solver's net_param, the fork blocks too."""
    solver = "base_lr: 0.01\nnet_param {\n" + FORK_BLOCK + "}\n"
    assert main(["check", write(tmp_path, solver)]) == SPEC_ERRORS
    err = capsys.readouterr().err
    assert "error[NS0309]" in err and "NS0103" not in err and "1 error," in err


def test_a_stubbed_fork_type_with_its_own_block_checks_and_compiles_above_it(tmp_path, capsys):
    """The NS0309 recipe works on a file whose fork layer has its block: --stub checks the net,
    and --outputs its bottoms compiles a model that passes ONNX's full check."""
    spec = write(tmp_path, FORK_BLOCK)
    stub = ["--stub", "Yolov3DetectionOutput=shape:1x1x100x7"]
    assert main(["check", spec, *stub]) == OK
    err = capsys.readouterr().err
    assert "NS0206" in err and "yolov3_detection_output_param { }" in err and "error[" not in err
    out = tmp_path / "yolo.onnx"
    assert main(["compile", spec, *stub, "--outputs", "head", "-o", str(out)]) == OK
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["head"]


def test_an_unknown_block_on_a_known_type_stays_an_error_even_beside_a_stub(tmp_path, capsys):
    """Only the stubbed or unknown layer's block is taken as a fork's: the same block on a
    Convolution is still NS0103."""
    text = FORK_BLOCK.replace("convolution_param {", "yolov3_detection_output_param { } convolution_param {")
    assert main(["check", write(tmp_path, text), "--stub", "Yolov3DetectionOutput=shape:1x7"]) == SPEC_ERRORS
    err = capsys.readouterr().err
    assert err.count("error[NS0103]") == 1 and "in LayerParameter" in err
