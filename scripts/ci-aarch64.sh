#!/usr/bin/env bash
# The NEON scanner on aarch64, under qemu-user: the scanner's unit tests (every classifier and
# piece finder against the scalar one) and the golden and SIMD-level integration tests (every
# level, NEON included, against Hugging Face's and tiktoken's outputs and the reference path;
# for the bert and whitespace rules).
# The CLI tests are left out: they exec the test binary, which is an aarch64 executable here.
#
# Needs: the rust-std of aarch64-unknown-linux-gnu (rustup) and Debian's gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user, installed below when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
target=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$target"; then
    if ! rustup target add "$target"; then
        # The only step that downloads from outside the package registries: if it is not
        # reachable, say so loudly rather than fail every other check with it.
        echo "SKIPPED aarch64: could not install the $target standard library"
        exit 0
    fi
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
cargo test --target "$target" --lib scan
cargo test --target "$target" --test integration -- \
    golden:: levels::every_level_matches_the_goldens levels::random_bytes \
    whitespace::every_level_matches_the_goldens whitespace::random_bytes
echo "-- aarch64 step: $(($(date +%s) - t0)) s"
