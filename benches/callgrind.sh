#!/usr/bin/env bash
# Instruction counts (callgrind's total Ir) of orstream binaries on the bulk
# stream, in text, --json, -x and --result modes, and on the reasoning
# stream (think: half reasoning deltas, hidden or with --reasoning): the
# repeatable figure of benches/RESULTS.md, independent of the machine's load.
#
#   benches/callgrind.sh target/release/orstream [/work/baseline-orstream …]
#
# Each binary runs `orstream --base-url http://127.0.0.1:PORT/bulk/N/k32
# [--json|-x|--result] hi` under `valgrind --tool=callgrind` against the bench's own
# server (`ORSTREAM_BENCH_SERVE=0`, benches/stream/server.rs), stdout on a
# pipe, environment cleared but PATH. N = ORSTREAM_CALLGRIND_CHUNKS (20000).
# ORSTREAM_CALLGRIND_MODES overrides the modes (default "text --json -x
# --result think think:--reasoning"; `think:ARG` is ARG on /think/N/k32; an
# old binary without --result exits 2 for that mode).
# -x exits 8 here (the answer has no fenced block); that is expected. Counts
# vary by up to ~0.1 % between runs (read boundaries), so compare beyond that.
set -euo pipefail

if [[ $# -eq 0 || $1 == -h || $1 == --help ]]; then
    sed -n '2,15s/^# \{0,1\}//p' "$0"
    [[ $# -gt 0 ]]
    exit
fi
chunks=${ORSTREAM_CALLGRIND_CHUNKS:-20000}
bins=()
for b in "$@"; do
    [[ -f $b && -x $b ]] || { echo "callgrind.sh: $b: not an executable" >&2; exit 2; }
    bins+=("$(realpath "$b")")
done
names=("$@")
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found" >&2; exit 2; }
cd "$(dirname "$0")/.."

# The bench executable (built in the release profile if it is out of date).
server=$(cargo bench --bench stream --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .target.kind == ["bench"]) | .executable')
[[ -x $server ]] || { echo "callgrind.sh: cannot build the stream bench" >&2; exit 1; }

tmp=$(mktemp -d)
coproc SERVE { ORSTREAM_BENCH_SERVE=0 exec "$server"; }
serve_pid=$SERVE_PID
trap 'kill "$serve_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
read -r -t 30 line <&"${SERVE[0]}" || { echo "callgrind.sh: the server did not start" >&2; exit 1; }
# "serving on http://127.0.0.1:PORT/bulk/20000/k32 and https://…"
base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' <<<"$line" | head -1)

echo "bulk $chunks chunks, k32 framing, $base; callgrind total Ir"
printf '%-28s %-17s %12s %9s %9s %5s %9s\n' binary mode Ir M "Ir/chunk" exit stdout
for i in "${!bins[@]}"; do
    bin=${bins[$i]}
    for mode in ${ORSTREAM_CALLGRIND_MODES:-text --json -x --result think think:--reasoning}; do
        args=()
        route=bulk
        arg=$mode
        if [[ $mode == think* ]]; then
            route=think
            arg=${mode#think}
            arg=${arg#:}
        fi
        [[ $arg == text || -z $arg ]] || args=("$arg")
        set +e
        env -i PATH="$PATH" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            --log-file="$tmp/log" "$bin" --base-url "$base/$route/$chunks/k32" "${args[@]}" hi \
            2>/dev/null | wc -c >"$tmp/bytes"
        status=${PIPESTATUS[0]}
        set -e
        ir=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$tmp/log")
        [[ -n $ir ]] || { echo "callgrind.sh: no total in:" >&2; cat "$tmp/log" >&2; exit 1; }
        printf '%-28s %-17s %12s %9s %9s %5s %9s\n' "${names[$i]}" "$mode" "$ir" \
            "$(awk -v i="$ir" 'BEGIN { printf "%.2f M", i / 1e6 }')" \
            "$(awk -v i="$ir" -v n="$chunks" 'BEGIN { printf "%.0f", i / n }')" \
            "$status" "$(cat "$tmp/bytes")"
    done
done
