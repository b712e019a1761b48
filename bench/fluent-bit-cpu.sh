#!/usr/bin/env bash
# CPU time per record in a real Fluent Bit, beside the copy-through module: the workloads
# of `make bench` read by Fluent Bit's tail input with the JSON parser, through the wasm
# filter, to the null output. Every configuration runs once per round, for ROUNDS rounds;
# the least CPU time (user + system, the whole process) of each is kept, and the run
# without a filter is subtracted. Machines are noisy: read the ratios.
#
#   FLUENT_BIT=/path/to/fluent-bit [WAMRC=/path/to/wamrc] [ROUNDS=5] bench/fluent-bit-cpu.sh [WORKLOAD...]
#
# FLUENT_BIT must be built with its wasm filter (FLB_WASM, on in release builds). With
# WAMRC (built from the WAMR sources bundled with that Fluent Bit), the modules are also
# compiled AOT and measured. WORKLOAD names `make bench` workloads (default: standard
# chatter kept ssh). Nothing is built but the modules (`make bench`, once).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${FLUENT_BIT:?set FLUENT_BIT to a fluent-bit binary built with the wasm filter}"
ROUNDS=${ROUNDS:-5}
WORKLOADS=("$@")
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(standard chatter kept ssh)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The modules and each workload's records (NDJSON) from one `make bench` run.
mkdir -p "$work/records"
make --quiet bench BENCH_SCALE="${BENCH_SCALE:-0.5}" BENCH_DUMP="$work/records" >"$work/bench.txt" 2>&1
cp build/audit_sieve.wasm build/baseline_copy.wasm "$work/"
cp bench/audit-sieve.yaml "$work/"
modules=(audit_sieve.wasm baseline_copy.wasm)
if [ -n "${WAMRC:-}" ]; then
    for m in audit_sieve baseline_copy; do
        "$WAMRC" -o "$work/$m.aot" "$work/$m.wasm" >/dev/null
        modules+=("$m.aot")
    done
fi

printf '[PARSER]\n    Name   json\n    Format json\n' >"$work/parsers.conf"

# conf WORKLOAD MODULE|none
conf() {
    local file="$work/$1-$2.conf"
    {
        printf '[SERVICE]\n    Flush 1\n    Grace 1\n    Log_Level warn\n    Parsers_File %s\n' "$work/parsers.conf"
        printf '[INPUT]\n    Name tail\n    Path %s\n    Parser json\n' "$work/records/$1.ndjson"
        printf '    Read_from_Head On\n    Exit_On_Eof On\n'
        printf '    Buffer_Chunk_Size 64KB\n    Buffer_Max_Size 1MB\n    Mem_Buf_Limit 512MB\n'
        if [ "$2" != none ]; then
            printf '[FILTER]\n    Name wasm\n    Match *\n    Wasm_Path %s\n' "$work/$2"
            printf '    Function_Name audit_sieve\n    Accessible_Paths %s\n    Event_Format json\n' "$work"
        fi
        printf '[OUTPUT]\n    Name null\n    Match *\n'
    } >"$file"
    echo "$file"
}

# cpu WORKLOAD MODULE|none: user + system seconds of one Fluent Bit run.
cpu() {
    local file log times
    file=$(conf "$1" "$2")
    log="$work/$1-$2.log"
    TIMEFORMAT='%3U %3S'
    times=$( { time "$FLUENT_BIT" -c "$file" >"$log" 2>&1; } 2>&1 )
    # The module reports its configuration at start-up: a run without it measured nothing.
    if [ "$2" = audit_sieve.wasm ] || [ "$2" = audit_sieve.aot ]; then
        grep -q '\[audit-sieve\] configuration' "$log" || { echo "audit-sieve did not start; see $log" >&2; cat "$log" >&2; exit 1; }
    fi
    awk -v t="$times" 'BEGIN { split(t, a, " "); printf "%.3f", a[1] + a[2] }'
}

declare -A best
for ((round = 1; round <= ROUNDS; round++)); do
    for w in "${WORKLOADS[@]}"; do
        for m in none "${modules[@]}"; do
            s=$(cpu "$w" "$m")
            key="$w $m"
            if [ -z "${best[$key]:-}" ] || awk -v a="$s" -v b="${best[$key]}" 'BEGIN { exit !(a < b) }'; then
                best[$key]=$s
            fi
        done
    done
    echo "round $round of $ROUNDS done" >&2
done

"$FLUENT_BIT" --version | head -1
printf '%-10s %8s  %-20s %8s %11s\n' workload records filter "CPU s" "µs/record"
for w in "${WORKLOADS[@]}"; do
    n=$(wc -l <"$work/records/$w.ndjson")
    for m in none "${modules[@]}"; do
        awk -v w="$w" -v n="$n" -v m="$m" -v s="${best[$w $m]}" -v base="${best[$w none]}" \
            'BEGIN { printf "%-10s %8d  %-20s %8.3f", w, n, m, s; if (m != "none") printf " %10.2f", (s - base) * 1e6 / n; printf "\n" }'
    done
done
echo "CPU: user + system of the whole process, the least of $ROUNDS rounds; µs per record net of"
echo "the run without a filter (the module's start-up, read once per run, included)."
