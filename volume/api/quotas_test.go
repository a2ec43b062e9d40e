package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

func TestEffectiveLimits(t *testing.T) {
	e := newEnv(t, "sqlite", Options{QuotaDefaults: map[string]int64{model.ResVolumes: 20, model.ResGigabytes: 500}})
	_, err := e.api.CreateType(e.ctx, admin, "gold", "", true, nil)
	require.NoError(t, err)

	qs, err := e.api.GetQuotas(e.ctx, alice, alice.ProjectID)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{
		model.ResVolumes: 20, model.ResGigabytes: 500, // options
		model.ResSnapshots: 10, model.ResBackups: 10, model.ResBackupGigabytes: 1000, // built in
		model.ResGroups: 10, model.ResPerVolumeGB: -1,
		"volumes_gold": -1, "gigabytes_gold": -1, "snapshots_gold": -1,
		"volumes___DEFAULT__": -1, "gigabytes___DEFAULT__": -1, "snapshots___DEFAULT__": -1,
	}, qs.Limits)
	require.Len(t, qs.Usages, len(qs.Limits))

	// The default class overrides options; the project overrides the class.
	def, err := e.api.UpdateDefaultQuotas(e.ctx, admin, map[string]int64{model.ResGigabytes: 300, model.ResSnapshots: 5, "volumes_gold": 7})
	require.NoError(t, err)
	require.EqualValues(t, 300, def[model.ResGigabytes])
	require.EqualValues(t, 7, def["volumes_gold"])
	_, err = e.api.UpdateQuotas(e.ctx, admin, alice.ProjectID, map[string]int64{model.ResSnapshots: 2})
	require.NoError(t, err)

	tests := []struct {
		project string
		res     string
		want    int64
	}{
		{alice.ProjectID, model.ResVolumes, 20},
		{alice.ProjectID, model.ResGigabytes, 300},
		{alice.ProjectID, model.ResSnapshots, 2},
		{alice.ProjectID, "volumes_gold", 7},
		{bob.ProjectID, model.ResSnapshots, 5},
	}
	for _, tc := range tests {
		t.Run(tc.project+"/"+tc.res, func(t *testing.T) {
			qs, err := e.api.GetQuotas(e.ctx, admin, tc.project)
			require.NoError(t, err)
			require.Equal(t, tc.want, qs.Limits[tc.res])
		})
	}

	require.NoError(t, e.api.DeleteQuotas(e.ctx, admin, alice.ProjectID))
	qs, err = e.api.GetQuotas(e.ctx, alice, alice.ProjectID)
	require.NoError(t, err)
	require.EqualValues(t, 5, qs.Limits[model.ResSnapshots], "back to the defaults")
}

func TestQuotaUsageReported(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 3, model.StatusAvailable)
	e.snapshot(alice, v.ID, model.StatusAvailable)
	qs, err := e.api.GetQuotas(e.ctx, alice, alice.ProjectID)
	require.NoError(t, err)
	require.EqualValues(t, 1, qs.Usages[model.ResVolumes].InUse)
	require.EqualValues(t, 6, qs.Usages[model.ResGigabytes].InUse)
	require.EqualValues(t, 1, qs.Usages[model.ResSnapshots].InUse)
	require.EqualValues(t, 1, qs.Usages["volumes___DEFAULT__"].InUse)
	require.EqualValues(t, 6, qs.Usages["gigabytes___DEFAULT__"].InUse)
	require.EqualValues(t, 1, qs.Usages["snapshots___DEFAULT__"].InUse)
}

func TestUpdateQuotasRefused(t *testing.T) {
	e := sqlite(t)
	e.volume(alice, 5, model.StatusAvailable)
	tests := []struct {
		name   string
		caller Caller
		limits map[string]int64
		kind   error
	}{
		{"member", alice, map[string]int64{model.ResVolumes: 5}, model.ErrForbidden},
		{"unknown resource", admin, map[string]int64{"cores": 5}, model.ErrInvalid},
		{"unknown type", admin, map[string]int64{"volumes_nope": 5}, model.ErrInvalid},
		{"below -1", admin, map[string]int64{model.ResVolumes: -2}, model.ErrInvalid},
		{"below volumes in use", admin, map[string]int64{model.ResVolumes: 0}, model.ErrInvalid},
		{"below gigabytes in use", admin, map[string]int64{model.ResGigabytes: 4}, model.ErrInvalid},
		{"below per-type in use", admin, map[string]int64{"gigabytes___DEFAULT__": 4}, model.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.api.UpdateQuotas(e.ctx, tc.caller, alice.ProjectID, tc.limits)
			requireKind(t, err, tc.kind)
			qs, err := e.api.GetQuotas(e.ctx, admin, alice.ProjectID)
			require.NoError(t, err)
			require.EqualValues(t, 10, qs.Limits[model.ResVolumes], "nothing changed")
			require.EqualValues(t, 1000, qs.Limits[model.ResGigabytes], "nothing changed")
		})
	}

	qs, err := e.api.UpdateQuotas(e.ctx, admin, alice.ProjectID, map[string]int64{model.ResVolumes: 1, model.ResGigabytes: -1, "gigabytes___DEFAULT__": 5})
	require.NoError(t, err, "limits equal to usage or unlimited are fine")
	require.EqualValues(t, 1, qs.Limits[model.ResVolumes])

	_, err = e.api.GetQuotas(e.ctx, bob, alice.ProjectID)
	requireKind(t, err, model.ErrForbidden)
}

func TestTypeQuotaEnforced(t *testing.T) {
	e := sqlite(t)
	_, err := e.api.UpdateQuotas(e.ctx, admin, alice.ProjectID, map[string]int64{"volumes___DEFAULT__": 1})
	require.NoError(t, err)
	_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1})
	require.NoError(t, err)
	_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1})
	var qe *model.QuotaError
	require.ErrorAs(t, err, &qe)
	require.Equal(t, "volumes___DEFAULT__", qe.Resource)
	require.Equal(t, 1, e.countVolumes(alice.ProjectID))
}
