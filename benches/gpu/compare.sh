#!/usr/bin/env bash
# Superseded by device-check.sh (selftest first, then shadercam bench for every --precision at
# batch 1, 64 and 256, PyTorch and pytorch-grad-cam on the same card, one table, raw JSON in
# $OUT); kept so that older notes that name this script still work. See device-check.sh's
# header for what to carry to the device machine.
exec bash "$(dirname "$0")/device-check.sh" "$@"
