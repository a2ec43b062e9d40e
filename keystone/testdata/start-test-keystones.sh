#!/bin/bash
# Start two upstream Keystones on loopback for the keystone package's integration test:
# one issuing fernet tokens, one issuing JWS (ES256) tokens. Each gets its own PEER_DIR under
# OUTDIR, no memcached (KS_CACHE=none), and a free port. Writes OUTDIR/keystone.env with
#   KEYSTONE_FERNET_URL KEYSTONE_JWS_URL KEYSTONE_JWS_KEYS KEYSTONE_ADMIN_PASS
#   KEYSTONE_DEMO_PASS KEYSTONE_SERVICE_USER KEYSTONE_SERVICE_PASS
# as `export NAME=value` lines. Re-running reuses running instances. Stop with
# stop-test-keystones.sh OUTDIR.
#   usage: start-test-keystones.sh OUTDIR
set -euo pipefail
OUT=${1:?usage: $0 OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TOOLS=${KEYSTONE_TOOLS:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/tools/keystone}
[ -x "$TOOLS/start-keystone.sh" ] || TOOLS=/work/shared/tools/keystone
[ -x "$TOOLS/start-keystone.sh" ] || { echo "start-keystone.sh not found (set KEYSTONE_TOOLS)" >&2; exit 1; }

port_busy() { ss -ltnH "( sport = :$1 )" 2>/dev/null | grep -q .; }
# free_port START: first port >= START nobody listens on
free_port() {
    local p=$1
    while port_busy "$p"; do p=$((p + 1)); done
    echo "$p"
}

# start_one NAME PROVIDER FIRST_PORT -> prints the URL
start_one() {
    local name=$1 provider=$2 first=$3 dir="$OUT/$1" port
    mkdir -p "$dir"
    # start-keystone.sh runs $PEER_DIR/provision_keystone.py and $PEER_DIR/stop.sh
    cp "$TOOLS/provision_keystone.py" "$TOOLS/stop.sh" "$TOOLS/common.sh" "$dir/"
    if [ -s "$dir/port" ] && [ -s "$dir/run/keystone.pid" ] && kill -0 "$(cat "$dir/run/keystone.pid")" 2>/dev/null; then
        port=$(cat "$dir/port")
    else
        port=$(free_port "$first")
        echo "$port" > "$dir/port"
    fi
    # the private start script sources common.sh from its own folder; PEER_DIR moves the state
    PEER_DIR="$dir" KEYSTONE_PORT="$port" KS_TOKEN_PROVIDER="$provider" KS_CACHE=none \
        KS_PROCESSES="${KS_PROCESSES:-2}" KS_THREADS="${KS_THREADS:-1}" \
        bash "$TOOLS/start-keystone.sh" >&2
    echo "http://127.0.0.1:$port"
}

FERNET_URL=$(start_one fernet fernet 35357)
# a different range so the two never race for one port; KS_FERNET_ONLY=1 (make bench) skips it
JWS_URL=""
[ "${KS_FERNET_ONLY:-0}" = 1 ] || JWS_URL=$(start_one jws jws 35457)

PEER_DIR="$OUT/fernet" source "$TOOLS/common.sh" >/dev/null 2>&1 || true
cat > "$OUT/keystone.env" <<ENV
export KEYSTONE_FERNET_URL=$FERNET_URL
export KEYSTONE_JWS_URL=$JWS_URL
export KEYSTONE_JWS_KEYS=$OUT/jws/state/keystone/jws-keys/public
export KEYSTONE_ADMIN_PASS=${ADMIN_PASS:-adminpass}
export KEYSTONE_DEMO_PASS=${DEMO_PASS:-demopass}
export KEYSTONE_SERVICE_USER=cinder
export KEYSTONE_SERVICE_PASS=${CINDER_PASS:-cinderpass}
ENV
echo "wrote $OUT/keystone.env" >&2
