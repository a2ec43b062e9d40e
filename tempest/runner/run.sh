#!/usr/bin/env bash
# make tempest: upstream Tempest's volume API tests (Debian's tempest package) against a fresh
# dlvm all-in-one.
#
#   tempest/runner/run.sh                      # concurrency 2, SQLite + in-process bus
#   CONCURRENCY=4 tempest/runner/run.sh
#   MARIADB=1 tempest/runner/run.sh            # [database] on 127.0.0.1:3306 (fresh db), RabbitMQ
#   TEMPEST_REGEX='^tempest\.api\.volume\.test_volumes_get' tempest/runner/run.sh
#   UPDATE_EXPECTED=1 tempest/runner/run.sh    # rewrite expected.txt from this run
#   KEEP=1 tempest/runner/run.sh               # keep the work dir (data, logs, workspace)
#
# Steps: install tempest if missing; make build; start `dlvm all-in-one` on free loopback ports
# with static accounts in the built-in identity; render accounts.yaml and tempest.conf (vendor
# and protocol read from get_pools); `tempest run`; print the summary, every failure with the
# first line of its error and every skip with its reason; stop dlvm. Exits 0 only when every
# `pass` line of expected.txt passed (see expected.txt for its format).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CONCURRENCY="${CONCURRENCY:-2}"
TEMPEST_REGEX="${TEMPEST_REGEX:-^tempest\.api\.volume\.}"
EXPECTED="${EXPECTED:-$HERE/expected.txt}"
MARIADB="${MARIADB:-0}"
MYSQL_HOST="${MYSQL_HOST:-127.0.0.1}"
RABBIT_URL="${RABBIT_URL:-rabbit://guest:guest@127.0.0.1:5672/}"
PY=/usr/bin/python3
export PATH=/usr/local/go/bin:$PATH DEBIAN_FRONTEND=noninteractive

log() { printf '[tempest-runner] %s\n' "$*" >&2; }

# --- 1. tempest -------------------------------------------------------------------------------
if ! dpkg-query -W -f='${Status}' tempest 2>/dev/null | grep -q "install ok installed"; then
  log "installing Debian's tempest package"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq tempest >/dev/null
fi
for t in /usr/bin/tempest /usr/bin/stestr; do
  [ -x "$t" ] || { log "missing $t after installing tempest"; exit 2; }
done

# --- 2. dlvm ----------------------------------------------------------------------------------
log "building dlvm"
make -C "$ROOT" --no-print-directory build >&2
DLVM="$ROOT/bin/dlvm"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dlvm-tempest.XXXXXX")"
DLVM_PID=""
DBNAME=""
cleanup() {
  local rc=$?
  if [ -n "$DLVM_PID" ] && kill -0 "$DLVM_PID" 2>/dev/null; then
    log "stopping dlvm (pid $DLVM_PID)"
    kill -TERM "$DLVM_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$DLVM_PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$DLVM_PID" 2>/dev/null; then
      log "dlvm did not stop within 20s; killing it. Log tail:"
      tail -n 30 "$WORK/dlvm.log" >&2 || true
      kill -KILL "$DLVM_PID" 2>/dev/null || true
    fi
    wait "$DLVM_PID" 2>/dev/null || true
  fi
  if [ -n "$DBNAME" ] && [ "${KEEP:-0}" != 1 ]; then
    mysql -h "$MYSQL_HOST" -uroot -e "DROP DATABASE IF EXISTS \`$DBNAME\`" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    log "work dir kept: $WORK (dlvm.log, tempest workspace in ws/, results.subunit)"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free loopback ports: API, identity, a run of 5 for the local dpv agents (the all-in-one's two
# backends: dpv-1..3 in dlvm-1, dpv-4..5 in dlvm-2), the connector daemon and a run of 5 iSCSI
# portals (at most 32767).
read -r API_PORT ID_PORT DPV_PORT CONN_PORT TGT_PORT < <($PY - <<'EOF'
import random, socket
taken = set()
def ok(base, n):
    if any(p in taken for p in range(base, base + n)) or base + n > 65535: return False
    for p in range(base, base + n):
        t = socket.socket()
        try: t.bind(("127.0.0.1", p))
        except OSError: return False
        finally: t.close()
    return True
def free(n=1, hi=None):
    for _ in range(500):
        if hi:
            base = random.randint(20000, hi - n)
        else:
            s = socket.socket(); s.bind(("127.0.0.1", 0)); base = s.getsockname()[1]; s.close()
        if ok(base, n):
            taken.update(range(base, base + n)); return base
    raise SystemExit("no free ports")
print(free(), free(), free(5), free(), free(5, 32767))
EOF
)
# Flags newer all-in-ones have (several may run at once on one machine).
EXTRA_FLAGS=()
aio_help="$("$DLVM" all-in-one --help 2>&1 || true)"
if grep -q -- --connector-port <<<"$aio_help"; then EXTRA_FLAGS+=(--connector-port "$CONN_PORT"); fi
if grep -q -- --target-base-port <<<"$aio_help"; then EXTRA_FLAGS+=(--target-base-port "$TGT_PORT"); fi

# Static accounts. Member users each get their own project (proj-a, proj-b, ...): Tempest's
# static-credentials provider gives a test class "primary" and "alt" from any two free member
# accounts, and the tests that need a second project (type access, quotas, transfers) need the
# two to differ; own projects also keep quota/usage tests of concurrent classes apart.
# Admins (types: [admin]) each have their own project too.
PASSWORD="tempest-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
letters=(a b c d e f g h i j k l m n o p q r s t u v w x y z)
members=$((2 * CONCURRENCY)); admins=$CONCURRENCY
{
  echo "[DEFAULT]"
  echo "log_file = $WORK/dlvm-service.log"
  if [ "$MARIADB" = 1 ]; then
    DBNAME="dlvm_tempest_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
    # The run's own exchange and queues: other dlvm runs on this broker stay apart.
    echo "transport_url = $RABBIT_URL"
    echo "control_exchange = $DBNAME"
  fi
  echo
  if [ "$MARIADB" = 1 ]; then
    mysql -h "$MYSQL_HOST" -uroot -e "CREATE DATABASE \`$DBNAME\` CHARACTER SET utf8mb4"
    echo "[database]"
    echo "connection = mysql+pymysql://root@$MYSQL_HOST:3306/$DBNAME"
    echo
  fi
  echo "[builtin_identity]"
  echo "users = admin:$PASSWORD:admin:admin+member+reader"
  for i in $(seq 1 "$admins"); do
    echo "users = tempest-admin-$i:$PASSWORD:tempest-admin-$i:admin+member+reader"
  done
  for i in $(seq 1 "$members"); do
    p="proj-${letters[$(( (i - 1) % 26 ))]}"; [ "$i" -gt 26 ] && p="$p$(( (i - 1) / 26 ))"
    echo "users = tempest-member-$i:$PASSWORD:$p:member+reader"
  done
} >"$WORK/dlvm.conf"
{
  echo "# Static accounts for Tempest (rendered by tempest/runner/run.sh)."
  for i in $(seq 1 "$members"); do
    p="proj-${letters[$(( (i - 1) % 26 ))]}"; [ "$i" -gt 26 ] && p="$p$(( (i - 1) / 26 ))"
    printf -- "- username: 'tempest-member-%s'\n  project_name: '%s'\n  password: '%s'\n  roles:\n  - 'member'\n  - 'reader'\n" "$i" "$p" "$PASSWORD"
  done
  for i in $(seq 1 "$admins"); do
    printf -- "- username: 'tempest-admin-%s'\n  project_name: 'tempest-admin-%s'\n  password: '%s'\n  types:\n  - 'admin'\n" "$i" "$i" "$PASSWORD"
  done
} >"$WORK/accounts.yaml"

log "starting dlvm all-in-one: API :$API_PORT, identity :$ID_PORT, dpvs :$DPV_PORT+ ${EXTRA_FLAGS[*]} ($([ "$MARIADB" = 1 ] && echo "MariaDB $DBNAME + RabbitMQ" || echo SQLite)), work dir $WORK"
"$DLVM" all-in-one --data-dir "$WORK/data" --config-file "$WORK/dlvm.conf" \
  --api-port "$API_PORT" --identity-port "$ID_PORT" --dpv-base-port "$DPV_PORT" \
  "${EXTRA_FLAGS[@]}" >"$WORK/dlvm.log" 2>&1 &
DLVM_PID=$!
API_URL="http://127.0.0.1:$API_PORT"
ID_URL="http://127.0.0.1:$ID_PORT"

dlvm_log_tail() { for f in "$WORK/dlvm.log" "$WORK/dlvm-service.log"; do [ -s "$f" ] && { echo "--- tail of $f"; tail -n "${1:-40}" "$f"; }; done >&2; true; }

for i in $(seq 1 120); do
  if ! kill -0 "$DLVM_PID" 2>/dev/null; then log "dlvm exited during startup"; dlvm_log_tail; exit 1; fi
  code=$(curl -s -o /dev/null -w '%{http_code}' "$API_URL/" || true)
  idc=$(curl -s -o /dev/null -w '%{http_code}' "$ID_URL/v3" || true)
  [ "$code" = 300 ] && [ "$idc" = 200 ] && break
  [ "$i" = 120 ] && { log "dlvm not ready after 60s (API $code, identity $idc)"; dlvm_log_tail; exit 1; }
  sleep 0.5
done

# vendor_name / storage_protocol / backend names exactly as get_pools reports them (waits for the
# dpvs to report capacity).
read -r VENDOR PROTOCOL BACKENDS < <(PASSWORD="$PASSWORD" ID_URL="$ID_URL" $PY - <<'EOF'
import json, os, sys, time, urllib.request
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "password": os.environ["PASSWORD"], "domain": {"name": "Default"}}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
req = urllib.request.Request(os.environ["ID_URL"] + "/v3/auth/tokens", json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    token = r.headers["X-Subject-Token"]
    cat = json.load(r)["token"]["catalog"]
url = [e["url"] for s in cat if s["type"] == "volumev3" for e in s["endpoints"] if e["interface"] == "public"][0]
for _ in range(60):
    req = urllib.request.Request(url + "/scheduler-stats/get_pools?detail=True",
                                 headers={"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.0"})
    with urllib.request.urlopen(req) as r:
        pools = json.load(r).get("pools", [])
    caps = [p.get("capabilities", {}) for p in pools]
    if caps and all(c.get("vendor_name") for c in caps):
        break
    time.sleep(1)
else:
    sys.exit("get_pools reported no pool with capabilities: %r" % pools)
names = sorted({c.get("volume_backend_name") or p["name"].split("#")[0].split("@")[-1] for p, c in zip(pools, caps)})
print(caps[0]["vendor_name"], caps[0]["storage_protocol"], ",".join(names))
EOF
) || { log "could not read get_pools"; dlvm_log_tail; exit 1; }
log "get_pools: vendor_name=$VENDOR storage_protocol=$PROTOCOL backends=$BACKENDS"

# --- 3. tempest workspace ---------------------------------------------------------------------
WS="$WORK/ws"
(cd "$WORK" && tempest init --workspace-path "$WORK/workspace.yaml" --name "dlvm-$$" "$WS" >/dev/null)
mkdir -p "$WORK/locks"
sed -e "s|@LOCK_DIR@|$WORK/locks|" -e "s|@ACCOUNTS_FILE@|$WORK/accounts.yaml|" \
    -e "s|@IDENTITY_URL@|$ID_URL|" -e "s|@VENDOR_NAME@|$VENDOR|" \
    -e "s|@STORAGE_PROTOCOL@|$PROTOCOL|" -e "s|@BACKEND_NAMES@|$BACKENDS|" \
    "$HERE/tempest.conf.tmpl" >"$WS/etc/tempest.conf"
cp "$WORK/accounts.yaml" "$WS/etc/accounts.yaml"

(cd "$WS" && tempest run --workspace-path "$WORK/workspace.yaml" --regex "$TEMPEST_REGEX" \
  --list-tests 2>/dev/null | grep '^tempest\.' >"$WORK/all-tests.txt") || true
log "tempest run --regex '$TEMPEST_REGEX' --concurrency $CONCURRENCY"
start=$(date +%s)
set +e
(cd "$WS" && tempest run --workspace-path "$WORK/workspace.yaml" --regex "$TEMPEST_REGEX" \
  --concurrency "$CONCURRENCY") >"$WORK/tempest-run.log" 2>&1
trc=$?
set -e
elapsed=$(( $(date +%s) - start ))
# The run's own summary (the per-test lines are in the report below and in tempest-run.log).
sed -n '/^=\{6,\}$/,$p' "$WORK/tempest-run.log" | sed -n '/^Totals$/,$p'
log "tempest run exited $trc after ${elapsed}s"

DLVM_ALIVE=1
if ! kill -0 "$DLVM_PID" 2>/dev/null; then
  DLVM_ALIVE=0
  echo "!!! dlvm is no longer running after the Tempest run; its log tail:"
  dlvm_log_tail 80
fi

(cd "$WS" && stestr last --subunit) >"$WORK/results.subunit" 2>/dev/null || true
set +e
$PY "$HERE/report.py" --subunit "$WORK/results.subunit" --expected "$EXPECTED" \
  --all-tests "$WORK/all-tests.txt" \
  --elapsed "$elapsed" --concurrency "$CONCURRENCY" \
  $([ "${UPDATE_EXPECTED:-0}" = 1 ] && echo --update)
rrc=$?
set -e
if [ ! -s "$WORK/results.subunit" ]; then
  echo "no Tempest results; tail of $WORK/tempest-run.log:"; tail -n 40 "$WORK/tempest-run.log"
  rrc=1
fi
[ "$DLVM_ALIVE" = 1 ] || rrc=1
exit $rrc
