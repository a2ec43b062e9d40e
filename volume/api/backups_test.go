package api

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func (e *env) backups(volumeID string) []*model.Backup {
	e.t.Helper()
	bs, err := e.db.Store().ListBackups(e.ctx, db.BackupQuery{VolumeID: volumeID})
	require.NoError(e.t, err)
	return bs
}

func TestCreateBackupStates(t *testing.T) {
	tests := []struct {
		name   string
		status string
		req    CreateBackupRequest
		kind   error
	}{
		{name: "available", status: model.StatusAvailable},
		{name: "in-use needs force", status: model.StatusInUse, kind: model.ErrInvalid},
		{name: "in-use with force", status: model.StatusInUse, req: CreateBackupRequest{Force: true}},
		{name: "creating", status: model.StatusCreating, req: CreateBackupRequest{Force: true}, kind: model.ErrInvalid},
		{name: "incremental", status: model.StatusAvailable, req: CreateBackupRequest{Incremental: true}, kind: model.ErrInvalid},
		{name: "container escaping", status: model.StatusAvailable, req: CreateBackupRequest{Container: "../etc"}, kind: model.ErrInvalid},
		{name: "unknown zone", status: model.StatusAvailable, req: CreateBackupRequest{AvailabilityZone: "mars"}, kind: model.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := sqlite(t)
			v := e.volume(alice, 3, tc.status)
			tc.req.VolumeID = v.ID
			b, err := e.api.CreateBackup(e.ctx, alice, tc.req)
			u := e.usage(alice.ProjectID)
			if tc.kind != nil {
				requireKind(t, err, tc.kind)
				require.Empty(t, e.backups(v.ID), "a refused backup writes nothing")
				require.Zero(t, u[model.ResBackups].InUse)
				require.Equal(t, tc.status, e.vol(v.ID).Status)
				return
			}
			require.NoError(t, err)
			require.Equal(t, model.BackupCreating, b.Status)
			require.Equal(t, "backups", b.Container)
			require.Equal(t, "backups/"+b.ID, b.ServiceMetadata)
			require.EqualValues(t, 1, u[model.ResBackups].InUse)
			require.EqualValues(t, 3, u[model.ResBackupGigabytes].InUse)
			require.Equal(t, model.StatusBackingUp, e.vol(v.ID).Status)
			w := e.onlyWorkflow(v.ID, model.WfCreateBackup)
			var p map[string]string
			require.NoError(t, json.Unmarshal(w.Params, &p))
			require.Equal(t, map[string]string{"backup_id": b.ID, "prev_status": tc.status}, p)
		})
	}
}

func (e *env) vol(id string) *model.Volume {
	e.t.Helper()
	v, err := e.db.Store().GetVolume(e.ctx, id)
	require.NoError(e.t, err)
	return v
}

func TestBackupQuotaAndOwnership(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 2, model.StatusAvailable)
	e.setLimits(alice.ProjectID, map[string]int64{model.ResBackupGigabytes: 1})
	_, err := e.api.CreateBackup(e.ctx, alice, CreateBackupRequest{VolumeID: v.ID})
	requireKind(t, err, model.ErrQuotaExceeded)
	require.Equal(t, model.StatusAvailable, e.vol(v.ID).Status, "a refused backup leaves the volume alone")
	e.setLimits(alice.ProjectID, map[string]int64{model.ResBackupGigabytes: 10})

	_, err = e.api.CreateBackup(e.ctx, bob, CreateBackupRequest{VolumeID: v.ID})
	requireKind(t, err, model.ErrNotFound)
	b, err := e.api.CreateBackup(e.ctx, alice, CreateBackupRequest{VolumeID: v.ID, Name: "b"})
	require.NoError(t, err)
	_, err = e.api.GetBackup(e.ctx, bob, b.ID)
	requireKind(t, err, model.ErrNotFound)
	_, err = e.api.GetBackup(e.ctx, admin, b.ID)
	require.NoError(t, err)

	// Not available yet: no restore, no delete without force, no export.
	_, err = e.api.RestoreBackup(e.ctx, alice, b.ID, "", "")
	requireKind(t, err, model.ErrInvalid)
	requireKind(t, e.api.DeleteBackup(e.ctx, alice, b.ID, false), model.ErrInvalid)
	_, err = e.api.ExportBackup(e.ctx, admin, b.ID)
	requireKind(t, err, model.ErrInvalid)
	_, err = e.api.ExportBackup(e.ctx, alice, b.ID)
	requireKind(t, err, model.ErrForbidden)
	requireKind(t, e.api.ResetBackupStatus(e.ctx, alice, b.ID, model.BackupAvailable), model.ErrForbidden)
	require.NoError(t, e.api.ResetBackupStatus(e.ctx, admin, b.ID, model.BackupAvailable))

	// Restore into a volume too small, or not available, is refused and changes nothing.
	small := e.volume(alice, 1, model.StatusAvailable)
	_, err = e.api.RestoreBackup(e.ctx, alice, b.ID, small.ID, "")
	requireKind(t, err, model.ErrInvalid)
	busy := e.volume(alice, 2, model.StatusInUse)
	_, err = e.api.RestoreBackup(e.ctx, alice, b.ID, busy.ID, "")
	requireKind(t, err, model.ErrInvalid)
	got, err := e.api.GetBackup(e.ctx, alice, b.ID)
	require.NoError(t, err)
	require.Equal(t, model.BackupAvailable, got.Status)

	// Restore into a new volume: the volume and the restore are written together.
	rs, err := e.api.RestoreBackup(e.ctx, alice, b.ID, "", "")
	require.NoError(t, err)
	require.Equal(t, "restore_backup_"+b.ID, rs.VolumeName)
	nv := e.vol(rs.VolumeID)
	require.Equal(t, 2, nv.Size)
	require.Equal(t, model.StatusCreating, nv.Status)
	e.onlyWorkflow(nv.ID, model.WfCreateVolume)
	w := e.onlyWorkflow(nv.ID, model.WfRestoreBackup)
	var p map[string]any
	require.NoError(t, json.Unmarshal(w.Params, &p))
	require.Equal(t, true, p["new_volume"])
	got, _ = e.api.GetBackup(e.ctx, alice, b.ID)
	require.Equal(t, model.BackupRestoring, got.Status)

	// Force delete takes any status; a second delete is no error.
	require.NoError(t, e.api.DeleteBackup(e.ctx, alice, b.ID, true))
	require.NoError(t, e.api.DeleteBackup(e.ctx, alice, b.ID, false))
	got, _ = e.api.GetBackup(e.ctx, alice, b.ID)
	require.Equal(t, model.BackupDeleting, got.Status)
}

func TestImportBackupRecord(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 1, model.StatusAvailable)
	b, err := e.api.CreateBackup(e.ctx, alice, CreateBackupRequest{VolumeID: v.ID, Name: "orig", Container: "c1"})
	require.NoError(t, err)
	require.NoError(t, e.api.ResetBackupStatus(e.ctx, admin, b.ID, model.BackupAvailable))
	rec, err := e.api.ExportBackup(e.ctx, admin, b.ID)
	require.NoError(t, err)
	require.Equal(t, "cinder.backup.drivers.posix.PosixBackupDriver", rec.Service)

	_, err = e.api.ImportBackup(e.ctx, admin, rec.Service, rec.URL)
	requireKind(t, err, model.ErrInvalid) // same id: already exists

	edit := func(change func(m map[string]any)) string {
		raw, err := base64.StdEncoding.DecodeString(rec.URL)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		change(m)
		raw, _ = json.Marshal(m)
		return base64.StdEncoding.EncodeToString(raw)
	}
	for name, url := range map[string]string{
		"not base64":       "%%%",
		"not a record":     base64.StdEncoding.EncodeToString([]byte("[1]")),
		"bad id":           edit(func(m map[string]any) { m["id"] = "x" }),
		"path escape":      edit(func(m map[string]any) { m["id"] = uuid.NewString(); m["service_metadata"] = "../../etc" }),
		"other container":  edit(func(m map[string]any) { m["id"] = uuid.NewString(); m["container"] = "c2" }),
		"container escape": edit(func(m map[string]any) { m["id"] = uuid.NewString(); m["container"] = ".." }),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.api.ImportBackup(e.ctx, admin, rec.Service, url)
			requireKind(t, err, model.ErrInvalid)
		})
	}
	_, err = e.api.ImportBackup(e.ctx, admin, "cinder.backup.drivers.nfs.NFSBackupDriver", rec.URL)
	requireKind(t, err, model.ErrInvalid)
	_, err = e.api.ImportBackup(e.ctx, alice, rec.Service, rec.URL)
	requireKind(t, err, model.ErrForbidden)

	newID := uuid.NewString()
	ib, err := e.api.ImportBackup(e.ctx, admin, rec.Service, edit(func(m map[string]any) { m["id"] = newID }))
	require.NoError(t, err)
	require.Equal(t, newID, ib.ID)
	require.Equal(t, "orig", ib.Name)
	require.Equal(t, "c1/"+b.ID, ib.ServiceMetadata)
	require.Equal(t, admin.ProjectID, ib.ProjectID)
	require.Equal(t, model.BackupCreating, ib.Status)
	require.EqualValues(t, 1, e.usage(admin.ProjectID)[model.ResBackups].InUse)
}
