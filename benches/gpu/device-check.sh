#!/usr/bin/env bash
# One run on a lent NVIDIA machine (H100/H200): is shadercam correct there, and how fast is it
# next to PyTorch and pytorch-grad-cam on the same card, in the same run?
#
#   1. `shadercam selftest` (every kernel vs its CPU reference, the whole network vs PyTorch);
#      if it fails the script stops (exit 1), its output kept in $OUT/selftest.txt.
#   2. `shadercam bench --json` at batch 1, 64 and 256 for every `--precision` the binary offers
#      (read from `shadercam bench --help`; `auto` is left out, it picks one of the others); a
#      batch over the adapter's buffer limits is skipped with a note.
#   3. benches/gpu/torch_bench.py on the same GPU: PyTorch eager fp32 (TF32 off and on),
#      forward + CAM in PyTorch, pytorch-grad-cam's GradCAM.
#   4. One table: each shadercam row with its ratio to each PyTorch anchor (anchor ms /
#      shadercam ms: above 1, shadercam is faster), printed and written to $OUT/table.txt.
# Files in $OUT (at most 8: what the device tool brings back): selftest.txt, table.txt,
# shadercam_bench.json (every bench run, keyed "<precision>_bs<batch>"), torch.json,
# summary.json (card, driver, steps, notes), log.txt (everything the steps printed).
#
# On the device machine (see shared/device/README.md), from the project root, with these
# carried, ignored folders:
#   .gl/   Debian bookworm amd64 .debs: libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2
#          (the NVIDIA Vulkan ICD needs libglvnd; with libvulkan1 alone wgpu finds no adapter)
#   .bin/  the release CLI: `cargo build --release -p shadercam && mkdir -p .bin && cp target/release/shadercam .bin/`
#   .whl/  for the GradCAM rows: `pip download --no-deps grad-cam ttach -d .whl`
# e.g. run(command="bash benches/gpu/device-check.sh", carry=[".gl", ".bin", ".whl"], timeout_s=540).
# It needs nothing else: the weights are found next to the binary's workspace (weights/).
# Expected to take 2-4 minutes on an H200 (pipeline creation, 3 batches x 2 precisions x
# $ITERS iterations, then PyTorch); well under the 8 minutes it is sized for.
#
# --dry-run: the same steps on whatever adapter this machine has (lavapipe) with tiny counts
# (batches 1 and 2, 1 iteration, no warm-up) and without the CUDA rows, using $SHADERCAM_BIN,
# else .bin/shadercam, else target/release or target/debug. crates/shadercam/tests/device_check.rs
# runs it in CI, so the script itself is tested before it meets a GPU.
#
# Environment: OUT (default target/device-check), SHADERCAM_BIN, BATCHES, ITERS, WARMUP,
# PRECISIONS (default: from --help), SELFTEST_ARGS (extra selftest flags, e.g. "--filter f32").
set -euo pipefail

DRY=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY=1 ;;
        -h | --help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "unknown argument $arg (use --dry-run or nothing)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/target/device-check}"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
LOG="$OUT/log.txt"
: > "$LOG"
# Everything a step prints goes to the terminal and to $LOG.
say() { echo "$@" | tee -a "$LOG" >&2; }

if [ "$DRY" = 1 ]; then
    BATCHES="${BATCHES:-1 2}"
    ITERS="${ITERS:-1}"
    WARMUP="${WARMUP:-0}"
else
    BATCHES="${BATCHES:-1 64 256}"
    ITERS="${ITERS:-30}"
    WARMUP="${WARMUP:-5}"
fi

# Loader libraries and the GradCAM package: only where they were carried (the device machine).
if [ "$DRY" = 0 ] && [ -d .gl ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
if [ "$DRY" = 0 ] && [ -d .whl ] && ls .whl/* >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site .whl/* 2>&1 | tee -a "$LOG" >&2 || true
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi

BIN="${SHADERCAM_BIN:-}"
if [ -z "$BIN" ]; then
    for b in .bin/shadercam target/release/shadercam target/debug/shadercam; do
        if [ -x "$b" ] && { [ "$DRY" = 1 ] || [ "$b" = .bin/shadercam ]; }; then BIN="$b"; break; fi
    done
fi
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    echo "no shadercam binary: build it and carry .bin (see the header of $0), or set SHADERCAM_BIN" >&2
    exit 2
fi
say "== binary $BIN ($("$BIN" --version))"

GPU="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true)"
[ -n "$GPU" ] && say "== nvidia-smi: $GPU"

# 1. Correctness first: numbers from a GPU that computes wrongly are worth nothing.
say "== shadercam selftest"
set +e
# shellcheck disable=SC2086
"$BIN" selftest ${SELFTEST_ARGS:-} > "$OUT/selftest.txt" 2> "$WORK/selftest.err"
SELFTEST_RC=$?
set -e
cat "$OUT/selftest.txt" "$WORK/selftest.err" | tee -a "$LOG" >&2
cat "$WORK/selftest.err" >> "$OUT/selftest.txt"
if [ "$SELFTEST_RC" != 0 ]; then
    say "selftest FAILED (exit $SELFTEST_RC): stopping; see $OUT/selftest.txt"
    python3 - "$OUT" "$SELFTEST_RC" "$GPU" <<'PY'
import json, sys
out, rc, gpu = sys.argv[1], int(sys.argv[2]), sys.argv[3]
json.dump({"selftest_exit": rc, "gpu": gpu, "stopped": "selftest failed"}, open(f"{out}/summary.json", "w"), indent=1)
PY
    exit 1
fi

# 2. shadercam bench for every precision and batch.
if [ -n "${PRECISIONS:-}" ]; then
    read -r -a PRECS <<< "$PRECISIONS"
else
    # clap lists them under --precision, as `[possible values: f32, f16]` or, when the values
    # have help text, as a `Possible values:` list of `- name: help` lines.
    LIST="$("$BIN" bench --help | python3 -c '
import re, sys
help = sys.stdin.read()
opt = help[help.index("--precision"):]
nxt = re.search(r"\n\s+(-\w, )?--(?!precision)[a-z]", opt)
opt = opt[: nxt.start()] if nxt else opt
m = re.search(r"\[possible values: ([^\]]*)\]", opt)
names = [v.strip() for v in m.group(1).split(",")] if m else re.findall(r"^\s+- ([\w-]+)", opt, re.M)
print(" ".join(names))
')"
    [ -n "$LIST" ] || { say "could not read --precision's values from 'shadercam bench --help'; set PRECISIONS"; exit 2; }
    read -r -a PRECS <<< "$LIST"
fi
RUNS=()
for p in "${PRECS[@]}"; do
    [ "$p" = auto ] && continue
    for b in $BATCHES; do
        say "== shadercam bench --precision $p --batch $b --iters $ITERS --warmup $WARMUP"
        set +e
        "$BIN" bench --precision "$p" --batch "$b" --iters "$ITERS" --warmup "$WARMUP" --quiet --json \
            > "$WORK/bench_${p}_bs$b.json" 2> "$WORK/bench.err"
        rc=$?
        set -e
        cat "$WORK/bench_${p}_bs$b.json" "$WORK/bench.err" | tee -a "$LOG" >&2
        if [ "$rc" = 0 ]; then
            RUNS+=("${p}_bs$b")
        elif grep -q "exceeds this adapter's limit" "$WORK/bench.err"; then
            say "note: batch $b skipped for $p: over this adapter's buffer limits"
            echo "batch $b ($p): over this adapter's buffer limits, skipped" >> "$WORK/notes.txt"
        else
            say "shadercam bench --precision $p --batch $b failed (exit $rc)"
            echo "batch $b ($p): bench failed with exit $rc: $(tail -1 "$WORK/bench.err")" >> "$WORK/notes.txt"
        fi
    done
done

# 3. PyTorch and pytorch-grad-cam on the same GPU.
if [ "$DRY" = 1 ]; then
    # No CUDA here: placeholder rows in torch_bench.py's format, so the table is exercised.
    say "== PyTorch skipped (--dry-run): placeholder anchor rows"
    # shellcheck disable=SC2086
    python3 benches/gpu/torch_bench.py --dry-run --batches $BATCHES --out "$OUT/torch.json"
else
    say "== PyTorch"
    # shellcheck disable=SC2086
    python3 benches/gpu/torch_bench.py --batches $BATCHES --out "$OUT/torch.json" 2>&1 | tee -a "$LOG" >&2 \
        || say "torch_bench.py failed: the table has no PyTorch rows"
    [ -s "$OUT/torch.json" ] \
        || echo '{"device": null, "torch": null, "rows": {}, "error": "torch_bench.py failed: see log.txt"}' > "$OUT/torch.json"
fi

# 4. One table, the merged JSON and the summary.
touch "$WORK/notes.txt"
python3 - "$OUT" "$WORK" "$GPU" "$DRY" "$ITERS" "$WARMUP" "${RUNS[@]}" <<'PY' | tee "$OUT/table.txt"
import json, os, sys

out, work, gpu, dry, iters, warmup = sys.argv[1:7]
runs = sys.argv[7:]
bench = {r: json.load(open(os.path.join(work, f"bench_{r}.json"))) for r in runs}
for r, v in bench.items():
    v["precision"] = r.rsplit("_bs", 1)[0]
json.dump(bench, open(os.path.join(out, "shadercam_bench.json"), "w"), indent=1)
torch = json.load(open(os.path.join(out, "torch.json")))
rows = torch.get("rows", {})
notes = [l.strip() for l in open(os.path.join(work, "notes.txt")) if l.strip()]
if "grad_cam_lib_error" in torch:
    notes.append("pytorch-grad-cam: " + torch["grad_cam_lib_error"])
if torch.get("error"):
    notes.append(torch["error"])

# The anchors: PyTorch forward rows are compared with shadercam's forward time, the CAM rows
# with shadercam's forward + Grad-CAM time (what `explain` does per batch).
ANCHORS = [  # (row in torch.json, shadercam time it is compared with, label, column)
    ("torch_fp32_strict", "forward", "PyTorch fp32 (TF32 off)", "x torch"),
    ("torch_fp32_tf32", "forward", "PyTorch fp32 (TF32 on)", "x torch TF32"),
    ("torch_cam_strict", "total", "PyTorch forward+CAM", "x torch CAM"),
    ("grad_cam_lib", "total", "pytorch-grad-cam GradCAM", "x grad-cam"),
]
adapter = next(iter(bench.values()))["adapter"] if bench else "?"
print(f"\nshadercam on {adapter}" + (f" ({gpu})" if gpu else "") + f"; PyTorch: {torch.get('device') or 'not run'} (torch {torch.get('torch') or '-'})")
print(f"shadercam: median of {iters} iterations after {warmup} warm-up; ratio = anchor ms / shadercam ms (> 1: shadercam faster)")
hdr = f"{'batch':>5}  {'row':<34} {'fwd ms':>9} {'fwd+CAM ms':>11} {'img/s':>9}  " + "  ".join(f"{col:>14}" for _, _, _, col in ANCHORS)
print(hdr)
print("-" * len(hdr))
batches = sorted({v["batch"] for v in bench.values()} | {r["batch"] for r in rows.values()})
summary_rows = []
for b in batches:
    for name, v in bench.items():
        if v["batch"] != b:
            continue
        fwd, tot = v["forward_ms_median"], v["total_ms_median"]
        ratios = []
        rec = {"batch": b, "row": f"shadercam {v['precision']}", "forward_ms": fwd, "total_ms": tot, "images_per_s": v["images_per_s"]}
        for key, part, _, _ in ANCHORS:
            a = rows.get(f"{key}_bs{b}")
            ref = fwd if part == "forward" else tot
            r = a["ms"] / ref if a else None
            rec[f"x_{key}"] = r
            ratios.append(f"{r:>13.3g}x" if r is not None else f"{'-':>14}")
        summary_rows.append(rec)
        print(f"{b:>5}  {rec['row']:<34} {fwd:>9.3f} {tot:>11.3f} {v['images_per_s']:>9.1f}  " + "  ".join(ratios))
    for key, part, label, _ in ANCHORS:
        a = rows.get(f"{key}_bs{b}")
        if a is None:
            continue
        f, t = (a["ms"], None) if part == "forward" else (None, a["ms"])
        fs = f"{f:>9.3f}" if f is not None else f"{'':>9}"
        ts = f"{t:>11.3f}" if t is not None else f"{'':>11}"
        print(f"{b:>5}  {label:<34} {fs} {ts} {a['images_per_s']:>9.1f}")
        summary_rows.append({"batch": b, "row": label, "ms": a["ms"], "images_per_s": a["images_per_s"]})
for n in notes:
    print("note:", n)
json.dump({
    "gpu": gpu or None, "adapter": adapter, "dry_run": dry == "1", "iters": int(iters), "warmup": int(warmup),
    "selftest": "passed", "anchors_are_placeholders": bool(torch.get("dry_run")), "torch_device": torch.get("device"), "torch": torch.get("torch"),
    "rows": summary_rows, "notes": notes,
}, open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
say "== done: $OUT (selftest.txt table.txt shadercam_bench.json torch.json summary.json log.txt)"
