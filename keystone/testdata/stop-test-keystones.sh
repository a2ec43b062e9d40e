#!/bin/bash
# Stop the Keystones start-test-keystones.sh started under OUTDIR (by their recorded pids).
#   usage: stop-test-keystones.sh OUTDIR
set -uo pipefail
OUT=${1:?usage: $0 OUTDIR}
for name in fernet jws; do
    dir="$OUT/$name"
    [ -x "$dir/stop.sh" ] || [ -f "$dir/stop.sh" ] || continue
    PEER_DIR="$dir" bash "$dir/stop.sh" keystone
done
rm -f "$OUT/keystone.env"
exit 0
