#!/usr/bin/env bash
# Builds the release binary and runs the orstream-vs-curl benchmark
# (benches/stream/main.rs); the output is also saved to benches/latest.txt.
# ORSTREAM_BENCH_QUICK=1 benches/run.sh  gives a fast smoke run;
# ORSTREAM_BENCH_ONLY=attach (or =stream, =each, =floor) runs one part only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
{
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' (src modified)')"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) cores; $(uname -sr)"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)${ORSTREAM_BENCH_ONLY:+; only: $ORSTREAM_BENCH_ONLY}"
    cargo bench --bench stream 2>&1
} | tee benches/latest.txt
