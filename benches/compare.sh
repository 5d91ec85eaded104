#!/usr/bin/env bash
# Whole-server benchmark: ferrokv against real redis-server, side by side, in one run.
#
# Both servers run on this machine on free ports with persistence off. For every
# redis-benchmark test and pipeline depth the two servers are measured one after the other,
# alternating which goes first, and the table shows requests/s and the ferrokv/redis ratio.
# Then both load the same BENCH_KEYS keys (key:0.. with 64-byte values, via redis-cli --pipe)
# and the script prints memory per key from VmRSS and INFO used_memory.
#
# Usage: benches/compare.sh            (from the repository root)
# Environment:
#   BENCH_REQUESTS   requests per test at pipeline 1; a depth-P test sends P times as many, so
#                    every run lasts about as long (default 200000; at pipeline 16, 200k
#                    requests are a 0.2 s run, mostly connection set-up)
#   BENCH_CLIENTS    parallel connections               (default 50)
#   BENCH_PIPELINES  pipeline depths                    (default "1 16")
#   BENCH_TESTS      redis-benchmark -t names           (default set,get,incr,lpush,lpop,sadd,hset,zadd,mset)
#   BENCH_KEYSPACE   -r random key space                (default 100000)
#   BENCH_KEYS       keys loaded for the memory check   (default 1000000; 0 skips it)
#   BENCH_ROUNDS     runs per test and server; the median is shown (default 1; use 3+ on a
#                    machine that is not idle)
#   FERROKV_BIN      server binary (default: cargo build --release, then target/release/ferrokv-server)
#   REDIS_SERVER     redis-server binary                (default redis-server)
set -euo pipefail

REQUESTS=${BENCH_REQUESTS:-200000}
CLIENTS=${BENCH_CLIENTS:-50}
PIPELINES=${BENCH_PIPELINES:-"1 16"}
TESTS=${BENCH_TESTS:-set,get,incr,lpush,lpop,sadd,hset,zadd,mset}
KEYSPACE=${BENCH_KEYSPACE:-100000}
KEYS=${BENCH_KEYS:-1000000}
ROUNDS=${BENCH_ROUNDS:-1}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
VALUE_SIZE=64

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

for tool in "$REDIS_SERVER" redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

if [[ -z "${FERROKV_BIN:-}" ]]; then
    cargo build --release --bin ferrokv-server >&2
    FERROKV_BIN="${CARGO_TARGET_DIR:-$root/target}/release/ferrokv-server"
fi

work=$(mktemp -d -t ferrokv-bench.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# wait_for_line FILE PATTERN PID: waits (max 30 s) until FILE has a line matching PATTERN.
wait_for_line() {
    local file=$1 pattern=$2 pid=$3
    for _ in $(seq 300); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { echo "server $pid exited; log:" >&2; cat "$file" >&2; return 1; }
        sleep 0.1
    done
    echo "server $pid not ready after 30 s; log:" >&2
    cat "$file" >&2
    return 1
}

# start_ferrokv: sets FERROKV_PID and FERROKV_PORT (the port comes from the ready line).
start_ferrokv() {
    mkdir -p "$work/ferrokv"
    "$FERROKV_BIN" --bind 127.0.0.1 --listen-ephemeral-port yes --dir "$work/ferrokv" \
        --save "" --appendonly no >"$work/ferrokv.log" 2>&1 &
    FERROKV_PID=$!
    pids+=("$FERROKV_PID")
    wait_for_line "$work/ferrokv.log" "Ready to accept connections tcp " "$FERROKV_PID"
    FERROKV_PORT=$(sed -n 's/.*Ready to accept connections tcp [^ ]*:\([0-9]*\).*/\1/p' "$work/ferrokv.log" | head -1)
}

# start_redis: sets REDIS_PID and REDIS_PORT; retries on another port if the bind fails.
start_redis() {
    mkdir -p "$work/redis"
    local attempt port
    for attempt in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
        "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --dir "$work/redis" \
            --save "" --appendonly no >"$work/redis.log" 2>&1 &
        REDIS_PID=$!
        if wait_for_line "$work/redis.log" "Ready to accept connections" "$REDIS_PID" 2>/dev/null; then
            pids+=("$REDIS_PID")
            REDIS_PORT=$port
            return 0
        fi
        wait "$REDIS_PID" 2>/dev/null || true
        echo "redis-server failed on port $port (attempt $attempt), retrying" >&2
    done
    echo "could not start redis-server" >&2
    cat "$work/redis.log" >&2
    return 1
}

# rps PORT PIPELINE TEST: requests per second of one redis-benchmark test.
rps() {
    local port=$1 pipeline=$2 test=$3
    redis-cli -p "$port" FLUSHALL >/dev/null
    # A server that rejects the command makes redis-benchmark fail: report an empty result.
    { redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n $((REQUESTS * pipeline)) -r "$KEYSPACE" \
        -P "$pipeline" -t "$test" --csv 2>/dev/null || true; } |
        awk -F'","' 'NR == 2 { gsub(/"/, "", $2); print $2 }'
}

# mem PID PORT: "<VmRSS bytes> <used_memory bytes>".
mem() {
    local rss used
    rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status")
    used=$(redis-cli -p "$2" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }')
    echo "$rss ${used:-0}"
}

# memory_table: loads KEYS keys into each (still empty, freshly started) server and prints
# the growth of RSS and used_memory. Runs before the throughput tests so that memory freed
# by earlier tests cannot hide in the baseline.
memory_table() {
    echo "## Memory: $KEYS keys (key:N, $VALUE_SIZE-byte values) loaded with redis-cli --pipe"
    echo
    # One mass-insert file, RESP encoded, fed to both servers.
    awk -v n="$KEYS" -v size="$VALUE_SIZE" 'BEGIN {
        value = sprintf("%0" size "d", 0); gsub(/0/, "v", value)
        for (i = 0; i < n; i++) {
            key = "key:" i
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(key), key, size, value
        }
    }' >"$work/load.resp"
    printf '| %-7s | %12s | %12s | %10s | %10s |\n' server "RSS MiB" "used MiB" "RSS B/key" "used B/key"
    printf '|%s|%s|%s|%s|%s|\n' --------- -------------- -------------- ------------ ------------
    for side in ferrokv redis; do
        if [[ $side == ferrokv ]]; then pid=$FERROKV_PID port=$FERROKV_PORT; else pid=$REDIS_PID port=$REDIS_PORT; fi
        redis-cli -p "$port" FLUSHALL >/dev/null
        read -r rss0 used0 < <(mem "$pid" "$port")
        redis-cli -p "$port" --pipe <"$work/load.resp" >"$work/pipe-$side.out"
        loaded=$(redis-cli -p "$port" DBSIZE)
        [[ $loaded == "$KEYS" ]] || { echo "$side: DBSIZE $loaded after loading $KEYS keys" >&2; cat "$work/pipe-$side.out" >&2; }
        read -r rss1 used1 < <(mem "$pid" "$port")
        awk -v s="$side" -v r0="$rss0" -v r1="$rss1" -v u0="$used0" -v u1="$used1" -v n="$KEYS" 'BEGIN {
            printf "| %-7s | %12.1f | %12.1f | %10.1f | %10.1f |\n", s, r1 / 1048576, u1 / 1048576, (r1 - r0) / n, (u1 - u0) / n
        }'
    done
    echo
    echo "(B/key = growth from an empty dataset; RSS from /proc/PID/status VmRSS, used from INFO used_memory)"
}

start_ferrokv
start_redis
memory=""
if ((KEYS > 0)); then memory=$(memory_table); fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD 2>/dev/null; then commit="$commit (dirty)"; fi
echo "# ferrokv vs redis-server"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- machine: $(nproc) cpus, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "- kernel: $(uname -sr)"
echo "- ferrokv: commit $commit, $FERROKV_BIN (port $FERROKV_PORT)"
echo "- redis: $("$REDIS_SERVER" --version) (port $REDIS_PORT)"
echo "- command: BENCH_ROUNDS=$ROUNDS BENCH_REQUESTS=$REQUESTS BENCH_CLIENTS=$CLIENTS BENCH_PIPELINES=\"$PIPELINES\" BENCH_TESTS=$TESTS BENCH_KEYSPACE=$KEYSPACE BENCH_KEYS=$KEYS $0 $*"
echo "- each test: redis-benchmark -q -c $CLIENTS -n <$REQUESTS x pipeline> -r $KEYSPACE -P <pipeline> -t <test>; servers alternate who goes first; median of $ROUNDS run(s)"
echo
printf '| %-8s | %8s | %14s | %14s | %6s |\n' test pipeline "ferrokv req/s" "redis req/s" ratio
printf '|%s|%s|%s|%s|%s|\n' ---------- ---------- ---------------- ---------------- --------
# median VALUES...: the median of numbers (empty values are failed runs and are skipped).
median() {
    printf '%s\n' "$@" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

order=0
for pipeline in $PIPELINES; do
    for test in ${TESTS//,/ }; do
        fs=() rs=()
        for _ in $(seq "$ROUNDS"); do
            order=$((order + 1))
            if ((order % 2)); then
                fs+=("$(rps "$FERROKV_PORT" "$pipeline" "$test")")
                rs+=("$(rps "$REDIS_PORT" "$pipeline" "$test")")
            else
                rs+=("$(rps "$REDIS_PORT" "$pipeline" "$test")")
                fs+=("$(rps "$FERROKV_PORT" "$pipeline" "$test")")
            fi
        done
        f=$(median "${fs[@]}")
        r=$(median "${rs[@]}")
        ratio=$(awk -v f="${f:-0}" -v r="${r:-0}" 'BEGIN { if (f > 0 && r > 0) printf "%.2f", f / r; else print "n/a" }')
        printf '| %-8s | %8s | %14s | %14s | %6s |\n' "$test" "$pipeline" "${f:-failed}" "${r:-failed}" "$ratio"
    done
done

if [[ -n $memory ]]; then
    echo
    echo "$memory"
fi
