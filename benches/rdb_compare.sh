#!/usr/bin/env bash
# RDB persistence, ferrokv vs real redis-server, one run, same data:
#   - SAVE time (synchronous snapshot of the whole dataset)
#   - dump.rdb size
#   - restart-to-serving time (process start until PING answers PONG, the load included)
#     and the load time each server logs ("DB loaded from disk: N seconds")
# and the ratios ferrokv/redis (below 1 = ferrokv faster/smaller).
#
# Usage: benches/rdb_compare.sh [KEYS]      (default 1000000 keys of mixed types)
# Env:   CARGO_TARGET_DIR (where the release binary is built), SAVE_RUNS (default 3),
#        LOAD_RUNS (default 3). The best (lowest) time of the runs is reported.
set -euo pipefail

KEYS=${1:-1000000}
SAVE_RUNS=${SAVE_RUNS:-3}
LOAD_RUNS=${LOAD_RUNS:-3}
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools redis-server redis-cli python3
build_ferrokv

WORK=$(mktemp -d /tmp/rdb-compare.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT


now_ns() { date +%s%N; }

# ---- the dataset -----------------------------------------------------------------------------
# 10 % each of lists, hashes, sets, sorted sets, 60 % strings; plus 200 big collections so
# the hashtable / skiplist / multi-node encodings are in the file too. Fixed content: both
# servers get byte-identical input.
echo "== generating $KEYS keys"
python3 - "$KEYS" > "$WORK/data.resp" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))
pad = b"x" * 100
for i in range(n - 200):
    kind = i % 10
    if kind < 2:
        cmd("SET", f"int:{i}", i)
    elif kind < 4:
        cmd("SET", f"str:{i}", f"value-{i}")
    elif kind < 6:
        cmd("SET", f"raw:{i}", b"%d-" % i + pad)
    elif kind == 6:
        cmd("RPUSH", f"list:{i}", *[f"item-{i}-{j}" for j in range(10)])
    elif kind == 7:
        args = []
        for j in range(5):
            args += [f"field{j}", f"v{i * j}"]
        cmd("HSET", f"hash:{i}", *args)
    elif kind == 8:
        if i % 20 == 8:
            cmd("SADD", f"set:{i}", *[i * 10 + j for j in range(8)])
        else:
            cmd("SADD", f"set:{i}", *[f"m{i}-{j}" for j in range(8)])
    else:
        args = []
        for j in range(6):
            args += [f"{(i * 7 + j) % 1000 / 8}", f"member-{j}"]
        cmd("ZADD", f"zset:{i}", *args)
for i in range(50):
    cmd("RPUSH", f"biglist:{i}", *[f"element-{j}" for j in range(2000)])
    args = []
    for j in range(1000):
        args += [f"f{j}", f"{j}"]
    cmd("HSET", f"bighash:{i}", *args)
    cmd("SADD", f"bigset:{i}", *[f"s{j}" for j in range(1000)])
    args = []
    for j in range(1000):
        args += [f"{j / 3}", f"z{j}"]
    cmd("ZADD", f"bigzset:{i}", *args)
PY
ls -l "$WORK/data.resp" | awk '{printf "   %.1f MB of commands\n", $5 / 1048576}'

# ---- servers ---------------------------------------------------------------------------------
# start NAME DIR PORT: starts the server in the background, records its PID in $PID.
start() {
    local name=$1 dir=$2 port=$3
    case $name in
        redis) redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" \
                   --appendonly no --daemonize no >>"$dir/log" 2>&1 & ;;
        ferrokv) "$FERROKV" --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" \
                   --appendonly no >>"$dir/log" 2>&1 & ;;
    esac
    PID=$!
    PIDS+=("$PID")
}

# wait_pong PORT: polls PING until PONG (60 s at most).
wait_pong() {
    local port=$1 deadline=$(( $(date +%s) + 60 ))
    until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "server on $port did not answer" >&2; exit 1; }
        sleep 0.005
    done
}

# stop PORT PID: SHUTDOWN NOSAVE, then wait for the process to go away.
stop() {
    redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 2000); do kill -0 "$2" 2>/dev/null || return 0; sleep 0.01; done
    kill -9 "$2" 2>/dev/null || true
}

declare -A SAVE_S SIZE LOAD_S BOOT_S KEYS_AFTER
for name in redis ferrokv; do
    dir=$WORK/$name
    mkdir -p "$dir"
    port=$(free_port)
    echo "== $name: loading the dataset"
    start "$name" "$dir" "$port"
    wait_pong "$port"
    redis-cli -p "$port" --pipe < "$WORK/data.resp" | tail -1 | sed 's/^/   /'
    echo "   DBSIZE $(redis-cli -p "$port" dbsize)"
    best=""
    for _ in $(seq 1 "$SAVE_RUNS"); do
        t0=$(now_ns)
        [ "$(redis-cli -p "$port" save)" = OK ] || { echo "$name SAVE failed" >&2; exit 1; }
        t=$(( $(now_ns) - t0 ))
        if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
    done
    SAVE_S[$name]=$(awk -v t="$best" 'BEGIN { printf "%.3f", t / 1e9 }')
    SIZE[$name]=$(stat -c %s "$dir/dump.rdb")
    stop "$port" "$PID"
    best=""
    best_log=""
    for _ in $(seq 1 "$LOAD_RUNS"); do
        : > "$dir/log"
        t0=$(now_ns)
        start "$name" "$dir" "$port"
        wait_pong "$port"
        t=$(( $(now_ns) - t0 ))
        logged=$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$dir/log" | awk '{print $5}' | tail -1)
        if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; best_log=$logged; fi
        KEYS_AFTER[$name]=$(redis-cli -p "$port" dbsize)
        stop "$port" "$PID"
    done
    BOOT_S[$name]=$(awk -v t="$best" 'BEGIN { printf "%.3f", t / 1e9 }')
    LOAD_S[$name]=${best_log:-?}
done


echo
echo "== RDB persistence, $KEYS keys (best of $SAVE_RUNS saves / $LOAD_RUNS restarts)"
echo "machine: $(nproc) cpu, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "commit:  $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet 2>/dev/null || echo ' (dirty)')"
echo "redis:   $(redis-server --version | awk '{print $3}')"
echo "command: $0 $*"
printf '%-28s %14s %14s %10s\n' metric redis ferrokv ratio
printf '%-28s %14s %14s %10s\n' "SAVE (s)" "${SAVE_S[redis]}" "${SAVE_S[ferrokv]}" "$(ratio "${SAVE_S[ferrokv]}" "${SAVE_S[redis]}")"
printf '%-28s %14s %14s %10s\n' "dump.rdb (bytes)" "${SIZE[redis]}" "${SIZE[ferrokv]}" "$(ratio "${SIZE[ferrokv]}" "${SIZE[redis]}")"
printf '%-28s %14s %14s %10s\n' "load, as logged (s)" "${LOAD_S[redis]}" "${LOAD_S[ferrokv]}" "$(ratio "${LOAD_S[ferrokv]}" "${LOAD_S[redis]}")"
printf '%-28s %14s %14s %10s\n' "restart to PONG (s)" "${BOOT_S[redis]}" "${BOOT_S[ferrokv]}" "$(ratio "${BOOT_S[ferrokv]}" "${BOOT_S[redis]}")"
printf '%-28s %14s %14s\n' "keys after restart" "${KEYS_AFTER[redis]}" "${KEYS_AFTER[ferrokv]}"
if [ "${KEYS_AFTER[redis]}" != "${KEYS_AFTER[ferrokv]}" ]; then
    echo "key counts differ after restart" >&2
    exit 1
fi
