package db_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestInTx(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		limits := map[string]int64{}
		inUse := func() int64 { return usages(t, ctx, d.Store(), "p1")[model.ResVolumes] }

		require.NoError(t, d.InTx(ctx, func(s *db.Store) error {
			return s.Reserve(ctx, "p1", map[string]int64{model.ResVolumes: 1}, limits)
		}))
		require.Equal(t, int64(1), inUse(), "commit")

		boom := errors.New("boom")
		err := d.InTx(ctx, func(s *db.Store) error {
			require.NoError(t, s.CreateVolume(ctx, newVolume("vol-1", "p1", base)))
			require.NoError(t, s.Reserve(ctx, "p1", map[string]int64{model.ResVolumes: 1}, limits))
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.Equal(t, int64(1), inUse(), "error rolls back")
		_, err = d.Store().GetVolume(ctx, "vol-1")
		require.ErrorIs(t, err, model.ErrNotFound)

		require.Panics(t, func() {
			_ = d.InTx(ctx, func(s *db.Store) error {
				require.NoError(t, s.Reserve(ctx, "p1", map[string]int64{model.ResVolumes: 1}, limits))
				panic("boom")
			})
		})
		require.Equal(t, int64(1), inUse(), "panic rolls back")
		// The database is usable after the panic (no leaked write slot).
		require.NoError(t, d.Store().CreateVolume(ctx, newVolume("vol-2", "p1", base)))
	})
}

// TestInTxRetriesDeadlock makes two MySQL transactions lock two rows in opposite orders. InnoDB
// kills one with a deadlock (1213); InTx re-runs it and both end up committed.
func TestInTxRetriesDeadlock(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		if d.Dialect() != db.DialectMySQL {
			t.Skip("SQLite write transactions are serialized; no deadlocks to retry")
		}
		s := d.Store()
		require.NoError(t, s.CreateVolume(ctx, newVolume("a", "p1", base)))
		require.NoError(t, s.CreateVolume(ctx, newVolume("b", "p1", base)))

		var attempts atomic.Int32
		bothLocked := sync.WaitGroup{}
		bothLocked.Add(2)
		run := func(first, second string) error {
			n := 0
			return d.InTx(ctx, func(s *db.Store) error {
				n++
				attempts.Add(1)
				if err := s.SetVolumeStatus(ctx, first, nil, "locked-"+first); err != nil {
					return err
				}
				if n == 1 {
					bothLocked.Done()
					bothLocked.Wait()
				}
				return s.SetVolumeStatus(ctx, second, nil, "locked-"+first)
			})
		}
		errs := make(chan error, 2)
		go func() { errs <- run("a", "b") }()
		go func() { errs <- run("b", "a") }()
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
		require.Equal(t, int32(3), attempts.Load(), "one transaction was re-run")
		a, err := s.GetVolume(ctx, "a")
		require.NoError(t, err)
		b, err := s.GetVolume(ctx, "b")
		require.NoError(t, err)
		require.Equal(t, a.Status, b.Status, "the re-run transaction wrote both rows last")
	})
}
