#!/usr/bin/env bash
# Rebuilds the built-in plugins' modules (plugins/<name>/plugin.wasm) from source with Debian's
# Rust toolchain (rustc, cargo, libstd-rust-dev-wasm32; crates from librust-*-dev, offline).
# Builds are reproducible: the same sources give the same bytes on any checkout path, which the
# tests check. Usage: plugins/build.sh [OUT_DIR] [NAME...] (OUT_DIR defaults to plugins/ itself).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="${1:-$here}"
shift || true
# rustup's rustc comes first in PATH on some machines and lacks the wasm32 standard library.
export RUSTC="${RUSTC:-/usr/bin/rustc}"
cargo="${CARGO:-/usr/bin/cargo}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
# Cargo hashes each crate's source path into its symbols, which orders the module's functions, so
# the sources are built from one fixed path whatever the checkout's (a lock keeps builds apart).
src=/tmp/portcullis-plugins-src
exec 9>"$src.lock"
flock 9
rm -rf "$src"
mkdir -p "$src/sdk"
cp -r "$repo/sdk/rust" "$src/sdk/rust"
rm -rf "$src/sdk/rust/target"
mkdir -p "$src/plugins"
tar -C "$here" --exclude=./target -cf - . | tar -C "$src/plugins" -xf -
export RUSTFLAGS="--remap-path-prefix=$src=portcullis --remap-path-prefix=$CARGO_TARGET_DIR=target"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for m in "$here"/*/Cargo.toml; do names+=("$(basename "$(dirname "$m")")"); done
fi
for name in "${names[@]}"; do
  (cd "$src/plugins/$name" && "$cargo" build --quiet --release)
  crate="$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$here/$name/Cargo.toml" | head -1 | tr - _)"
  mkdir -p "$out/$name"
  cp "$CARGO_TARGET_DIR/wasm32-wasi/release/$crate.wasm" "$out/$name/plugin.wasm"
done
