"""Independent references for parity tests, and the compile-and-run helpers they share.

The references are implementations netspec did not write: OpenCV's Caffe
importer (cv2.dnn) and real BVLC Caffe (pycaffe, built by
../shared/oracle/caffe/build.sh into /opt/caffe, run in its own process
because its caffe_pb2 and ours cannot share one).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from netspec.diagnostics import Diagnostics, Severity, render_all
from netspec.infer import Analysis
from netspec.lower import Options, lower
from netspec.pipeline import check
from netspec.proto import caffe_pb2

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
CAFFE_PYTHON = Path(os.environ.get("NETSPEC_CAFFE_PYTHON", "/opt/caffe/venv/bin/python3"))
CAFFE_MISSING = "BVLC Caffe oracle not built (run ../shared/oracle/caffe/build.sh)"


def caffe_available() -> bool:
    return CAFFE_PYTHON.exists()


needs_caffe = pytest.mark.skipif(not caffe_available(), reason=CAFFE_MISSING)
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared corpus is absent ({CORPUS})")


def analyse(
    text: str, *, batch: int | None = None, inputs: dict | None = None, name: str = "net.prototxt"
) -> tuple[Analysis, Diagnostics]:
    checked = check(name, content=text, batch=batch, inputs=inputs)
    assert checked.analysis is not None, render_all(checked.diagnostics, checked.spec.sources)
    return checked.analysis, checked.diagnostics


def random_weights(analysis: Analysis, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Weights of realistic scale for every layer: He-scaled weights, small biases,
    positive variances, a BatchNorm scale factor other than 1.  Never all zeros.  Drawn as
    float32 directly, not drawn as float64 and cast."""
    rng = np.random.default_rng(seed)
    f32 = np.float32

    def normal(shape, scale: float) -> np.ndarray:
        return rng.standard_normal(shape, dtype=f32) * f32(scale)

    def uniform(shape, low: float, high: float) -> np.ndarray:
        return rng.random(shape, dtype=f32) * f32(high - low) + f32(low)

    out: dict[str, list[np.ndarray]] = {}
    for info in analysis.layers:
        blobs = []
        for spec in info.weights:
            shape = spec.shape
            if spec.name == "variance":
                a = uniform(shape, 0.5, 2.0)
            elif spec.name == "scale_factor":
                a = np.full(shape, 0.999, dtype=f32)
            elif spec.name == "mean":
                a = normal(shape, 0.5)
            elif len(shape) >= 2:
                fan_in = int(np.prod(shape[1:])) or 1
                a = normal(shape, np.sqrt(2.0 / fan_in))
            elif spec.name in ("scale", "slopes"):
                a = uniform(shape, 0.5, 1.5)
            else:
                a = normal(shape, 0.1)
            blobs.append(a)
        if blobs:
            out[info.layer.name] = blobs
    return out


def compile_text(
    text: str,
    weights: dict | None = None,
    *,
    batch: int | None = None,
    opset: int = 22,
    dynamic_batch: bool = False,
    seed: int = 0,
    inputs: dict | None = None,
    fold: bool = True,
    outputs: tuple[str, ...] = (),
):
    """(model, analysis, diagnostics) for a prototxt text; the model passes ONNX's full check."""
    analysis, diagnostics = analyse(text, batch=batch, inputs=inputs)
    weights = random_weights(analysis, seed) if weights is None else weights
    options = Options(opset=opset, dynamic_batch=dynamic_batch, fold=fold, outputs=outputs)
    model = lower(analysis, weights, diagnostics, options)
    assert model is not None, render_all(diagnostics)
    onnx.checker.check_model(model, full_check=True)
    return model, analysis, diagnostics


def run_onnx(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def write_caffemodel(path: str | Path, text: str, weights: dict[str, list[np.ndarray]]) -> None:
    """The prototxt's layers (upgraded to V2, as Caffe reads V0/V1 files) with `weights` as
    their blobs, in Caffe's binary format."""
    from google.protobuf import text_format

    from netspec.caffemodel import write_weights
    from netspec.frontend.upgrade import upgrade
    from netspec.source import SourceMap

    net = upgrade(text_format.Parse(text, caffe_pb2.NetParameter()), SourceMap(), Diagnostics())
    write_weights(
        str(path), net, {k: v for k, v in weights.items() if any(layer.name == k for layer in net.layer)}
    )


def run_opencv(text: str, weights: dict, feeds: dict[str, np.ndarray], outputs: list[str]) -> dict:
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        proto, model = Path(tmp, "net.prototxt"), Path(tmp, "net.caffemodel")
        proto.write_text(text)
        write_caffemodel(model, text, weights)
        net = cv2.dnn.readNetFromCaffe(str(proto), str(model))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.enableFusion(False)  # every layer keeps its own output, as in Caffe
    for name, array in feeds.items():
        net.setInput(np.ascontiguousarray(array), name)
    results = net.forward(outputs)
    return dict(zip(outputs, results))


def _caffe(
    text: str, weights: dict | None, feeds: dict[str, np.ndarray], *options: str
) -> dict[str, np.ndarray]:
    """The arrays tests/caffe_forward.py writes for the net `text` (skips when Caffe is not built)."""
    if not caffe_available():
        pytest.skip(CAFFE_MISSING)
    with tempfile.TemporaryDirectory() as tmp:
        proto, model = Path(tmp, "net.prototxt"), Path(tmp, "net.caffemodel")
        proto.write_text(text)
        if weights is not None:
            write_caffemodel(model, text, weights)
        np.savez(Path(tmp, "in.npz"), **feeds)
        done = subprocess.run(
            [
                str(CAFFE_PYTHON),
                str(ROOT / "tests" / "caffe_forward.py"),
                str(proto),
                str(model) if weights is not None else "-",
                str(Path(tmp, "in.npz")),
                str(Path(tmp, "out.npz")),
                *options,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "GLOG_minloglevel": "2"},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        with np.load(Path(tmp, "out.npz")) as out:
            return {name: out[name] for name in out.files}


def run_caffe(text: str, weights: dict | None, feeds: dict[str, np.ndarray], outputs: list[str]) -> dict:
    """Every requested blob after one forward pass in real Caffe; skips when Caffe is not built.
    Only those blobs come back from Caffe's process (all of FCN-32s's would be 650 MB)."""
    return _caffe(text, weights, feeds, "--blobs", *outputs)


def caffe_param_shapes(text: str) -> dict[str, list[tuple[int, ...]]]:
    """The shapes of every layer's parameter blobs as real Caffe makes them (pycaffe's net.params),
    by layer name; no forward pass.  Skips when Caffe is not built."""
    found = _caffe(text, None, {}, "--params")
    shapes: dict[str, list[tuple[int, ...]]] = {}
    for key, shape in found.items():  # "LAYER/i", in Caffe's layer and blob order
        shapes.setdefault(key.rsplit("/", 1)[0], []).append(tuple(int(d) for d in shape))
    return shapes


def diagnostic(text: str, code: str):
    """The first diagnostic with `code` that checking `text` gives (the test fails, listing
    what was found, when there is none): the subject of a broken-spec catalogue case."""
    found = list(check("t.prototxt", content=text).diagnostics)
    hits = [d for d in found if d.code == code]
    assert hits, f"no {code} in {[(d.code, d.message) for d in found]}"
    return hits[0]


def position(text: str, token: str, occurrence: int = 1, *, after: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the n-th occurrence of `token` in `text` at or after offset `after`:
    where a diagnostic about that token must point."""
    at = after - 1
    for _ in range(occurrence):
        at = text.index(token, at + 1)
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1


def assert_diagnosed(
    text: str, code: str, at: tuple[int, int], words: list[str], *, severity=Severity.ERROR
) -> None:
    """A broken-spec catalogue case: checking `text` gives `code`, of `severity`, at (line, column)
    `at` (each test file's `position` rule finds it), and its message or help says each of `words`."""
    d = diagnostic(text, code)
    assert d.severity is severity
    assert (d.span.line, d.span.column) == at
    said = f"{d.message} {d.help or ''}"
    for word in words:
        assert word in said, f"{word!r} not in {said!r}"


def rel_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """Max abs error relative to the reference's largest magnitude."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"shape {ours.shape} != reference {ref.shape}"
    scale = np.abs(ref).max()
    return float(np.abs(ours - ref).max() / (scale if scale > 0 else 1.0))


def random_inputs(analysis: Analysis, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal values for every input a layer reads; whole numbers below the bound for
    those read as indices (Embed's, BatchReindex's)."""
    rng = np.random.default_rng(seed)
    bounds = analysis.index_bounds()
    feeds = {}
    for info in analysis.layers:
        if info.kind is not None and info.kind.source:
            for blob, shape in zip(info.layer.tops, info.tops):
                if shape is not None and blob.consumers:
                    feeds[blob.name] = (
                        rng.integers(0, bounds[blob.name], shape).astype(np.float32)
                        if blob.name in bounds
                        else rng.standard_normal(shape).astype(np.float32)
                    )
    return feeds


def check_shapes_match_onnx(model: onnx.ModelProto) -> None:
    """ONNX's own shape inference agrees with every shape netspec declared."""
    declared = {vi.name: vi for vi in list(model.graph.value_info) + list(model.graph.output)}
    stripped = onnx.ModelProto()
    stripped.CopyFrom(model)
    del stripped.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(stripped, strict_mode=True)
    found = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for name, vi in declared.items():
        ours = [d.dim_value or d.dim_param for d in vi.type.tensor_type.shape.dim]
        theirs = [d.dim_value or d.dim_param for d in found[name].type.tensor_type.shape.dim]
        assert ours == theirs, f"{name}: netspec says {ours}, ONNX infers {theirs}"


__all__ = [
    "CORPUS",
    "analyse",
    "caffe_param_shapes",
    "check_shapes_match_onnx",
    "compile_text",
    "needs_caffe",
    "needs_corpus",
    "random_inputs",
    "random_weights",
    "rel_error",
    "run_caffe",
    "run_onnx",
    "run_opencv",
]


def rows_by_label(a: np.ndarray) -> np.ndarray:
    """Detection rows ordered as the fork writes them: image, label, then score descending.
    (OpenCV orders by score and pads with zero rows up to keep_top_k.)"""
    a = a.reshape(-1, 7)
    a = a[a[:, 2] != 0]
    return a[np.lexsort((-a[:, 2], a[:, 1], a[:, 0]))]
