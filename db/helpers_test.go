package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
)

// each runs fn against a fresh database of every dialect.
func each(t *testing.T, fn func(t *testing.T, ctx context.Context, d *db.DB)) {
	t.Helper()
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		fn(t, context.Background(), d)
	})
}

// base is a fixed instant with microseconds, so stored times compare exactly.
var base = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

// newVolume returns a volume with every field set.
func newVolume(id, project string, created time.Time) *model.Volume {
	launched := created.Add(time.Minute)
	return &model.Volume{
		ID: id, ProjectID: project, UserID: "user-1", Name: "vol-" + id, Description: "desc " + id,
		Size: 1, Status: model.StatusAvailable, AttachStatus: model.AttachDetached, MigrationStatus: "",
		AvailabilityZone: "nova", VolumeTypeID: "", SnapshotID: "snap-x", SourceVolID: "src-x",
		Bootable: false, ReadOnly: true, ReadOnlySet: true, Multiattach: true, Host: "dlvm@dlvm#pool", DVGID: "dvg-1",
		Layout: model.Layout{Mirrors: 2, Stripes: 3, ChunkKiB: 512}, Epoch: 7,
		Metadata: map[string]string{"k": "v-" + id}, ErrorReason: "none",
		CreatedAt: created, UpdatedAt: created, LaunchedAt: &launched,
	}
}

// mustCreateVolumes inserts n volumes v00..v(n-1) with increasing created_at.
func mustCreateVolumes(t *testing.T, ctx context.Context, s *db.Store, project string, n int) []*model.Volume {
	t.Helper()
	var out []*model.Volume
	for i := 0; i < n; i++ {
		v := newVolume(fmt.Sprintf("v%02d", i), project, base.Add(time.Duration(i)*time.Second))
		require.NoError(t, s.CreateVolume(ctx, v))
		out = append(out, v)
	}
	return out
}

func volumeIDs(vs []*model.Volume) []string {
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	return ids
}

func snapshotIDs(ss []*model.Snapshot) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

func ptrBool(b bool) *bool { return &b }
