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
for f in FuzzAPI FuzzDecodeCreateVolume FuzzMicroversion; do
  go test -run '^$' -fuzz "^$f\$" -fuzztime "${TEST_FUZZTIME:-5s}" ./apiv3/
done
scripts/cli-smoke.sh bin/dlvm
