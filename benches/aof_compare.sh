#!/usr/bin/env bash
# AOF persistence, ferrokv vs real redis-server, one run, same data:
#   - restart-to-serving time (process start until PING answers PONG, loading included) from
#       hybrid AOF  (appendonly yes, aof-use-rdb-preamble yes: RDB base + RESP incr tail)
#       pure AOF    (appendonly yes, aof-use-rdb-preamble no: RESP base + RESP incr tail)
#       RDB         (appendonly no, dump.rdb)
#     each as a ratio ferrokv/redis, and hybrid vs pure for ferrokv itself;
#   - BGREWRITEAOF duration (hybrid and pure), as a ratio ferrokv/redis.
# The dataset is KEYS keys (mixed types) loaded, then BGREWRITEAOF (so the base holds them),
# then a TAIL of write commands that stay in the incr file. Ratios below 1 = ferrokv faster.
#
# Usage: benches/aof_compare.sh [KEYS] [TAIL]     (default 1000000 keys, 100000 commands)
# Env:   CARGO_TARGET_DIR (where the release binary is built), RUNS (restarts per case,
#        default 3; the best time is reported).
set -euo pipefail

KEYS=${1:-1000000}
TAIL=${2:-100000}
RUNS=${RUNS:-3}
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools redis-server redis-cli python3
build_ferrokv

WORK=$(mktemp -d /tmp/aof-compare.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

now_ns() { date +%s%N; }

echo "== generating $KEYS keys and a $TAIL-command tail"
python3 - "$KEYS" "$TAIL" "$WORK/data.resp" "$WORK/tail.resp" <<'PY'
import sys
n, tail = int(sys.argv[1]), int(sys.argv[2])
def writer(path):
    f = open(path, "wb")
    def cmd(*args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        f.write(b"".join(parts))
    return f, cmd
f, cmd = writer(sys.argv[3])
pad = b"x" * 64
for i in range(n):
    kind = i % 10
    if kind < 6:
        cmd("SET", "s:%d" % i, pad + str(i).encode())
    elif kind == 6:
        cmd("RPUSH", "l:%d" % i, "a", "b", "c", i)
    elif kind == 7:
        cmd("HSET", "h:%d" % i, "f1", "v1", "f2", i)
    elif kind == 8:
        cmd("SADD", "t:%d" % i, "x", "y", i)
    else:
        cmd("ZADD", "z:%d" % i, 1, "a", 2.5, "b", i, "c")
f.close()
f, cmd = writer(sys.argv[4])
for j in range(tail):
    k = j % 4
    if k == 0:
        cmd("SET", "s:%d" % (j * 10), "tail-%d" % j)
    elif k == 1:
        cmd("INCR", "counter:%d" % (j % 1000))
    elif k == 2:
        cmd("RPUSH", "l:%d" % (j * 10 + 6), j)
    else:
        cmd("HSET", "h:%d" % (j * 10 + 7), "tail", j)
f.close()
PY

# start <server> <dir> <port> [directives...]: starts in the background, sets PID.
start() {
    local server=$1 dir=$2 port=$3
    shift 3
    if [ "$server" = ferrokv ]; then
        "$FERROKV" --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" "$@" >>"$dir/log" 2>&1 &
    else
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --daemonize no "$@" >>"$dir/log" 2>&1 &
    fi
    PID=$!
}

# Waits for PONG; prints nothing. Gives up after 600 s.
wait_ready() {
    local port=$1
    for _ in $(seq 1 120000); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then return 0; fi
        sleep 0.005
    done
    echo "server on $port did not come up" >&2
    exit 1
}

info() { redis-cli -p "$1" info persistence | tr -d '\r' | grep "^$2:" | cut -d: -f2; }

stop() {
    redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true
    wait "$PID" 2>/dev/null || true
    PID=""
}

# Waits until no rewrite is running or scheduled; prints the elapsed ms since $2 (ns).
wait_rewrite() {
    local port=$1 t0=$2
    while [ "$(info "$port" aof_rewrite_in_progress)" != 0 ] || [ "$(info "$port" aof_rewrite_scheduled)" != 0 ]; do
        sleep 0.01
    done
    echo $((($(now_ns) - t0) / 1000000))
}

declare -A RESULT

# prepare <server> <mode>: builds the on-disk state; records the rewrite time.
prepare() {
    local server=$1 mode=$2 dir=$WORK/$1-$2 port
    mkdir -p "$dir"
    port=$(free_port)
    case $mode in
        # No automatic rewrite while loading: the timed BGREWRITEAOF must be the only one.
        hybrid) set -- --appendonly yes --aof-use-rdb-preamble yes --auto-aof-rewrite-percentage 0 ;;
        pure) set -- --appendonly yes --aof-use-rdb-preamble no --auto-aof-rewrite-percentage 0 ;;
        rdb) set -- --appendonly no ;;
    esac
    start "$server" "$dir" "$port" "$@"
    wait_ready "$port"
    redis-cli -p "$port" --pipe <"$WORK/data.resp" >/dev/null
    if [ "$mode" = rdb ]; then
        redis-cli -p "$port" --pipe <"$WORK/tail.resp" >/dev/null
        redis-cli -p "$port" save >/dev/null
    else
        local t0
        t0=$(now_ns)
        redis-cli -p "$port" bgrewriteaof >/dev/null
        RESULT[$server-$mode-rewrite]=$(wait_rewrite "$port" "$t0")
        redis-cli -p "$port" --pipe <"$WORK/tail.resp" >/dev/null
    fi
    RESULT[$server-$mode-keys]=$(redis-cli -p "$port" dbsize)
    stop "$port"
}

# restart <server> <mode>: best restart-to-serving time in ms over RUNS.
restart() {
    local server=$1 mode=$2 dir=$WORK/$1-$2 best="" port t0 ms keys
    case $mode in
        hybrid | pure) set -- --appendonly yes ;;
        rdb) set -- --appendonly no ;;
    esac
    for _ in $(seq 1 "$RUNS"); do
        port=$(free_port)
        t0=$(now_ns)
        start "$server" "$dir" "$port" "$@"
        wait_ready "$port"
        ms=$((($(now_ns) - t0) / 1000000))
        keys=$(redis-cli -p "$port" dbsize)
        if [ "$keys" != "${RESULT[$server-$mode-keys]}" ]; then
            echo "$server $mode: $keys keys after restart, expected ${RESULT[$server-$mode-keys]}" >&2
            exit 1
        fi
        stop "$port"
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    RESULT[$server-$mode-restart]=$best
}

for mode in hybrid pure rdb; do
    for server in redis ferrokv; do
        echo "== $server: $mode"
        prepare "$server" "$mode"
        restart "$server" "$mode"
    done
done


echo
echo "machine: $(uname -srm), $(nproc) cpus; commit: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "command: $0 $KEYS $TAIL (RUNS=$RUNS)"
printf '%-34s %10s %10s %8s\n' "" "redis ms" "ferrokv ms" "ratio"
for mode in hybrid pure rdb; do
    r=${RESULT[redis-$mode-restart]} f=${RESULT[ferrokv-$mode-restart]}
    printf '%-34s %10s %10s %8s\n' "restart-to-serving, $mode" "$r" "$f" "$(ratio "$f" "$r")"
done
for mode in hybrid pure; do
    r=${RESULT[redis-$mode-rewrite]} f=${RESULT[ferrokv-$mode-rewrite]}
    printf '%-34s %10s %10s %8s\n' "BGREWRITEAOF, $mode" "$r" "$f" "$(ratio "$f" "$r")"
done
echo "ferrokv hybrid/pure restart: $(ratio "${RESULT[ferrokv-hybrid-restart]}" "${RESULT[ferrokv-pure-restart]}")"
echo "redis   hybrid/pure restart: $(ratio "${RESULT[redis-hybrid-restart]}" "${RESULT[redis-pure-restart]}")"
