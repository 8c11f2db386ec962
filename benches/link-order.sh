#!/usr/bin/env bash
# Regenerates src/link-order.txt: the functions an ordinary run executes, in
# the order the linker should place them (build.rs passes the file to lld as
# --symbol-ordering-file), so that the code a run touches sits in a few
# contiguous pages instead of being spread over the whole 3.5 MB of text
# (issue 18: peak RSS is mostly file pages the kernel maps 64 KiB around
# each page fault).
#
#   benches/link-order.sh        # then rebuild and commit src/link-order.txt
#
# How: the release binary is linked once with a map file (ORSTREAM_LINK_MAP,
# see build.rs), which names the function of every address even though the
# binary is stripped; each workload below runs under callgrind against the
# bench's own server (ORSTREAM_BENCH_SERVE=0); every instruction address
# callgrind saw executed is looked up in the map. Functions of the plain text stream come
# first, then those that only --json, -x, --result, reasoning, -u -v, TLS,
# --each and -c add, each group in its address order.
#
# Symbol names carry hashes of the toolchain, Cargo.lock and the release
# profile: after changing one of those, rerun this script (a stale name is
# skipped by the linker, so an old file costs pages, never a build).
# Needs valgrind, python3 and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind python3 jq; do
    command -v "$tool" >/dev/null || { echo "link-order.sh: $tool not found" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'kill "${serve_pid:-}" 2>/dev/null; rm -rf "$tmp"' EXIT

ORSTREAM_LINK_MAP="$tmp/map.txt" cargo build --release
[[ -s $tmp/map.txt ]] || { echo "link-order.sh: the linker wrote no map (not lld?)" >&2; exit 1; }
bin=$(realpath target/release/orstream)
cp "$bin" "$tmp/orstream"

server=$(cargo bench --bench stream --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .target.kind == ["bench"]) | .executable')
coproc SERVE { ORSTREAM_BENCH_SERVE=0 exec "$server"; }
serve_pid=$SERVE_PID
read -r -t 30 line <&"${SERVE[0]}" || { echo "link-order.sh: the server did not start" >&2; exit 1; }
http=$(grep -o 'http://127\.0\.0\.1:[0-9]*' <<<"$line" | head -1)
https=$(grep -o 'https://127\.0\.0\.1:[0-9]*' <<<"$line" | head -1)
ca=$(realpath tests/fixtures/ca.pem)

n=0
run() { # GROUP ARGS…: one callgrind run, its output named by group
    local group=$1
    shift
    n=$((n + 1))
    (cd "$tmp" && env -i PATH="$PATH" OPENROUTER_API_KEY=sk-order SSL_CERT_FILE="$ca" \
        valgrind --tool=callgrind --dump-instr=yes --compress-strings=no --compress-pos=no \
        --callgrind-out-file="$tmp/cg.$group.$n" --log-file=/dev/null \
        "$tmp/orstream" "$@" </dev/null >/dev/null 2>&1) || true
}
printf 'one\ntwo\nthree\n' >"$tmp/items.txt"
run 1 --base-url "$http/bulk/200/k32" hi
run 1 --base-url "$http/bulk/200/event" hi
run 2 --base-url "$http/bulk/200/k32" --json hi
run 3 --base-url "$http/bulk/200/k32" -x hi
run 3 --base-url "$http/bulk/200/k32" --result hi
run 4 --base-url "$http/think/200/k32" hi
run 4 --base-url "$http/think/200/k32" --reasoning hi
run 5 --base-url "$http/bulk/20/k32" -u -v hi
run 6 --base-url "$https/bulk/20/k32" hi
run 7 --base-url "$http/bulk/20/k32" --each items.txt -P 2 hi
run 8 --base-url "$http/bulk/20/k32" -c chat.json hi

python3 - "$tmp" >src/link-order.txt <<'EOF'
import bisect, glob, re, sys
tmp = sys.argv[1]
# lld's map: "VMA LMA Size Align Out In Symbol"; one input section per function.
sections = []
for line in open(f"{tmp}/map.txt"):
    m = re.match(r"\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+\S.*:\(\.text\.(\S+)\)$", line)
    if m and int(m.group(2), 16):
        # .text.unlikely.NAME (a cold function, as LLVM marks it) is NAME too.
        name = re.sub(r"^(unlikely|hot|startup|exit|split)\.", "", m.group(3))
        sections.append((int(m.group(1), 16), int(m.group(2), 16), name))
sections.sort()
starts = [s[0] for s in sections]
seen, order = set(), []
for group in sorted({p.split(".")[-2] for p in glob.glob(f"{tmp}/cg.*")}):
    found = set()
    for path in glob.glob(f"{tmp}/cg.{group}.*"):
        for line in open(path):
            # Every executed instruction's address starts a cost line (and
            # a call's target follows "calls=N"): a function entered by a
            # jump (a tail call) has no "fn=" of its own in a stripped binary.
            m = re.match(r"(?:calls=\d+ )?0x([0-9a-f]+)", line)
            if not m:
                continue
            addr = int(m.group(1), 16)
            i = bisect.bisect_right(starts, addr) - 1
            if i >= 0 and addr < sections[i][0] + sections[i][1]:
                found.add(i)
    for i in sorted(found - seen):
        order.append(sections[i][2])
    seen |= found
print("\n".join(order))
print(f"link-order.sh: {len(order)} functions of {len(sections)}", file=sys.stderr)
EOF
echo "link-order.sh: wrote src/link-order.txt; rebuild (cargo build --release) to use it" >&2
