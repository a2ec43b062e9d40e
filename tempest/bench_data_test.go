package tempest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/connector/userspace"
)

// benchWorkload is one fio job shape.
type benchWorkload struct {
	Name  string `json:"name"`
	RW    string `json:"rw"`
	BS    string `json:"block_size"`
	Depth int    `json:"queue_depth"`
}

// The workloads of make bench-data, in the order they run on each target: the sequential write
// first fills the measured span, so the reads after it read written blocks, not holes.
var benchWorkloads = []benchWorkload{
	{"seqwrite 1M QD8", "write", "1M", 8},
	{"randwrite 4k QD32", "randwrite", "4k", 32},
	{"randwrite 4k QD1", "randwrite", "4k", 1},
	{"randread 4k QD32", "randread", "4k", 32},
	{"randread 4k QD1", "randread", "4k", 1},
	{"seqread 1M QD8", "read", "1M", 8},
}

// benchRow is one measured target and workload.
type benchRow struct {
	Target   string  `json:"target"`
	Tool     string  `json:"tool"`
	Workload string  `json:"workload"`
	IOPS     float64 `json:"iops"`
	MiBps    float64 `json:"mib_per_s"`
	LatUs    float64 `json:"mean_latency_us"`
	Ratio    float64 `json:"ratio_to_plain_file"`
}

// benchTarget is something fio can drive: a file or device (libaio, O_DIRECT) or an NBD socket
// (fio's nbd engine, libnbd).
type benchTarget struct {
	name, tool string
	file       string // libaio target
	nbdSocket  string // nbd target
	workloads  []benchWorkload
}

// TestBenchData is `make bench-data` (opt-in with DLVM_BENCH_DATA=1; not part of make test). In
// one run, with the same fio jobs, it measures:
//   - a plain file on the dpvs' filesystem (fio libaio, O_DIRECT): the ceiling;
//   - the raw tgtd LUN of a single-leg volume, through libiscsi: qemu-nbd's iscsi driver exports
//     it on a unix socket and fio's nbd engine drives it (Debian's fio has no libiscsi engine;
//     this is one userspace hop, like the assembled devices' FUSE hop) — the baseline the
//     mirror is compared with;
//   - the same LUN assembled by the userspace engine as a 1-leg volume (our Go initiator, then
//     the loop device over FUSE), the 2-mirror and the 2-mirror x 2-stripe volumes attached
//     through the API (their /dev/loopN), and the 2-mirror's NBD socket.
//
// It prints IOPS, MiB/s, mean latency and the ratio to the plain file, then the 2-mirror's 4 KiB
// QD32 random-write IOPS over the raw LUN's, and writes JSON to $DLVM_BENCH_OUT (default
// bench-data.json). DLVM_BENCH_SECONDS sets each job's measured time (default 4, plus 1 s
// ramp).
func TestBenchData(t *testing.T) {
	if os.Getenv("DLVM_BENCH_DATA") != "1" {
		t.Skip("benchmark: run with make bench-data")
	}
	for _, tool := range []string{"fio", "qemu-nbd"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "make bench-data needs %s (scripts/deps.sh test)", tool)
	}
	secs := 4
	if v, err := strconv.Atoi(os.Getenv("DLVM_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	started := time.Now()
	load0 := loadAverage()
	var args []string
	if addr := os.Getenv("DLVM_BENCH_PPROF"); addr != "" { // profile the all-in-one (engine included)
		conf := filepath.Join(t.TempDir(), "pprof.conf")
		require.NoError(t, os.WriteFile(conf, []byte("[DEFAULT]\npprof_listen = "+addr+"\n"), 0o644))
		args = append(args, "--config-file", conf)
	}
	s := startService(t, args...)
	c, _ := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
	c.Microversion = "3.70"
	ctx := context.Background()
	var rows []benchRow
	var pairs [][2]float64 // back-to-back (raw LUN, 2-mirror) randwrite 4k QD32 IOPS
	var pairCPU [][2]cpuShare
	measure := func(bt benchTarget) {
		wls := bt.workloads
		if wls == nil {
			wls = benchWorkloads
		}
		for _, w := range wls {
			r := fioRun(t, bt, w, secs)
			fmt.Printf("  %-36s %-18s %9.0f IOPS\n", r.Target, r.Workload, r.IOPS)
			rows = append(rows, r)
		}
	}

	plain := filepath.Join(s.dataDir, "plain.img")
	require.NoError(t, exec.Command("truncate", "-s", "1G", plain).Run())
	measure(benchTarget{name: "plain file", tool: "fio libaio direct", file: plain})

	// The single-leg volume's raw LUN: libiscsi through qemu-nbd, then our initiator on the
	// same LUN (the userspace engine assembling a 1-leg volume in this process).
	single := benchVolume(t, c, "bench-1leg", map[string]string{"dlvm:mirrors": "1"})
	initiator := "iqn.2026-11.dev.dlvm.bench:libiscsi"
	a, err := attachments.Create(ctx, c, attachments.CreateOpts{VolumeUUID: single, InstanceUUID: uuid.NewString()}).Extract()
	require.NoError(t, err)
	a, err = attachments.Update(ctx, c, a.ID, attachments.UpdateOpts{Connector: map[string]any{
		"host": "bench-libiscsi", "initiator": initiator, "ip": "127.0.0.1", "platform": "x86_64", "os_type": "linux"}}).Extract()
	require.NoError(t, err)
	ci := a.ConnectionInfo
	stopNBD := qemuNBD(t, ci, initiator, filepath.Join(s.dataDir, "raw-lun.sock"))
	measure(benchTarget{name: "raw tgtd LUN (libiscsi)", tool: "fio nbd -> qemu-nbd iscsi driver", nbdSocket: filepath.Join(s.dataDir, "raw-lun.sock")})
	stopNBD()
	dev, closeLeg := attachOneLeg(t, ci, initiator, filepath.Join(s.dataDir, "bench-engine"))
	measure(benchTarget{name: "1-leg (assembled)", tool: "fio libaio direct, loop over FUSE", file: dev})
	closeLeg()

	for _, v := range []struct {
		name  string
		specs map[string]string
		nbd   bool
	}{
		{"2-mirror (assembled)", map[string]string{"dlvm:mirrors": "2"}, true},
		{"2-mirror x 2-stripe (assembled)", map[string]string{"dlvm:mirrors": "2", "dlvm:stripes": "2"}, false},
	} {
		id := benchVolume(t, c, strings.Fields(v.name)[0], v.specs)
		att, dev := attach(t, c, id)
		measure(benchTarget{name: v.name, tool: "fio libaio direct, loop over FUSE", file: dev})
		if v.nbd {
			// The headline ratio, robust to the load of a shared machine changing between the
			// targets: back-to-back pairs of the raw LUN and this device.
			// Each job's CPU per I/O, by process, says where the difference goes.
			stop := qemuNBD(t, ci, initiator, filepath.Join(s.dataDir, "raw-lun.sock"))
			rawT := benchTarget{name: "raw tgtd LUN (libiscsi)", nbdSocket: filepath.Join(s.dataDir, "raw-lun.sock")}
			meter := newCPUMeter([]string{"tgtd", "qemu-nbd"}, map[string]int{"dlvm (engine)": s.cmd.Process.Pid})
			job := func(bt benchTarget) (benchRow, cpuShare) {
				meter.start()
				r := fioRun(t, bt, benchWorkloads[1], secs)
				return r, meter.stop(r.IOPS * float64(secs+1)) // the ramp second counts too
			}
			for range 5 {
				r, rc := job(rawT)
				m, mc := job(benchTarget{name: v.name, file: dev})
				fmt.Printf("  pair: raw LUN %.0f, 2-mirror %.0f IOPS: %.2f\n    raw LUN  %s\n    2-mirror %s\n",
					r.IOPS, m.IOPS, m.IOPS/r.IOPS, rc, mc)
				pairs = append(pairs, [2]float64{r.IOPS, m.IOPS})
				pairCPU = append(pairCPU, [2]cpuShare{rc, mc})
			}
			stop()
			socks, _ := filepath.Glob(filepath.Join(s.dataDir, "*", id, "nbd.sock"))
			require.Len(t, socks, 1, "the engine's NBD socket of %s", id)
			measure(benchTarget{name: strings.Replace(v.name, "assembled", "NBD socket", 1), tool: "fio nbd engine",
				nbdSocket: socks[0], workloads: []benchWorkload{benchWorkloads[1], benchWorkloads[3]}})
		}
		detach(t, c, id, att)
	}

	base := map[string]float64{}
	get := func(target, workload string) float64 {
		for _, r := range rows {
			if r.Target == target && r.Workload == workload {
				return r.IOPS
			}
		}
		return 0
	}
	for _, w := range benchWorkloads {
		base[w.Name] = get("plain file", w.Name)
	}
	fmt.Printf("\n%-36s %-18s %10s %9s %10s %8s\n", "target", "workload", "IOPS", "MiB/s", "lat µs", "x plain")
	for i := range rows {
		if b := base[rows[i].Workload]; b > 0 {
			rows[i].Ratio = rows[i].IOPS / b
		}
		r := rows[i]
		fmt.Printf("%-36s %-18s %10.0f %9.1f %10.0f %8.2f\n", r.Target, r.Workload, r.IOPS, r.MiBps, r.LatUs, r.Ratio)
	}
	mirror, raw := get("2-mirror (assembled)", "randwrite 4k QD32"), get("raw tgtd LUN (libiscsi)", "randwrite 4k QD32")
	ratio := 0.0
	if raw > 0 {
		ratio = mirror / raw
	}
	summary := map[string]any{
		"mirror_randwrite_4k_qd32_iops":  mirror,
		"raw_lun_randwrite_4k_qd32_iops": raw,
		"mirror_over_raw_lun_randwrite":  ratio,
		"raw_lun_baseline":               "libiscsi (qemu-nbd iscsi driver) driven by fio's nbd engine",
		"mirror_nbd_over_raw_lun_randwrite": func() float64 {
			if raw == 0 {
				return 0
			}
			return get("2-mirror (NBD socket)", "randwrite 4k QD32") / raw
		}(),
		"one_leg_over_raw_lun_randwrite": func() float64 {
			if raw == 0 {
				return 0
			}
			return get("1-leg (assembled)", "randwrite 4k QD32") / raw
		}(),
	}
	var pr []float64
	for _, p := range pairs {
		if p[0] > 0 {
			pr = append(pr, p[1]/p[0])
		}
	}
	slices.Sort(pr)
	median := 0.0
	if len(pr) > 0 {
		median = pr[len(pr)/2]
	}
	summary["paired_runs"] = pairs
	summary["paired_runs_cpu"] = pairCPU
	summary["paired_mirror_over_raw_lun_randwrite_median"] = median
	fmt.Printf("\n2-mirror randwrite 4k QD32 / raw tgtd LUN randwrite 4k QD32 (libiscsi): %.0f / %.0f = %.2f in the table; "+
		"median of %d back-to-back pairs: %.2f\n", mirror, raw, ratio, len(pr), median)
	fmt.Printf("1-leg (our initiator) / raw LUN: %.2f; 2-mirror NBD socket / raw LUN: %.2f\n",
		summary["one_leg_over_raw_lun_randwrite"], summary["mirror_nbd_over_raw_lun_randwrite"])
	load1 := loadAverage()
	fmt.Printf("machine: %d CPUs, load average %s at start, %s at end; %s in all\n", runtime.NumCPU(), load0, load1, time.Since(started).Round(time.Second))

	out := os.Getenv("DLVM_BENCH_OUT")
	if out == "" {
		out = "bench-data.json"
	}
	host, _ := os.Hostname()
	b, err := json.MarshalIndent(map[string]any{"time": time.Now().UTC().Format(time.RFC3339), "host": host,
		"cpus": runtime.NumCPU(), "load_average_start": load0, "load_average_end": load1,
		"seconds_per_job": secs, "ramp_seconds": 1, "span_bytes": benchSpan,
		"workloads": benchWorkloads, "results": rows, "summary": summary}, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, b, 0o644))
	fmt.Printf("written to %s\n", out)
}

// benchSpan is the part of each target the jobs touch.
const benchSpan = 256 << 20

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
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

// fioRun runs one fio job on bt for secs seconds after a 1 s ramp.
func fioRun(t *testing.T, bt benchTarget, w benchWorkload, secs int) benchRow {
	t.Helper()
	args := []string{"--name=bench", "--rw=" + w.RW, "--bs=" + w.BS, "--iodepth=" + strconv.Itoa(w.Depth),
		"--size=" + strconv.Itoa(benchSpan), "--runtime=" + strconv.Itoa(secs), "--ramp_time=1", "--time_based",
		"--randrepeat=0", "--output-format=json"}
	if bt.nbdSocket != "" {
		args = append(args, "--ioengine=nbd", "--uri=nbd+unix:///?socket="+bt.nbdSocket)
	} else {
		args = append(args, "--ioengine=libaio", "--direct=1", "--filename="+bt.file)
	}
	out, err := exec.Command("fio", args...).Output()
	require.NoError(t, err, "fio %s on %s", w.Name, bt.name)
	var res struct {
		Jobs []struct {
			Error       int `json:"error"`
			Read, Write struct {
				IOPS  float64 `json:"iops"`
				BW    float64 `json:"bw_bytes"`
				LatNs struct {
					Mean float64 `json:"mean"`
				} `json:"lat_ns"`
			}
		} `json:"jobs"`
	}
	// fio's nbd engine may print notes before the JSON.
	if i := strings.IndexByte(string(out), '{'); i > 0 {
		out = out[i:]
	}
	require.NoError(t, json.Unmarshal(out, &res), "fio output: %s", out)
	require.Len(t, res.Jobs, 1)
	require.Zero(t, res.Jobs[0].Error, "fio %s on %s", w.Name, bt.name)
	st := res.Jobs[0].Read
	if strings.Contains(w.RW, "write") {
		st = res.Jobs[0].Write
	}
	return benchRow{Target: bt.name, Tool: bt.tool, Workload: w.Name, IOPS: st.IOPS, MiBps: st.BW / (1 << 20), LatUs: st.LatNs.Mean / 1000}
}

// qemuNBD exports the LUN of an iscsi connection_info on a unix socket through qemu's libiscsi
// driver; the returned func stops it.
func qemuNBD(t *testing.T, ci map[string]any, initiator, sock string) func() {
	t.Helper()
	opts := fmt.Sprintf("driver=iscsi,transport=tcp,portal=%s,target=%s,lun=%v,user=%v,password=%v,initiator-name=%s",
		ci["target_portal"], ci["target_iqn"], ci["target_lun"], ci["auth_username"], ci["auth_password"], initiator)
	cmd := exec.Command("qemu-nbd", "--persistent", "--socket="+sock, "--image-opts", opts)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-done
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("qemu-nbd exited: %s", out)
		default:
		}
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return stop
		}
		require.True(t, time.Now().Before(deadline), "qemu-nbd did not listen on %s: %s", sock, out)
	}
}

// attachOneLeg assembles the single-leg volume of an iscsi connection_info with the userspace
// engine in this process (the API hands a single-leg volume to os-brick, not to the connector)
// and returns its loop device.
func attachOneLeg(t *testing.T, ci map[string]any, initiator, dir string) (string, func()) {
	t.Helper()
	eng, err := userspace.New(userspace.Options{StateDir: dir, InitiatorIQN: initiator, LoopDirectIO: true})
	require.NoError(t, err)
	lun, _ := ci["target_lun"].(float64)
	method, _ := ci["auth_method"].(string)
	user, _ := ci["auth_username"].(string)
	secret, _ := ci["auth_password"].(string)
	portal, _ := ci["target_portal"].(string)
	iqn, _ := ci["target_iqn"].(string)
	plan := connector.Plan{VolumeID: "bench-1leg", SizeBytes: 1 << 30, Mirrors: 1, Stripes: 1, ChunkKiB: 64,
		Legs: []connector.PlanLeg{{LegID: "leg-0", SizeBytes: 1 << 30, Portal: portal, IQN: iqn, LUN: int(lun),
			AuthMethod: method, AuthUser: user, AuthSecret: secret}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	att, err := eng.Attach(ctx, plan)
	require.NoError(t, err)
	closed := false
	closeFn := func() {
		if !closed {
			closed = true
			require.NoError(t, eng.Close())
		}
	}
	t.Cleanup(closeFn)
	return att.DevicePath, closeFn
}
