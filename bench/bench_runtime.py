"""onnxruntime (CPU) on netspec's compiled graphs against OpenCV's dnn on the same Caffe files, side by side.

For each net: seeded random weights of realistic scale (tests/oracles.random_weights) are
written as a .caffemodel; `netspec compile SPEC --weights W --batch N` (the CLI, in process)
writes the ONNX model; OpenCV reads the same prototxt and caffemodel with
cv2.dnn.readNetFromCaffe.  Both run the same inputs with 2 threads (ORT: intra-op 2, thread
spinning off; OpenCV: cv2.setNumThreads(2), DNN_BACKEND_OPENCV on DNN_TARGET_CPU), alternating
run by run in one process; the table gives the median of each and the ratio ORT/OpenCV, in
wall time and in CPU time (process_time, less distorted on a shared machine), and checks that
both computed the same thing (max abs error / max |OpenCV| <= 1e-3).

Targets at batch 1 (ORT time / OpenCV time): ResNet-50 <= 0.45, MobileNet v1 <= 0.40.

usage: python bench/bench_runtime.py [--rounds N] [--batch 1 --batch 8] [--net resnet50|mobilenet]
       [--graphs]   also print the op counts of netspec's graph and of ORT's optimised graph
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from oracles import random_weights, rel_error  # noqa: E402

from netspec import cli, runtime  # noqa: E402
from netspec.caffemodel import write_weights  # noqa: E402
from netspec.pipeline import check  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
THREADS = 2
TOLERANCE = 1e-3


@dataclass(frozen=True)
class Net:
    key: str
    title: str
    spec: Path
    target: float  # ORT time / OpenCV time at batch 1


NETS = [
    Net(
        "resnet50",
        "ResNet-50",
        CORPUS / "KaimingHe__deep-residual-networks/prototxt/ResNet-50-deploy.prototxt",
        0.45,
    ),
    Net("mobilenet", "MobileNet v1", CORPUS / "shicai__MobileNet-Caffe/mobilenet_deploy.prototxt", 0.40),
]


@dataclass
class Result:
    net: Net
    batch: int
    ort_ms: float
    cv_ms: float
    ort_cpu_ms: float
    cv_cpu_ms: float
    error: float

    @property
    def ratio(self) -> float:
        return self.ort_ms / self.cv_ms

    @property
    def cpu_ratio(self) -> float:
        return self.ort_cpu_ms / self.cv_cpu_ms


def write_random_weights(spec: Path, path: Path, seed: int = 0) -> None:
    """A .caffemodel of tests/oracles-style random weights for every layer of the spec."""
    checked = check(str(spec))
    assert checked.analysis is not None and not checked.diagnostics.has_errors, spec
    write_weights(str(path), checked.spec.param, random_weights(checked.analysis, seed))


def compile_onnx(net: Net, weights: Path, batch: int, out: Path) -> None:
    """`netspec compile SPEC --weights W --batch N -o OUT`, the real CLI path (its warnings hidden)."""
    argv = ["compile", str(net.spec), "--weights", str(weights), "--batch", str(batch), "-o", str(out)]
    with contextlib.redirect_stderr(io.StringIO()) as errors, contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(argv)
    if status != cli.OK:
        raise SystemExit(f"netspec {' '.join(argv)} failed:\n{errors.getvalue()}")


def opencv_net(net: Net, weights: Path):
    import cv2

    model = cv2.dnn.readNetFromCaffe(str(net.spec), str(weights))
    model.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    model.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return model


def timed(call) -> tuple[float, float]:
    """(wall ms, CPU ms of the whole process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def logits_exposed(onnx_path: Path):
    """The model with the input of the node computing its output (the logits before Softmax) as a
    second output: random weights saturate ResNet-50's softmax to one-hot, which would hide errors."""
    import onnx

    model = onnx.load(str(onnx_path))
    output = model.graph.output[0].name
    (producer,) = [n for n in model.graph.node if output in n.output]
    model.graph.output.extend(v for v in model.graph.value_info if v.name == producer.input[0])
    return model, [output, producer.input[0]]


def agreement(onnx_path: Path, opencv, x: np.ndarray) -> float:
    """The larger rel_error of the output and the logits before it, ORT against OpenCV."""
    model, names = logits_exposed(onnx_path)
    session, _ = runtime.session(model, [runtime.CPU], threads=THREADS)
    opencv.setInput(x)
    theirs = opencv.forward(names)
    ours = session.run(names, {session.get_inputs()[0].name: x})
    return max(rel_error(a, b.reshape(a.shape)) for a, b in zip(ours, theirs))


def measure(net: Net, weights: Path, onnx_path: Path, batch: int, rounds: int, warmup: int) -> Result:
    session, _ = runtime.session(str(onnx_path), [runtime.CPU], threads=THREADS, spinning=False)
    (name,) = [i.name for i in session.get_inputs()]
    (output,) = [o.name for o in session.get_outputs()]
    x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    model = opencv_net(net, weights)

    def ort() -> np.ndarray:
        return session.run([output], {name: x})[0]

    def opencv() -> np.ndarray:
        model.setInput(x)
        return model.forward(output)

    error = agreement(onnx_path, model, x)
    for _ in range(warmup):
        ort(), opencv()
    samples: dict[str, list[tuple[float, float]]] = {"ort": [], "cv": []}
    for r in range(rounds):  # alternate which goes first, so drift in the machine's load hits both alike
        order = (("ort", ort), ("cv", opencv)) if r % 2 == 0 else (("cv", opencv), ("ort", ort))
        for key, call in order:
            samples[key].append(timed(call))

    def median(key: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[key])

    return Result(net, batch, median("ort", 0), median("cv", 0), median("ort", 1), median("cv", 1), error)


def op_counts(onnx_path: Path, optimised: Path | None = None) -> collections.Counter:
    """Node counts by op type of the model, or, with `optimised`, of the graph ORT runs after
    its full optimisation (saved there by sess_options.optimized_model_filepath)."""
    import onnx
    import onnxruntime as ort

    if optimised is not None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(optimised)
        ort.InferenceSession(str(onnx_path), sess_options=options, providers=[runtime.CPU])
        onnx_path = optimised
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return collections.Counter(node.op_type for node in graph.node)


def _counts(counter: collections.Counter) -> str:
    return ", ".join(f"{op} {n}" for op, n in counter.most_common()) + f"  (total {sum(counter.values())})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="timed runs of each, alternating (default 40)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, action="append", help="batch sizes (default: 1 and 8)")
    parser.add_argument("--net", action="append", choices=[n.key for n in NETS], help="default: both")
    parser.add_argument("--graphs", action="store_true", help="print op counts before and after ORT's passes")
    args = parser.parse_args()
    import cv2
    import onnxruntime as ort

    cv2.setNumThreads(THREADS)
    ort.set_default_logger_severity(3)  # not the warning that a saved optimised graph is machine-specific
    batches = args.batch or [1, 8]
    nets = [n for n in NETS if not args.net or n.key in args.net]
    print(
        f"onnxruntime {ort.__version__} (CPU, {THREADS} intra-op threads, spinning off) vs "
        f"OpenCV {cv2.__version__} dnn (CPU, {cv2.getNumThreads()} threads); "
        f"median of {args.rounds} alternating runs each"
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="netspec-bench-") as tmp:
        for net in nets:
            weights = Path(tmp, f"{net.key}.caffemodel")
            write_random_weights(net.spec, weights)
            for batch in batches:
                onnx_path = Path(tmp, f"{net.key}-b{batch}.onnx")
                compile_onnx(net, weights, batch, onnx_path)
                if args.graphs:
                    print(f"{net.title} batch {batch}, netspec's graph: {_counts(op_counts(onnx_path))}")
                    optimised = op_counts(onnx_path, Path(tmp, f"{net.key}-b{batch}.opt.onnx"))
                    print(f"{net.title} batch {batch}, after ORT's optimisation: {_counts(optimised)}")
                results.append(measure(net, weights, onnx_path, batch, args.rounds, args.warmup))
    header = ("net", "batch", "ORT ms", "OpenCV ms", "ORT/OpenCV", "CPU-time ratio", "target", "rel err")
    rows = [header]
    failed = False
    for r in results:
        target = f"<= {r.net.target:.2f}" if r.batch == 1 else ""
        met = r.ratio <= r.net.target if r.batch == 1 else True
        same = r.error <= TOLERANCE
        failed |= not (met and same)
        rows.append(
            (
                r.net.title,
                str(r.batch),
                f"{r.ort_ms:.1f}",
                f"{r.cv_ms:.1f}",
                f"{r.ratio:.2f}x" + ("" if met else " MISSED"),
                f"{r.cpu_ratio:.2f}x",
                target,
                f"{r.error:.1e}" + ("" if same else " DIFFERS"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
