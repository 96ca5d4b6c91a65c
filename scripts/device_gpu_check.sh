#!/usr/bin/env bash
# The CUDA checks, prepared to run on a lent GPU machine in as little device time as possible.
#
# The GPU machine (device tool) has Python 3.12, CUDA 13 and cuDNN 9 as pip packages, onnx, numpy,
# protobuf, pytest and OpenCV, but neither onnxruntime-gpu nor lark, and it cannot download. So:
#
#   here, once:  bash scripts/device_gpu_check.sh prepare
#                  -> .ortgpu/onnxruntime_gpu-*.whl.partNN (55 MiB each, ../shared/device/ort-gpu-parts.sh)
#                     and .ortgpu/lark-*.whl; .ortgpu/ is git-ignored locally
#   device, one call per part, back to back (an idle machine goes back after about 30 s), each with
#     carry [".ortgpu/<that part>"] (the first also ".ortgpu/<the lark wheel>"):
#                mkdir -p /tmp/ortgpu && cp .ortgpu/* /tmp/ortgpu/
#   device, last call (no carry; timeout_s 600):
#                bash scripts/device_gpu_check.sh run
#                  -> installs both into /tmp/site, says which providers load, runs
#                     tests/test_runtime.py and tests/test_cuda.py, then bench/bench_gpu.py;
#                     the log is also written to $OUT/gpu_check.log
#
# Record what it prints in bench/README.md ("bench_gpu.py") with the device's name and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
    bash ../shared/device/ort-gpu-parts.sh "${ORT_VERSION:-1.31.1}"
    python3 -m pip download -q --no-deps --only-binary=:all: -d .ortgpu "lark==${LARK_VERSION:-1.3.1}"
    ls -la .ortgpu
    ;;
run)
    log=${OUT:-/tmp}/gpu_check.log
    {
        cat /tmp/ortgpu/onnxruntime_gpu-*.part* > /tmp/ortgpu/onnxruntime_gpu.whl
        wheel=$(ls /tmp/ortgpu/onnxruntime_gpu-*.part00 | sed 's/\.part00$//')
        mv /tmp/ortgpu/onnxruntime_gpu.whl "$wheel"  # pip reads the version from the file name
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$wheel" /tmp/ortgpu/lark-*.whl
        export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
        python3 -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
        python3 -c "from netspec import runtime; print('netspec probe:', runtime.probe_cuda())"
        python3 -m pytest -q -rs -p no:cacheprovider -s tests/test_runtime.py tests/test_cuda.py || echo "TESTS FAILED: $?"
        python3 bench/bench_gpu.py --rounds "${ROUNDS:-20}"
    } 2>&1 | tee "$log"
    ;;
*)
    echo "usage: bash scripts/device_gpu_check.sh prepare|run" >&2
    exit 2
    ;;
esac
