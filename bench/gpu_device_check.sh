#!/usr/bin/env bash
# The GPU checks of a session that is lent a device machine, in one go.
#
#   bash bench/gpu_device_check.sh prepare      # here: wheels the device lacks -> .whl/
#   device run, carry [".whl"], timeout_s 600:
#     bash bench/gpu_device_check.sh run        # there: GPU tests, then bench/gpu_step.py
#
# The device machine has Python 3.12 with torch (CUDA), numpy, pytest and pytest-timeout,
# and no network: what relearn's updaters and Avalanche 0.6.0 need besides comes as
# wheels. `run` writes under $OUT (the device tool's folder that comes back): pytest.log,
# gpu_step.md (the table) and gpu_step.json. Time limits: GPU tests 180 s, gpu_step.py
# 330 s (Avalanche beside relearn; without it where Avalanche cannot be imported there).
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS="${WHEEL_DIR:-.whl}"

# The project's own needs (pydantic for the schemas), Avalanche 0.6.0 and what it imports,
# pinned as in the Avalanche venv of bench/avalanche_reference.py.
# Compiled ones as cp312 manylinux wheels; pure-Python ones built here (some are sdists).
BINARY=(pydantic_core==2.50.5 quadprog==0.1.14 wandb==0.31.0)
PURE=(
  pydantic==2.14.4 annotated-types==0.8.0 typing-inspection==0.4.5
  pydantic-settings==2.16.3 python-dotenv==1.2.4
  avalanche-lib==0.6.0 qpsolvers==4.13.0 dill==0.4.1 GPUtil==1.4.0 gdown==6.5.1
  beautifulsoup4==4.15.0 soupsieve==4.1.3 PySocks==1.7.1 pytorchcv==0.0.74
  mnist1d==0.0.2.post1 platformdirs==4.14.9 googleapis-common-protos==1.76.0
  opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-proto==1.45.2
  opentelemetry-exporter-otlp-proto-common==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2
  opentelemetry-exporter-http-transport==0.66b2 opentelemetry-exporter-otlp-common==0.66b2
  opentelemetry-semantic-conventions==0.66b2
)

prepare() {
  mkdir -p "$WHEELS"
  if [ "$WHEELS" = .whl ] && ! grep -qx '/.whl/' .git/info/exclude 2>/dev/null; then
    echo '/.whl/' >>.git/info/exclude
  fi
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    -d "$WHEELS" "${BINARY[@]}"
  python3 -m pip wheel -q --no-deps -w "$WHEELS" "${PURE[@]}"
  du -sh "$WHEELS"
}

run() {
  local out="${OUT:-/tmp/gpu-check}" status=0
  mkdir -p "$out"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || return 1
  export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
  python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())' \
    | tee -a "$out/gpu.txt"
  timeout 180 python3 -m pytest -q -p no:cacheprovider -m gpu --continue-on-collection-errors \
    tests/gpu tests/worker/test_chunk_data.py \
    2>&1 | tee "$out/pytest.log" || status=1
  local avalanche=()
  python3 -c 'import avalanche.training' 2>/dev/null || avalanche=(--no-avalanche)
  timeout 330 python3 bench/gpu_step.py --device cuda --repeats 5 "${avalanche[@]}" \
    --json "$out/gpu_step.json" 2>"$out/gpu_step.err" | tee "$out/gpu_step.md" || status=1
  tail -5 "$out/gpu_step.err"
  return $status
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
