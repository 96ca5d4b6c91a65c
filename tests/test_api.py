"""The Python API: netspec.check -> netspec.compile -> netspec.run, as README shows it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from oracles import analyse, random_weights, rel_error, run_opencv, write_caffemodel

import netspec
from netspec.runtime import RunError

SPEC = """name: "api"
input: "data" input_shape { dim: 2 dim: 3 dim: 11 dim: 11 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 stride: 2 } }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc" inner_product_param { num_output: 5 } }
"""


def test_check_compile_run_with_a_caffemodel_gives_opencvs_numbers(tmp_path):
    spec = tmp_path / "api.prototxt"
    spec.write_text(SPEC)
    weights = random_weights(analyse(SPEC)[0], seed=3)
    write_caffemodel(tmp_path / "api.caffemodel", SPEC, weights)
    checked = netspec.check(str(spec))
    assert not checked.diagnostics.has_errors
    assert [checked.analysis.shape(b) for b in checked.analysis.net.outputs] == [(2, 5)]
    model = netspec.compile(checked, weights=str(tmp_path / "api.caffemodel"))
    onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 11, 11)).astype(np.float32)
    ours = netspec.run(model, {"data": x}, provider="cpu")
    ref = run_opencv(SPEC, weights, {"data": x}, ["fc"])
    assert rel_error(ours["fc"], ref["fc"]) <= 1e-5


def test_compile_of_a_spec_with_errors_is_none_with_the_reasons():
    checked = netspec.check("bad.prototxt", content=SPEC.replace("kernel_size: 3 stride: 2 }", "}"))
    assert netspec.compile(checked) is None
    assert [d.code for d in checked.diagnostics.errors]


def test_compile_refuses_an_opset_netspec_cannot_write():
    with pytest.raises(ValueError, match="opset 7: netspec writes opsets 13 to"):
        netspec.compile(netspec.check("api.prototxt", content=SPEC), opset=7)


def test_run_fills_missing_inputs_and_reports_bad_ones_as_run_errors():
    model = netspec.compile(netspec.check("api.prototxt", content=SPEC))
    assert netspec.run(model, provider="cpu")["fc"].shape == (2, 5)
    with pytest.raises(RunError) as raised:
        netspec.run(model, {"dta": np.zeros((2, 3, 11, 11), np.float32)}, provider="cpu")
    assert raised.value.code == "NS0503" and "did you mean 'data'?" in raised.value.help


def test_importing_netspec_loads_no_stage():
    code = "import sys, netspec; print(sorted(m for m in sys.modules if m.startswith(('netspec.', 'onnx'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_compile_runs_the_onnx_checker_where_the_model_is_made(monkeypatch):
    """The API's models pass ONNX's full check as the CLI's do: one it refuses is NS0499, no model."""
    import onnx

    import netspec

    def refuse(model, full_check=False):
        assert full_check
        raise onnx.checker.ValidationError("refused for the test")

    monkeypatch.setattr(onnx.checker, "check_model", refuse)
    checked = netspec.check("zoo:lenet")
    assert netspec.compile(checked) is None
    assert [d.code for d in checked.diagnostics.errors] == ["NS0499"]
    assert "refused for the test" in checked.diagnostics.errors[0].message
