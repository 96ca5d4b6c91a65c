"""onnxruntime on CUDA against onnxruntime on the CPU, for netspec's compiled zoo nets, side by side.

For each net and batch: the zoo spec compiled with tests/oracles-style random weights of realistic
scale; three sessions on the same model and input — CUDA with TF32 off (netspec's default: Caffe's
float32), CUDA with TF32 on (`netspec run --tf32`), and the CPU provider on every physical core — run
alternately, round by round.  Times are session.run wall times as `netspec run --repeat` measures
them (host-to-device copies of the input and back included).  Each CUDA result is checked against
the CPU's (max abs error / max |CPU|): <= 1e-4 with TF32 off, <= 1e-2 with it on.

Run it where CUDA loads (scripts/device_gpu_check.sh does); elsewhere it says why and exits 2.

usage: python bench/bench_gpu.py [--rounds N] [--batch 1 --batch 32] [--net resnet50 ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from oracles import compile_text, random_inputs, rel_error  # noqa: E402

from netspec import runtime, zoo  # noqa: E402
from netspec.runtime import CPU, CUDA  # noqa: E402

NETS = ["resnet50", "mobilenet_v1", "googlenet", "vgg16"]
TOLERANCE = {"cuda": 1e-4, "cuda+tf32": 1e-2}


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def bench(name: str, batch: int, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """(median ms per configuration, error against the CPU per CUDA configuration)."""
    model, analysis, _ = compile_text(Path(zoo.path(name)).read_text(), batch=batch)
    feeds = random_inputs(analysis, seed=1)
    sessions = {
        "cuda": runtime.session(model, [CUDA, CPU])[0],
        "cuda+tf32": runtime.session(model, [CUDA, CPU], tf32=True)[0],
        "cpu": runtime.session(model, [CPU])[0],
    }
    outputs = {key: runtime.run(s, feeds) for key, s in sessions.items()}  # also the warm-up
    errors = {
        key: max(rel_error(outputs[key][b], outputs["cpu"][b]) for b in outputs["cpu"]) for key in TOLERANCE
    }
    samples: dict[str, list[float]] = {key: [] for key in sessions}
    order = list(sessions)
    for r in range(rounds):
        for key in order[r % len(order) :] + order[: r % len(order)]:
            start = time.perf_counter()
            sessions[key].run(None, feeds)
            samples[key].append(time.perf_counter() - start)
    return {key: median_ms(s) for key, s in samples.items()}, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--net", action="append", choices=zoo.names())
    args = parser.parse_args(argv)
    ok, why = runtime.probe_cuda()
    if not ok:
        print(f"CUDA does not run here: {why}", file=sys.stderr)
        return 2
    import onnxruntime as ort

    print(
        f"onnxruntime {ort.__version__}; CPU provider on {runtime.physical_cores()} physical cores; "
        f"{args.rounds} rounds, medians"
    )
    print("| net | batch | CUDA ms | CUDA+TF32 ms | CPU ms | CPU/CUDA | CUDA img/s | err CUDA | err TF32 |")
    print("|---|---|---|---|---|---|---|---|---|")
    failed = False
    for name in args.net or NETS:
        for batch in args.batch or [1, 8, 32]:
            ms, errors = bench(name, batch, args.rounds)
            failed |= any(errors[key] > limit for key, limit in TOLERANCE.items())
            print(
                f"| {name} | {batch} | {ms['cuda']:.2f} | {ms['cuda+tf32']:.2f} | {ms['cpu']:.1f} | "
                f"{ms['cpu'] / ms['cuda']:.1f}x | {batch * 1e3 / ms['cuda']:.0f} | "
                f"{errors['cuda']:.1e} | {errors['cuda+tf32']:.1e} |",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
