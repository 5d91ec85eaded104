#!/usr/bin/env bash
# Fork-based snapshots, ferrokv vs real redis-server, one run, same data:
#   - BGSAVE duration (BGSAVE sent until rdb_bgsave_in_progress:0), idle
#   - latest_fork_usec (how long fork() froze the parent)
#   - copy-on-write while 50 clients write during the save (rdb_last_cow_size, as each
#     server measures its child's private dirty memory)
# and the ratios ferrokv/redis (below 1 = ferrokv better). Restart-to-serving time from the
# RDB is measured by benches/rdb_compare.sh.
#
# Usage: benches/bgsave_compare.sh [KEYS]     (default 1000000 string keys, 64-byte values)
# Env:   CARGO_TARGET_DIR, RUNS (default 3; the best idle BGSAVE time is reported).
set -euo pipefail

KEYS=${1:-1000000}
RUNS=${RUNS:-3}
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools redis-server redis-cli redis-benchmark python3
build_ferrokv

WORK=$(mktemp -d /tmp/bgsave-compare.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT


echo "== generating $KEYS keys"
gen_string_keys "$KEYS" > "$WORK/data.resp"

start() { # name -> sets PORT_<name>
    local name=$1 port dir="$WORK/$1"
    mkdir -p "$dir"
    port=$(free_port)
    if [[ $name == ferrokv ]]; then
        "$FERROKV" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no >"$dir/log" 2>&1 &
    else
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no >"$dir/log" 2>&1 &
    fi
    PIDS+=($!)
    for _ in $(seq 300); do redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    redis-cli -p "$port" --pipe < "$WORK/data.resp" >/dev/null
    printf -v "PORT_$name" '%s' "$port"
}

# bgsave PORT -> prints milliseconds until the save finished
bgsave() {
    local port=$1 saves t0 t1
    saves=$(field "$port" persistence rdb_saves)
    t0=$(now_ms)
    redis-cli -p "$port" BGSAVE >/dev/null
    for _ in $(seq 6000); do
        if [[ $(field "$port" persistence rdb_bgsave_in_progress) == 0 && $(field "$port" persistence rdb_saves) != "$saves" ]]; then
            break
        fi
        sleep 0.01
    done
    t1=$(now_ms)
    echo $((t1 - t0))
}

# median of the numbers on stdin
median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else if (NR) printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Fork time depends on where the kernel placed each process's pages as much as on the
# process (the same server measured 10-20% apart depending on which of the two was loaded
# first), so the script runs two rounds with fresh servers started in opposite orders and
# reports medians over every fork of both rounds.
declare -A best forks cows
for round in 1 2; do
    if ((round == 1)); then order=(ferrokv redis); else order=(redis ferrokv); fi
    PIDS_ROUND=()
    for name in "${order[@]}"; do
        start "$name"
        PIDS_ROUND+=("${PIDS[-1]}")
    done
    for _ in $(seq "$RUNS"); do
        for name in "${order[@]}"; do
            port_var=PORT_$name; port=${!port_var}
            ms=$(bgsave "$port")
            [[ -z ${best[$name]:-} || $ms -lt ${best[$name]} ]] && best[$name]=$ms
            forks[$name]+="$(field "$port" stats latest_fork_usec) "
        done
    done
    for name in "${order[@]}"; do
        port_var=PORT_$name; port=${!port_var}
        # Copy-on-write: 50 clients overwrite random keys while a save runs.
        redis-benchmark -p "$port" -q -c 50 -n 100000000 -r "$KEYS" -d 64 -t set >/dev/null 2>&1 &
        bench=$!
        sleep 1
        bgsave "$port" >/dev/null
        kill "$bench" 2>/dev/null || true
        wait "$bench" 2>/dev/null || true
        cows[$name]+="$(field "$port" persistence rdb_last_cow_size) "
    done
    for pid in "${PIDS_ROUND[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
done
declare -A fork cow
for name in ferrokv redis; do
    fork[$name]=$(tr ' ' '\n' <<<"${forks[$name]}" | grep . | median)
    cow[$name]=$(tr ' ' '\n' <<<"${cows[$name]}" | grep . | median)
done

echo
echo "# BGSAVE, $KEYS keys, ferrokv vs redis ($(nproc) cpus, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null))"
echo
echo "| metric | ferrokv | redis | ratio |"
echo "|---|---|---|---|"
echo "| BGSAVE duration (ms, best of $RUNS) | ${best[ferrokv]} | ${best[redis]} | $(ratio "${best[ferrokv]}" "${best[redis]}") |"
echo "| latest_fork_usec (median of $((2 * RUNS)) forks) | ${fork[ferrokv]} | ${fork[redis]} | $(ratio "${fork[ferrokv]}" "${fork[redis]}") |"
echo "| rdb_last_cow_size under 50 writers (bytes, median of 2) | ${cow[ferrokv]} | ${cow[redis]} | $(ratio "${cow[ferrokv]}" "${cow[redis]}") |"
