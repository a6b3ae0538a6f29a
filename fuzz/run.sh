#!/usr/bin/env bash
# Build and run shadercam's fuzz targets (cargo-fuzz + libFuzzer, AddressSanitizer).
#
#   fuzz/run.sh [SECONDS] [TARGET...]     # default: 60 s each for checkpoint_header image_preprocess
#   KEEP_GOING=1 fuzz/run.sh 300          # do not stop at the first crash (libFuzzer fork mode)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and python3 (seed generation). cargo-fuzz needs
# nightly rustc flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# Each target runs as ONE fuzzing process (the equivalent of -jobs=1), so it uses one core.
# Corpora grow in fuzz/corpus/<target>/ (seeded from make_seeds.py), crashes land in
# fuzz/artifacts/<target>/, the log of each run in fuzz/artifacts/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(checkpoint_header image_preprocess)
fi
export RUSTC_BOOTSTRAP=1

python3 make_seeds.py corpus/checkpoint_header corpus/image_preprocess
mkdir -p artifacts

status=0
for t in "${targets[@]}"; do
    dict=()
    if [ -f "$t.dict" ]; then
        dict=("-dict=$t.dict")
    fi
    mode=()
    if [ "${KEEP_GOING:-0}" = 1 ]; then
        mode=(-fork=1 -ignore_crashes=1)
    fi
    echo "== $t: ${secs}s" >&2
    # -timeout: an input that takes longer than 20 s is reported as a hang.
    # -rss_limit_mb: the default 2048 MB; decode_bytes is called with max_pixels 4e6.
    if ! cargo fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" "${mode[@]}" 2>&1 | tee "artifacts/$t.log"; then
        status=1
    fi
    echo "== $t: $(grep -E 'stat::number_of_executed_units|^#[0-9]+.*(DONE|cov:)' "artifacts/$t.log" | tail -1)" >&2
done
exit $status
