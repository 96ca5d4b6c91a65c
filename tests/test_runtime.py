"""Running ONNX models: provider choice that tells the truth, sessions, inputs from files, timing."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from netspec import runtime
from netspec.runtime import CPU, CUDA, RunError, RuntimeUnavailable

needs_cuda = pytest.mark.skipif(
    not runtime.cuda_really_available(), reason="no CUDA device/libraries on this machine"
)
no_cuda = pytest.mark.skipif(runtime.cuda_really_available(), reason="CUDA works on this machine")


def conv_model(batch: int | str = 2, seed: int = 0) -> onnx.ModelProto:
    """x (batch, 3, 16, 16) -> Conv 3x3 (8 filters) -> Relu -> y; a fixed-seed model written by hand."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8, 16, 16])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def reference(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The conv model in numpy: zero padding 1, stride 1, then ReLU."""
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    w, b = weights["w"].astype(np.float64), weights["b"].astype(np.float64)
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # n c h w 3 3
    return np.maximum(np.einsum("nchwij,ocij->nohw", windows, w) + b[None, :, None, None], 0)


# ---- provider choice -------------------------------------------------------------------------------------


@no_cuda
def test_auto_picks_cpu_here_without_the_loaders_words():
    providers, note = runtime.choose_providers("auto")
    assert providers == [CPU]
    assert note == "no usable CUDA device; `--provider cuda` says why"
    assert len(runtime.probe_cuda()[1]) > 5  # the reason is kept for --provider cuda (NS0500)


@no_cuda
def test_explicit_cuda_raises_a_clear_error_here():
    with pytest.raises(RuntimeUnavailable) as raised:
        runtime.choose_providers("cuda")
    problem = raised.value
    assert problem.code == "NS0500"
    assert problem.message.startswith("CUDA was asked for but cannot be used here: ")
    assert "pip install 'onnxruntime-gpu[cuda,cudnn]'" in problem.help and "cuDNN 9" in problem.help
    assert problem.diagnostic().code == "NS0500"


def test_auto_choice_keeps_onnxruntime_quiet(capfd):
    runtime.probe_cuda.cache_clear()  # probe again, inside the capture
    runtime.choose_providers("auto")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_the_probe_is_cached_per_process():
    assert runtime.probe_cuda() is runtime.probe_cuda()


def test_cpu_when_asked():
    assert runtime.choose_providers("cpu") == ([CPU], "as asked")


def test_unknown_provider_kind_suggests_the_nearest():
    with pytest.raises(RunError) as raised:
        runtime.choose_providers("cdua")
    assert raised.value.code == "NS0501" and raised.value.message == "unknown provider 'cdua'"
    assert raised.value.help == "did you mean 'cuda'?"


# ---- sessions --------------------------------------------------------------------------------------------


def test_cpu_session_describes_provider_and_options():
    _, info = runtime.session(conv_model(), [CPU], note="as asked", threads=1)
    assert str(info) == "ran on CPUExecutionProvider (as asked); graph optimisation: all; threads: 1"


def test_session_options_for_debugging_and_benchmarks_are_described():
    _, info = runtime.session(conv_model(), [CPU], threads=2, fast=False, spinning=False)
    assert str(info) == (
        "ran on CPUExecutionProvider; graph optimisation: none; threads: 2; thread spinning: off"
    )


def test_cuda_is_asked_for_float32_unless_tf32_is_wanted():
    assert runtime.provider_options([CUDA, CPU]) == [(CUDA, {"use_tf32": "0"}), CPU]
    assert runtime.provider_options([CUDA, CPU], tf32=True) == [(CUDA, {"use_tf32": "1"}), CPU]
    assert runtime.provider_options([CPU], tf32=True) == [CPU]


def test_cuda_sessions_say_whether_tf32_was_used():
    info = runtime.SessionInfo(CUDA, "all", 16, True, "as asked", tf32=False)
    assert (
        str(info)
        == "ran on CUDAExecutionProvider (as asked); graph optimisation: all; threads: 16; TF32: off"
    )
    assert str(info).replace("off", "on") == str(
        runtime.SessionInfo(CUDA, "all", 16, True, "as asked", tf32=True)
    )


def test_threads_default_to_physical_cores():
    _, info = runtime.session(conv_model(), [CPU])
    assert info.threads == runtime.physical_cores()
    assert 1 <= info.threads <= (os.cpu_count() or 1)


@no_cuda
def test_auto_session_says_why_it_ran_on_cpu():
    providers, note = runtime.choose_providers("auto")
    _, info = runtime.session(conv_model(), providers, note=note)
    assert str(info).startswith("ran on CPUExecutionProvider (no usable CUDA device; ")


def test_session_from_a_path_and_from_bytes(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(conv_model(), path)
    x = runtime.random_feeds(conv_model(), seed=3)
    from_path, _ = runtime.session(str(path), [CPU])
    from_bytes, _ = runtime.session(path.read_bytes(), [CPU])
    assert np.array_equal(runtime.run(from_path, x)["y"], runtime.run(from_bytes, x)["y"])


def test_missing_or_broken_model_files_are_clear_errors(tmp_path):
    with pytest.raises(RunError) as missing:
        runtime.session(str(tmp_path / "nope.onnx"), [CPU])
    assert (
        missing.value.code == "NS0509" and missing.value.message == f"{tmp_path / 'nope.onnx'}: no such file"
    )
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(RunError) as bad:
        runtime.session(str(broken), [CPU])
    assert bad.value.code == "NS0509" and bad.value.message.startswith("onnxruntime cannot load the model: ")


def test_run_matches_a_numpy_reference():
    model = conv_model()
    sess, _ = runtime.session(model, [CPU])
    feeds = runtime.random_feeds(sess, seed=1)
    assert feeds["x"].shape == (2, 3, 16, 16) and feeds["x"].dtype == np.float32
    out = runtime.run(sess, feeds)
    assert list(out) == ["y"]
    ref = reference(model, feeds["x"])
    assert np.abs(out["y"] - ref).max() / np.abs(ref).max() <= 1e-5


def test_random_feeds_give_dynamic_dims_the_batch_and_follow_the_seed():
    model = conv_model(batch="N")
    feeds = runtime.random_feeds(model, seed=4, batch=5)
    assert feeds["x"].shape == (5, 3, 16, 16)
    assert np.array_equal(feeds["x"], runtime.random_feeds(model, seed=4, batch=5)["x"])
    assert not np.array_equal(feeds["x"], runtime.random_feeds(model, seed=5, batch=5)["x"])


def test_random_feeds_keep_a_static_zero_dim():
    """0 is a size (an empty batch), not a dynamic dim: onnxruntime insists on it."""
    assert runtime.random_feeds(conv_model(batch=0))["x"].shape == (0, 3, 16, 16)


def test_random_feeds_too_large_to_allocate_are_a_clear_error():
    """An input of 2**50 batches cannot be drawn: a RunError that says how large, not numpy's error."""
    with pytest.raises(RunError) as problem:
        runtime.random_feeds(conv_model(batch=2**50))
    assert problem.value.code == "NS0512" and "input 'x' 1125899906842624x3x16x16" in problem.value.message
    assert "--batch" in problem.value.help


def test_run_names_missing_and_unknown_inputs():
    sess, _ = runtime.session(conv_model(), [CPU])
    with pytest.raises(RunError) as missing:
        runtime.run(sess, {})
    assert (
        missing.value.code == "NS0508" and missing.value.message == "no value given for the model input 'x'"
    )
    with pytest.raises(RunError) as unknown:
        runtime.run(sess, {"x": np.zeros((2, 3, 16, 16), np.float32), "z": np.zeros(1, np.float32)})
    assert unknown.value.code == "NS0503" and unknown.value.message == "feeds: the model has no input 'z'"


def test_time_reports_median_min_and_throughput():
    sess, _ = runtime.session(conv_model(batch=4), [CPU], threads=1)
    stats = runtime.time(sess, runtime.random_feeds(sess), repeat=5)
    assert stats["repeat"] == 5 and stats["batch"] == 4
    assert 0 < stats["min_ms"] <= stats["median_ms"]
    assert stats["throughput_per_s"] == pytest.approx(4 * 1000 / stats["median_ms"])
    with pytest.raises(RunError, match="repeat 0: must be at least 1"):
        runtime.time(sess, runtime.random_feeds(sess), repeat=0)


@needs_cuda
def test_cuda_output_matches_cpu():
    model = conv_model(batch=4)
    providers, note = runtime.choose_providers("cuda")
    gpu, info = runtime.session(model, providers, note=note)
    assert info.provider == CUDA and str(info).startswith("ran on CUDAExecutionProvider")
    cpu, _ = runtime.session(model, [CPU])
    feeds = runtime.random_feeds(cpu, seed=2)
    ours, ref = runtime.run(gpu, feeds)["y"], runtime.run(cpu, feeds)["y"]
    assert np.abs(ours - ref).max() / np.abs(ref).max() <= 1e-4
    assert runtime.choose_providers("auto")[0] == [CUDA, CPU]


# ---- inputs from .npy files ------------------------------------------------------------------------------


@pytest.fixture
def model_session():
    return runtime.session(conv_model(batch="N"), [CPU])[0]


def test_inputs_load_from_npy_with_dynamic_batch(tmp_path, model_session):
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    feeds, notes = runtime.load_inputs([f"x={tmp_path / 'x.npy'}"], model_session)
    assert np.array_equal(feeds["x"], x) and notes == []
    assert runtime.run(model_session, feeds)["y"].shape == (3, 8, 16, 16)


def test_float64_inputs_are_cast_with_a_note(tmp_path, model_session):
    np.save(tmp_path / "x.npy", np.ones((1, 3, 16, 16)))
    spec = f"x={tmp_path / 'x.npy'}"
    feeds, notes = runtime.load_inputs([spec], model_session)
    assert feeds["x"].dtype == np.float32
    assert notes == [f"--input {spec}: float64 values cast to float32, the model's input type"]


def test_inputs_of_a_model_and_of_its_session_agree():
    model = conv_model(batch="N")
    from_model = runtime.inputs_of(model)
    from_session = runtime.inputs_of(runtime.session(model, [CPU])[0])
    assert [(s.name, s.dtype) for s in from_model] == [(s.name, s.dtype) for s in from_session]
    assert from_model[0].shape == ("N", 3, 16, 16) and from_session[0].shape == ("N", 3, 16, 16)


def input_error(tmp_path, model_session, spec: str, array=None) -> RunError:
    if array is not None:
        np.save(tmp_path / "in.npy", array)
    with pytest.raises(RunError) as raised:
        runtime.load_inputs([spec.replace("FILE", str(tmp_path / "in.npy"))], model_session)
    return raised.value


def test_input_catalogue_missing_file(tmp_path, model_session):
    e = input_error(tmp_path, model_session, "x=FILE")
    assert (e.code, e.message) == ("NS0502", f"--input x={tmp_path / 'in.npy'}: no such file")


def test_input_catalogue_not_name_equals_file(tmp_path, model_session):
    e = input_error(tmp_path, model_session, "FILE")
    assert e.code == "NS0507" and e.message.endswith(": expected NAME=FILE.npy")


def test_input_catalogue_unknown_name_suggests_the_nearest(tmp_path, model_session):
    e = input_error(tmp_path, model_session, "xx=FILE", np.zeros((1, 3, 16, 16), np.float32))
    assert e.code == "NS0503" and e.message.endswith(": the model has no input 'xx'")
    assert e.help == "did you mean 'x'? its inputs: x"


def test_input_catalogue_wrong_shape(tmp_path, model_session):
    e = input_error(tmp_path, model_session, "x=FILE", np.zeros((1, 3, 15, 16), np.float32))
    assert e.code == "NS0504"
    assert e.message == (
        f"--input x={tmp_path / 'in.npy'}: shape 1x3x15x16, but the model's input 'x' is Nx3x16x16"
    )


def test_input_catalogue_wrong_rank(tmp_path, model_session):
    e = input_error(tmp_path, model_session, "x=FILE", np.zeros((3, 16, 16), np.float32))
    assert e.code == "NS0504" and "shape 3x16x16" in e.message


def test_input_catalogue_wrong_dtype(tmp_path, model_session):
    e = input_error(tmp_path, model_session, "x=FILE", np.zeros((1, 3, 16, 16), np.int32))
    assert e.code == "NS0505"
    assert e.message.endswith(": the array is int32, the model's input 'x' is float32")
    assert e.help == "save it with array.astype(numpy.float32)"


def test_input_catalogue_not_an_npy_file(tmp_path, model_session):
    (tmp_path / "in.npy").write_text("1 2 3")
    e = input_error(tmp_path, model_session, "x=FILE")
    assert e.code == "NS0502" and "cannot read it as a .npy array" in e.message


def test_input_catalogue_empty_file(tmp_path, model_session):
    (tmp_path / "in.npy").write_bytes(b"")
    e = input_error(tmp_path, model_session, "x=FILE")
    assert e.code == "NS0502" and "cannot read it as a .npy array (No data left in file)" in e.message


def test_input_catalogue_npz_archive(tmp_path, model_session):
    np.savez(tmp_path / "in.npz", x=np.zeros(3))
    with pytest.raises(RunError) as raised:
        runtime.load_inputs([f"x={tmp_path / 'in.npz'}"], model_session)
    assert raised.value.code == "NS0502" and raised.value.message.endswith(
        "is an .npz archive, not one array"
    )


def test_input_catalogue_given_twice(tmp_path, model_session):
    np.save(tmp_path / "in.npy", np.zeros((1, 3, 16, 16), np.float32))
    spec = f"x={tmp_path / 'in.npy'}"
    with pytest.raises(RunError) as raised:
        runtime.load_inputs([spec, spec], model_session)
    assert raised.value.code == "NS0507" and raised.value.message.endswith("input 'x' is given twice")


def test_a_model_failing_mid_run_is_one_ns0511_and_onnxruntime_logs_nothing(capfd):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])
    shape = numpy_helper.from_array(np.array([3], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")], "g", [x], [y], [shape]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sess, _ = runtime.session(model, [CPU])
    capfd.readouterr()
    with pytest.raises(RunError) as raised:
        runtime.run(sess, {"x": np.ones((2, 4), np.float32)})
    assert raised.value.code == "NS0511"
    assert raised.value.message == (
        "layer 'r' failed at run time (Reshape node 'r'): The input tensor cannot be reshaped to the "
        "requested shape. Input shape:{2,4}, requested shape:{3}"
    )
    out, err = capfd.readouterr()
    assert out == "" and err == ""
