package tempest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"
)

// benchRow is one measured target and workload.
type benchRow struct {
	Target   string  `json:"target"`
	Workload string  `json:"workload"`
	Tool     string  `json:"tool"`
	IOPS     float64 `json:"iops"`
	Ratio    float64 `json:"ratio_to_plain_file"`
}

// TestBenchData is `make bench-data` (opt-in with DLVM_BENCH_DATA=1; not part of make test): in
// one run it measures 4 KiB random write and read at queue depth 32 on a plain file, on the raw
// tgtd LUN of a single-leg volume through libiscsi, and on the assembled devices of a 2-mirror and
// a 2-mirror x 2-stripe volume (userspace engine, loop device with direct I/O), and prints IOPS
// with the ratio to the plain file; JSON goes to $DLVM_BENCH_OUT (default bench-data.json).
func TestBenchData(t *testing.T) {
	if os.Getenv("DLVM_BENCH_DATA") != "1" {
		t.Skip("benchmark: run with make bench-data")
	}
	secs := 8
	if v, err := strconv.Atoi(os.Getenv("DLVM_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	s := startService(t)
	c, _ := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
	c.Microversion = "3.70"
	ctx := context.Background()
	var rows []benchRow

	plain := filepath.Join(s.dataDir, "plain.img")
	require.NoError(t, exec.Command("truncate", "-s", "1G", plain).Run())
	rows = append(rows, fioRow(t, "plain file", plain, "randwrite", secs), fioRow(t, "plain file", plain, "randread", secs))

	// The raw LUN of a single-leg volume, through libiscsi.
	single := benchVolume(t, c, "bench-1leg", map[string]string{"dlvm:mirrors": "1"})
	initiator := "iqn.2026-11.dev.dlvm.bench:libiscsi"
	a, err := attachments.Create(ctx, c, attachments.CreateOpts{VolumeUUID: single, InstanceUUID: uuid.NewString()}).Extract()
	require.NoError(t, err)
	a, err = attachments.Update(ctx, c, a.ID, attachments.UpdateOpts{Connector: map[string]any{
		"host": "bench-libiscsi", "initiator": initiator, "ip": "127.0.0.1", "platform": "x86_64", "os_type": "linux"}}).Extract()
	require.NoError(t, err)
	ci := a.ConnectionInfo
	rows = append(rows, qemuWriteRow(t, ci, initiator, secs), iscsiPerfRow(t, ci, initiator, secs))

	for _, v := range []struct {
		name  string
		specs map[string]string
	}{
		{"2-mirror (assembled)", map[string]string{"dlvm:mirrors": "2"}},
		{"2-mirror x 2-stripe (assembled)", map[string]string{"dlvm:mirrors": "2", "dlvm:stripes": "2"}},
	} {
		id := benchVolume(t, c, strings.Fields(v.name)[0], v.specs)
		att, dev := attach(t, c, id)
		rows = append(rows, fioRow(t, v.name, dev, "randwrite", secs), fioRow(t, v.name, dev, "randread", secs))
		detach(t, c, id, att)
	}

	base := map[string]float64{}
	for _, r := range rows {
		if r.Target == "plain file" {
			base[r.Workload] = r.IOPS
		}
	}
	fmt.Printf("\n%-34s %-10s %-34s %10s %8s\n", "target", "workload", "tool", "IOPS", "x plain")
	for i := range rows {
		w := rows[i].Workload
		if strings.Contains(w, "write") {
			w = "randwrite"
		} else {
			w = "randread"
		}
		if base[w] > 0 {
			rows[i].Ratio = rows[i].IOPS / base[w]
		}
		r := rows[i]
		fmt.Printf("%-34s %-10s %-34s %10.0f %8.2f\n", r.Target, r.Workload, r.Tool, r.IOPS, r.Ratio)
	}
	out := os.Getenv("DLVM_BENCH_OUT")
	if out == "" {
		out = "bench-data.json"
	}
	host, _ := os.Hostname()
	b, err := json.MarshalIndent(map[string]any{"time": time.Now().UTC().Format(time.RFC3339), "host": host,
		"seconds_per_run": secs, "block_size": 4096, "queue_depth": 32, "results": rows}, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, b, 0o644))
	fmt.Printf("\nwritten to %s\n", out)
}

func benchVolume(t *testing.T, bc *gophercloud.ServiceClient, name string, specs map[string]string) string {
	t.Helper()
	ctx := context.Background()
	vt, err := volumetypes.Create(ctx, bc, volumetypes.CreateOpts{Name: name + "-" + uuid.NewString()[:8], ExtraSpecs: specs}).Extract()
	require.NoError(t, err)
	v, err := volumes.Create(ctx, bc, volumes.CreateOpts{Size: 1, Name: name, VolumeType: vt.Name}, nil).Extract()
	require.NoError(t, err)
	waitVolume(t, bc, v.ID, "available")
	return v.ID
}

// fioRow runs fio 4 KiB random I/O at QD32 (direct, libaio) for secs seconds.
func fioRow(t *testing.T, target, file, rw string, secs int) benchRow {
	t.Helper()
	out, err := exec.Command("fio", "--name=bench", "--filename="+file, "--rw="+rw, "--bs=4k", "--iodepth=32",
		"--ioengine=libaio", "--direct=1", "--size=512M", "--runtime="+strconv.Itoa(secs), "--time_based",
		"--output-format=json").Output()
	require.NoError(t, err, "fio on %s", target)
	var res struct {
		Jobs []struct {
			Read, Write struct{ IOPS float64 }
		}
	}
	require.NoError(t, json.Unmarshal(out, &res))
	iops := res.Jobs[0].Read.IOPS
	if rw == "randwrite" {
		iops = res.Jobs[0].Write.IOPS
	}
	return benchRow{Target: target, Workload: rw, Tool: "fio libaio direct", IOPS: iops}
}

// qemuWriteRow writes through qemu's libiscsi driver: qemu-img bench issues 4 KiB writes at
// depth 32 (sequential steps; qemu-img bench has no random mode).
func qemuWriteRow(t *testing.T, ci map[string]any, initiator string, secs int) benchRow {
	t.Helper()
	portal, _ := ci["target_portal"].(string)
	opts := fmt.Sprintf("driver=iscsi,transport=tcp,portal=%s,target=%s,lun=%v,user=%v,password=%v,initiator-name=%s",
		portal, ci["target_iqn"], ci["target_lun"], ci["auth_username"], ci["auth_password"], initiator)
	count := 40000 * secs / 8
	start := time.Now()
	out, err := exec.Command("qemu-img", "bench", "-w", "-d", "32", "-s", "4k", "-c", strconv.Itoa(count), "-t", "none",
		"--image-opts", opts).CombinedOutput()
	require.NoError(t, err, "qemu-img bench: %s", out)
	el := time.Since(start).Seconds()
	if m := regexp.MustCompile(`Run completed in ([0-9.]+) seconds`).FindSubmatch(out); m != nil {
		el, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	return benchRow{Target: "tgtd LUN via libiscsi", Workload: "seqwrite", Tool: "qemu-img bench (libiscsi)", IOPS: float64(count) / el}
}

// iscsiPerfRow reads through libiscsi's own iscsi-perf: random 4 KiB reads, 32 outstanding.
func iscsiPerfRow(t *testing.T, ci map[string]any, initiator string, secs int) benchRow {
	t.Helper()
	lun := fmt.Sprintf("iscsi://%v%%%v@%v/%v/%v", ci["auth_username"], ci["auth_password"], ci["target_portal"], ci["target_iqn"], ci["target_lun"])
	out, _ := exec.Command("timeout", "-s", "INT", strconv.Itoa(secs), "iscsi-perf", "-i", initiator, "-m", "32", "-b", "8", "-r", lun).CombinedOutput()
	// iscsi-perf prints a status every second ("... iops average N ..."); take the last average.
	ms := regexp.MustCompile(`iops average ([0-9]+)`).FindAllSubmatch(out, -1)
	require.NotEmpty(t, ms, "iscsi-perf printed no IOPS: %s", out)
	iops, _ := strconv.ParseFloat(string(ms[len(ms)-1][1]), 64)
	return benchRow{Target: "tgtd LUN via libiscsi", Workload: "randread", Tool: "iscsi-perf (libiscsi)", IOPS: iops}
}
