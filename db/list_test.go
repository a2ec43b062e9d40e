package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// seedList creates volumes v00..v05 (created in that order) with varied fields:
//
//	id   project name     size status     bootable az    metadata
//	v00  p1      alpha    3    available  false    nova  env=prod
//	v01  p1      beta     1    in-use     true     nova  env=dev
//	v02  p1      alpha    2    available  true     az2   env=prod tier=gold
//	v03  p2      gamma    2    error      false    nova  env=prod
//	v04  p1      z_b%c    2    available  false    nova  -
//	v05  p1      deleted  9    available  false    nova  (soft-deleted)
func seedList(t *testing.T, ctx context.Context, d *db.DB) {
	t.Helper()
	s := d.Store()
	vs := mustCreateVolumes(t, ctx, s, "p1", 6)
	set := func(i int, name string, size int, status string, boot bool, az string, md map[string]string) {
		v := vs[i]
		v.Name, v.Size, v.Status, v.Bootable, v.AvailabilityZone = name, size, status, boot, az
		require.NoError(t, s.UpdateVolume(ctx, v))
		require.NoError(t, s.SetVolumeMetadata(ctx, v.ID, md, true))
	}
	set(0, "alpha", 3, model.StatusAvailable, false, "nova", map[string]string{"env": "prod"})
	set(1, "beta", 1, model.StatusInUse, true, "nova", map[string]string{"env": "dev"})
	set(2, "alpha", 2, model.StatusAvailable, true, "az2", map[string]string{"env": "prod", "tier": "gold"})
	set(3, "gamma", 2, model.StatusError, false, "nova", map[string]string{"env": "prod"})
	set(4, "z_b%c", 2, model.StatusAvailable, false, "nova", nil)
	set(5, "deleted", 9, model.StatusAvailable, false, "nova", nil)
	_, err := d.SQL().ExecContext(ctx, "UPDATE volumes SET project_id = 'p2' WHERE id = 'v03'")
	require.NoError(t, err)
	require.NoError(t, s.DeleteVolume(ctx, "v05"))
}

func TestListVolumesFilters(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		seedList(t, ctx, d)
		tests := []struct {
			name string
			q    db.VolumeQuery
			want []string
		}{
			{"all, default newest first", db.VolumeQuery{}, []string{"v04", "v03", "v02", "v01", "v00"}},
			{"project", db.VolumeQuery{ProjectID: "p2"}, []string{"v03"}},
			{"name exact", db.VolumeQuery{Name: "alpha"}, []string{"v02", "v00"}},
			{"name like", db.VolumeQuery{NameLike: "lph"}, []string{"v02", "v00"}},
			{"name like escapes wildcards", db.VolumeQuery{NameLike: "_b%"}, []string{"v04"}},
			{"name like wildcard is literal", db.VolumeQuery{NameLike: "%"}, []string{"v04"}},
			{"status", db.VolumeQuery{Status: model.StatusAvailable}, []string{"v04", "v02", "v00"}},
			{"bootable true", db.VolumeQuery{Bootable: ptrBool(true)}, []string{"v02", "v01"}},
			{"bootable false", db.VolumeQuery{Bootable: ptrBool(false)}, []string{"v04", "v03", "v00"}},
			{"az", db.VolumeQuery{AvailabilityZone: "az2"}, []string{"v02"}},
			{"ids", db.VolumeQuery{IDs: []string{"v00", "v03", "v05", "zz"}}, []string{"v03", "v00"}},
			{"metadata one pair", db.VolumeQuery{Metadata: map[string]string{"env": "prod"}}, []string{"v03", "v02", "v00"}},
			{"metadata every pair", db.VolumeQuery{Metadata: map[string]string{"env": "prod", "tier": "gold"}}, []string{"v02"}},
			{"metadata no match", db.VolumeQuery{Metadata: map[string]string{"env": "qa"}}, []string{}},
			{"combined", db.VolumeQuery{ProjectID: "p1", Status: model.StatusAvailable, Metadata: map[string]string{"env": "prod"}}, []string{"v02", "v00"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListVolumes(ctx, tc.q)
				require.NoError(t, err)
				require.Equal(t, tc.want, volumeIDs(got))
				n, err := s.CountVolumes(ctx, tc.q)
				require.NoError(t, err)
				require.Equal(t, len(tc.want), n)
			})
		}

		t.Run("metadata loaded for the page", func(t *testing.T) {
			got, err := s.ListVolumes(ctx, db.VolumeQuery{IDs: []string{"v02", "v04"}})
			require.NoError(t, err)
			require.Len(t, got, 2)
			require.Equal(t, map[string]string{}, got[0].Metadata)
			require.Equal(t, map[string]string{"env": "prod", "tier": "gold"}, got[1].Metadata)
		})
		t.Run("count ignores paging", func(t *testing.T) {
			n, err := s.CountVolumes(ctx, db.VolumeQuery{Limit: 1, Offset: 2, Marker: "nope", Sort: []db.SortKey{{Key: "bad"}}})
			require.NoError(t, err)
			require.Equal(t, 5, n)
		})
	})
}

func TestListVolumesSortAndPaging(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		seedList(t, ctx, d)
		tests := []struct {
			name string
			sort []db.SortKey
			want []string
		}{
			{"created asc", []db.SortKey{{Key: "created_at"}}, []string{"v00", "v01", "v02", "v03", "v04"}},
			{"size asc, ties by id asc", []db.SortKey{{Key: "size"}}, []string{"v01", "v02", "v03", "v04", "v00"}},
			{"size desc, ties by id desc", []db.SortKey{{Key: "size", Desc: true}}, []string{"v00", "v04", "v03", "v02", "v01"}},
			{"name then size desc", []db.SortKey{{Key: "name"}, {Key: "size", Desc: true}}, []string{"v00", "v02", "v01", "v03", "v04"}},
			{"status desc, created asc", []db.SortKey{{Key: "status", Desc: true}, {Key: "created_at"}}, []string{"v01", "v03", "v00", "v02", "v04"}},
			{"bootable then az", []db.SortKey{{Key: "bootable"}, {Key: "availability_zone"}, {Key: "id"}}, []string{"v00", "v03", "v04", "v02", "v01"}},
			{"id desc", []db.SortKey{{Key: "id", Desc: true}}, []string{"v04", "v03", "v02", "v01", "v00"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				all, err := s.ListVolumes(ctx, db.VolumeQuery{Sort: tc.sort})
				require.NoError(t, err)
				require.Equal(t, tc.want, volumeIDs(all))

				// Walk the same order in pages of 2 with markers: the pages concatenate to the
				// full list.
				var pages [][]string
				marker := ""
				for {
					pg, err := s.ListVolumes(ctx, db.VolumeQuery{Sort: tc.sort, Limit: 2, Marker: marker})
					require.NoError(t, err)
					if len(pg) == 0 {
						break
					}
					pages = append(pages, volumeIDs(pg))
					marker = pg[len(pg)-1].ID
					require.LessOrEqual(t, len(pages), 3, "pagination does not end")
				}
				require.Equal(t, [][]string{tc.want[0:2], tc.want[2:4], tc.want[4:5]}, pages)

				off, err := s.ListVolumes(ctx, db.VolumeQuery{Sort: tc.sort, Offset: 3})
				require.NoError(t, err)
				require.Equal(t, tc.want[3:], volumeIDs(off))
				lo, err := s.ListVolumes(ctx, db.VolumeQuery{Sort: tc.sort, Offset: 1, Limit: 2})
				require.NoError(t, err)
				require.Equal(t, tc.want[1:3], volumeIDs(lo))
			})
		}

		t.Run("marker with filters", func(t *testing.T) {
			q := db.VolumeQuery{Status: model.StatusAvailable, Sort: []db.SortKey{{Key: "created_at"}}, Limit: 1, Marker: "v00"}
			got, err := s.ListVolumes(ctx, q)
			require.NoError(t, err)
			require.Equal(t, []string{"v02"}, volumeIDs(got))
		})
		errCases := []struct {
			name string
			q    db.VolumeQuery
			kind error
		}{
			{"unknown sort key", db.VolumeQuery{Sort: []db.SortKey{{Key: "display_description"}}}, model.ErrInvalid},
			{"sql in sort key", db.VolumeQuery{Sort: []db.SortKey{{Key: "id; DROP TABLE volumes"}}}, model.ErrInvalid},
			{"unknown marker", db.VolumeQuery{Marker: "zz"}, model.ErrNotFound},
			{"deleted marker", db.VolumeQuery{Marker: "v05"}, model.ErrNotFound},
			{"marker of another project", db.VolumeQuery{ProjectID: "p1", Marker: "v03"}, model.ErrNotFound},
			{"negative limit", db.VolumeQuery{Limit: -1}, model.ErrInvalid},
		}
		for _, tc := range errCases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.ListVolumes(ctx, tc.q)
				require.ErrorIs(t, err, tc.kind)
			})
		}
	})
}
