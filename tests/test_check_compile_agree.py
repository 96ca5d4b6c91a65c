"""`check` and `compile` give one answer: whatever check accepts, compile compiles (leaving out the
training-only layers, as it says), and an exit status 1 always comes with an error saying why."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from oracles import CORPUS

from netspec import weights
from netspec.cli import SPEC_ERRORS, main


def _corpus() -> list[str]:
    if not CORPUS.is_dir():
        return []
    with open(CORPUS / "MANIFEST.tsv") as handle:
        return [str(CORPUS / row["local_path"]) for row in csv.DictReader(handle, delimiter="\t")]


FILES = _corpus()


@pytest.fixture
def quick_fillers(monkeypatch):
    """Weights of a realistic scale without drawing millions of random numbers: the question here is
    whether compile agrees with check, not what the model computes."""

    def level(rng, low, high, shape):
        return np.full(shape, np.float32((low + high) / 2 or 0.01), dtype=np.float32)

    monkeypatch.setattr(weights, "_draw_uniform", level)
    monkeypatch.setattr(weights, "_draw_normal", lambda rng, mean, std, shape: level(rng, mean, std, shape))


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared corpus is absent ({CORPUS})")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.replace(str(CORPUS) + "/", ""))
def test_compile_accepts_what_check_accepts(path, tmp_path, capsys, quick_fillers):
    checked = main(["check", path])
    check_err = capsys.readouterr().err
    compiled = main(["compile", path, "-o", str(tmp_path / "m.onnx")])
    compile_err = capsys.readouterr().err
    assert (checked == 0) == (compiled == 0), f"check {checked}, compile {compiled}:\n{compile_err}"
    for status, err in ((checked, check_err), (compiled, compile_err)):
        if status == SPEC_ERRORS:
            assert "error[" in err, err


INPUT = 'input: "data" input_shape { dim: 1 dim: 10 }\n'
EDGE_NETS = {
    "no layers": 'name: "empty"  # truncated\n',
    "only training layers": INPUT
    + 'input: "label" input_shape { dim: 1 }\n'
    + 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "data" bottom: "label" top: "loss" }\n',
    "a Python source read only by a loss": 'layer { name: "data" type: "Python" top: "data" top: "label" '
    'python_param { module: "m" layer: "L" } }\n'
    'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "data" bottom: "label" top: "loss" }\n',
    "only a Silence": INPUT + 'layer { name: "s" type: "Silence" bottom: "data" }\n',
    "two weighted layers of one name": INPUT
    + 'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "a" inner_product_param { num_output: 2 } }\n'
    + 'layer { name: "fc" type: "InnerProduct" bottom: "a" top: "b" inner_product_param { num_output: 2 } }\n',
}


@pytest.mark.parametrize("text", EDGE_NETS.values(), ids=EDGE_NETS.keys())
def test_check_and_compile_agree_on_nets_that_compute_nothing_or_share_a_weighted_name(
    text, tmp_path, capsys
):
    spec = tmp_path / "net.prototxt"
    spec.write_text(text)
    checked = main(["check", str(spec)])
    check_err = capsys.readouterr().err
    compiled = main(["compile", str(spec), "-o", str(tmp_path / "m.onnx")])
    compile_err = capsys.readouterr().err
    assert (checked == 0) == (compiled == 0), (
        f"check {checked}, compile {compiled}:\n{check_err}\n{compile_err}"
    )
    for status, err in ((checked, check_err), (compiled, compile_err)):
        assert status != SPEC_ERRORS or "error[" in err, err
