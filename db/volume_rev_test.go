package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// TestVolumeRevMoves: every write that changes what a volume's views show moves its revision in
// the same statement or transaction (the API's view cache relies on it).
func TestVolumeRevMoves(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		v := mustCreateVolumes(t, ctx, s, "p1", 1)[0]
		vt := &model.VolumeType{ID: "t1", Name: "gold", IsPublic: true}
		require.NoError(t, s.CreateType(ctx, vt))
		att := newAttachment("a1", v.ID, "inst-1", base)
		rev := func() int64 {
			r, err := s.GetVolumeRev(ctx, v.ID)
			require.NoError(t, err)
			require.Equal(t, "p1", r.ProjectID)
			return r.Rev
		}
		last := rev()
		got, err := s.GetVolume(ctx, v.ID)
		require.NoError(t, err)
		require.Equal(t, last, got.Rev, "GetVolume reads the revision")
		for _, w := range []struct {
			name string
			fn   func() error
		}{
			{"update", func() error { v.Name = "renamed"; v.VolumeTypeID = vt.ID; return s.UpdateVolume(ctx, v) }},
			{"status", func() error { return s.SetVolumeStatus(ctx, v.ID, nil, model.StatusInUse) }},
			{"metadata merge", func() error { return s.SetVolumeMetadata(ctx, v.ID, map[string]string{"a": "b"}, false) }},
			{"metadata replace", func() error { return s.SetVolumeMetadata(ctx, v.ID, map[string]string{"c": "d"}, true) }},
			{"metadata key delete", func() error { return s.DeleteVolumeMetadata(ctx, v.ID, "c") }},
			{"attachment create", func() error { return s.CreateAttachment(ctx, att) }},
			{"attachment update", func() error { att.Mountpoint = "/dev/vdc"; return s.UpdateAttachment(ctx, att) }},
			{"attachment delete", func() error { return s.DeleteAttachment(ctx, att.ID) }},
			{"type rename", func() error { vt.Name = "platinum"; return s.UpdateType(ctx, vt) }},
			{"type access add", func() error { return s.AddTypeAccess(ctx, vt.ID, "p2") }},
			{"type access remove", func() error { return s.RemoveTypeAccess(ctx, vt.ID, "p2") }},
		} {
			require.NoError(t, w.fn(), w.name)
			now := rev()
			require.Greater(t, now, last, w.name)
			last = now
		}
		// the scheduler's placement (host shows to admins)
		nv := newVolume("v-new", "p1", base)
		nv.Status, nv.DVGID, nv.Host = model.StatusCreating, "", ""
		require.NoError(t, s.CreateVolume(ctx, nv))
		placed, err := s.PlaceVolume(ctx, nv.ID, "dvg-1", "h@b#p")
		require.NoError(t, err)
		require.True(t, placed)
		r, err := s.GetVolumeRev(ctx, nv.ID)
		require.NoError(t, err)
		require.Positive(t, r.Rev, "placement")
		// a write that fails changes nothing
		require.Error(t, s.DeleteVolumeMetadata(ctx, v.ID, "missing"))
		require.Equal(t, last, rev())
		require.NoError(t, s.DeleteVolume(ctx, v.ID))
		_, err = s.GetVolumeRev(ctx, v.ID)
		require.ErrorIs(t, err, model.ErrNotFound)
	})
}

// TestListVolumeRevs: the revisions come in ListVolumes' order, for every paging form.
func TestListVolumeRevs(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		mustCreateVolumes(t, ctx, s, "p1", 5)
		require.NoError(t, s.CreateVolume(ctx, newVolume("w00", "p2", base)))
		require.NoError(t, s.SetVolumeStatus(ctx, "v02", nil, model.StatusError))
		for _, q := range []db.VolumeQuery{
			{ProjectID: "p1"},
			{ProjectID: "p1", Limit: 2},
			{ProjectID: "p1", Limit: 2, Marker: "v03"},
			{ProjectID: "p1", Sort: []db.SortKey{{Key: "name"}}, Offset: 1},
			{Status: model.StatusError},
			{},
		} {
			vols, err := s.ListVolumes(ctx, q)
			require.NoError(t, err)
			revs, err := s.ListVolumeRevs(ctx, q)
			require.NoError(t, err)
			require.Len(t, revs, len(vols))
			for i, v := range vols {
				require.Equal(t, db.VolumeRev{ID: v.ID, ProjectID: v.ProjectID, Rev: v.Rev}, revs[i])
			}
		}
		_, err := s.ListVolumeRevs(ctx, db.VolumeQuery{Marker: "nope"})
		require.ErrorIs(t, err, model.ErrNotFound)
	})
}
