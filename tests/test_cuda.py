"""The CUDA path, on a machine with an NVIDIA GPU: zoo nets on CUDA give the CPU's numbers, TF32 only
when asked, the CLI says where it ran and keeps onnxruntime's noise away.

The CPU provider's numbers are held against OpenCV and real Caffe elsewhere (test_zoo_parity.py,
test_corpus.py), so CUDA equal to CPU within float32 summation-order error is CUDA equal to Caffe.
Every test here skips with a reason where CUDA does not load (scripts/device_gpu_check.sh runs them on
a lent GPU machine).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from oracles import compile_text, random_inputs, rel_error

from netspec import runtime, zoo
from netspec.runtime import CPU, CUDA

pytestmark = pytest.mark.skipif(
    not runtime.cuda_really_available(),
    reason=f"CUDA does not run here: {runtime.probe_cuda()[1]}",
)

ZOO_ON_CUDA = ["resnet50", "mobilenet_v1", "googlenet", "squeezenet1_1", "vgg16", "densenet121"]


def cuda_and_cpu(name: str, *, batch: int = 2, tf32: bool = False):
    """(CUDA outputs, CPU outputs) of a zoo net on random weights of realistic scale."""
    model, analysis, _ = compile_text(Path(zoo.path(name)).read_text(), batch=batch)
    feeds = random_inputs(analysis, seed=1)
    gpu, info = runtime.session(model, [CUDA, CPU], tf32=tf32)
    assert info.provider == CUDA, str(info)
    cpu, _ = runtime.session(model, [CPU])
    return runtime.run(gpu, feeds), runtime.run(cpu, feeds)


@pytest.mark.parametrize("name", ZOO_ON_CUDA)
def test_zoo_net_on_cuda_gives_the_cpu_numbers(name):
    ours, ref = cuda_and_cpu(name)
    assert list(ours) == list(ref)
    for blob in ref:
        assert ours[blob].shape == ref[blob].shape
        error = rel_error(ours[blob], ref[blob])
        print(f"{name}/{blob}: CUDA vs CPU {error:.2e}")
        assert error <= 1e-4, (blob, error)


def test_tf32_is_off_unless_asked_and_bounded_when_on():
    exact, ref = cuda_and_cpu("resnet50")
    fast, _ = cuda_and_cpu("resnet50", tf32=True)
    blob = next(iter(ref))
    off, on = rel_error(exact[blob], ref[blob]), rel_error(fast[blob], ref[blob])
    print(f"resnet50/{blob}: TF32 off {off:.2e}, on {on:.2e}")
    assert off <= 1e-4 and on <= 1e-2


def test_dynamic_batch_runs_every_batch_size_on_cuda():
    model, _, _ = compile_text(Path(zoo.path("mobilenet_v1")).read_text(), dynamic_batch=True)
    gpu, _ = runtime.session(model, [CUDA, CPU])
    cpu, _ = runtime.session(model, [CPU])
    for batch in (1, 3, 16):
        feeds = runtime.random_feeds(gpu, seed=batch, batch=batch)
        ours, ref = runtime.run(gpu, feeds), runtime.run(cpu, feeds)
        for blob in ref:
            assert ours[blob].shape[0] == batch and rel_error(ours[blob], ref[blob]) <= 1e-4


def netspec_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "netspec.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("provider", ["auto", "cuda"])
def test_cli_runs_on_cuda_says_so_and_stays_quiet(provider):
    done = netspec_cli("run", "zoo:lenet", "--provider", provider, "--repeat", "5")
    assert done.returncode == 0, done.stderr
    assert "ran on CUDAExecutionProvider" in done.stderr and "TF32: off" in done.stderr
    assert not re.search(r"\[[EWIV]:onnxruntime|EP Error|Traceback", done.stderr), done.stderr
    assert "latency: median" in done.stdout


def test_cli_outputs_on_cuda_equal_the_cpu_ones(tmp_path):
    for provider in ("cuda", "cpu"):
        done = netspec_cli(
            "run", "zoo:squeezenet1_1", "--provider", provider, "--out", str(tmp_path / f"{provider}.npz")
        )
        assert done.returncode == 0, done.stderr
    gpu, cpu = (np.load(tmp_path / f"{p}.npz") for p in ("cuda", "cpu"))
    outputs = [k for k in cpu.files if k.startswith("out:")]
    assert outputs and sorted(gpu.files) == sorted(cpu.files)
    for key in outputs:
        assert rel_error(gpu[key], cpu[key]) <= 1e-4, key
