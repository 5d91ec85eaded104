# Shared pieces of the comparison scripts in benches/ (sourced, not run).
#
# After sourcing: ROOT, TARGET, FERROKV are set. Functions:
#   require_tools TOOL...      exit 1 naming the first missing tool
#   build_ferrokv              cargo build --release of ferrokv-server
#   free_port                  an unused loopback port
#   field PORT SECTION NAME    one INFO field
#   now_ms                     wall clock in milliseconds
#   ratio A B                  A/B with two decimals ("n/a" when B is 0)
#   gen_string_keys N          RESP SET commands for key:0..N-1 with 64-byte values (stdout)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FERROKV=$TARGET/release/ferrokv-server

require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
    done
}

build_ferrokv() {
    echo "== building ferrokv (release)"
    (cd "$ROOT" && cargo build --release --bin ferrokv-server -q)
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

field() { redis-cli -p "$1" INFO "$2" | tr -d '\r' | sed -n "s/^$3://p"; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "n/a" }'; }

gen_string_keys() {
    python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1]); out = sys.stdout.buffer
for i in range(n):
    k = b"key:%d" % i; v = b"%064d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$64\r\n%s\r\n" % (len(k), k, v))
PY
}
