package pool

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/model"
)

// fakeLVM models one VG "vg" with thin pool "tp" (1 GiB, 4 MiB extents) behind a Recorder, so
// the pool's command lines are recorded while its idempotency logic sees real state.
type fakeLVM struct {
	mu  sync.Mutex
	lvs map[string]*fakeLV
}

type fakeLV struct {
	size   int64
	perm   string
	origin string
}

const fakeExtent = 4 << 20

func newFakeLVM(t *testing.T) (*LVM, *runner.Recorder, *fakeLVM) {
	t.Helper()
	f := &fakeLVM{lvs: map[string]*fakeLV{"other": {size: 8 << 20, perm: "rw"}}}
	rec := &runner.Recorder{Fallback: f.run}
	p, err := NewLVM("vg", "tp", rec, LVMOptions{})
	require.NoError(t, err)
	return p, rec, f
}

func roundExtent(n int64) int64 { return (n + fakeExtent - 1) / fakeExtent * fakeExtent }

// run answers one `lvm ...` command line.
func (f *fakeLVM) run(line string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := strings.Fields(line)
	arg := func(flag string) string {
		for i := range a[:len(a)-1] {
			if a[i] == flag {
				return a[i+1]
			}
		}
		return ""
	}
	last := a[len(a)-1]
	name := strings.TrimPrefix(last, "vg/")
	size := func() int64 {
		n, _ := strconv.ParseInt(strings.TrimSuffix(arg("-L")+arg("-V"), "b"), 10, 64)
		return roundExtent(n)
	}
	fail := &runner.ExitError{Cmd: line, Code: 5, Stderr: "Failed to find logical volume " + last}
	switch a[1] {
	case "lvs":
		if last == "vg/tp" {
			return "  1073741824|12.50\n", nil
		}
		var names []string
		for n := range f.lvs {
			names = append(names, n)
		}
		sort.Strings(names)
		out := "  tp|1073741824|twi-aotz--|||12.50\n"
		for _, n := range names {
			lv := f.lvs[n]
			attr := "Vwi-a-tz--"
			if lv.perm == "r" {
				attr = "Vri-a-tz--"
			}
			out += fmt.Sprintf("  %s|%d|%s|tp|%s|1.00\n", n, lv.size, attr, lv.origin)
		}
		return out, nil
	case "vgs":
		return "  4194304\n", nil
	case "lvcreate":
		n := arg("-n")
		if _, ok := f.lvs[n]; ok {
			return "", &runner.ExitError{Cmd: line, Code: 5, Stderr: "already exists"}
		}
		if arg("-V") != "" {
			f.lvs[n] = &fakeLV{size: size(), perm: "rw"}
			return "", nil
		}
		src, ok := f.lvs[name]
		if !ok {
			return "", fail
		}
		f.lvs[n] = &fakeLV{size: src.size, perm: arg("--permission"), origin: name}
	case "lvextend":
		lv, ok := f.lvs[name]
		if !ok {
			return "", fail
		}
		lv.size = size()
	case "lvremove":
		if _, ok := f.lvs[name]; !ok {
			return "", fail
		}
		delete(f.lvs, name)
	case "lvchange":
		if _, ok := f.lvs[name]; !ok {
			return "", fail
		}
	default:
		return "", fmt.Errorf("fake lvm: unexpected %q", line)
	}
	return "", nil
}

// TestLVMGolden records the exact command lines of every operation, including the idempotent
// repeats, against testdata/lvm_*.golden.
func TestLVMGolden(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		ops  func(p *LVM) error
	}{
		{"create", func(p *LVM) error {
			return errors.Join(p.CreateLeg(ctx, "leg1", 10<<20), p.CreateLeg(ctx, "leg1", 10<<20))
		}},
		{"snapshot", func(p *LVM) error {
			return errors.Join(p.CreateLeg(ctx, "leg1", 8<<20), p.SnapshotLeg(ctx, "snap1", "leg1"), p.SnapshotLeg(ctx, "snap1", "leg1"))
		}},
		{"clone", func(p *LVM) error {
			return errors.Join(p.CreateLeg(ctx, "leg1", 8<<20), p.SnapshotLeg(ctx, "snap1", "leg1"),
				p.CloneLeg(ctx, "clone1", "snap1", 16<<20), p.CloneLeg(ctx, "clone2", "snap1", 8<<20),
				p.CloneLeg(ctx, "clone1", "snap1", 16<<20))
		}},
		{"extend", func(p *LVM) error {
			return errors.Join(p.CreateLeg(ctx, "leg1", 8<<20), p.ExtendLeg(ctx, "leg1", 16<<20), p.ExtendLeg(ctx, "leg1", 12<<20))
		}},
		{"delete", func(p *LVM) error {
			return errors.Join(p.CreateLeg(ctx, "leg1", 8<<20), p.DeleteLeg(ctx, "leg1"), p.DeleteLeg(ctx, "leg1"))
		}},
		{"stats", func(p *LVM) error {
			_, err := p.Stats(ctx)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, rec, _ := newFakeLVM(t)
			require.NoError(t, tt.ops(p))
			runner.Golden(t, "testdata/lvm_"+tt.name+".golden", rec.Lines())
		})
	}
}

func TestLVMState(t *testing.T) {
	ctx := context.Background()
	p, _, fake := newFakeLVM(t)
	require.NoError(t, p.CreateLeg(ctx, "leg1", 10<<20))
	require.NoError(t, p.SnapshotLeg(ctx, "snap1", "leg1"))
	require.NoError(t, p.CloneLeg(ctx, "clone1", "snap1", 20<<20))

	legs, err := p.ListLegs(ctx)
	require.NoError(t, err)
	require.Equal(t, []LegInfo{
		{ID: "clone1", SizeBytes: 20 << 20, AllocatedBytes: 20 << 20 / 100, Snapshot: false},
		{ID: "leg1", SizeBytes: 12 << 20, AllocatedBytes: 12 << 20 / 100, Snapshot: false},
		{ID: "snap1", SizeBytes: 12 << 20, AllocatedBytes: 12 << 20 / 100, Snapshot: true},
	}, legs, "LVs without the dlvm- prefix are not legs")

	st, err := p.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, Stats{TotalBytes: 1 << 30, FreeBytes: 1<<30 - (1<<30)/8, ProvisionedBytes: 44 << 20}, st)
	c, err := p.Capacity(ctx)
	require.NoError(t, err)
	require.Equal(t, Stats{TotalBytes: 1 << 30, FreeBytes: 1<<30 - (1<<30)/8}, c)
	require.Equal(t, "/dev/vg/dlvm-leg1", p.DevicePath("leg1"))

	// An interrupted clone (snapshot made, extend not) is finished by a retry.
	fake.lvs["dlvm-clone2"] = &fakeLV{size: 12 << 20, perm: "rw", origin: "dlvm-snap1"}
	require.NoError(t, p.CloneLeg(ctx, "clone2", "snap1", 20<<20))
	l, err := p.Stat(ctx, "clone2")
	require.NoError(t, err)
	require.Equal(t, int64(20<<20), l.SizeBytes)
}

func TestLVMErrors(t *testing.T) {
	ctx := context.Background()
	p, rec, _ := newFakeLVM(t)
	require.NoError(t, p.CreateLeg(ctx, "leg1", 10<<20)) // rounded to 12 MiB
	require.NoError(t, p.SnapshotLeg(ctx, "snap1", "leg1"))
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"create within extent rounding", func() error { return p.CreateLeg(ctx, "leg1", 9<<20) }, nil},
		{"create other size", func() error { return p.CreateLeg(ctx, "leg1", 20<<20) }, model.ErrConflict},
		{"create smaller than extent rounding", func() error { return p.CreateLeg(ctx, "leg1", 8<<20) }, model.ErrConflict},
		{"create over snapshot", func() error { return p.CreateLeg(ctx, "snap1", 12<<20) }, model.ErrConflict},
		{"create invalid id", func() error { return p.CreateLeg(ctx, "-rf", 12<<20) }, model.ErrInvalid},
		{"create invalid size", func() error { return p.CreateLeg(ctx, "leg2", 100) }, model.ErrInvalid},
		{"clone missing source", func() error { return p.CloneLeg(ctx, "c", "nope", 12<<20) }, model.ErrNotFound},
		{"clone too small", func() error { return p.CloneLeg(ctx, "c", "leg1", 4<<20) }, model.ErrInvalid},
		{"clone onto snapshot", func() error { return p.CloneLeg(ctx, "snap1", "leg1", 12<<20) }, model.ErrConflict},
		{"snapshot missing source", func() error { return p.SnapshotLeg(ctx, "s", "nope") }, model.ErrNotFound},
		{"snapshot onto leg", func() error { return p.SnapshotLeg(ctx, "leg1", "snap1") }, model.ErrConflict},
		{"extend missing", func() error { return p.ExtendLeg(ctx, "nope", 12<<20) }, model.ErrNotFound},
		{"extend snapshot", func() error { return p.ExtendLeg(ctx, "snap1", 24<<20) }, model.ErrConflict},
		{"stat missing", func() error { _, err := p.Stat(ctx, "nope"); return err }, model.ErrNotFound},
		{"delete missing", func() error { return p.DeleteLeg(ctx, "nope") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}

	t.Run("command failure keeps exit error", func(t *testing.T) {
		rec.Once("lvm lvcreate", runner.Reply{Err: &runner.ExitError{Cmd: "lvm lvcreate", Code: 5, Stderr: "Insufficient free space"}})
		err := p.CreateLeg(ctx, "leg9", 12<<20)
		var ee *runner.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 5, ee.Code)
	})
	t.Run("bad names", func(t *testing.T) {
		for _, n := range [][2]string{{"", "tp"}, {"vg", "a/b"}, {"..", "tp"}, {"vg x", "tp"}} {
			_, err := NewLVM(n[0], n[1], rec, LVMOptions{})
			require.ErrorIs(t, err, model.ErrInvalid, n)
		}
	})
}
