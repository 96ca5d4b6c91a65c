"""Every zoo spec against the independent Caffe implementations, on random weights of realistic scale.

netspec compiles each spec (with tests/oracles.py's random weights) and runs it on onnxruntime; OpenCV's
Caffe importer and real BVLC Caffe run the same spec text with the same weights (as a .caffemodel) on the
same random input.  Each net output, and the logits under a final Softmax (random deep nets saturate
their softmax, which then only tells the argmax), must agree to 1e-3 of the reference's largest
magnitude.  `pytest -s` prints the worst error per net and reference.

What is not compared, and why:

- segnet_basic (Unpooling) and wavenet_causal (causal convolution) use netspec's extensions, which
  neither reference reads; their layers are checked against numpy references written from the forks'
  C++ (tests/test_layer_extensions.py), and test_zoo_run.py runs both nets on onnxruntime.
- mobilenet_v2's ReLU6 is BVLC's Clip layer, which neither OpenCV 4.x's Caffe importer nor the Caffe
  oracle (BVLC 9b89154) knows.  OpenCV's own ReLU6 layer computes min(max(x, 0), 6), so OpenCV runs the
  spec with each Clip [0, 6] written as ReLU6; Caffe, with neither, does not run it (Clip's lowering
  is checked against numpy in tests/test_layer_activation.py).
- fcn32s and fcn8s run against OpenCV only: Caffe's CPU forward pass over their 698x698 padded maps
  takes about 30 s per net on two cores (45 to 60 s with the files passed between processes).  Their
  VGG-16 body is compared with Caffe as vgg16, their Crops in tests/test_layer_structure.py; their
  Deconvolutions only here, with OpenCV.
- mobilenet_ssd runs against OpenCV only: its Permute, PriorBox and DetectionOutput are SSD's fork's
  (weiliu89/caffe), which BVLC Caffe does not have.  Beside the detections, the DetectionOutput's
  bottoms (box offsets, class scores and priors) and the logits under their Softmax are compared
  directly.  OpenCV orders the detection rows by score and pads them with zero rows up to keep_top_k
  (docs/dialects.md), so the rows are compared as sets, in the fork's order (image, label, score), as
  tests/test_layer_ssd.py does: image and label exactly, score and box to the tolerance.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest
from google.protobuf import text_format
from oracles import (
    analyse,
    compile_text,
    random_inputs,
    random_weights,
    rel_error,
    rows_by_label,
    run_caffe,
    run_onnx,
    run_opencv,
)

from netspec import zoo
from netspec.ir import Blob
from netspec.lower import tensor_names
from netspec.proto import caffe_pb2

TOLERANCE = 1e-3
EXTENSIONS = {"segnet_basic", "wavenet_causal"}
CAFFE_TOO_SLOW = {"fcn32s", "fcn8s"}
NO_CLIP_IN_CAFFE = {"mobilenet_v2"}
SSD_FORK = {"mobilenet_ssd"}
CASES = [
    (name, reference)
    for name in zoo.names()
    if name not in EXTENSIONS
    for reference in ("opencv", "caffe")
    if reference == "opencv" or name not in CAFFE_TOO_SLOW | NO_CLIP_IN_CAFFE | SSD_FORK
]


@dataclass(frozen=True)
class Probe:
    """One value compared: Caffe's blob (which holds its last value), the layer that writes that
    value (OpenCV's forward takes layer names) and netspec's ONNX tensor for it."""

    blob: str
    layer: str
    tensor: str
    detections: bool = False  # DetectionOutput's rows: as many as it finds, compared as a set


@dataclass
class Run:
    text: str
    weights: dict[str, list[np.ndarray]]
    feeds: dict[str, np.ndarray]
    probes: list[Probe]
    ours: dict[str, np.ndarray]  # by tensor


@functools.lru_cache(maxsize=1)  # CASES lists a net's references one after the other
def netspec_run(name: str) -> Run:
    with open(zoo.path(name), encoding="utf-8") as handle:
        text = handle.read()
    analysis, _ = analyse(text)
    weights = random_weights(analysis)
    model, analysis, _ = compile_text(text, weights)
    names = tensor_names(analysis)
    values = []  # (probe, the value's key)

    def probe(blob: Blob, detections: bool = False) -> None:
        values.append((Probe(blob.name, blob.producer.name, names[blob.key], detections), blob.key))

    for blob in analysis.net.outputs:
        if blob.producer.type == "DetectionOutput":
            probe(blob, detections=True)
            for bottom in blob.producer.bottoms:
                probe(bottom)
                if (logits := logits_under(bottom)) is not None:
                    probe(logits)
            continue
        probe(blob)
        if (logits := logits_under(blob)) is not None:
            probe(logits)
    declared = {vi.name: vi for vi in model.graph.value_info}
    exposed = {o.name for o in model.graph.output}
    model.graph.output.extend(declared[p.tensor] for p, _ in values if p.tensor not in exposed)
    feeds = random_inputs(analysis)
    ours = run_onnx(model, feeds)
    for probe, key in values:
        shape = analysis.shapes[key]
        if probe.detections:  # (1, 1, rows, 7): the checker's shape has the most rows
            assert ours[probe.tensor].shape[2] <= shape[2], probe
            shape = (*shape[:2], ours[probe.tensor].shape[2], shape[3])
        assert ours[probe.tensor].shape == shape, probe
        assert np.isfinite(ours[probe.tensor]).all(), probe
    probes = [p for p, _ in values]
    return Run(text, weights, feeds, probes, ours)


def logits_under(blob: Blob) -> Blob | None:
    """The input of the Softmax that `blob` is (or that Flatten and Reshape layers carry to it)."""
    layer = blob.producer
    while layer is not None and layer.type in ("Flatten", "Reshape"):
        layer = layer.bottoms[0].producer
    return layer.bottoms[0] if layer is not None and layer.type == "Softmax" else None


def detection_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """Detection rows as sets (OpenCV orders by score and pads with zero rows): the same images and
    labels, then the relative error of the scores and boxes."""
    ours, ref = rows_by_label(ours), rows_by_label(ref)
    assert len(ours) > 1 and (ours[:, 1] > 0).all(), "no detections to compare"
    assert ours.shape == ref.shape, f"{len(ours)} rows, the reference {len(ref)}"
    np.testing.assert_array_equal(ours[:, :2], ref[:, :2])
    return rel_error(ours[:, 2:], ref[:, 2:])


def clip_as_relu6(text: str) -> str:
    """The spec with each Clip [0, 6] as OpenCV's ReLU6 layer (the same function: min(max(x, 0), 6));
    a spec without one, as it is."""
    net = text_format.Parse(text, caffe_pb2.NetParameter())
    relu6 = [x for x in net.layer if x.type == "Clip" and (x.clip_param.min, x.clip_param.max) == (0, 6)]
    for layer in relu6:
        layer.type = "ReLU6"
        layer.ClearField("clip_param")
    return text_format.MessageToString(net) if relu6 else text


@pytest.mark.parametrize(("name", "reference"), CASES)
def test_zoo_spec_matches_the_reference_on_random_weights(name, reference):
    run = netspec_run(name)
    if reference == "opencv":
        results = run_opencv(clip_as_relu6(run.text), run.weights, run.feeds, [p.layer for p in run.probes])
        theirs = {p: results[p.layer] for p in run.probes}
    else:
        results = run_caffe(run.text, run.weights, run.feeds, [p.blob for p in run.probes])
        theirs = {p: results[p.blob] for p in run.probes}
    errors = {
        p.blob: (detection_error if p.detections else rel_error)(run.ours[p.tensor], ref)
        for p, ref in theirs.items()
    }
    worst = max(errors, key=errors.get)
    print(
        f"\n{name} vs {reference}: worst {errors[worst]:.2e} ({worst}); "
        + ", ".join(f"{blob} {error:.2e}" for blob, error in errors.items())
    )
    assert errors[worst] <= TOLERANCE, errors


def test_clip_as_relu6_rewrites_only_clip_zero_to_six():
    text = (
        'layer { name: "a" type: "Clip" bottom: "x" top: "x" clip_param { min: 0 max: 6 } }\n'
        'layer { name: "b" type: "Clip" bottom: "x" top: "y" clip_param { min: -1 max: 1 } }\n'
    )
    net = text_format.Parse(clip_as_relu6(text), caffe_pb2.NetParameter())
    assert [(x.type, x.HasField("clip_param")) for x in net.layer] == [("ReLU6", False), ("Clip", True)]
    assert clip_as_relu6(text.replace("max: 6", "max: 5")) == text.replace("max: 6", "max: 5")
