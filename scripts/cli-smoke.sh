#!/usr/bin/env bash
# End-to-end check of the README's CLI session: starts `dlvm all-in-one` on a temp data dir and
# drives it with the real openstack CLI (Debian's python3-openstackclient 6.0), at the default
# microversion and at 3.70. Fails on the first command that does not do what the README says.
#   scripts/cli-smoke.sh [path/to/dlvm]
set -euo pipefail
BIN=${1:-bin/dlvm}
OSC=/usr/bin/openstack
[ -x "$OSC" ] || { echo "cli-smoke: $OSC missing (apt-get install python3-openstackclient)" >&2; exit 1; }
DATA=$(mktemp -d /tmp/dlvm-smoke.XXXXXX)
API_PORT=${API_PORT:-18776}; ID_PORT=${ID_PORT:-15000}; DPV_PORT=${DPV_PORT:-18801}; TGT_PORT=${TGT_PORT:-23261}; CONN_PORT=${CONN_PORT:-18810}
"$BIN" all-in-one --data-dir "$DATA" --api-port "$API_PORT" --identity-port "$ID_PORT" \
  --dpv-base-port "$DPV_PORT" --target-base-port "$TGT_PORT" --connector-port "$CONN_PORT" >"$DATA/dlvm.log" 2>&1 &
PID=$!
cleanup() { kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$DATA"; }
trap cleanup EXIT
for i in $(seq 1 300); do [ -s "$DATA/openrc" ] && curl -sf "http://127.0.0.1:$API_PORT/" -o /dev/null -w '' 2>/dev/null; \
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$API_PORT/" || true); [ -s "$DATA/openrc" ] && [ "$code" = 300 ] && break; sleep 0.2; done
[ -s "$DATA/openrc" ] || { echo "cli-smoke: no openrc"; cat "$DATA/dlvm.log"; exit 1; }
# shellcheck disable=SC1091
source "$DATA/openrc"
# grep reads its whole input (no -q): an early exit would kill the CLI with SIGPIPE under pipefail.
fail() { echo "cli-smoke: FAIL: $*" >&2; echo "--- dlvm log (tail)"; tail -40 "$DATA/dlvm.log" >&2; exit 1; }
os() { echo "+ openstack $*" >&2; "$OSC" "$@"; }
wait_status() { # kind id want
  local s=""
  for i in $(seq 1 150); do
    s=$("$OSC" $1 show "$2" -f value -c status 2>/dev/null || true)
    [ "$s" = "$3" ] && return 0
    case "$s" in error*) fail "$1 $2 went to $s";; esac
    sleep 0.2
  done
  fail "$1 $2 is '$s', want $3"
}
wait_gone() { # kind id
  for i in $(seq 1 150); do "$OSC" $1 show "$2" >/dev/null 2>&1 || return 0; sleep 0.2; done
  fail "$1 $2 not deleted"
}
legs_of() { find "$DATA" -name "*.img" | wc -l; }

for ver in "" 3.70; do
  export OS_VOLUME_API_VERSION=${ver:-3}
  sfx=${ver//./}
  echo "== microversion ${ver:-default}"
  os volume type create --property dlvm:mirrors=2 "gold$sfx" -f value -c id >/dev/null
  os volume create --size 1 --type "gold$sfx" "v1$sfx" -f value -c id >/dev/null
  wait_status volume "v1$sfx" available
  VID=$("$OSC" volume show "v1$sfx" -f value -c id)
  # its two legs live in two different dpv directories
  n=$(find "$DATA" -path "*/legs/*" -name "*.img" -printf '%h\n' | sort -u | wc -l)
  [ "$n" -ge 2 ] || fail "legs of $VID are not on two dpv directories"
  os volume list -f value -c Name | grep -x "v1$sfx" >/dev/null || fail "volume list lacks v1$sfx"
  os volume set --size 2 "v1$sfx"
  wait_status volume "v1$sfx" available
  [ "$("$OSC" volume show "v1$sfx" -f value -c size)" = 2 ] || fail "extend to 2 GiB did not show"
  # From 3.66 cinderclient 9.1 refuses OSC 6.0's default force=False before sending anything
  # (a client bug); --force is what works there, and the server ignores force=True as Cinder does.
  force=""; [ -n "$ver" ] && force=--force
  os volume snapshot create $force --volume "v1$sfx" "s1$sfx" -f value -c id >/dev/null
  wait_status "volume snapshot" "s1$sfx" available
  os volume snapshot list -f value -c Name | grep -x "s1$sfx" >/dev/null || fail "snapshot list lacks s1$sfx"
  os volume create --snapshot "s1$sfx" "v2$sfx" -f value -c id >/dev/null
  wait_status volume "v2$sfx" available
  os volume create --source "v1$sfx" "v3$sfx" -f value -c id >/dev/null
  wait_status volume "v3$sfx" available
  os quota show -f json >/dev/null || fail "quota show"
  os limits show --absolute -f json | grep totalVolumesUsed >/dev/null || fail "limits show"
  os volume delete "v2$sfx" "v3$sfx"
  wait_gone volume "v2$sfx"; wait_gone volume "v3$sfx"
  os volume snapshot delete "s1$sfx"
  wait_gone "volume snapshot" "s1$sfx"
  os volume delete "v1$sfx"
  wait_gone volume "v1$sfx"
  [ "$(legs_of)" = 0 ] || fail "legs left behind after deletes: $(legs_of)"
  # admin: QoS specs, services, private type access, type encryption
  os volume qos create --consumer front-end --property read_iops_sec=2000 "q$sfx" -f value -c id >/dev/null
  os volume qos set --property total_bytes_sec=1048576 "q$sfx"
  os volume qos associate "q$sfx" "gold$sfx"
  os volume qos show "q$sfx" -f value -c associations | grep "'gold$sfx'" >/dev/null || fail "qos q$sfx not associated"
  os volume qos unset --property total_bytes_sec "q$sfx"
  os volume qos disassociate --all "q$sfx"
  os volume qos delete "q$sfx"
  os volume service list -f value -c Binary -c State | grep -x "cinder-volume up" >/dev/null || fail "no cinder-volume service up"
  os volume service set --disable --disable-reason smoke dlvm@dlvm-1 cinder-volume
  os volume service list --long -f value -c Status -c "Disabled Reason" --service cinder-volume | grep -x "disabled smoke" >/dev/null || fail "service not disabled"
  os volume service set --enable dlvm@dlvm-1 cinder-volume
  os volume type create --private "priv$sfx" -f value -c id >/dev/null
  os volume type set --project admin "priv$sfx"
  os volume type show "priv$sfx" -f value -c access_project_ids | grep . >/dev/null || fail "type access not listed"
  os volume type set --encryption-provider luks --encryption-cipher aes-xts-plain64 --encryption-key-size 256 "priv$sfx"
  os volume type show --encryption-type "priv$sfx" -f value -c encryption | grep "'provider': 'luks'" >/dev/null || fail "type encryption not shown"
  os volume type unset --encryption-type "priv$sfx"
  os volume type unset --project admin "priv$sfx"
  os volume type delete "priv$sfx"
done
echo "== volume transfer (to the demo project) and groups (3.14)"
unset OS_VOLUME_API_VERSION
demo() { OS_PROJECT_NAME=demo OS_USERNAME=demo OS_PASSWORD=demo "$@"; }
os volume create --size 1 tv -f value -c id >/dev/null
wait_status volume tv available
TVID=$("$OSC" volume show tv -f value -c id)
TID=$(os volume transfer request create tv -f value -c id)
[ "$("$OSC" volume show tv -f value -c status)" = awaiting-transfer ] || fail "tv is not awaiting-transfer"
os volume transfer request delete "$TID"
wait_status volume tv available
KEY=$(os volume transfer request create tv -f value -c auth_key)
TID=$(os volume transfer request list -f value -c ID | head -1)
[ "$(os volume transfer request show "$TID" -f value -c volume_id)" = "$TVID" ] || fail "transfer show"
demo "$OSC" volume transfer request accept --auth-key "$KEY" "$TID" >/dev/null || fail "transfer accept"
[ "$(demo "$OSC" volume show "$TVID" -f value -c status)" = available ] || fail "accepted volume not available to demo"
"$OSC" volume list -f value -c ID | grep -qx "$TVID" && fail "the volume is still in the admin project"
demo "$OSC" volume delete "$TVID"
export OS_VOLUME_API_VERSION=3.14
os volume group type create gt -f value -c ID >/dev/null
os volume group type set --property a=b gt >/dev/null
os volume group type list -f value -c Name | grep -qx gt || fail "group type list"
os volume group create --name g gt __DEFAULT__ -f value -c ID >/dev/null
os volume group list -f value -c Name | grep -qx g || fail "group list"
os volume group snapshot create --name gs g -f value -c ID >/dev/null
os volume group snapshot list -f value -c Status | grep -qx available || fail "group snapshot list"
os volume group snapshot delete gs
for i in $(seq 1 50); do [ -z "$("$OSC" volume group snapshot list -f value -c ID)" ] && break; sleep 0.2; done
os volume group delete g
for i in $(seq 1 50); do [ -z "$("$OSC" volume group list -f value -c ID)" ] && break; sleep 0.2; done
[ -z "$("$OSC" volume group list -f value -c ID)" ] || fail "group g not deleted"
os volume group type delete gt
unset OS_VOLUME_API_VERSION
echo "cli-smoke: OK"
