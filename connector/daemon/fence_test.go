package daemon

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/agentauth"
)

// TestDaemonFence: a manager holding an older epoch of the volume than the daemon has seen is
// refused (409) and the engine is not called; an unsigned call is refused (401) likewise.
func TestDaemonFence(t *testing.T) {
	ctx := context.Background()
	eng, c, _ := start(t, "sekret")
	at := func(epoch int64) context.Context { return agentauth.WithEpoch(ctx, "vol-1", epoch) }

	_, err := c.Attach(at(2), plan("vol-1"))
	require.NoError(t, err)
	err = c.Detach(at(1), "vol-1")
	var de *Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, http.StatusConflict, de.Status)
	require.True(t, de.StaleEpoch())
	require.False(t, de.Temporary())
	require.Contains(t, eng.attached, "vol-1", "the stale detach did nothing")

	err = NewClient(c.base, nil, "").Detach(at(3), "vol-1")
	require.ErrorAs(t, err, &de)
	require.Equal(t, http.StatusUnauthorized, de.Status)
	require.Contains(t, eng.attached, "vol-1", "the unsigned detach did nothing")

	_, err = c.Health(at(1), "vol-1")
	require.NoError(t, err, "reads are not fenced")
	require.NoError(t, c.Detach(at(3), "vol-1"))
	require.NotContains(t, eng.attached, "vol-1")
}
