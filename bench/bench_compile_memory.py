"""Time and peak memory of `netspec compile zoo:vgg16 -o OUT` (weights from the spec's fillers,
553 MB), against the weights' size, with the plain way of writing the same model beside it.

Each way runs in a fresh child process, which prints its own peak RSS (VmHWM on Linux) after
importing what the command imports and again after the command, so the extra is the command's:

  netspec compile   the CLI as a user runs it: fillers drawn, lowered with the weights kept
                    apart, the file written straight from them, ONNX's checker on the file
  plain             the same model as a ModelProto, SerializeToString(), the checker on the
                    bytes (full_check), then the file written: what compile did before

Target: compile's extra peak (above the process's peak before the command) at most 2x the
weights. Exit status 1 when missed.

usage: python bench/bench_compile_memory.py [--net vgg16] [--runs 1]
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

ROOT = Path(__file__).resolve().parents[1]
TARGET = 2.0

CHILD = """
import json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
import numpy, onnx, onnx.checker  # what the command imports, so that the peak before counts them
from netspec import lower, pipeline
from netspec.cli import main
before = hwm()
start = time.perf_counter()
if sys.argv[1] == "cli":
    assert main(["compile", sys.argv[2], "-o", sys.argv[3]]) == 0
else:
    model = pipeline.compile(pipeline.check(sys.argv[2]))
    data = model.SerializeToString()
    onnx.checker.check_model(data, full_check=True)
    with open(sys.argv[3], "wb") as out:
        out.write(data)
seconds = time.perf_counter() - start
print(json.dumps({"before": before, "peak": hwm(), "seconds": seconds}))
"""


def measure(way: str, net: str, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, way, net, str(out)], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise SystemExit(f"{way} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", default="vgg16", help="a zoo net (default vgg16)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from netspec.pipeline import check

    weights = check(f"zoo:{args.net}").analysis.totals["params"] * 4
    print(f"netspec compile zoo:{args.net} -o OUT: weights {weights / 2**20:.0f} MiB; {os.cpu_count()} CPUs")
    met = True
    with tempfile.TemporaryDirectory(prefix="netspec-bench-") as tmp:
        for way in ("cli", "plain"):
            for run in range(args.runs):
                start = time.perf_counter()
                got = measure(way, f"zoo:{args.net}", Path(tmp, f"{way}.onnx"))
                wall = time.perf_counter() - start
                extra = got["peak"] - got["before"]
                ratio = extra / weights
                if way == "cli":
                    met &= ratio <= TARGET
                name = "netspec compile" if way == "cli" else "plain (before)"
                print(
                    f"{name:16} run {run + 1}: {got['seconds']:.2f} s in the command, {wall:.2f} s whole "
                    f"process; peak {got['peak'] / 2**20:.0f} MiB, extra {extra / 2**20:.0f} MiB = "
                    f"{ratio:.2f}x the weights"
                    + (
                        f" (target <= {TARGET}x: {'met' if ratio <= TARGET else 'MISSED'})"
                        if way == "cli"
                        else ""
                    )
                )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
