package api

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

// TestConcurrentCreatesRespectQuota races 10 creates against a limit of 3 volumes: exactly 3
// win, the rest get a QuotaError, and usage matches the rows.
func TestConcurrentCreatesRespectQuota(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		e.setLimits(alice.ProjectID, map[string]int64{model.ResVolumes: 3})
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1})
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			var qe *model.QuotaError
			require.ErrorAs(t, err, &qe, "only quota errors may fail a create: %v", err)
			require.Equal(t, model.ResVolumes, qe.Resource)
		}
		require.Equal(t, 3, ok)
		require.Equal(t, 3, e.countVolumes(alice.ProjectID))
		u := e.usage(alice.ProjectID)
		require.EqualValues(t, 3, u[model.ResVolumes].InUse)
		require.EqualValues(t, 3, u[model.ResGigabytes].InUse)
	})
}
