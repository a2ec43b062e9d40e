package db_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestQuotaLimits(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		got, err := s.QuotaLimits(ctx, "p1")
		require.NoError(t, err)
		require.Empty(t, got)

		require.NoError(t, s.SetQuotaLimits(ctx, "p1", map[string]int64{model.ResVolumes: 10, model.ResGigabytes: -1}))
		require.NoError(t, s.SetQuotaLimits(ctx, "p1", map[string]int64{model.ResVolumes: 3, model.ResSnapshots: 0}))
		require.NoError(t, s.SetQuotaLimits(ctx, "class:default", map[string]int64{model.ResVolumes: 50}))
		got, err = s.QuotaLimits(ctx, "p1")
		require.NoError(t, err)
		require.Equal(t, map[string]int64{model.ResVolumes: 3, model.ResGigabytes: -1, model.ResSnapshots: 0}, got)

		require.NoError(t, s.DeleteQuotaLimits(ctx, "p1"))
		require.NoError(t, s.DeleteQuotaLimits(ctx, "p1"))
		got, err = s.QuotaLimits(ctx, "p1")
		require.NoError(t, err)
		require.Empty(t, got)
		got, err = s.QuotaLimits(ctx, "class:default")
		require.NoError(t, err)
		require.Equal(t, map[string]int64{model.ResVolumes: 50}, got)

		require.NoError(t, s.SetQuotaLimits(ctx, "p2", map[string]int64{model.ResGigabytes: 7}))
		both, err := s.QuotaLimitsOf(ctx, "class:default", "p1", "p2")
		require.NoError(t, err)
		require.Equal(t, map[string]map[string]int64{
			"class:default": {model.ResVolumes: 50}, "p1": {}, "p2": {model.ResGigabytes: 7},
		}, both)
	})
}

func usages(t *testing.T, ctx context.Context, s *db.Store, project string) map[string]int64 {
	t.Helper()
	u, err := s.QuotaUsages(ctx, project)
	require.NoError(t, err)
	out := map[string]int64{}
	for r, v := range u {
		out[r] = v.InUse
	}
	return out
}

func TestReserve(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		limits := map[string]int64{model.ResVolumes: 2, model.ResGigabytes: 10, model.ResSnapshots: -1}
		steps := []struct {
			name    string
			deltas  map[string]int64
			wantErr *model.QuotaError
			want    map[string]int64
		}{
			{"first reservation", map[string]int64{model.ResVolumes: 1, model.ResGigabytes: 4},
				nil, map[string]int64{model.ResVolumes: 1, model.ResGigabytes: 4}},
			{"up to the limit", map[string]int64{model.ResVolumes: 1, model.ResGigabytes: 6},
				nil, map[string]int64{model.ResVolumes: 2, model.ResGigabytes: 10}},
			{"over one limit changes nothing", map[string]int64{model.ResGigabytes: 1},
				&model.QuotaError{Resource: model.ResGigabytes, Requested: 1, InUse: 10, Limit: 10},
				map[string]int64{model.ResVolumes: 2, model.ResGigabytes: 10}},
			{"release", map[string]int64{model.ResVolumes: -1, model.ResGigabytes: -4},
				nil, map[string]int64{model.ResVolumes: 1, model.ResGigabytes: 6}},
			{"all or nothing: gigabytes fit, volumes do not", map[string]int64{model.ResVolumes: 2, model.ResGigabytes: 1},
				&model.QuotaError{Resource: model.ResVolumes, Requested: 2, InUse: 1, Limit: 2},
				map[string]int64{model.ResVolumes: 1, model.ResGigabytes: 6}},
			{"all or nothing: volumes fit, gigabytes do not", map[string]int64{model.ResVolumes: 1, model.ResGigabytes: 5},
				&model.QuotaError{Resource: model.ResGigabytes, Requested: 5, InUse: 6, Limit: 10},
				map[string]int64{model.ResVolumes: 1, model.ResGigabytes: 6}},
			{"release floors at zero", map[string]int64{model.ResVolumes: -5},
				nil, map[string]int64{model.ResVolumes: 0, model.ResGigabytes: 6}},
			{"unlimited and absent limits", map[string]int64{model.ResSnapshots: 1000, model.ResBackups: 7},
				nil, map[string]int64{model.ResVolumes: 0, model.ResGigabytes: 6, model.ResSnapshots: 1000, model.ResBackups: 7}},
			{"release of a never-used resource", map[string]int64{model.ResGroups: -1},
				nil, map[string]int64{model.ResVolumes: 0, model.ResGigabytes: 6, model.ResSnapshots: 1000, model.ResBackups: 7}},
			{"zero deltas are no-ops", map[string]int64{model.ResVolumes: 0},
				nil, map[string]int64{model.ResVolumes: 0, model.ResGigabytes: 6, model.ResSnapshots: 1000, model.ResBackups: 7}},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				err := s.Reserve(ctx, "p1", st.deltas, limits)
				if st.wantErr == nil {
					require.NoError(t, err)
				} else {
					var qe *model.QuotaError
					require.True(t, errors.As(err, &qe), "want a QuotaError, got %v", err)
					require.Equal(t, st.wantErr, qe)
					require.ErrorIs(t, err, model.ErrQuotaExceeded)
				}
				require.Equal(t, st.want, usages(t, ctx, s, "p1"))
			})
		}
		require.Empty(t, usages(t, ctx, s, "p2"), "other projects untouched")

		t.Run("zero limit refuses", func(t *testing.T) {
			err := s.Reserve(ctx, "p3", map[string]int64{model.ResVolumes: 1}, map[string]int64{model.ResVolumes: 0})
			require.ErrorIs(t, err, model.ErrQuotaExceeded)
			require.Equal(t, int64(0), usages(t, ctx, s, "p3")[model.ResVolumes])
		})
	})
}

func TestReserveInTx(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		limits := map[string]int64{model.ResVolumes: 1}
		// A refusal inside the caller's transaction leaves nothing behind even if the caller
		// commits after handling the error.
		err := d.InTx(ctx, func(s *db.Store) error {
			require.NoError(t, s.Reserve(ctx, "p1", map[string]int64{model.ResGigabytes: 1}, limits))
			err := s.Reserve(ctx, "p1", map[string]int64{model.ResGigabytes: 5, model.ResVolumes: 2}, limits)
			require.ErrorIs(t, err, model.ErrQuotaExceeded)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, map[string]int64{model.ResGigabytes: 1, model.ResVolumes: 0}, usages(t, ctx, d.Store(), "p1"))

		// The caller's rollback undoes a successful reservation.
		boom := errors.New("boom")
		err = d.InTx(ctx, func(s *db.Store) error {
			require.NoError(t, s.Reserve(ctx, "p1", map[string]int64{model.ResVolumes: 1}, limits))
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.Equal(t, int64(0), usages(t, ctx, d.Store(), "p1")[model.ResVolumes])
	})
}

func TestReserveConcurrent(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		const (
			workers = 20
			limit   = 7
		)
		s := d.Store()
		limits := map[string]int64{model.ResVolumes: limit, model.ResGigabytes: 2 * limit}
		var wg sync.WaitGroup
		results := make(chan error, workers)
		start := make(chan struct{})
		for i := 0; i < workers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results <- s.Reserve(ctx, "p1", map[string]int64{model.ResVolumes: 1, model.ResGigabytes: 2}, limits)
			}()
		}
		close(start)
		wg.Wait()
		close(results)
		ok := 0
		for err := range results {
			if err == nil {
				ok++
				continue
			}
			require.ErrorIs(t, err, model.ErrQuotaExceeded)
		}
		require.Equal(t, limit, ok)
		require.Equal(t, map[string]int64{model.ResVolumes: limit, model.ResGigabytes: 2 * limit}, usages(t, ctx, s, "p1"))
	})
}

// TestReserveConcurrentSQLiteTwoPools races two pools on one SQLite file, as two processes
// would: only the database's own locking (BEGIN IMMEDIATE, busy_timeout) keeps them apart.
func TestReserveConcurrentSQLiteTwoPools(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + t.TempDir() + "/shared.db"
	var pools []*db.DB
	for i := 0; i < 2; i++ {
		d, err := db.Open(ctx, url, db.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		require.NoError(t, d.Migrate(ctx))
		pools = append(pools, d)
	}
	const workers, limit = 20, 7
	limits := map[string]int64{model.ResVolumes: limit}
	results := make(chan error, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- pools[i%2].Store().Reserve(ctx, "p1", map[string]int64{model.ResVolumes: 1}, limits)
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		if err == nil {
			ok++
			continue
		}
		require.ErrorIs(t, err, model.ErrQuotaExceeded)
	}
	require.Equal(t, limit, ok)
	require.Equal(t, int64(limit), usages(t, ctx, pools[1].Store(), "p1")[model.ResVolumes])
}
