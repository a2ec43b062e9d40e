#!/usr/bin/env bash
# make test: every Go test (unit + integration against SQLite, the MariaDB on 127.0.0.1:3306 and
# two real upstream Keystones, fernet and JWS), short fuzz runs of the API, then the README's CLI session against a running
# all-in-one service.
set -euo pipefail
cd "$(dirname "$0")/.."
KS_DIR=${KS_DIR:-$(mktemp -d /tmp/dlvm-keystone.XXXXXX)}
keystone/testdata/start-test-keystones.sh "$KS_DIR"
trap 'keystone/testdata/stop-test-keystones.sh "$KS_DIR" || true' EXIT
set -a; source "$KS_DIR/keystone.env"; set +a
export DLVM_REQUIRE_KEYSTONE=1
go test -count=1 -timeout 20m ./...
# Short coverage-guided runs of the API fuzz targets (their seeds ran above); make fuzz runs all.
# Budgets are execution counts, not durations: go1.26's fuzz coordinator can report its own
# -fuzztime deadline as a failure ("context deadline exceeded", no crasher; golang/go#75804).
for f in FuzzAPI:10000x FuzzDecodeCreateVolume:100000x FuzzMicroversion:100000x; do
  go test -run '^$' -fuzz "^${f%%:*}\$" -fuzztime "${TEST_FUZZTIME:-${f#*:}}" ./apiv3/
done
scripts/cli-smoke.sh bin/dlvm
