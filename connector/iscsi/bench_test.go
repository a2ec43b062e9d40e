package iscsi

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBenchIOPS reports 4 KiB random write and read IOPS at queue depth 32 against a local tgtd
// (sparse file LUN), for comparison with fio through libiscsi on the same machine. Not run by
// default: ISCSI_BENCH=1 go test -run TestBenchIOPS -v ./connector/iscsi
// (ISCSI_BENCH_SECONDS sets each phase's duration, default 5).
func TestBenchIOPS(t *testing.T) {
	if os.Getenv("ISCSI_BENCH") == "" {
		t.Skip("set ISCSI_BENCH=1 to run")
	}
	secs, _ := strconv.Atoi(os.Getenv("ISCSI_BENCH_SECONDS"))
	if secs <= 0 {
		secs = 5
	}
	const qd, bs, span = 32, 4096, 1 << 30
	d := startTgtd(t, tgtdConfig{size: span})
	s := dial(t, d, Options{Log: testLog(t), QueueDepth: qd})
	for _, phase := range []string{"randwrite", "randread"} {
		var ops atomic.Int64
		var wg sync.WaitGroup
		errs := make([]error, qd)
		deadline := time.Now().Add(time.Duration(secs) * time.Second)
		start := time.Now()
		for w := range qd {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 42))
				buf := make([]byte, bs)
				for i := range buf {
					buf[i] = byte(rng.Uint32())
				}
				for time.Now().Before(deadline) {
					off := rng.Int64N(span/bs) * bs
					if phase == "randwrite" {
						_, errs[w] = s.WriteAt(buf, off)
					} else {
						_, errs[w] = s.ReadAt(buf, off)
					}
					if errs[w] != nil {
						return
					}
					ops.Add(1)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		el := time.Since(start)
		t.Logf("%s 4KiB QD%d: %.0f IOPS (%d ops in %v)", phase, qd, float64(ops.Load())/el.Seconds(), ops.Load(), el.Round(time.Millisecond))
	}
	// The same reads through libiscsi on the same target and machine load, when available.
	if _, err := exec.LookPath("iscsi-perf"); err == nil {
		url := fmt.Sprintf("iscsi://%s/%s/1", d.target().Portal, d.iqn)
		out, _ := exec.Command("timeout", "-s", "INT", strconv.Itoa(secs), "iscsi-perf", "-i", testInitiator,
			"-m", strconv.Itoa(qd), "-b", "8", "-r", url).CombinedOutput()
		t.Logf("libiscsi iscsi-perf randread 4KiB QD%d:\n%s", qd, out)
	}
}
