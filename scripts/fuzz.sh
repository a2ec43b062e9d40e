#!/usr/bin/env bash
# make fuzz: a short coverage-guided run of every Fuzz target (request decoding, microversion
# headers, config parsing, placement, token requests, iSCSI and NBD wire parsing). Their seed
# corpora already run in `make test`; this explores beyond them. FUZZTIME per target (default
# 30000x: an execution count, since go1.26's fuzz coordinator can report a -fuzztime duration's
# own deadline as a failure, golang/go#75804).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-30000x}
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for f in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/'); do
    echo "== $dir $f"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$dir"
  done
done
