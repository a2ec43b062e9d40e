#!/usr/bin/env bash
# make bench: the control-path benchmark of the issue. Starts dlvm twice and drives each with
# bin/dlvm-bench (fixed kept-alive connections, a Go load generator):
#   embedded  all-in-one on its embedded defaults: SQLite, in-process bus, built-in identity,
#             three local file-pool dpvs with their tgtds;
#   mariadb   the production layout as separate processes: dlvm api, scheduler, volume and three
#             dpv-agents on the MariaDB at 127.0.0.1:3306 and the RabbitMQ at 127.0.0.1:5672,
#             tokens validated by a real upstream Keystone (keystone/testdata/start-test-keystones.sh).
# For 100, 1,000 and 10,000 volumes in the project (created through the API: that is the create
# rate) it measures volumes/detail with and without limit=100, one volume GET, attach+detach
# cycles, then token validation first use vs cached, and prints a table plus the JSON file.
#
# Environment: BENCH_ENVS (default "embedded mariadb"), BENCH_COUNTS (100,1000,10000),
# BENCH_DURATION (5s per phase), BENCH_CONNECTIONS (8), BENCH_CREATE_CONNECTIONS (16: creates in
# flight during the fills), BENCH_FILL_BUDGET (45s: the longest API
# fill of one stage; what it did not create is inserted into the database by
# scripts/bench-dbfill.sh and labelled so in the output), BENCH_OUT (bench.json), BENCH_KS_DIR
# (where the Keystones run; started and stopped by the bench unless they already run there),
# BENCH_PPROF=1 (every dlvm process serves /debug/pprof on a port of its own, printed at start:
# `go tool pprof -seconds 20 http://127.0.0.1:PORT/debug/pprof/profile` during a fill).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENVS=${BENCH_ENVS:-embedded mariadb}
COUNTS=${BENCH_COUNTS:-100,1000,10000}
DUR=${BENCH_DURATION:-5s}
CONNS=${BENCH_CONNECTIONS:-8}
CCONNS=${BENCH_CREATE_CONNECTIONS:-16} # volumes being created at once in the fills
BUDGET=${BENCH_FILL_BUDGET:-45s} # API fill per stage; the rest of the volumes go straight into the DB
OUT=${BENCH_OUT:-$ROOT/bench.json}
KS_DIR=${BENCH_KS_DIR:-/tmp/dlvm-bench-keystone}
PPROF=${BENCH_PPROF:-0}
export PATH=/usr/local/go/bin:$PATH

[ -x bin/dlvm ] || go build -o bin/dlvm ./cmd/dlvm # make bench builds it first
go build -o bin/dlvm-bench ./cmd/dlvm-bench
WORK=$(mktemp -d /tmp/dlvm-bench.XXXXXX)
echo "bench: work directory $WORK" >&2

PIDS=()      # every process this script started, stopped in reverse order
TGT_PORTS=() # control ports of the tgtds the dpv agents started (they outlive their agent)
DBNAME=""
VHOST=""
KS_STARTED=0
cleanup() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -INT "${PIDS[i]}" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    for port in "${TGT_PORTS[@]}"; do
        for p in $(pgrep -f "^tgtd .*-C $port\$" || true); do kill -KILL "$p" 2>/dev/null || true; done
    done
    [ -n "$VHOST" ] && rabbitmqctl delete_vhost "$VHOST" >/dev/null 2>&1 || true
    [ -n "$DBNAME" ] && mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $DBNAME" || true
    [ "$KS_STARTED" = 1 ] && keystone/testdata/stop-test-keystones.sh "$KS_DIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT

port_busy() { ss -ltnH "( sport = :$1 )" 2>/dev/null | grep -q .; }
NEXT_PORT=${BENCH_BASE_PORT:-24000}
# alloc VAR [N]: VAR = the first of N consecutive ports nobody listens on (below 32768: tgtd's
# control port is a short). Not in a subshell, so NEXT_PORT moves on.
alloc() {
    local n=${2:-1} i
    while :; do
        for ((i = 0; i < n; i++)); do port_busy $((NEXT_PORT + i)) && break; done
        [ "$i" = "$n" ] && break
        NEXT_PORT=$((NEXT_PORT + i + 1))
    done
    printf -v "$1" '%d' "$NEXT_PORT"
    NEXT_PORT=$((NEXT_PORT + n))
}
# pprof_line NAME PORT: with BENCH_PPROF=1, the "pprof_listen = 127.0.0.1:PORT" line of NAME's
# [DEFAULT] section (and the address on stderr); else nothing.
pprof_line() {
    [ "$PPROF" = 1 ] || return 0
    echo "bench: pprof of $1 on http://127.0.0.1:$2/debug/pprof/" >&2
    echo "pprof_listen = 127.0.0.1:$2"
}
wait_http() { # URL SECONDS
    for _ in $(seq $(($2 * 10))); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "bench: $1 did not answer in $2 s" >&2
    return 1
}

PARTS=()
bench_embedded() {
    local dir=$WORK/embedded api id dpv tgt conn
    mkdir -p "$dir"
    local pp
    alloc api; alloc id; alloc dpv 5; alloc tgt 5; alloc conn; alloc pp
    cat > "$dir/dlvm.conf" <<EOF
[DEFAULT]
quota_volumes = -1
quota_gigabytes = -1
log_file = $dir/dlvm.log
$(pprof_line all-in-one "$pp")
[dlvm-1]
max_over_subscription_ratio = 1000
[dlvm-2]
max_over_subscription_ratio = 1000
[all_in_one]
dpv_size_gb = 1000
EOF
    bin/dlvm all-in-one --data-dir "$dir" --config-file "$dir/dlvm.conf" --api-port "$api" --identity-port "$id" \
        --dpv-base-port "$dpv" --target-base-port "$tgt" --connector-port "$conn" > "$dir/out.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 600); do [ -s "$dir/openrc" ] && break; sleep 0.1; done
    wait_http "http://127.0.0.1:$api/" 60
    bin/dlvm-bench run --env embedded \
        --desc "dlvm all-in-one (one process): SQLite, in-process bus, built-in identity, 5 file-pool dpvs in 2 backends with tgtd" \
        --api "http://127.0.0.1:$api" --auth-url "http://127.0.0.1:$id/v3" --user admin --password admin --project admin \
        --procs "all-in-one=$pid" --counts "$COUNTS" --duration "$DUR" --connections "$CONNS" --create-connections "$CCONNS" \
        --legs-glob "$dir/dpv-*/legs/*" --fill-budget "$BUDGET" --db-fill "$ROOT/scripts/bench-dbfill.sh sqlite $dir/dlvm.sqlite" \
        --out "$WORK/embedded.json" > /dev/null 2> >(tee "$WORK/embedded.log" >&2)
    PARTS+=("$WORK/embedded.json")
}

bench_mariadb() {
    local dir=$WORK/mariadb
    mkdir -p "$dir"
    # a Keystone already given (KEYSTONE_FERNET_URL and friends, as make test exports them) is
    # used as it is; otherwise one is started (a few minutes on a busy machine) and stopped
    if [ -z "${KEYSTONE_FERNET_URL:-}" ]; then
        if [ ! -s "$KS_DIR/keystone.env" ]; then
            KS_FERNET_ONLY=1 keystone/testdata/start-test-keystones.sh "$KS_DIR" >&2
            KS_STARTED=1
        fi
        # shellcheck disable=SC1091
        source "$KS_DIR/keystone.env"
    fi
    DBNAME=dlvm_bench_$$
    mariadb -h 127.0.0.1 -u root -e "CREATE DATABASE $DBNAME CHARACTER SET utf8mb4"
    # its own vhost: other dlvm services on this RabbitMQ use the same queue names
    VHOST=dlvm-bench-$$
    rabbitmqctl add_vhost "$VHOST" >/dev/null
    rabbitmqctl set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null
    local api pp; alloc api; alloc pp 6 # pp: pprof ports of api, scheduler, volume, dpv-1..3
    local common="[DEFAULT]
state_path = $dir
transport_url = rabbit://guest:guest@127.0.0.1:5672/$VHOST
auth_strategy = keystone
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = $api
enabled_backends = dlvm-1
quota_volumes = -1
quota_gigabytes = -1
dpv_heartbeat_interval = 1
log_file = $dir/%s.log
%s
[database]
connection = mysql+pymysql://root@127.0.0.1:3306/$DBNAME
[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_FERNET_URL
auth_url = $KEYSTONE_FERNET_URL
username = $KEYSTONE_SERVICE_USER
password = $KEYSTONE_SERVICE_PASS
project_name = service
[dlvm-1]
volume_backend_name = dlvm-1
max_over_subscription_ratio = 1000
"
    local ppn=0 # the next of the pp ports
    # conf NAME [SECTIONS]: writes NAME's config file (common part, pprof_listen, SECTIONS) and
    # sets CONF to its path (not run in a subshell: ppn moves on)
    conf() {
        { printf "$common" "$1" "$(pprof_line "$1" $((pp + ppn)))"; printf '%s' "${2:-}"; } > "$dir/$1.conf"
        ppn=$((ppn + 1))
        CONF=$dir/$1.conf
    }
    conf api
    bin/dlvm db sync --config-file "$CONF"
    local procs=""
    start() { # NAME ARGS...
        local name=$1; shift
        bin/dlvm "$@" > "$dir/$name.out" 2>&1 &
        PIDS+=("$!")
        procs="$procs${procs:+,}$name=$!"
    }
    start api api --config-file "$dir/api.conf"
    conf scheduler
    start scheduler scheduler --config-file "$CONF"
    conf volume
    start volume volume --config-file "$CONF"
    local dpv_pids=() # dpv-1..3, watched until they report
    for i in 1 2 3; do
        local port tgt
        alloc port; alloc tgt
        TGT_PORTS+=("$tgt")
        conf "dpv-$i" "[dpv]
name = dpv-$i
dvg = dlvm-1
listen = 127.0.0.1
port = $port
pool_type = file
pool_dir = $dir/dpv-$i
target_port = $tgt
"
        start "dpv-$i" dpv-agent --config-file "$CONF"
        dpv_pids+=("$!")
    done
    wait_http "http://127.0.0.1:$api/" 60
    # the dpvs' first heartbeats reach the volume manager through RabbitMQ; an agent that died
    # (no tgtd, a busy port) stops the bench here with its own words
    local up=0
    for _ in $(seq 600); do
        up=$(mariadb -h 127.0.0.1 -u root -N -e "SELECT COUNT(*) FROM dpvs WHERE state = 'up' AND free_bytes > 0" "$DBNAME")
        [ "$up" = 3 ] && break
        for i in 1 2 3; do
            if ! kill -0 "${dpv_pids[i - 1]}" 2>/dev/null; then
                echo "bench: dpv-agent dpv-$i exited:" >&2
                cat "$dir/dpv-$i.out" "$dir/dpv-$i.log" >&2
                return 1
            fi
        done
        sleep 0.1
    done
    [ "$up" = 3 ] || { echo "bench: only $up of 3 dpvs reported in 60 s" >&2; return 1; }
    bin/dlvm-bench run --env mariadb \
        --desc "dlvm api, scheduler, volume, 3 dpv-agents (file pools, tgtd) as processes; MariaDB, RabbitMQ, upstream Keystone (fernet tokens)" \
        --api "http://127.0.0.1:$api" --auth-url "$KEYSTONE_FERNET_URL/v3" --user admin --password "$KEYSTONE_ADMIN_PASS" --project admin \
        --procs "$procs" --token-samples 15 --counts "$COUNTS" --duration "$DUR" --connections "$CONNS" --create-connections "$CCONNS" \
        --legs-glob "$dir/dpv-*/legs/*" --fill-budget "$BUDGET" --db-fill "$ROOT/scripts/bench-dbfill.sh mysql $DBNAME" \
        --out "$WORK/mariadb.json" > /dev/null 2> >(tee "$WORK/mariadb.log" >&2)
    PARTS+=("$WORK/mariadb.json")
}

for e in $ENVS; do
    echo "bench: $e" >&2
    sync # what the previous environment wrote is not written back while this one is measured
    "bench_$e"
done
bin/dlvm-bench report --out "$OUT" "${PARTS[@]}"
