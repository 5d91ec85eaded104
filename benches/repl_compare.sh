#!/usr/bin/env bash
# Replication, ferrokv vs real redis-server, one run, same data and settings:
#   - full sync of KEYS keys: replica start until master_link_status:up with every key loaded
#   - worst PING latency seen by a client of the primary during that full sync
#   - primary SET throughput (redis-benchmark -c 50 -r 100000) with two replicas attached
# and the ratios ferrokv/redis (time and latency: below 1 is better; throughput: above 1).
#
# Usage: benches/repl_compare.sh [KEYS]        (default 1000000 keys, 64-byte values)
# Env:   CARGO_TARGET_DIR, BENCH_REQUESTS (default 200000)
set -euo pipefail

KEYS=${1:-1000000}
REQUESTS=${BENCH_REQUESTS:-200000}
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools redis-server redis-cli redis-benchmark python3
build_ferrokv

WORK=$(mktemp -d /tmp/repl-compare.XXXXXX)
cleanup() {
    stop_servers
    rm -rf "$WORK"
}
stop_servers() {
    local pid
    if [[ -f $WORK/pids ]]; then
        while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$WORK/pids"
        rm -f "$WORK/pids"
    fi
}
trap cleanup EXIT


echo "== generating $KEYS keys"
gen_string_keys "$KEYS" > "$WORK/data.resp"

# start FLAVOR NAME [directives...] -> prints the port
start() {
    local flavor=$1 name=$2 port dir="$WORK/$2"
    shift 2
    mkdir -p "$dir"
    port=$(free_port)
    local bin=redis-server
    [[ $flavor == ferrokv ]] && bin=$FERROKV
    "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
        --repl-diskless-sync-delay 0 "$@" >"$dir/log" 2>&1 &
    # start runs in a command substitution (a subshell): record the PID in a file the
    # parent's cleanup reads, not only in the subshell's copy of PIDS.
    echo $! >>"$WORK/pids"
    for _ in $(seq 300); do
        redis-cli -p "$port" PING 2>/dev/null | grep -qE 'PONG|MASTERDOWN' && break
        sleep 0.05
    done
    echo "$port"
}

# Pings PORT as fast as it can until FILE exists; prints the worst latency in ms.
ping_probe() {
    python3 - "$1" "$2" <<'PY'
import os, socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
worst, deadline = 0.0, time.time() + 600
while not os.path.exists(stop) and time.time() < deadline:
    t = time.perf_counter()
    s.sendall(b"PING\r\n")
    buf = b""
    while not buf.endswith(b"\r\n"):
        buf += s.recv(64)
    worst = max(worst, time.perf_counter() - t)
    time.sleep(0.001)
print("%.2f" % (worst * 1000))
PY
}

declare -A sync_ms ping_ms set_rps
for flavor in ferrokv redis; do
    primary=$(start "$flavor" "$flavor-primary")
    redis-cli -p "$primary" --pipe < "$WORK/data.resp" >/dev/null
    stop="$WORK/$flavor.stop"
    ping_probe "$primary" "$stop" > "$WORK/$flavor.ping" &
    probe=$!
    t0=$(now_ms)
    r1=$(start "$flavor" "$flavor-r1" --replicaof 127.0.0.1 "$primary")
    for _ in $(seq 6000); do
        if [[ $(field "$r1" replication master_link_status) == up ]] &&
            [[ $(redis-cli -p "$r1" DBSIZE) == "$KEYS" ]]; then
            break
        fi
        sleep 0.02
    done
    t1=$(now_ms)
    touch "$stop"
    wait "$probe"
    sync_ms[$flavor]=$((t1 - t0))
    ping_ms[$flavor]=$(cat "$WORK/$flavor.ping")
    r2=$(start "$flavor" "$flavor-r2" --replicaof 127.0.0.1 "$primary")
    for _ in $(seq 6000); do
        [[ $(field "$r2" replication master_link_status) == up ]] && break
        sleep 0.02
    done
    set_rps[$flavor]=$(redis-benchmark -p "$primary" -q -c 50 -n "$REQUESTS" -r 100000 -t set 2>/dev/null |
        tr '\r' '\n' | sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
    stop_servers
done

echo
echo "# Replication, $KEYS keys, ferrokv vs redis ($(nproc) cpus, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null))"
echo
echo "| metric | ferrokv | redis | ratio |"
echo "|---|---|---|---|"
echo "| full sync until the replica serves all keys (ms) | ${sync_ms[ferrokv]} | ${sync_ms[redis]} | $(ratio "${sync_ms[ferrokv]}" "${sync_ms[redis]}") |"
echo "| worst PING latency on the primary during it (ms) | ${ping_ms[ferrokv]} | ${ping_ms[redis]} | $(ratio "${ping_ms[ferrokv]}" "${ping_ms[redis]}") |"
echo "| SET req/s with two replicas attached | ${set_rps[ferrokv]} | ${set_rps[redis]} | $(ratio "${set_rps[ferrokv]}" "${set_rps[redis]}") |"
