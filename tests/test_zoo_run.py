"""Every zoo spec compiles at its input size with its fillers' weights and runs on onnxruntime's CPU.

Each runs once at batch 1 (the big ones, VGG, FCN and ResNet-152, take a few seconds each on two
cores): its outputs have the shapes the checker computed, and are finite.  This is the only run of the
extension specs (segnet_basic, wavenet_causal), which no reference reads; test_zoo_parity.py compares
the others' values with OpenCV and Caffe.
"""

from __future__ import annotations

import numpy as np
import pytest

from netspec import zoo
from netspec.diagnostics import Diagnostics, render_all
from netspec.lower import lower
from netspec.pipeline import check
from netspec.weights import bind


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_spec_compiles_and_runs_with_finite_outputs(name):
    import onnxruntime as ort

    checked = check(zoo.path(name))
    assert not checked.diagnostics.errors, render_all(checked.diagnostics, checked.spec.sources)
    analysis = checked.analysis
    diagnostics = Diagnostics()
    model = lower(analysis, bind(analysis, None, diagnostics), diagnostics)
    assert model is not None and not diagnostics.errors, render_all(diagnostics)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    shape = zoo.ENTRIES[name]["input"]
    if name in ("deepbind", "wavenet_causal"):  # one-hot sequences
        data = np.eye(shape[1], dtype=np.float32)[rng.integers(0, shape[1], shape[-1])].T.reshape(shape)
    else:
        data = rng.standard_normal(shape).astype(np.float32)
    (feed,) = session.get_inputs()
    outputs = session.run(None, {feed.name: data})
    expected = {b.name: analysis.shape(b) for b in analysis.net.outputs}
    assert [o.name for o in session.get_outputs()] == list(expected)
    for out, (blob, shape) in zip(outputs, expected.items()):
        assert out.shape == shape, blob
        assert np.isfinite(out).all(), blob
