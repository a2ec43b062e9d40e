package db_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
)

func TestMigrateIdempotent(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		v, dirty, err := d.SchemaVersion(ctx)
		require.NoError(t, err)
		require.False(t, dirty)
		require.Equal(t, latestMigration(t), v)

		require.NoError(t, d.Store().CreateVolume(ctx, newVolume("vol-1", "p1", base)))
		require.NoError(t, d.Migrate(ctx))
		require.NoError(t, d.Migrate(ctx))
		v2, dirty, err := d.SchemaVersion(ctx)
		require.NoError(t, err)
		require.False(t, dirty)
		require.Equal(t, v, v2)
		_, err = d.Store().GetVolume(ctx, "vol-1")
		require.NoError(t, err, "data survives a second migrate")
	})
}

// TestMigrateConcurrent runs Migrate from several pools (as from several processes) on one
// empty database at once: all succeed and the schema is complete.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.NewURL(t, dialect)
			const n = 4
			pools := make([]*db.DB, n)
			for i := range pools {
				d, err := db.Open(ctx, url, db.Options{})
				require.NoError(t, err)
				t.Cleanup(func() { d.Close() })
				pools[i] = d
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i, d := range pools {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = d.Migrate(ctx)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			v, dirty, err := pools[0].SchemaVersion(ctx)
			require.NoError(t, err)
			require.False(t, dirty)
			require.Equal(t, latestMigration(t), v)
			require.NoError(t, pools[1].Store().CreateWorkflow(ctx, &model.Workflow{ID: "w", Kind: model.WfCreateVolume}))
		})
	}
}

// latestMigration is the highest version among the embedded migration files, so the tests need
// no edit when a migration is added.
func latestMigration(t *testing.T) uint {
	t.Helper()
	var latest uint
	for _, dialect := range []string{"mysql", "sqlite"} {
		entries, err := os.ReadDir(filepath.Join("migrations", dialect))
		require.NoError(t, err)
		for _, e := range entries {
			num, _, _ := strings.Cut(e.Name(), "_")
			n, err := strconv.ParseUint(num, 10, 32)
			require.NoError(t, err, e.Name())
			latest = max(latest, uint(n))
		}
	}
	return latest
}
