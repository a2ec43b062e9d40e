package kernel

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/test/kerneltest"
	"github.com/dlvm-project/dlvm/volume/agent"
	"github.com/dlvm-project/dlvm/volume/pool"
)

// TestKernelAgentLVM runs the dpv agent over a real lvm pool: its data endpoints read and
// write thin LV block devices, and a snapshot taken through the API is point in time.
func TestKernelAgentLVM(t *testing.T) {
	requireKernelVM(t)
	ctx := context.Background()
	kerneltest.ThinPool(t, "dlvma", "tp", 128)
	p, err := pool.NewLVM("dlvma", "tp", runner.Exec{}, pool.LVMOptions{})
	require.NoError(t, err)
	srv := httptest.NewServer(agent.NewServer(p, agent.ServerOptions{Name: "vm"}, nil).Handler())
	defer srv.Close()
	c := agent.NewClient(srv.URL, srv.Client(), "")

	a, b := pattern(3, mib), pattern(4, mib)
	_, err = c.CreateLeg(ctx, "leg1", 8*mib)
	require.NoError(t, err)
	_, err = c.WriteAt(ctx, "leg1", a, 3*mib)
	require.NoError(t, err)
	_, err = c.SnapshotLeg(ctx, "snap1", "leg1")
	require.NoError(t, err)
	_, err = c.WriteAt(ctx, "leg1", b, 3*mib)
	require.NoError(t, err)
	_, err = c.CloneLeg(ctx, "clone1", "snap1", 8*mib)
	require.NoError(t, err)

	for _, tt := range []struct {
		id   string
		want []byte
	}{{"leg1", b}, {"snap1", a}, {"clone1", a}} {
		got := make([]byte, mib)
		_, err := c.ReadAt(ctx, tt.id, got, 3*mib)
		require.NoError(t, err)
		require.True(t, bytes.Equal(tt.want, got), "agent read of %s", tt.id)
		require.Equal(t, sum(tt.want), ddSum(t, p.DevicePath(tt.id), 3, 1), "dd read of %s", tt.id)
	}
	info, err := c.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, "lvm", info.PoolType)
	require.Equal(t, 128*mib, info.TotalBytes)
	require.Equal(t, 3, info.Legs)
}
