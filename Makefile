# dlvm — see README.md. `make run` starts the all-in-one service; `make test` runs the tests.
GO        ?= go
BIN       := bin/dlvm
DATA_DIR  ?= $(CURDIR)/.dlvm-data
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
KS_DIR    ?= /tmp/dlvm-test-keystone

.PHONY: build run test test-unit test-cli test-kernel lint fuzz tempest bench bench-data clean e2e-cluster

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/dlvm

# Start everything in one process on embedded defaults (SQLite, in-process bus, built-in
# identity, three local file-pool dpvs under $(DATA_DIR)); prints an openrc.
run: build
	@scripts/deps.sh run
	$(BIN) all-in-one --data-dir $(DATA_DIR)

# The whole test suite: unit + integration (SQLite and the MariaDB on 127.0.0.1:3306, a real
# upstream Keystone started for the run) and the CLI session of the README.
test: build
	@scripts/deps.sh test
	scripts/test.sh

test-unit:
	$(GO) test ./...

test-cli: build
	scripts/cli-smoke.sh $(BIN)

# The kernel data path, for real, inside a qemu VM with Debian's kernel (../shared/tools/kernel-vm).
test-kernel:
	scripts/test-kernel.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# A cluster of network namespaces on this machine (2 api, 1 scheduler, 2 volume managers, 3 dpvs,
# 1 compute host) on the host's MariaDB and RabbitMQ, put through kill -9, dropped connections
# and rolling restarts; prints requests sent/failed, volumes stuck, fio verify errors and time
# to recover per scenario. Root; see scripts/e2e-cluster.sh.
e2e-cluster:
	scripts/e2e-cluster.sh

# Short fuzz runs of request decoding and microversion parsing.
fuzz:
	scripts/fuzz.sh

# Upstream Tempest's volume API tests (Debian's tempest) against a fresh all-in-one; fails when a
# must-pass test of tempest/runner/expected.txt fails. CONCURRENCY=2, MARIADB=1 (MariaDB + RabbitMQ
# on 127.0.0.1), TEMPEST_REGEX=..., UPDATE_EXPECTED=1, KEEP=1: see tempest/runner/run.sh.
tempest:
	tempest/runner/run.sh

# fio (4 KiB random write/read at QD1 and QD32, 1 MiB sequential) on the assembled 1-leg, 2-mirror
# and 2x2 devices next to the raw tgtd LUN (libiscsi) and a plain file, one run: a table on the
# terminal, JSON in bench-data.json. DLVM_BENCH_SECONDS=N per job (default 4), DLVM_BENCH_PPROF=host:port
# serves the all-in-one's /debug/pprof during the run. About 4 minutes.
bench-data: build
	@scripts/deps.sh test
	DLVM_BIN=$(CURDIR)/$(BIN) DLVM_BENCH_DATA=1 DLVM_BENCH_OUT=$(CURDIR)/bench-data.json \
		$(GO) test -count=1 -timeout 20m -run TestBenchData -v ./tempest/ | grep -v 'level='

# The control-path benchmark: dlvm on its embedded defaults and on MariaDB + RabbitMQ + a real
# Keystone, driven by bin/dlvm-bench with 100, 1,000 and 10,000 volumes; a table and bench.json.
# BENCH_ENVS, BENCH_COUNTS, BENCH_DURATION, BENCH_CONNECTIONS, BENCH_OUT: see scripts/bench.sh.
bench: build
	@scripts/deps.sh test
	scripts/bench.sh

clean:
	rm -rf bin $(DATA_DIR)
