"""Peak memory of reading a large .caffemodel, against the file's and the weights' size.

Writes a synthetic VGG16-like caffemodel (~290 MB: VGG16's 13 conv layers, fc6/fc7/fc8
narrowed to 2048 units) into a temporary folder, then reads it in a fresh child process
per reader and prints each reader's peak RSS above the child's peak before reading
(VmHWM on Linux; getrusage ru_maxrss elsewhere, which on Linux would also count the
parent's memory at fork):

  read_weights     netspec's reader (wire walk, values straight from the mapped file)
  FromString       the plain way: NetParameter.FromString, then numpy.fromiter per blob

Target: read_weights' extra peak at most about 2x the weights (at most one extra copy).

usage: python bench/bench_caffemodel_memory.py [--scale 1.0] [--keep DIR] [--no-baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netspec.caffemodel import write_weights  # noqa: E402

CONV = [  # VGG16: (name, out, in)
    ("conv1_1", 64, 3), ("conv1_2", 64, 64),
    ("conv2_1", 128, 64), ("conv2_2", 128, 128),
    ("conv3_1", 256, 128), ("conv3_2", 256, 256), ("conv3_3", 256, 256),
    ("conv4_1", 512, 256), ("conv4_2", 512, 512), ("conv4_3", 512, 512),
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512),
]  # fmt: skip


def vgg_like(scale: float) -> tuple[list[tuple[str, str]], dict[str, list[tuple[int, ...]]]]:
    width = max(16, int(2048 * scale))
    layers, shapes = [("data", "Input")], {}
    for name, out, inp in CONV:
        layers += [(name, "Convolution"), (f"relu{name[4:]}", "ReLU")]
        shapes[name] = [(out, inp, 3, 3), (out,)]
    for name, out, inp in (("fc6", width, 512 * 7 * 7), ("fc7", width, width), ("fc8", 1000, width)):
        layers.append((name, "InnerProduct"))
        shapes[name] = [(out, inp), (out,)]
    layers.append(("prob", "Softmax"))
    return layers, shapes


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from netspec.frontend.binary import read_weights
from netspec.proto import caffe_pb2
def peak_rss():
    # Linux: VmHWM, this process image's own high-water mark.  ru_maxrss there also counts
    # what the (large) parent had resident when it forked us, so it is only the fallback.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
before = peak_rss()
start = time.perf_counter()
if sys.argv[3] == "read_weights":
    weights = read_weights(sys.argv[2])
    nbytes = weights.nbytes
else:
    with open(sys.argv[2], "rb") as handle:
        net = caffe_pb2.NetParameter.FromString(handle.read())
    weights, nbytes = {}, 0
    for layer in net.layer:
        arrays = []
        for blob in layer.blobs:
            values = np.fromiter(blob.data, dtype=np.float32, count=len(blob.data))
            arrays.append(values.reshape(tuple(blob.shape.dim)))
            del blob.data[:]
            nbytes += arrays[-1].nbytes
        weights[layer.name] = arrays
seconds = time.perf_counter() - start
peak = peak_rss()
print(json.dumps({"before": before, "peak": peak, "nbytes": nbytes, "seconds": seconds}))
"""


def measure(path: Path, reader: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(path), reader], capture_output=True, text=True
    )
    if run.returncode != 0:
        raise SystemExit(f"{reader} child failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="width of fc6/fc7 relative to 2048")
    parser.add_argument("--keep", help="write the model into this folder and keep it")
    parser.add_argument("--no-baseline", action="store_true", help="skip the FromString reader")
    args = parser.parse_args()

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="netspec-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vgg_like.caffemodel"
    layers, shapes = vgg_like(args.scale)
    rng = np.random.default_rng(0)
    blobs = {name: [rng.standard_normal(s, dtype=np.float32) for s in ss] for name, ss in shapes.items()}
    weights_bytes = sum(a.nbytes for arrays in blobs.values() for a in arrays)
    start = time.perf_counter()
    write_weights(str(path), layers, blobs)
    write_seconds = time.perf_counter() - start
    del blobs
    file_bytes = path.stat().st_size
    mb = 1 << 20
    print(f"model: {path} ({len(shapes)} layers with weights)")
    print(
        f"file {file_bytes / mb:.1f} MiB, weights {weights_bytes / mb:.1f} MiB, "
        f"written in {write_seconds:.2f} s"
    )
    print(f"{'reader':<14}{'extra peak MiB':>15}{'x file':>8}{'x weights':>11}{'seconds':>9}")
    try:
        for reader in ("read_weights", *(() if args.no_baseline else ("FromString",))):
            m = measure(path, reader)
            assert m["nbytes"] == weights_bytes, (m["nbytes"], weights_bytes)
            extra = m["peak"] - m["before"]
            print(
                f"{reader:<14}{extra / mb:>15.1f}{extra / file_bytes:>8.2f}{extra / weights_bytes:>11.2f}"
                f"{m['seconds']:>9.2f}"
            )
            if reader == "read_weights":
                verdict = "ok" if extra <= 2.1 * weights_bytes else "OVER"
                print(f"  target: extra peak <= ~2x the weights: {verdict}")
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
            os.rmdir(folder)


if __name__ == "__main__":
    main()
