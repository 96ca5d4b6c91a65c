"""`netspec draw` against `netspec check` on the same net, whole processes, side by side.

The target: drawing ResNet-152 as SVG, the whole process (start-up, imports, check, scene,
layout, writing), takes at most 3x the time `netspec check` takes on it.  Runs alternate (which
goes first alternates too); medians of wall time.  Also prints `--collapse`, the HTML report and
Graphviz's layout of the same scene (`--engine dot`) where Graphviz is installed.

usage: python bench/bench_draw.py [NET ...] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 3.0


def timed(argv: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "netspec", *argv], env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nets", nargs="*", default=["resnet152"])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    missed = False
    with tempfile.TemporaryDirectory() as out:
        for net in args.nets:
            spec = f"zoo:{net}"
            commands = {
                "check": ["check", spec],
                "draw .svg": ["draw", spec, "-o", f"{out}/a.svg"],
                "draw --collapse": ["draw", spec, "--collapse", "-o", f"{out}/b.svg"],
                "report .html": ["report", spec, "-o", f"{out}/c.html"],
            }
            if shutil.which("dot"):
                commands["draw --engine dot"] = ["draw", spec, "--engine", "dot", "-o", f"{out}/d.svg"]
            runs: dict[str, list[float]] = {name: [] for name in commands}
            for r in range(args.rounds):
                order = list(commands.items())
                for name, argv in order if r % 2 == 0 else reversed(order):
                    runs[name].append(timed(argv))
            base = statistics.median(runs["check"])
            print(f"{net}: {args.rounds} rounds, medians of whole processes")
            for name, times in runs.items():
                ratio = statistics.median(times) / base
                print(f"  {name:18} {statistics.median(times) * 1000:8.0f} ms  {ratio:5.2f}x check")
            ratio = statistics.median(runs["draw .svg"]) / base
            verdict = "met" if ratio <= TARGET else "MISSED"
            print(f"  target: draw .svg <= {TARGET:.0f}x check: {ratio:.2f}x, {verdict}")
            missed |= ratio > TARGET
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
