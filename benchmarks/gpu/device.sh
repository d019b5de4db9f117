#!/usr/bin/env bash
# On the GPU machine (issue 24; docs/scale.md "On a GPU"): install the carried wheels into a
# folder on PYTHONPATH beside the image's own torch, then `nox -s gpu -- --here` and
# benchmarks/bench_gpu.py. Everything it prints also lands in $OUT (env.txt, gpu.log, bench.md).
#
# Prepare here: bash benchmarks/gpu/wheels.sh. Then the device tool's run, from the repository
# root, with carry [".whl"]:   bash benchmarks/gpu/device.sh
# On a CPU, to check this script itself:  GDA_TEST_DEVICE=cpu bash benchmarks/gpu/device.sh
#
# Variables: GDA_TEST_DEVICE (cuda), GDA_GPU_SITE (/tmp/gda-site), GDA_GPU_TRAIN_STEPS (bench_gpu's
# --train-steps, 300), OUT (/tmp/gda-gpu-out where the device tool sets none).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gda-gpu-out}
SITE=${GDA_GPU_SITE:-/tmp/gda-site}
DEVICE=${GDA_TEST_DEVICE:-cuda}
STEPS=${GDA_GPU_TRAIN_STEPS:-300}
mkdir -p "$OUT"
if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "device.sh: no .whl/*.whl here: run bash benchmarks/gpu/wheels.sh first and carry .whl" >&2
    exit 2
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    || { echo "device.sh: installing the carried wheels failed" >&2; exit 3; }
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PATH="$SITE/bin:$PATH" PYTHONUNBUFFERED=1
{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "no nvidia-smi"
    python3 -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__,
'| CUDA', torch.version.cuda, '| cuDNN', torch.backends.cudnn.version(), '|',
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
    python3 -m pip list 2>/dev/null | grep -i -E '^(diffusers|monai|transformers|peft|numpy|scikit-learn|gda-) '
} 2>&1 | tee "$OUT/env.txt"
start=$SECONDS
python3 -m nox -s gpu -- --here --device "$DEVICE" 2>&1 | tee "$OUT/gpu.log"
rc_gpu=${PIPESTATUS[0]}
echo "device.sh: nox -s gpu rc=$rc_gpu in $((SECONDS - start)) s" | tee -a "$OUT/env.txt"
devices="$DEVICE,cpu"
[ "$DEVICE" = cpu ] && devices=cpu
start=$SECONDS
python3 benchmarks/bench_gpu.py --devices "$devices" --train-steps "$STEPS" 2>&1 | tee "$OUT/bench.md"
rc_bench=${PIPESTATUS[0]}
echo "device.sh: bench_gpu rc=$rc_bench in $((SECONDS - start)) s" | tee -a "$OUT/env.txt"
[ "$rc_gpu" -eq 0 ] && [ "$rc_bench" -eq 0 ]
