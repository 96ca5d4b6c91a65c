"""Front-end and checker speed against protobuf's own text_format.Parse, side by side.

Prints, for each file, the ratio of netspec's time to text_format.Parse's time
on the same text, measured interleaved in one process (the machine is shared
and noisy, so only ratios taken together mean anything):

  parse+bind   netspec.frontend.text.parse + bind  (target <= 1.0 on ResNet-50)
  check        load + upgrade + select + IR + shape inference  (target <= 1.5 on ResNet-152)

and, for ResNet-152's deploy file, whole processes (interpreter start and imports included, the
bytecode compiled once and kept, as a pip install leaves it): `netspec check FILE` against a
Python process that imports protobuf and caffe_pb2 and parses FILE with text_format (target
<= 1.5x), alternating which goes first.

usage: python bench/bench_parse.py [FILE ...] [--rounds N] [--process-rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from google.protobuf import text_format

from netspec.diagnostics import Diagnostics
from netspec.frontend.bind import Binder
from netspec.frontend.text import parse
from netspec.pipeline import check
from netspec.proto import caffe_pb2
from netspec.source import SourceFile, SourceMap

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [
    ROOT.parent / "shared/corpus/KaimingHe__deep-residual-networks/prototxt/ResNet-50-deploy.prototxt",
    ROOT / "netspec/zoo/resnet152.prototxt",
]


def protobuf(text: str) -> None:
    text_format.Parse(text, caffe_pb2.NetParameter())


def parse_bind(path: str, text: str) -> None:
    source = SourceFile(path, text)
    diagnostics = Diagnostics()
    Binder(SourceMap(source), diagnostics).bind(parse(source, diagnostics), caffe_pb2.NetParameter())


def full_check(path: str, text: str) -> None:
    check(path, content=text)


def interleaved(text: str, path: str, rounds: int) -> dict[str, float]:
    runs = {"protobuf": [], "parse+bind": [], "check": []}
    for _ in range(rounds):
        for name, call in (
            ("protobuf", lambda: protobuf(text)),
            ("parse+bind", lambda: parse_bind(path, text)),
            ("check", lambda: full_check(path, text)),
        ):
            start = time.perf_counter()
            call()
            runs[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in runs.items()}


PROTOBUF_PROCESS = (
    "import sys\nfrom google.protobuf import text_format\nfrom netspec.proto import caffe_pb2\n"
    "text_format.Parse(open(sys.argv[1]).read(), caffe_pb2.NetParameter())"
)
PROCESS_TARGET = 1.5


def processes(path: Path, rounds: int) -> tuple[float, float]:
    """Median wall seconds of the two whole processes, alternating which goes first."""
    with tempfile.TemporaryDirectory(prefix="netspec-pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=cache, PYTHONPATH=str(ROOT))
        argvs = {
            "protobuf": [sys.executable, "-c", PROTOBUF_PROCESS, str(path)],
            "check": [sys.executable, "-m", "netspec", "check", str(path)],
        }
        times: dict[str, list[float]] = {name: [] for name in argvs}
        for argv in argvs.values():  # compile and keep the bytecode, warm the file cache
            subprocess.run(argv, capture_output=True, env=env, check=False)
        for i in range(rounds):
            for name in sorted(argvs, reverse=bool(i % 2)):
                start = time.perf_counter()
                subprocess.run(argvs[name], capture_output=True, env=env, check=False)
                times[name].append(time.perf_counter() - start)
    return statistics.median(times["protobuf"]), statistics.median(times["check"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--process-rounds", type=int, default=15)
    args = parser.parse_args()
    files = args.files or [f for f in DEFAULT if f.exists()]
    for path in files:
        text = path.read_text()
        protobuf(text)
        parse_bind(str(path), text)
        full_check(str(path), text)
        t = interleaved(text, str(path), args.rounds)
        base = t["protobuf"]
        print(
            f"{path.name} ({len(text) / 1024:.0f} KiB): text_format.Parse {base * 1e3:.1f} ms; "
            f"parse+bind {t['parse+bind'] / base:.2f}x; check {t['check'] / base:.2f}x"
        )
    met = True
    resnet152 = DEFAULT[1]
    if args.process_rounds and resnet152.exists():
        protobuf_s, check_s = processes(resnet152, args.process_rounds)
        ratio = check_s / protobuf_s
        met = ratio <= PROCESS_TARGET
        print(
            f"whole process, {resnet152.name}, {args.process_rounds} rounds: protobuf {protobuf_s:.3f} s, "
            f"netspec check {check_s:.3f} s: {ratio:.2f}x (target <= {PROCESS_TARGET}x: "
            f"{'met' if met else 'MISSED'})"
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
