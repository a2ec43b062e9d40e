package pool

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

const mib = int64(1) << 20

func newFilePool(t *testing.T, opts FileOptions) *File {
	t.Helper()
	p, err := NewFile(t.TempDir(), opts)
	require.NoError(t, err)
	return p
}

func writeLeg(t *testing.T, p *File, id string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(p.DevicePath(id), os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(data, off)
	require.NoError(t, err)
}

func readLeg(t *testing.T, p *File, id string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(p.DevicePath(id))
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, n)
	_, err = f.ReadAt(buf, off)
	require.NoError(t, err)
	return buf
}

func TestFileErrors(t *testing.T) {
	ctx := context.Background()
	p := newFilePool(t, FileOptions{})
	require.NoError(t, p.CreateLeg(ctx, "leg-a", mib))
	require.NoError(t, p.SnapshotLeg(ctx, "snap-a", "leg-a"))
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"create same size again", func() error { return p.CreateLeg(ctx, "leg-a", mib) }, nil},
		{"create other size", func() error { return p.CreateLeg(ctx, "leg-a", 2*mib) }, model.ErrConflict},
		{"create over snapshot", func() error { return p.CreateLeg(ctx, "snap-a", mib) }, model.ErrConflict},
		{"create traversal id", func() error { return p.CreateLeg(ctx, "../etc", mib) }, model.ErrInvalid},
		{"create slash id", func() error { return p.CreateLeg(ctx, "a/b", mib) }, model.ErrInvalid},
		{"create empty id", func() error { return p.CreateLeg(ctx, "", mib) }, model.ErrInvalid},
		{"create underscore id", func() error { return p.CreateLeg(ctx, "a_tmeta", mib) }, model.ErrInvalid},
		{"create zero size", func() error { return p.CreateLeg(ctx, "leg-b", 0) }, model.ErrInvalid},
		{"create unaligned size", func() error { return p.CreateLeg(ctx, "leg-b", 1000) }, model.ErrInvalid},
		{"clone missing source", func() error { return p.CloneLeg(ctx, "leg-c", "nope", mib) }, model.ErrNotFound},
		{"clone smaller than source", func() error { return p.CloneLeg(ctx, "leg-c", "leg-a", mib/2) }, model.ErrInvalid},
		{"clone onto leg of other size", func() error { return p.CloneLeg(ctx, "leg-a", "snap-a", 2*mib) }, model.ErrConflict},
		{"snapshot missing source", func() error { return p.SnapshotLeg(ctx, "snap-b", "nope") }, model.ErrNotFound},
		{"snapshot again", func() error { return p.SnapshotLeg(ctx, "snap-a", "leg-a") }, nil},
		{"snapshot onto leg", func() error { return p.SnapshotLeg(ctx, "leg-a", "snap-a") }, model.ErrConflict},
		{"extend missing", func() error { return p.ExtendLeg(ctx, "nope", mib) }, model.ErrNotFound},
		{"extend snapshot", func() error { return p.ExtendLeg(ctx, "snap-a", 2*mib) }, model.ErrConflict},
		{"extend smaller is no-op", func() error { return p.ExtendLeg(ctx, "leg-a", 512) }, nil},
		{"stat missing", func() error { _, err := p.Stat(ctx, "nope"); return err }, model.ErrNotFound},
		{"stat invalid", func() error { _, err := p.Stat(ctx, ".."); return err }, model.ErrInvalid},
		{"delete missing", func() error { return p.DeleteLeg(ctx, "nope") }, nil},
		{"delete invalid", func() error { return p.DeleteLeg(ctx, "../legs") }, model.ErrInvalid},
		{"discard snapshot", func() error { return p.Discard(ctx, "snap-a", 0, 512) }, model.ErrConflict},
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
	info, err := p.Stat(ctx, "leg-a")
	require.NoError(t, err)
	require.Equal(t, LegInfo{ID: "leg-a", SizeBytes: mib, Snapshot: false}, info, "failed ops must not change the leg")
}

// TestFileLifecycle runs the data semantics on both copy paths: snapshot is point in time, a
// clone of a snapshot has snapshot-time bytes, extend keeps data, delete leaves dependents.
func TestFileLifecycle(t *testing.T) {
	for _, noReflink := range []bool{false, true} {
		t.Run(map[bool]string{false: "auto", true: "copy"}[noReflink], func(t *testing.T) {
			ctx := context.Background()
			p := newFilePool(t, FileOptions{NoReflink: noReflink})
			old, newer := bytes.Repeat([]byte("A"), 4096), bytes.Repeat([]byte("B"), 4096)

			require.NoError(t, p.CreateLeg(ctx, "vol", 4*mib))
			require.Equal(t, make([]byte, 4096), readLeg(t, p, "vol", mib, 4096), "new legs read zeros")
			writeLeg(t, p, "vol", mib, old)
			require.NoError(t, p.SnapshotLeg(ctx, "snap", "vol"))
			writeLeg(t, p, "vol", mib, newer)
			require.NoError(t, p.CloneLeg(ctx, "clone", "snap", 8*mib))
			require.NoError(t, p.CloneLeg(ctx, "clone", "snap", 8*mib), "idempotent")

			require.Equal(t, newer, readLeg(t, p, "vol", mib, 4096))
			require.Equal(t, old, readLeg(t, p, "snap", mib, 4096))
			require.Equal(t, old, readLeg(t, p, "clone", mib, 4096))
			info, err := p.Stat(ctx, "clone")
			require.NoError(t, err)
			require.Equal(t, 8*mib, info.SizeBytes)
			info, err = p.Stat(ctx, "snap")
			require.NoError(t, err)
			require.True(t, info.Snapshot)
			require.Equal(t, 4*mib, info.SizeBytes)

			require.NoError(t, p.ExtendLeg(ctx, "vol", 16*mib))
			require.Equal(t, newer, readLeg(t, p, "vol", mib, 4096))
			require.Equal(t, make([]byte, 4096), readLeg(t, p, "vol", 12*mib, 4096))

			legs, err := p.ListLegs(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"clone", "snap", "vol"}, ids(legs))
			st, err := p.Stats(ctx)
			require.NoError(t, err)
			require.Equal(t, 28*mib, st.ProvisionedBytes)
			require.Positive(t, st.TotalBytes)
			require.Positive(t, st.FreeBytes)
			require.LessOrEqual(t, st.FreeBytes, st.TotalBytes)
			c, err := p.Capacity(ctx)
			require.NoError(t, err)
			require.Equal(t, st.TotalBytes, c.TotalBytes)
			require.Zero(t, c.ProvisionedBytes)

			require.NoError(t, p.DeleteLeg(ctx, "vol"))
			require.NoError(t, p.DeleteLeg(ctx, "vol"))
			require.NoError(t, p.DeleteLeg(ctx, "snap"))
			require.Equal(t, old, readLeg(t, p, "clone", mib, 4096), "clones outlive their sources")
			legs, err = p.ListLegs(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"clone"}, ids(legs))
		})
	}
}

func ids(legs []LegInfo) []string {
	out := []string{}
	for _, l := range legs {
		out = append(out, l.ID)
	}
	return out
}

func TestFileSparseCopyKeepsHoles(t *testing.T) {
	ctx := context.Background()
	p := newFilePool(t, FileOptions{NoReflink: true})
	require.NoError(t, p.CreateLeg(ctx, "src", 64*mib))
	pattern := bytes.Repeat([]byte{0x5a}, int(mib))
	writeLeg(t, p, "src", 0, pattern)
	writeLeg(t, p, "src", 40*mib, pattern)
	writeLeg(t, p, "src", 50*mib, make([]byte, mib)) // allocated zeros: need not be copied
	src, err := p.Stat(ctx, "src")
	require.NoError(t, err)
	require.GreaterOrEqual(t, src.AllocatedBytes, 2*mib)

	require.NoError(t, p.CloneLeg(ctx, "dst", "src", 128*mib))
	dst, err := p.Stat(ctx, "dst")
	require.NoError(t, err)
	require.Equal(t, 128*mib, dst.SizeBytes)
	require.GreaterOrEqual(t, dst.AllocatedBytes, 2*mib)
	require.Less(t, dst.AllocatedBytes, 3*mib, "holes and zero blocks must stay unallocated")
	require.Equal(t, pattern, readLeg(t, p, "dst", 0, int(mib)))
	require.Equal(t, pattern, readLeg(t, p, "dst", 40*mib, int(mib)))
	require.Equal(t, make([]byte, mib), readLeg(t, p, "dst", 20*mib, int(mib)))
}

func TestFileDiscard(t *testing.T) {
	ctx := context.Background()
	p := newFilePool(t, FileOptions{})
	require.NoError(t, p.CreateLeg(ctx, "vol", 8*mib))
	writeLeg(t, p, "vol", 0, bytes.Repeat([]byte{1}, int(4*mib)))
	require.NoError(t, p.Discard(ctx, "vol", mib, 2*mib))
	info, err := p.Stat(ctx, "vol")
	require.NoError(t, err)
	require.Equal(t, 8*mib, info.SizeBytes)
	require.Less(t, info.AllocatedBytes, 3*mib)
	require.Equal(t, make([]byte, 2*mib), readLeg(t, p, "vol", mib, int(2*mib)))
	require.Equal(t, bytes.Repeat([]byte{1}, int(mib)), readLeg(t, p, "vol", 3*mib, int(mib)))
	require.ErrorIs(t, p.Discard(ctx, "nope", 0, 1), model.ErrNotFound)
}

func TestFileCleansInterruptedBuilds(t *testing.T) {
	dir := t.TempDir()
	p, err := NewFile(dir, FileOptions{})
	require.NoError(t, err)
	half := filepath.Join(dir, "tmp", "leg-x.123")
	require.NoError(t, os.WriteFile(half, []byte("half"), 0o600))
	legs, err := p.ListLegs(context.Background())
	require.NoError(t, err)
	require.Empty(t, legs, "files under tmp/ are never legs")

	_, err = NewFile(dir, FileOptions{})
	require.NoError(t, err)
	_, err = os.Stat(half)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestFileCapacity(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		capacity  int64
		write     int64
		wantTotal int64
		wantFree  int64
	}{
		{"empty", 64 * mib, 0, 64 * mib, 64 * mib},
		{"used space counts, size does not", 64 * mib, 4 * mib, 64 * mib, 60 * mib},
		{"over the cap is zero free", 2 * mib, 4 * mib, 2 * mib, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFilePool(t, FileOptions{CapacityBytes: tt.capacity})
			require.NoError(t, p.CreateLeg(ctx, "vol", 128*mib))
			if tt.write > 0 {
				writeLeg(t, p, "vol", 0, bytes.Repeat([]byte{7}, int(tt.write)))
			}
			st, err := p.Stats(ctx)
			require.NoError(t, err)
			require.Equal(t, Stats{TotalBytes: tt.wantTotal, FreeBytes: tt.wantFree, ProvisionedBytes: 128 * mib}, st)
			c, err := p.Capacity(ctx)
			require.NoError(t, err)
			require.Equal(t, Stats{TotalBytes: tt.wantTotal, FreeBytes: tt.wantFree}, c, "the heartbeat's figures are Stats' less Provisioned")
		})
	}
}
