package kernel

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/test/kerneltest"
	"github.com/dlvm-project/dlvm/volume/pool"
)

// TestKernelLVMPool drives the lvm pool with the real runner on a real thin pool: data written
// with dd survives snapshot, clone and extend exactly as the Pool contract says.
func TestKernelLVMPool(t *testing.T) {
	requireKernelVM(t)
	ctx := context.Background()
	kerneltest.ThinPool(t, "dlvmk", "tp", 256)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := pool.NewLVM("dlvmk", "tp", runner.Exec{}, pool.LVMOptions{Log: log})
	require.NoError(t, err)

	a, b := pattern(1, 4*mib), pattern(2, 4*mib)
	zeros := sum(make([]byte, 4*mib))

	// Create: zero-filled, idempotent, conflict on another size.
	require.NoError(t, p.CreateLeg(ctx, "leg1", 16*mib))
	require.NoError(t, p.CreateLeg(ctx, "leg1", 16*mib))
	require.ErrorIs(t, p.CreateLeg(ctx, "leg1", 64*mib), model.ErrConflict)
	leg := p.DevicePath("leg1")
	require.Equal(t, "/dev/dlvmk/dlvm-leg1", leg)
	require.Equal(t, 16*mib, devSize(t, leg))
	require.Equal(t, zeros, ddSum(t, leg, 0, 4))

	// Snapshot is point in time and read-only.
	ddWrite(t, leg, a, 2)
	require.NoError(t, p.SnapshotLeg(ctx, "snap1", "leg1"))
	require.NoError(t, p.SnapshotLeg(ctx, "snap1", "leg1"))
	ddWrite(t, leg, b, 2)
	snap := p.DevicePath("snap1")
	info, err := p.Stat(ctx, "snap1")
	require.NoError(t, err)
	require.True(t, info.Snapshot)
	_, err = runner.Exec{}.Run(ctx, "dd", "if=/dev/zero", "of="+snap, "bs=4k", "count=1", "oflag=direct", "status=none")
	require.Error(t, err, "a snapshot must not be writable")

	// Clone from the snapshot, grown.
	require.NoError(t, p.CloneLeg(ctx, "clone1", "snap1", 32*mib))
	require.NoError(t, p.CloneLeg(ctx, "clone1", "snap1", 32*mib))
	clone := p.DevicePath("clone1")
	require.Equal(t, 32*mib, devSize(t, clone))

	tests := []struct {
		name   string
		dev    string
		offMiB int64
		want   string
	}{
		{"leg has the newest bytes", leg, 2, sum(b)},
		{"snapshot has snapshot-time bytes", snap, 2, sum(a)},
		{"clone has snapshot-time bytes", clone, 2, sum(a)},
		{"clone growth reads zeros", clone, 20, zeros},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ddSum(t, tt.dev, tt.offMiB, 4))
		})
	}

	// The clone is writable and independent of its source.
	ddWrite(t, clone, b, 10)
	require.Equal(t, sum(b), ddSum(t, clone, 10, 4))
	require.Equal(t, zeros, ddSum(t, snap, 10, 4))

	// Extend keeps data; a smaller extend is a no-op.
	require.NoError(t, p.ExtendLeg(ctx, "leg1", 48*mib))
	require.NoError(t, p.ExtendLeg(ctx, "leg1", 8*mib))
	require.Equal(t, 48*mib, devSize(t, leg))
	require.Equal(t, sum(b), ddSum(t, leg, 2, 4))
	require.Equal(t, zeros, ddSum(t, leg, 40, 4))

	st, err := p.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, 256*mib, st.TotalBytes)
	require.Less(t, st.FreeBytes, st.TotalBytes)
	require.Equal(t, (48+16+32)*mib, st.ProvisionedBytes)

	// Delete: idempotent, dependents stay.
	require.ErrorIs(t, p.CloneLeg(ctx, "clone2", "nope", 16*mib), model.ErrNotFound)
	for range 2 {
		require.NoError(t, p.DeleteLeg(ctx, "leg1"))
		require.NoError(t, p.DeleteLeg(ctx, "snap1"))
	}
	legs, err := p.ListLegs(ctx)
	require.NoError(t, err)
	require.Equal(t, []pool.LegInfo{{ID: "clone1", SizeBytes: 32 * mib, AllocatedBytes: legs[0].AllocatedBytes}}, legs)
	require.Positive(t, legs[0].AllocatedBytes)
	require.Equal(t, sum(a), ddSum(t, clone, 2, 4))
	_, err = os.Stat(leg)
	require.ErrorIs(t, err, os.ErrNotExist, "deleted leg's device node is gone")
}
