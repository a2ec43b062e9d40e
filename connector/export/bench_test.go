package export

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fioIOPS runs one fio job (4 KiB, QD32, libaio, O_DIRECT) on target and returns its IOPS.
func fioIOPS(t *testing.T, target, rw string) float64 {
	t.Helper()
	out, err := exec.Command("fio", "--name=b", "--filename="+target, "--rw="+rw, "--bs=4k",
		"--iodepth=32", "--ioengine=libaio", "--direct=1", "--size=256M", "--time_based",
		"--runtime=8", "--ramp_time=1", "--output-format=json").Output()
	require.NoError(t, err, "fio: %s", out)
	var res struct {
		Jobs []struct {
			Error int `json:"error"`
			Read  struct {
				IOPS float64 `json:"iops"`
			} `json:"read"`
			Write struct {
				IOPS float64 `json:"iops"`
			} `json:"write"`
		} `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	require.Len(t, res.Jobs, 1)
	require.Zero(t, res.Jobs[0].Error)
	if strings.Contains(rw, "read") {
		return res.Jobs[0].Read.IOPS
	}
	return res.Jobs[0].Write.IOPS
}

// TestLoopIOPS measures 4 KiB random I/O at queue depth 32 on the FUSE-backed loop device
// (loop direct I/O off and on) next to a loop device over the same kind of plain file, in the
// same run. It is a measurement, not a unit test: set DLVM_EXPORT_BENCH=1 to run it.
func TestLoopIOPS(t *testing.T) {
	if os.Getenv("DLVM_EXPORT_BENCH") == "" {
		t.Skip("set DLVM_EXPORT_BENCH=1 to measure IOPS")
	}
	requireRoot(t)
	requireTool(t, "fio", "losetup")
	const size = 512 << 20
	results := map[string]float64{}
	for _, rw := range []string{"randwrite", "randread"} {
		// baseline: a loop device (direct I/O on) over a plain file
		plain := filepath.Join(t.TempDir(), "plain.img")
		require.NoError(t, os.WriteFile(plain, nil, 0o600))
		require.NoError(t, os.Truncate(plain, size))
		loopDev := strings.TrimSpace(run(t, "losetup", "--find", "--show", "--direct-io=on", plain))
		if rw == "randread" {
			fioIOPS(t, loopDev, "write") // read allocated blocks, not holes
		}
		results["plain loop "+rw] = fioIOPS(t, loopDev, rw)
		run(t, "losetup", "--detach", loopDev)

		for _, mode := range dioModes {
			dev, _ := newFileDev(t, size)
			l, err := ExposeLoop(context.Background(), dev, LoopOptions{MountDir: filepath.Join(t.TempDir(), "fuse"), DirectIO: mode.dio})
			require.NoError(t, err)
			if rw == "randread" {
				fioIOPS(t, l.Path(), "write")
			}
			results[mode.name+" "+rw] = fioIOPS(t, l.Path(), rw)
			require.NoError(t, l.Close(context.Background()))
		}
		base := results["plain loop "+rw]
		for _, mode := range dioModes {
			k := mode.name + " " + rw
			t.Logf("%-32s %8.0f IOPS  (%.2fx plain loop %.0f)", k, results[k], results[k]/base, base)
		}
	}
}
