package volume

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
)

// TestGroupWorkflows runs the ordinary snapshot, create and delete workflows on members of a
// group snapshot and of groups, and checks the bytes and that the group rows follow.
func TestGroupWorkflows(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			r := newRig(t, dialect)
			ctx := context.Background()
			st := r.db.Store()
			now := time.Now().UTC()
			lay := model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 4}

			require.NoError(t, st.CreateGroup(ctx, &model.Group{ID: "g1", ProjectID: testProject, Status: model.StatusAvailable, GroupTypeID: "gt"}))
			r.run(r.volume("a", 1, lay, "", ""))
			r.run(r.volume("b", 1, lay, "", ""))
			for _, id := range []string{"a", "b"} {
				require.NoError(t, st.SetVolumeGroup(ctx, id, "g1"))
				r.writeLogical(id, 0, bytes.Repeat([]byte(id), 4096))
			}

			// A group snapshot: available when its last snapshot is.
			require.NoError(t, st.CreateGroupSnapshot(ctx, &model.GroupSnapshot{ID: "gs1", ProjectID: testProject, GroupID: "g1", Status: model.StatusCreating}))
			for _, id := range []string{"a", "b"} {
				require.NoError(t, st.CreateSnapshot(ctx, &model.Snapshot{ID: "s-" + id, ProjectID: testProject, VolumeID: id, Size: 1,
					Status: model.StatusCreating, GroupSnapshotID: "gs1", CreatedAt: now, UpdatedAt: now}))
			}
			r.run(r.workflow(model.WfCreateSnapshot, "a", "s-a", nil))
			gs, err := st.GetGroupSnapshot(ctx, "gs1")
			require.NoError(t, err)
			require.Equal(t, model.StatusCreating, gs.Status)
			r.run(r.workflow(model.WfCreateSnapshot, "b", "s-b", nil))
			gs, err = st.GetGroupSnapshot(ctx, "gs1")
			require.NoError(t, err)
			require.Equal(t, model.StatusAvailable, gs.Status)

			// A group from it: each new volume has its snapshot's bytes; the group is available
			// once both are.
			for _, id := range []string{"a", "b"} {
				r.writeLogical(id, 0, bytes.Repeat([]byte("z"), 8192))
			}
			require.NoError(t, st.CreateGroup(ctx, &model.Group{ID: "g2", ProjectID: testProject, Status: model.StatusCreating, GroupSnapshotID: "gs1"}))
			wa := r.volume("ca", 1, lay, "s-a", "")
			wb := r.volume("cb", 1, lay, "s-b", "")
			require.NoError(t, st.SetVolumeGroup(ctx, "ca", "g2"))
			require.NoError(t, st.SetVolumeGroup(ctx, "cb", "g2"))
			r.run(wa)
			g2, err := st.GetGroup(ctx, "g2")
			require.NoError(t, err)
			require.Equal(t, model.StatusCreating, g2.Status)
			r.run(wb)
			g2, err = st.GetGroup(ctx, "g2")
			require.NoError(t, err)
			require.Equal(t, model.StatusAvailable, g2.Status)
			require.Equal(t, bytes.Repeat([]byte("a"), 4096), r.readLogical("ca", 0, 4096))
			require.Equal(t, bytes.Repeat([]byte("b"), 4096), r.readLogical("cb", 0, 4096))

			// Deleting the group snapshot's snapshots removes it; deleting a deleting group's
			// last volume removes the group.
			require.NoError(t, st.SetGroupSnapshotStatus(ctx, "gs1", nil, model.StatusDeleting))
			r.run(r.workflow(model.WfDeleteSnapshot, "a", "s-a", nil))
			_, err = st.GetGroupSnapshot(ctx, "gs1")
			require.NoError(t, err)
			r.run(r.workflow(model.WfDeleteSnapshot, "b", "s-b", nil))
			_, err = st.GetGroupSnapshot(ctx, "gs1")
			require.ErrorIs(t, err, model.ErrNotFound)

			require.NoError(t, st.SetGroupStatus(ctx, "g2", nil, model.StatusDeleting))
			r.run(r.workflow(model.WfDeleteVolume, "ca", "", nil))
			_, err = st.GetGroup(ctx, "g2")
			require.NoError(t, err)
			r.run(r.workflow(model.WfDeleteVolume, "cb", "", nil))
			_, err = st.GetGroup(ctx, "g2")
			require.ErrorIs(t, err, model.ErrNotFound)
		})
	}
}
