"""How long `netspec compile ResNet-50-deploy.prototxt --weights resnet50.caffemodel -o out.onnx` takes.

Three views of the same command:

  whole process   the command as a fresh subprocess (interpreter start and imports
                  included), over several runs: median and min, wall and CPU time
                  (target: median wall <= 1.5 s on the 2-core development machine)
  imports         `python -X importtime` of that command: the total, and the packages
                  that cost the most (cumulative, each counted where first imported)
  stages          the command's steps timed one by one in a fresh process, as the
                  command runs them (first calls, so one-time setup such as building
                  the parser tables is counted where it happens): imports, parse+check,
                  read_weights, bind, lower (with the checker's probe), write (streamed from
                  the weights), onnx checker (full, on the probe); median over the runs
  --fresh         pip install . into a new virtual environment and the import time of each
                  package there, with the versions pip resolved

The weights are tests/oracles-style random weights (bench_runtime.write_random_weights),
written once to a temporary directory.

usage: python bench/bench_compile.py [--runs N] [--fresh] [SPEC]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESNET50 = ROOT.parent / "shared/corpus/KaimingHe__deep-residual-networks/prototxt/ResNet-50-deploy.prototxt"
TARGET_S = 1.5
SHOWN = 8  # packages named in the import summary


def command(spec: Path, weights: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "netspec", "compile", str(spec), "--weights", str(weights), "-o", str(out)]


def environments(cache: str) -> dict[str, dict[str, str]]:
    """The two ways Python may find netspec's bytecode: compiled once and kept (as a pip install
    leaves it; kept here under `cache`, outside the tree), or compiled afresh on every start (this
    sandbox sets PYTHONDONTWRITEBYTECODE=1, which costs every run about 0.1-0.2 s)."""
    base = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    return {
        "bytecode cached": {**base, "PYTHONPYCACHEPREFIX": cache},
        "no bytecode cache": {**base, "PYTHONDONTWRITEBYTECODE": "1"},
    }


def whole_process(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    """Wall and CPU (user + system of the child) seconds of each run of the command."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {"wall": wall, "cpu": cpu}


def import_times(argv: list[str], env: dict[str, str]) -> tuple[float, list[tuple[str, float]]]:
    """(total import seconds, [(package, seconds)] heaviest first) from -X importtime: each module's
    own time (without the modules it imports) summed by top-level package, netspec by subpackage."""
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, env=env)
    packages: dict[str, float] = {}
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \| +(\S+)", line)
        if found:
            parts = found.group(2).split(".")
            package = ".".join(parts[:2]) if parts[0] == "netspec" else parts[0]
            packages[package] = packages.get(package, 0.0) + int(found.group(1)) / 1e6
    ranked = sorted(packages.items(), key=lambda item: -item[1])
    return sum(packages.values()), ranked


def stages(spec: str, weights: str, out: str) -> dict[str, float]:
    """Seconds of each step of `netspec compile`, timed in this (fresh) process as cli.cmd_compile
    runs them."""
    times: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times[name] = now - clock
        clock = now

    import onnx

    from netspec import lower
    from netspec import weights as bind_weights
    from netspec.files import atomic_output
    from netspec.frontend import binary
    from netspec.pipeline import check
    from netspec.proto import wire

    lap("imports")
    checked = check(spec)
    lap("parse+check")
    given = binary.read_weights(weights)
    lap("read_weights")
    blobs = bind_weights.bind(checked.analysis, given, checked.diagnostics)
    lap("bind")
    done = lower.lower_apart(checked.analysis, blobs, checked.diagnostics, lower.Options())
    probe = done.probe()
    lap("lower")
    with atomic_output(out) as handle:
        wire.write(handle, done.model, done.values)
    lap("write")
    onnx.checker.check_model(probe, full_check=True)
    lap("onnx checker")
    return times


def fresh_imports(tmp: str) -> None:
    """Import time per package as a fresh `pip install .` leaves netspec: a new virtual environment,
    the dependencies as pip resolves them today (their versions printed), bytecode as pip writes
    it; so a dependency's release that imports slowly (ml_dtypes 0.7.0: about 0.75 s) shows."""
    venv = Path(tmp, "fresh")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", str(ROOT)], check=True)
    versions = subprocess.run(
        [python, "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, check=True
    )
    shown = {p["name"].lower(): p["version"] for p in json.loads(versions.stdout)}
    wanted = ("numpy", "onnx", "ml-dtypes", "ml_dtypes", "protobuf", "onnxruntime-gpu", "lark")
    print("fresh install: " + ", ".join(f"{k} {v}" for k, v in shown.items() if k in wanted))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    for command in (["check", str(RESNET50)], ["compile", str(RESNET50), "-o", str(Path(tmp, "f.onnx"))]):
        total, packages = import_times([python, "-m", "netspec", *command], env)
        print(
            f"fresh install, imports of `netspec {command[0]}`: {total:.2f} s; "
            + ", ".join(f"{name} {seconds:.3f}" for name, seconds in packages[:SHOWN])
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=RESNET50)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--stages", nargs=3, metavar=("SPEC", "WEIGHTS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="also pip install . into a new virtual environment (minutes, needs the package index) "
        "and print each package's import time there",
    )
    args = parser.parse_args()
    if args.stages:  # the child process of the stage breakdown
        print(json.dumps(stages(*args.stages)))
        return 0
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_runtime import write_random_weights

    met = True
    with tempfile.TemporaryDirectory(prefix="netspec-bench-") as tmp:
        weights, out = Path(tmp, "weights.caffemodel"), Path(tmp, "out.onnx")
        write_random_weights(args.spec, weights)
        argv = command(args.spec, weights, out)
        size = os.path.getsize(weights) / 2**20
        print(f"netspec compile {args.spec.name} --weights W ({size:.0f} MiB) -o OUT; {os.cpu_count()} CPUs")
        envs = environments(str(Path(tmp, "pycache")))
        for env in envs.values():
            whole_process(argv, 1, env)  # warm the file cache, the bytecode and the parser-table caches
        for name, env in envs.items():
            runs = whole_process(argv, args.runs, env)
            wall, cpu = runs["wall"], runs["cpu"]
            ok = statistics.median(wall) <= TARGET_S
            met &= ok or name != "bytecode cached"
            print(
                f"whole process, {name}, {args.runs} runs: wall median {statistics.median(wall):.2f} s, "
                f"min {min(wall):.2f} s; CPU median {statistics.median(cpu):.2f} s, min {min(cpu):.2f} s "
                f"(target <= {TARGET_S} s wall: {'met' if ok else 'MISSED'})"
            )
        env = envs["bytecode cached"]
        total, packages = import_times(argv, env)
        print(
            f"imports (bytecode cached): {total:.2f} s; "
            + ", ".join(f"{name} {seconds:.3f}" for name, seconds in packages[:SHOWN])
        )
        child = [sys.executable, __file__, "--stages", str(args.spec), str(weights), str(out)]
        samples = [
            json.loads(subprocess.run(child, capture_output=True, text=True, check=True, env=env).stdout)
            for _ in range(args.runs)
        ]
        medians = {name: statistics.median(s[name] for s in samples) for name in samples[0]}
        print(
            "stages (median, fresh process, bytecode cached): "
            + ", ".join(f"{name} {seconds:.3f}" for name, seconds in medians.items())
            + f"; sum {sum(medians.values()):.2f} s"
        )
        if args.fresh:
            fresh_imports(tmp)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
