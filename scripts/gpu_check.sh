#!/usr/bin/env bash
# netspec's GPU checks, on any machine with an NVIDIA GPU: what the machine is, whether
# onnxruntime's CUDA provider loads, the runtime and CUDA tests, then the CUDA-vs-CPU benchmark.
#
# Needs the NVIDIA driver and, in the Python environment netspec is installed in
# (`pip install -e '.[test]'`, which brings onnxruntime-gpu), the CUDA 12/13 and cuDNN 9 libraries
# onnxruntime-gpu loads (system-wide, or as pip packages: onnxruntime's preload_dlls finds those).
#
#   bash scripts/gpu_check.sh            # ROUNDS=20 by default; PYTHON=python3 by default
#
# The log is also written to $OUT/gpu_check.log (/tmp without OUT). Record bench/bench_gpu.py's
# table in bench/README.md with the GPU, its driver, the versions printed here, and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
log=${OUT:-/tmp}/gpu_check.log
{
    date -u +"%Y-%m-%d %H:%M UTC"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$python" -c "import sys, numpy, onnx, onnxruntime as o; o.preload_dlls(); print('python', sys.version.split()[0], '| numpy', numpy.__version__, '| onnx', onnx.__version__, '| onnxruntime', o.__version__, o.get_available_providers())"
    "$python" -c "from netspec import runtime; print('netspec probe:', runtime.probe_cuda())"
    "$python" -m pytest -q -rs -p no:cacheprovider tests/test_runtime.py tests/test_cuda.py || echo "TESTS FAILED: $?"
    "$python" bench/bench_gpu.py --rounds "${ROUNDS:-20}"
} 2>&1 | tee "$log"
