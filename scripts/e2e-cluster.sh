#!/bin/sh
# make e2e-cluster: builds dlvm and runs tempest's TestE2ECluster, which builds a small cluster
# of network namespaces on this machine (2 api, 1 scheduler, 2 volume managers, 3 dpvs with
# their own tgtd, 1 compute host's connector) on the MariaDB (127.0.0.1:3306, root, no password)
# and RabbitMQ (127.0.0.1:5672, guest) of the host, runs the failure scenarios and prints the
# report. Needs root (namespaces, tgtd, loop devices, FUSE). About 5 minutes.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "e2e-cluster: run as root (network namespaces, tgtd, loop devices)" >&2; exit 1; }
for tool in ip fio tgtd tgtadm rabbitmqctl; do
	command -v "$tool" >/dev/null || { echo "e2e-cluster: $tool is missing (scripts/deps.sh test)" >&2; exit 1; }
done
GO=${GO:-go}
$GO build -o bin/dlvm ./cmd/dlvm
DLVM_E2E_CLUSTER=1 DLVM_BIN="$PWD/bin/dlvm" $GO test -count=1 -timeout 40m -run '^TestE2ECluster$' -v ./tempest/ \
	2>&1 | grep --line-buffered -v 'level=' | tee "${E2E_LOG:-/tmp/dlvm-e2e-cluster.log}"
# tee hides go test's status: look at its verdict.
tail -n 5 "${E2E_LOG:-/tmp/dlvm-e2e-cluster.log}" | grep -q '^ok' 
