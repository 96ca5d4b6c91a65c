"""Front-end and checker speed against protobuf's own text_format.Parse, side by side.

Prints, for each file, the ratio of netspec's time to text_format.Parse's time
on the same text, measured interleaved in one process (the machine is shared
and noisy, so only ratios taken together mean anything):

  parse+bind   netspec.frontend.text.parse + bind  (target <= 1.0 on ResNet-50)
  check        load + upgrade + select + IR + shape inference  (target <= 1.5 on ResNet-152)

and, for ResNet-152's deploy file, whole processes (interpreter start and imports included, the
bytecode compiled once and kept, as a pip install leaves it): `netspec check FILE` against a
Python process that imports protobuf and caffe_pb2 and parses FILE with text_format (target
<= 1.5x), alternating which goes first.  `--against DIR` times the `netspec check` of another source
tree in the same rounds (a checkout of an earlier commit): before and after, side by side.

usage: python bench/bench_parse.py [FILE ...] [--rounds N] [--process-rounds N] [--against DIR]
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


CORPUS_R152 = (
    ROOT.parent / "shared/corpus/KaimingHe__deep-residual-networks/prototxt/ResNet-152-deploy.prototxt"
)
PROTOBUF_PROCESS = (
    "import sys\nfrom google.protobuf import text_format\nfrom netspec.proto import caffe_pb2\n"
    "text_format.Parse(open(sys.argv[1]).read(), caffe_pb2.NetParameter())"
)
PROCESS_TARGET = 1.5


def processes(path: Path, rounds: int, trees: dict[str, Path]) -> dict[str, float]:
    """Median wall seconds of the protobuf process and of `netspec check` from each source tree,
    alternating which goes first.  They run in a folder of their own, so that each imports netspec
    from its PYTHONPATH, never from the working directory."""
    with tempfile.TemporaryDirectory(prefix="netspec-pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=cache)
        runs = {
            "protobuf": (
                [sys.executable, "-c", PROTOBUF_PROCESS, str(path)],
                {**env, "PYTHONPATH": str(ROOT)},
            )
        }
        for name, tree in trees.items():
            runs[name] = (
                [sys.executable, "-m", "netspec", "check", str(path)],
                {**env, "PYTHONPATH": str(tree)},
            )
        times: dict[str, list[float]] = {name: [] for name in runs}
        for argv, its_env in runs.values():  # compile and keep the bytecode, warm the file cache
            done = subprocess.run(argv, capture_output=True, env=its_env, cwd=cache, check=False)
            if done.returncode:
                sys.exit(f"{' '.join(argv)} failed: {done.stderr.decode()[-2000:]}")
        for i in range(rounds):
            for name in sorted(runs, reverse=bool(i % 2)):
                argv, its_env = runs[name]
                start = time.perf_counter()
                subprocess.run(argv, capture_output=True, env=its_env, cwd=cache, check=False)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(runs) for name, runs in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--process-rounds", type=int, default=15)
    parser.add_argument(
        "--against", type=Path, metavar="DIR", help="another netspec source tree whose check to time beside"
    )
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
    resnet152 = CORPUS_R152 if CORPUS_R152.exists() else DEFAULT[1]  # KaimingHe's own when the corpus has it
    if args.process_rounds:
        trees = {"check": ROOT}
        if args.against:
            trees[f"check of {args.against}"] = args.against.resolve()
        medians = processes(resnet152, args.process_rounds, trees)
        ratio = medians["check"] / medians["protobuf"]
        met = ratio <= PROCESS_TARGET
        print(
            f"whole process, {resnet152.name}, {args.process_rounds} rounds: "
            f"protobuf {medians['protobuf']:.3f} s, "
            f"netspec check {medians['check']:.3f} s: {ratio:.2f}x (target <= {PROCESS_TARGET}x: "
            f"{'met' if met else 'MISSED'})"
        )
        for name in trees:
            if name != "check":
                print(f"  {name}: {medians[name]:.3f} s: {medians[name] / medians['protobuf']:.2f}x")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
