#!/bin/sh
# Regenerates every picture under docs/ with the shadercam CLI and the embedded model
# (weights/resnet50-shapes.safetensors), so that none can go stale: run it after a change to the
# network, the CAM stage or the drawing code, and commit what changes.
#
#   sh docs/make-pictures.sh            (from anywhere; about a minute on lavapipe)
#
# The commands are the ones docs/tutorial.md shows next to each picture, with --out-dir pointing
# at a scratch folder; each picture is then copied to the name the docs use. Everything under
# docs/pictures/ is deleted first, so a picture the docs stopped using does not linger.
# crates/shadercam/tests/learning.rs checks that every PNG under docs/ is named here.
set -eu
cd "$(dirname "$0")/.."
cargo build -q -p shadercam
bin=target/debug/shadercam
img=tests/fixtures/images
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=docs/pictures
rm -rf "$out"
mkdir -p "$out"

# README: the default run (Grad-CAM, top-1 class).
"$bin" explain -q --out-dir "$tmp/readme" "$img/shape_004.png" "$img/photo_chelsea.png" >/dev/null
cp "$tmp/readme/shape_004.overlay.png" docs/example-shape_004.overlay.png
cp "$tmp/readme/shape_004.cam.png" docs/example-shape_004.cam.png
cp "$tmp/readme/photo_chelsea.overlay.png" docs/example-chelsea.overlay.png

for name in shape_004 photo_chelsea; do
    # Tutorial sections 2-4: the raw CAM, its top channels and its signed 7x7 map.
    "$bin" explain -q --method cam --maps 6 --dump-stages --out-dir "$tmp/cam" "$img/$name.png" >/dev/null
    cp "$tmp/cam/$name.maps.png" "$out/$name.maps.png"
    cp "$tmp/cam/$name.stage1-raw.png" "$out/$name.cam.stage1-raw.png"
    # Tutorial section 5: each post-processing stage of Grad-CAM.
    "$bin" explain -q --method gradcam --dump-stages --out-dir "$tmp/gradcam" "$img/$name.png" >/dev/null
    cp "$tmp/gradcam/$name.stage1-raw.png" "$out/$name.gradcam.stage1-raw.png"
    cp "$tmp/gradcam/$name.stage2-normalised.png" "$out/$name.gradcam.stage2-normalised.png"
    cp "$tmp/gradcam/$name.stage3-upsampled.png" "$out/$name.gradcam.stage3-upsampled.png"
    cp "$tmp/gradcam/$name.stage4-heat.png" "$out/$name.gradcam.stage4-heat.png"
    cp "$tmp/gradcam/$name.cam.png" "$out/$name.gradcam.cam.png"
    # Tutorial section 6: every method side by side.
    "$bin" explain -q --method all --out-dir "$tmp/all" "$img/$name.png" >/dev/null
    cp "$tmp/all/$name.gallery.png" "$out/$name.gallery.png"
done
echo "wrote $(find docs -name '*.png' | wc -l) pictures under docs/"
