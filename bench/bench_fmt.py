"""`netspec fmt` against protobuf's parse-and-print, side by side.

Two figures on the same file (ResNet-152's deploy text by default), each taken
interleaved with its baseline in one run:

  process    the whole `python -m netspec fmt FILE` process vs a Python process that parses
             the file with text_format.Parse and prints it with MessageToString
             (target <= 1.0)
  in process netspec.fmt.format_source (parse, lay out, parse again to prove the meaning is
             kept) vs text_format.Parse + MessageToString

usage: python bench/bench_fmt.py [FILE] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from google.protobuf import text_format

from netspec.fmt import format_source
from netspec.proto import caffe_pb2
from netspec.source import SourceFile

ROOT = Path(__file__).resolve().parents[1]
PROTOBUF = (
    "import sys\n"
    "from google.protobuf import text_format\n"
    "from netspec.proto import caffe_pb2\n"
    "net = text_format.Parse(open(sys.argv[1]).read(), caffe_pb2.NetParameter())\n"
    "sys.stdout.write(text_format.MessageToString(net))\n"
)
TARGET = 1.0


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=ROOT / "netspec/zoo/resnet152.prototxt")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    text = args.file.read_text()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # Both processes start as an installed netspec does, from compiled bytecode (pip writes it);
    # PYTHONDONTWRITEBYTECODE would have every start compile netspec's modules from source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    ours_cmd = [sys.executable, "-m", "netspec", "fmt", str(args.file)]
    theirs_cmd = [sys.executable, "-c", PROTOBUF, str(args.file)]
    timed(ours_cmd, env), timed(theirs_cmd, env)  # warm the page cache and the tables' cache file
    ours, theirs, fmt_in, pb_in = [], [], [], []
    for k in range(args.rounds):
        pair = [(ours, ours_cmd), (theirs, theirs_cmd)]
        for runs, command in pair if k % 2 else pair[::-1]:  # which goes first alternates
            runs.append(timed(command, env))
        start = time.perf_counter()
        format_source(SourceFile(str(args.file), text))
        fmt_in.append(time.perf_counter() - start)
        start = time.perf_counter()
        text_format.MessageToString(text_format.Parse(text, caffe_pb2.NetParameter()))
        pb_in.append(time.perf_counter() - start)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    fmt_s, pb_s = statistics.median(fmt_in), statistics.median(pb_in)
    process = ours_s / theirs_s
    print(
        f"{args.file.name} ({len(text) / 1024:.0f} KiB), {args.rounds} rounds: process: netspec fmt "
        f"{ours_s * 1e3:.0f} ms vs protobuf parse+print {theirs_s * 1e3:.0f} ms = {process:.2f}x "
        f"(target <= {TARGET}); in process: format_source {fmt_s * 1e3:.1f} ms vs {pb_s * 1e3:.1f} ms "
        f"= {fmt_s / pb_s:.2f}x"
    )
    return 0 if process <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
