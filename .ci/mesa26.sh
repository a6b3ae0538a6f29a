#!/usr/bin/env bash
# Mesa 26 lavapipe on Debian 12, without touching the system: the Vulkan driver that offers
# cooperative matrices (VK_KHR_cooperative_matrix, 8x8x8 f16 at subgroup scope) on a CPU.
#
# Why: lavapipe gained VK_KHR_cooperative_matrix in Mesa 26.0. Debian 12 (bookworm) has at
# most Mesa 25 (bookworm-backports); Debian 13's trixie-backports has 26.1.6, which needs glibc
# 2.38 (bookworm has 2.36). So this script downloads that driver and trixie's own C runtime into
# one folder, with a private apt configuration (the system's apt state is never written), and
# runs programs under trixie's dynamic loader with that folder first on the library path.
# Binaries built normally on Debian 12 run unchanged that way.
#
# Usage:
#   .ci/mesa26.sh [DIR]        set up DIR (default: $SHADERCAM_MESA26_DIR, else
#                              ~/.cache/shadercam/mesa-26.1.6) once; prints what to source
#   . DIR/env.sh               then every `cargo test` / `cargo run` in that shell runs on it:
#                              VK_ICD_FILENAMES names DIR's lavapipe and
#                              CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER is DIR/run
#   DIR/run PROGRAM [ARGS...]  one program on it (e.g. DIR/run target/release/shadercam selftest)
#
# The Mesa version is pinned (MESA_VERSION below), so a new backport cannot change results
# unannounced; when the archive drops it, this script fails and says so. The glibc, libstdc++
# and LLVM beside it are trixie's current stable ones.
set -euo pipefail

MESA_VERSION=26.1.6-1~bpo13+1
MESA_SHORT=26.1.6
DIR=${1:-${SHADERCAM_MESA26_DIR:-$HOME/.cache/shadercam/mesa-$MESA_SHORT}}
ARCHIVE=${SHADERCAM_DEBIAN_ARCHIVE:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
LIB=$DIR/root/usr/lib/x86_64-linux-gnu

if [ "$(uname -m)" != x86_64 ]; then
  echo "mesa26.sh: only x86-64 is set up by this script (found $(uname -m))" >&2
  exit 1
fi

if [ ! -f "$DIR/.done-$MESA_VERSION" ]; then
  for tool in apt-get dpkg; do
    command -v "$tool" >/dev/null || {
      echo "mesa26.sh: needs $tool (Debian or Ubuntu)" >&2
      exit 1
    }
  done
  [ -f "$KEYRING" ] || {
    echo "mesa26.sh: $KEYRING is missing (apt-get install debian-archive-keyring)" >&2
    exit 1
  }
  echo "mesa26.sh: setting up Mesa $MESA_VERSION lavapipe in $DIR (about 49 MB to download)"
  rm -rf "$DIR"
  mkdir -p "$DIR/apt/lists/partial" "$DIR/apt/cache/archives/partial" "$DIR/debs" "$DIR/root"
  printf 'Types: deb\nURIs: %s\nSuites: trixie trixie-updates trixie-backports\nComponents: main\nSigned-By: %s\n' \
    "$ARCHIVE" "$KEYRING" >"$DIR/apt/trixie.sources"
  apt_opts=(
    -o "Dir::Etc::SourceList=$DIR/apt/trixie.sources" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$DIR/apt/lists" -o "Dir::Cache=$DIR/apt/cache"
    -o APT::Architecture=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq
  )
  apt-get "${apt_opts[@]}" update
  # Only the driver and what it needs beyond Debian 12's libraries: trixie's C runtime (its
  # loader runs the process), C++ runtime, LLVM (lavapipe's JIT) and libdisplay-info.
  pkgs=("mesa-vulkan-drivers=$MESA_VERSION" libc6 libstdc++6 libgcc-s1 libllvm19 libdisplay-info2)
  if ! (cd "$DIR/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}"); then
    echo "mesa26.sh: could not download ${pkgs[*]} from $ARCHIVE (trixie, trixie-backports)." >&2
    echo "  If mesa-vulkan-drivers=$MESA_VERSION is gone from trixie-backports, pin the new" >&2
    echo "  version in .ci/mesa26.sh, rerun the cooperative-matrix tests and record the change" >&2
    echo "  in benches/README.md (section \"Mesa 25 and Mesa 26\")." >&2
    exit 1
  fi
  for deb in "$DIR"/debs/*.deb; do dpkg -x "$deb" "$DIR/root"; done
  [ -x "$LIB/ld-linux-x86-64.so.2" ] && [ -f "$LIB/libvulkan_lvp.so" ] || {
    echo "mesa26.sh: unpacked packages lack ld-linux-x86-64.so.2 or libvulkan_lvp.so" >&2
    exit 1
  }
  rm -rf "$DIR/apt" "$DIR/debs"
  # The ICD manifest, naming this folder's driver by absolute path.
  printf '{\n  "file_format_version": "1.0.1",\n  "ICD": {\n    "library_path": "%s",\n    "api_version": "1.4.0"\n  }\n}\n' \
    "$LIB/libvulkan_lvp.so" >"$DIR/lvp_icd.json"
  # The runner: trixie's loader, this folder's libraries first, then the system's (for
  # libvulkan.so.1 and everything else a Debian 12 binary links).
  cat >"$DIR/run" <<EOF
#!/bin/sh
# Runs a program with Mesa $MESA_SHORT lavapipe (made by .ci/mesa26.sh).
export VK_ICD_FILENAMES="$DIR/lvp_icd.json"
exec "$LIB/ld-linux-x86-64.so.2" --library-path "$LIB:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" "\$@"
EOF
  chmod +x "$DIR/run"
  cat >"$DIR/env.sh" <<EOF
# Source this: cargo test / cargo run then run every binary on Mesa $MESA_SHORT lavapipe.
export VK_ICD_FILENAMES="$DIR/lvp_icd.json"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$DIR/run"
export SHADERCAM_RUNNER="$DIR/run"
EOF
  touch "$DIR/.done-$MESA_VERSION"
fi
echo "mesa26.sh: Mesa $MESA_VERSION lavapipe ready; use it with: . $DIR/env.sh"
