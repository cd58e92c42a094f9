#!/usr/bin/env bash
# CI matrix over the scanner levels (docs/testing.md): the library tests and the integration
# tests again with TOKSTREAM_SIMD forcing each level this CPU runs, so every engine built by
# default (`Scanner::detect()`) and every spawned `tokstream` binary uses that level.
# The in-process level tests (tests/it/levels.rs, `scan` unit tests) already compare every
# level with the reference in each run; the big-memory streaming tests do not depend on the
# level and are skipped here, and so is the level the plain `cargo test` run already used; so
# is the slowest pipeline test (every worker count at chunk sizes of 1-16 bytes: it checks the
# reorder-and-reassemble logic, which no scanner level touches; the other pipeline tests still
# run at every level), and the BPE linear-time test (it counts merge operations, ~20 s).
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(env -u TOKSTREAM_SIMD cargo run --quiet --release -- --version)"
levels="$(echo "$version" | sed -n 's/.*available: \([^)]*\)).*/\1/p' | tr -d ',')"
default="$(echo "$version" | sed -n 's/.*SIMD: \([^;]*\);.*/\1/p')"
[ -n "$levels" ] && [ -n "$default" ] || { echo "ci-levels: cannot parse: $version"; exit 1; }
echo "-- levels: $levels (default $default, already tested)"
for level in $levels; do
    [ "$level" = "$default" ] && continue
    t0=$(date +%s)
    echo "-- TOKSTREAM_SIMD=$level"
    TOKSTREAM_SIMD="$level" cargo test --quiet --lib
    TOKSTREAM_SIMD="$level" cargo test --quiet --test integration -- --skip levels:: --skip streaming:: \
        --skip pipeline::output_is_byte_identical_for_tiny_chunks_and_every_worker_count \
        --skip gpt::pathological_inputs_are_linear_and_bounded
    echo "-- $level: $(($(date +%s) - t0)) s"
done
