package kernelconnector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/connector/kernel"
	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/test/kerneltest"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/target"
)

const (
	portal = "127.0.0.1:3260"
	chapU  = "host1"
	chapS  = "host1-secret-12"
)

// dpv is one storage server of the story: a thin pool on a loop device; all three share the
// VM's LIO target.
type dpv struct {
	vg   string
	pool *pool.LVM
}

type rig struct {
	t         *testing.T
	dpvs      []dpv
	lio       *target.LIO
	initiator string
	eng       *kernel.Engine
}

func newRig(t *testing.T) *rig {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := &rig{t: t}
	for i := range 3 {
		vg := fmt.Sprintf("dpv%d", i)
		kerneltest.ThinPool(t, vg, "tp", 96)
		p, err := pool.NewLVM(vg, "tp", runner.Exec{}, pool.LVMOptions{Log: log})
		require.NoError(t, err)
		r.dpvs = append(r.dpvs, dpv{vg, p})
	}
	lio, err := target.NewLIO(target.LIOOptions{Portal: portal, Log: log})
	require.NoError(t, err)
	r.lio = lio
	name, err := os.ReadFile("/etc/iscsi/initiatorname.iscsi")
	require.NoError(t, err)
	r.initiator = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(name)), "InitiatorName="))
	// iscsid only serves callers it can name (getpwuid); the VM's initramfs has no passwd.
	if _, err := os.Stat("/etc/passwd"); err != nil {
		require.NoError(t, os.WriteFile("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
		require.NoError(t, os.WriteFile("/etc/group", []byte("root:x:0:\n"), 0o644))
	}
	// The dpvs' LVM must see only their loop PVs, never the host side's disks and dm devices
	// (on real hosts they are other machines): scanning a quiesced (suspended) device blocks.
	conf, err := os.ReadFile("/etc/lvm/lvm.conf")
	require.NoError(t, err)
	if !strings.Contains(string(conf), "global_filter") {
		conf = []byte(strings.Replace(string(conf), "devices {", `devices { global_filter = [ "a|^/dev/loop[0-9]+$|", "r|.*|" ]`, 1))
		require.NoError(t, os.WriteFile("/etc/lvm/lvm.conf", conf, 0o644))
	}
	sh(t, "iscsid")
	sh(t, "modprobe", "ext4") // the VM's init loads storage modules only
	time.Sleep(time.Second)
	r.eng = kernel.New(kernel.Options{Log: log})
	// LIO holds the LVs open: unexport every dlvm target before the pools go (cleanups run LIFO).
	t.Cleanup(func() {
		legs, _ := lio.List(ctx)
		for _, l := range legs {
			if err := lio.Unexport(ctx, l); err != nil {
				t.Logf("cleanup: unexport %s: %v", l, err)
			}
		}
	})
	return r
}

// leg creates (or clones from src when set) a leg on dpv d, exports it and allows this host.
func (r *rig) leg(d int, id, src string, size int64, group, mirror int) connector.PlanLeg {
	t, ctx := r.t, context.Background()
	p := r.dpvs[d].pool
	if src == "" {
		require.NoError(t, p.CreateLeg(ctx, id, size))
	} else {
		require.NoError(t, p.CloneLeg(ctx, id, src, size))
	}
	e, err := r.lio.Export(ctx, id, p.DevicePath(id))
	require.NoError(t, err)
	require.NoError(t, r.lio.Allow(ctx, id, target.Access{InitiatorIQN: r.initiator, CHAPUser: chapU, CHAPSecret: chapS}))
	return connector.PlanLeg{LegID: id, Group: group, Mirror: mirror, SizeBytes: size, Portal: e.Portal,
		IQN: e.IQN, LUN: e.LUN, AuthMethod: "CHAP", AuthUser: chapU, AuthSecret: chapS}
}

// placement of the 2x2 volume: group g mirror m lives on dpv place[g][m]; dpv 2 is spare.
var place = [2][2]int{{0, 1}, {1, 0}}

func (r *rig) health(vol string) map[string]string {
	h, err := r.eng.Health(context.Background(), vol)
	require.NoError(r.t, err)
	m := map[string]string{}
	for _, l := range h {
		m[l.LegID] = l.State
	}
	return m
}

func (r *rig) waitInSync(vol string) {
	eventually(r.t, 90*time.Second, vol+" in sync", func() bool {
		for _, s := range r.health(vol) {
			if s != "ok" {
				return false
			}
		}
		return true
	})
}

func mount(t *testing.T, dev string) string {
	t.Helper()
	dir := t.TempDir()
	sh(t, "mount", "-t", "ext4", dev, dir)
	return dir
}

// TestKernelConnector is the kernel engine's story on real LIO, open-iscsi and device-mapper:
// attach a 2x2 volume, filesystem + files, crash-consistent snapshot of every leg under Quiesce,
// a leg failing under writes, its replacement resyncing to identical bytes, a clean detach, and
// a volume cloned from the snapshots holding exactly the snapshot-time files.
func TestKernelConnector(t *testing.T) {
	requireKernelVM(t)
	ctx := context.Background()
	r := newRig(t)
	plan := connector.Plan{VolumeID: "vol1", SizeBytes: 32 * mib, Stripes: 2, Mirrors: 2, ChunkKiB: 64}
	legBytes, err := kernel.LegBytes(plan)
	require.NoError(t, err)
	for g := range 2 {
		for m := range 2 {
			plan.Legs = append(plan.Legs, r.leg(place[g][m], fmt.Sprintf("v1g%dm%d", g, m), "", legBytes, g, m))
		}
	}

	a, err := r.eng.Attach(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, "/dev/mapper/dlvm-vol1", a.DevicePath)
	a2, err := r.eng.Attach(ctx, plan)
	require.NoError(t, err, "attach is idempotent")
	require.Equal(t, a, a2)
	require.Equal(t, fmt.Sprint(plan.SizeBytes), strings.TrimSpace(sh(t, "blockdev", "--getsize64", a.DevicePath)))
	t.Log(sh(t, "dmsetup", "table"))

	sh(t, "mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", a.DevicePath)
	dir := mount(t, a.DevicePath)
	setA := writeFiles(t, dir, "a", 10, 4, 1*mib)

	// Crash-consistent snapshot: every leg snapshotted while I/O is paused.
	resume, err := r.eng.Quiesce(ctx, "vol1")
	require.NoError(t, err)
	for _, l := range plan.Legs {
		d := place[l.Group][l.Mirror]
		require.NoError(t, r.dpvs[d].pool.SnapshotLeg(ctx, "s"+l.LegID, l.LegID))
	}
	resume()
	setB := writeFiles(t, dir, "b", 20, 4, 1*mib)
	r.waitInSync("vol1")

	// Fail leg g0/m1 under the volume: its thin LV now returns I/O errors.
	failed := plan.Legs[1]
	dmName := fmt.Sprintf("dpv%d-dlvm--%s", place[0][1], failed.LegID)
	table := strings.Fields(sh(t, "dmsetup", "table", dmName))
	sh(t, "dmsetup", "load", dmName, "--table", "0 "+table[1]+" error")
	sh(t, "dmsetup", "resume", dmName)
	setC := writeFiles(t, dir, "c", 30, 8, 1*mib)
	eventually(t, 60*time.Second, "the failed leg reported", func() bool {
		writeFiles(t, dir, "d", 40, 1, 256<<10)
		return r.health("vol1")[failed.LegID] == "failed"
	})
	t.Logf("health with a failed leg: %v", r.health("vol1"))
	checkFiles(t, setA)
	checkFiles(t, setB)
	checkFiles(t, setC)

	// Replace it with a new leg on the spare dpv; dm-raid rebuilds it online.
	nl := r.leg(2, "v1g0new", "", legBytes, 0, 1)
	require.NoError(t, r.eng.ReplaceLeg(ctx, "vol1", failed.LegID, nl))
	require.NoError(t, r.eng.ReplaceLeg(ctx, "vol1", failed.LegID, nl), "replace is idempotent")
	require.NoError(t, r.lio.Unexport(ctx, failed.LegID))
	t.Logf("health after replace: %v", r.health("vol1"))
	r.waitInSync("vol1")
	sh(t, "sync")
	resume, err = r.eng.Quiesce(ctx, "vol1")
	require.NoError(t, err)
	groupMiB := legBytes/mib - 1
	require.Equal(t, ddSum(t, r.dpvs[place[0][0]].pool.DevicePath(plan.Legs[0].LegID), groupMiB),
		ddSum(t, r.dpvs[2].pool.DevicePath(nl.LegID), groupMiB), "group 0's legs hold the same bytes after the rebuild")
	require.Equal(t, ddSum(t, r.dpvs[place[1][0]].pool.DevicePath(plan.Legs[2].LegID), groupMiB),
		ddSum(t, r.dpvs[place[1][1]].pool.DevicePath(plan.Legs[3].LegID), groupMiB), "group 1's legs hold the same bytes")
	resume()
	checkFiles(t, setC)

	// Detach leaves nothing: no dlvm dm device, no iSCSI session.
	sh(t, "umount", dir)
	require.NoError(t, r.eng.Detach(ctx, "vol1"))
	require.NoError(t, r.eng.Detach(ctx, "vol1"), "detach is idempotent")
	requireNothingAttached(t)

	// A volume from the snapshots has exactly the snapshot-time files.
	clone := connector.Plan{VolumeID: "vol2", SizeBytes: plan.SizeBytes, Stripes: 2, Mirrors: 2, ChunkKiB: 64}
	for _, l := range plan.Legs {
		clone.Legs = append(clone.Legs, r.leg(place[l.Group][l.Mirror], "c"+l.LegID, "s"+l.LegID, legBytes, l.Group, l.Mirror))
	}
	a, err = r.eng.Attach(ctx, clone)
	require.NoError(t, err)
	t.Logf("clone health: %v", r.health("vol2"))
	dir2 := mount(t, a.DevicePath)
	checkFiles(t, rebase(setA, dir, dir2))
	for f := range rebase(setB, dir, dir2) {
		_, err := os.Stat(f)
		require.ErrorIs(t, err, os.ErrNotExist, "%s was written after the snapshot", f)
	}
	sh(t, "umount", dir2)
	require.NoError(t, r.eng.Detach(ctx, "vol2"))
	requireNothingAttached(t)
}

func rebase(sums map[string]string, from, to string) map[string]string {
	out := map[string]string{}
	for f, s := range sums {
		out[filepath.Join(to, strings.TrimPrefix(f, from))] = s
	}
	return out
}

func requireNothingAttached(t *testing.T) {
	t.Helper()
	for _, n := range strings.Fields(sh(t, "dmsetup", "info", "-c", "--noheadings", "-o", "name")) {
		require.False(t, strings.HasPrefix(n, "dlvm-"), "dm device %s left behind", n)
	}
	out, err := runner.Exec{}.Run(context.Background(), "iscsiadm", "-m", "session")
	require.Error(t, err, "no iSCSI session may remain: %s", out)
}
