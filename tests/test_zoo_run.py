"""Every zoo spec compiles at its input size with its fillers' weights and runs on onnxruntime's CPU.

Each runs once at batch 1 (the big ones, VGG, FCN and ResNet-152, take a few seconds each on two
cores): its outputs have the shapes the checker computed (on an axis the ONNX model leaves symbolic,
mobilenet_ssd's detection rows, at most the checker's size), and are finite.  This is the only run of
the extension specs (segnet_basic, wavenet_causal), which no reference reads; test_zoo_parity.py
compares the others' values with OpenCV and Caffe.
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
    for out, declared, (blob, shape) in zip(outputs, session.get_outputs(), expected.items()):
        # an axis the model leaves symbolic (DetectionOutput's rows) holds at most the checker's size
        assert len(out.shape) == len(shape), blob
        for size, bound, axis in zip(out.shape, shape, declared.shape):
            assert size <= bound if isinstance(axis, str) else size == bound, (blob, out.shape, shape)
        assert np.isfinite(out).all(), blob
