#!/usr/bin/env bash
# Builds the release binary and runs the orstream-vs-curl benchmark
# (benches/stream.rs); the output is also saved to benches/latest.txt.
# ORSTREAM_BENCH_QUICK=1 benches/run.sh  gives a fast smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
{
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' (src modified)')"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) cores; $(uname -sr)"
    cargo bench --bench stream 2>&1
} | tee benches/latest.txt
