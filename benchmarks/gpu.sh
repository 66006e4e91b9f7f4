#!/usr/bin/env bash
# The GPU benchmark suite in one command, on a clean device machine (see DEVELOPERS.md).
#
# Here, in the repository root, once per session (it prepares nothing itself):
#   ../shared/device/prepare                                  # wheels the machine lacks -> .device/
#   mkdir -p .device/data && cp -r ../shared/data/sr/{SunHays80,Set5} .device/data/   # curve
# Then a device run with carry [".device"] and the command:
#   source .device/setup.sh && bash benchmarks/gpu.sh          # or CURVE_MINUTES=1 bash ...
#
# It runs `imgen bench --device cuda`, the whole suite, under 8 minutes on one H100: no
# torch.compile mode is started that would end after $BENCH_MINUTES (5) minutes. With
# CURVE_MINUTES=N (default 0: off) and the SR photos carried, it then trains a PSNR-against-
# minutes curve for N GPU minutes at imgen's GPU defaults (bf16, channels_last) on Set5 x4
# (add about N + 1 minutes). Writes benchmarks/results/<gpu>-<date>.json (+ .md tables,
# + -sr_curve.json) and copies them to $OUT when that is set (the device tool returns $OUT).
# Extra arguments go to `imgen bench`, e.g. `bash benchmarks/gpu.sh --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
BENCH_MINUTES=${BENCH_MINUTES:-5}
CURVE_MINUTES=${CURVE_MINUTES:-0}

if ! command -v imgen >/dev/null; then
    echo "gpu.sh: imgen is not installed here; run: source .device/setup.sh && bash $0" >&2
    exit 1
fi
label=$(python3 -c "
from imgen.bench.environment import device_label, machine
print(device_label(machine('cuda'), 'cuda'))")
stem=benchmarks/results/$label-$(date +%Y-%m-%d)
mkdir -p benchmarks/results
start=$SECONDS

imgen bench --device cuda --max-minutes "$BENCH_MINUTES" --json "$stem.json" "$@" | tee "$stem.md"
echo "gpu.sh: imgen bench took $((SECONDS - start)) s" >&2

files=("$stem.json" "$stem.md")
if [ -d .device/data/SunHays80 ] && [ -d .device/data/Set5 ] && [ "$CURVE_MINUTES" != 0 ]; then
    python3 benchmarks/sr_train_curve.py --data .device/data/SunHays80 \
        --eval-data .device/data/Set5 --minutes "$CURVE_MINUTES" --steps 3000 --eval-every 250 \
        --out /tmp/imgen-runs --json "$stem-sr_curve.json"
    files+=("$stem-sr_curve.json")
else
    echo "gpu.sh: no .device/data/{SunHays80,Set5}: the SR quality curve is left out" >&2
fi
echo "gpu.sh: done in $((SECONDS - start)) s" >&2
if [ -n "${OUT:-}" ]; then
    cp "${files[@]}" "$OUT"/
fi
