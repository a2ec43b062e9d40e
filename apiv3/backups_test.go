package apiv3

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/backups"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume"
	"github.com/dlvm-project/dlvm/volume/api"
	"github.com/dlvm-project/dlvm/volume/backup"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// Keys of Tempest 33's backup schemas (tempest/lib/api_schema/response/volume/backups.py and
// v3_64/backups.py): allowed and required.
var (
	backupShowKeys = []string{"status", "object_count", "container", "description", "links", "availability_zone",
		"created_at", "updated_at", "name", "has_dependent_backups", "volume_id", "fail_reason", "size", "id",
		"is_incremental", "data_timestamp", "snapshot_id", "os-backup-project-attr:project_id", "metadata", "user_id",
		"encryption_key_id"}
	backupShowRequired = []string{"status", "object_count", "fail_reason", "links", "created_at", "updated_at", "name",
		"volume_id", "size", "id", "data_timestamp"}
	backupSummaryKeys = []string{"id", "links", "name", "metadata"}
	backupSummaryReq  = []string{"id", "links", "name"}
)

// requireKeys checks an object against a schema's properties (additionalProperties false) and
// required list.
func requireKeys(t *testing.T, m map[string]any, allowed, required []string) {
	t.Helper()
	for k := range m {
		require.Contains(t, allowed, k, "key %q not in the schema", k)
	}
	for _, k := range required {
		require.Contains(t, m, k, "required key %q missing", k)
	}
}

// backupStack is the real service layer and volume manager on SQLite with the posix backup
// driver and a dpv whose legs read as zeros.
func backupStack(t *testing.T) (*httptest.Server, *db.DB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	d := dbtest.Open(t, db.DialectSQLite)
	bus := rpc.NewInproc(log)
	drv, err := backup.NewPosix(t.TempDir(), 1<<20)
	require.NoError(t, err)
	agent := &stackAgent{exports: map[string]string{}}
	m, err := volume.New(d, bus, func(*model.DPV) volume.Agent { return agent }, volume.Options{Host: "mgr", Backup: drv}, log)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	svc, err := api.New(d, bus, api.Options{}, log)
	require.NoError(t, err)
	srv := httptest.NewServer(New(svc, Options{Identity: HeaderIdentity}))
	t.Cleanup(func() { srv.Close(); cancel(); <-done; _ = bus.Close() })
	require.NoError(t, d.Store().UpsertDPV(ctx, &model.DPV{ID: "dpv-1", Name: "dpv-1", URL: "http://dpv-1", CreatedAt: time.Now()}))
	return srv, d
}

func stackVolume(t *testing.T, d *db.DB) string {
	t.Helper()
	ctx := context.Background()
	v := &model.Volume{ID: uuid.NewString(), ProjectID: projA, Size: 1, Status: model.StatusAvailable,
		AttachStatus: model.AttachDetached, AvailabilityZone: "nova", Layout: model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512},
		Metadata: map[string]string{"vol-meta": "1"}}
	require.NoError(t, d.Store().CreateVolume(ctx, v))
	for i := 0; i < 2; i++ {
		require.NoError(t, d.Store().CreateLegs(ctx, []*model.Leg{{ID: uuid.NewString(), OwnerKind: model.OwnerVolume,
			OwnerID: v.ID, Mirror: i, DPVID: "dpv-1", SizeBytes: model.GiB + model.MirrorMetadataBytes, Status: model.LegAvailable}}))
	}
	return v.ID
}

func waitBackup(t *testing.T, d *db.DB, id, status string) *model.Backup {
	t.Helper()
	var b *model.Backup
	require.Eventually(t, func() bool {
		var err error
		b, err = d.Store().GetBackup(context.Background(), id)
		require.NoError(t, err)
		return b.Status == status
	}, 10*time.Second, 20*time.Millisecond, "backup %s to %s", id, status)
	return b
}

func TestBackupsGophercloud(t *testing.T) {
	srv, d := backupStack(t)
	ctx := context.Background()
	vol := stackVolume(t, d)
	c := gopherClient(t, srv.URL, "member,reader", "3.70")
	admin := gopherClient(t, srv.URL, "admin,member,reader", "3.70")

	b, err := backups.Create(ctx, c, backups.CreateOpts{VolumeID: vol, Name: "b1", Description: "d", Container: "container",
		Metadata: map[string]string{"bk": "1"}}).Extract()
	require.NoError(t, err)
	require.Equal(t, "b1", b.Name)
	waitBackup(t, d, b.ID, model.BackupAvailable)
	v, err := d.Store().GetVolume(ctx, vol)
	require.NoError(t, err)
	require.Equal(t, model.StatusAvailable, v.Status, "the volume goes back to available")

	got, err := backups.Get(ctx, c, b.ID).Extract()
	require.NoError(t, err)
	require.Equal(t, "container", got.Container)
	require.Equal(t, "d", got.Description)
	require.Equal(t, vol, got.VolumeID)
	require.Equal(t, 1, got.Size)
	require.Equal(t, map[string]string{"bk": "1"}, *got.Metadata)
	require.False(t, got.CreatedAt.IsZero())
	require.False(t, got.DataTimestamp.IsZero())

	pages, err := backups.ListDetail(c, backups.ListDetailOpts{}).AllPages(ctx)
	require.NoError(t, err)
	all, err := backups.ExtractBackups(pages)
	require.NoError(t, err)
	require.Len(t, all, 1)

	// gophercloud v2.15's backups.Update sends its fields without the "backup" wrapper, which
	// Cinder's schema (and this API) refuses; send the body Cinder documents.
	r := doAs(t, srv.URL, "member,reader", "PUT", "/v3/"+projA+"/backups/"+b.ID, "3.70",
		map[string]any{"backup": map[string]any{"name": "renamed", "metadata": map[string]any{"x": "y"}}})
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	var upd backups.UpdateResult
	upd.Body = r.json(t)
	ub, err := upd.Extract()
	require.NoError(t, err)
	require.Equal(t, "renamed", ub.Name)
	got, err = backups.Get(ctx, c, b.ID).Extract()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"x": "y"}, *got.Metadata, "3.43 metadata is replaced")

	// Restore into an existing volume.
	target := stackVolume(t, d)
	rs, err := backups.RestoreFromBackup(ctx, c, b.ID, backups.RestoreOpts{VolumeID: target}).Extract()
	require.NoError(t, err)
	require.Equal(t, target, rs.VolumeID)
	require.Equal(t, b.ID, rs.BackupID)
	waitBackup(t, d, b.ID, model.BackupAvailable)
	require.Eventually(t, func() bool {
		v, err := d.Store().GetVolume(ctx, target)
		require.NoError(t, err)
		return v.Status == model.StatusAvailable
	}, 10*time.Second, 20*time.Millisecond)

	// Export, then import under a new id (as Tempest does).
	rec, err := backups.Export(ctx, admin, b.ID).Extract()
	require.NoError(t, err)
	require.Equal(t, backup.ServiceName, rec.BackupService)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(rec.BackupURL, &fields), "backup_url is base64 of JSON (gophercloud decodes it)")
	require.Equal(t, b.ID, fields["id"])
	fields["id"] = b.ID
	same, _ := json.Marshal(fields)
	_, err = backups.Import(ctx, admin, backups.ImportOpts{BackupService: rec.BackupService, BackupURL: same}).Extract()
	require.ErrorContains(t, err, "Backup already exists in database")
	newID := uuid.NewString()
	fields["id"] = newID
	raw, _ := json.Marshal(fields)
	imp, err := backups.Import(ctx, admin, backups.ImportOpts{BackupService: rec.BackupService, BackupURL: raw}).Extract()
	require.NoError(t, err)
	require.Equal(t, newID, imp.ID)
	require.Equal(t, "renamed", imp.Name)
	ib := waitBackup(t, d, newID, model.BackupAvailable)
	require.Equal(t, projA, ib.ProjectID)
	require.Equal(t, "container/"+b.ID, ib.ServiceMetadata, "the imported record points at the same data")
	_, err = backups.Import(ctx, c, backups.ImportOpts{BackupService: rec.BackupService, BackupURL: raw}).Extract()
	require.Error(t, err, "import is admin only")
	_, err = backups.Import(ctx, admin, backups.ImportOpts{BackupService: "cinder.backup.drivers.swift.SwiftBackupDriver", BackupURL: raw}).Extract()
	require.ErrorContains(t, err, "Unsupported backup service")

	// Deleting the import keeps the data the original still needs.
	require.NoError(t, backups.Delete(ctx, c, newID).ExtractErr())
	require.Eventually(t, func() bool {
		_, err := d.Store().GetBackup(ctx, newID)
		return err != nil
	}, 10*time.Second, 20*time.Millisecond)
	_, err = backups.RestoreFromBackup(ctx, c, b.ID, backups.RestoreOpts{VolumeID: target}).Extract()
	require.NoError(t, err)
	waitBackup(t, d, b.ID, model.BackupAvailable)

	require.Error(t, backups.ResetStatus(ctx, c, b.ID, backups.ResetStatusOpts{Status: "error"}).ExtractErr(), "reset status is admin only")
	require.NoError(t, backups.ResetStatus(ctx, admin, b.ID, backups.ResetStatusOpts{Status: "error"}).ExtractErr())
	require.Equal(t, model.BackupError, waitBackup(t, d, b.ID, model.BackupError).Status)
	require.NoError(t, backups.ForceDelete(ctx, admin, b.ID).ExtractErr())
	require.Eventually(t, func() bool {
		_, err := d.Store().GetBackup(ctx, b.ID)
		return err != nil
	}, 10*time.Second, 20*time.Millisecond)
}

// doAs is doVer with roles.
func doAs(t *testing.T, srvURL, roles, method, path, ver string, body any) resp {
	t.Helper()
	var rd *strings.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(raw))
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequest(method, srvURL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", projA)
	req.Header.Set("X-User-Id", userA)
	req.Header.Set("X-Roles", roles)
	if ver != "" {
		req.Header.Set("OpenStack-API-Version", "volume "+ver)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return resp{code: res.StatusCode, hdr: res.Header, body: b}
}

// TestBackupsWire checks every backup response key by key against Tempest's schemas, and the
// faults of bad requests.
func TestBackupsWire(t *testing.T) {
	srv, d := backupStack(t)
	vol := stackVolume(t, d)
	base := "/v3/" + projA + "/backups"
	const adminRoles, memberRoles = "admin,member,reader", "member,reader"

	r := doAs(t, srv.URL, memberRoles, "POST", base, "3.70", map[string]any{"backup": map[string]any{
		"volume_id": vol, "name": "w1", "metadata": map[string]any{"a": "b"}}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	created := r.json(t)["backup"].(map[string]any)
	requireKeys(t, r.json(t), []string{"backup"}, []string{"backup"})
	requireKeys(t, created, backupSummaryKeys, backupSummaryReq)
	id := created["id"].(string)
	waitBackup(t, d, id, model.BackupAvailable)

	for _, ver := range []string{"3.0", "3.43", "3.70"} {
		for _, roles := range []string{memberRoles, adminRoles} {
			r = doAs(t, srv.URL, roles, "GET", base+"/"+id, ver, nil)
			require.Equal(t, http.StatusOK, r.code)
			show := r.json(t)["backup"].(map[string]any)
			requireKeys(t, show, backupShowKeys, backupShowRequired)
			require.Equal(t, ver != "3.0", show["metadata"] != nil, "metadata from 3.43 (%s)", ver)
			_, hasProject := show["os-backup-project-attr:project_id"]
			require.Equal(t, roles == adminRoles && ver != "3.0", hasProject, "project id for admins from 3.18")
			_, hasUser := show["user_id"]
			require.Equal(t, roles == adminRoles && ver == "3.70", hasUser, "user id for admins from 3.56")
			require.Equal(t, "available", show["status"])
			require.Equal(t, false, show["is_incremental"])
			require.Nil(t, show["snapshot_id"])
			require.Equal(t, "backups", show["container"])

			r = doAs(t, srv.URL, roles, "GET", base+"/detail", ver, nil)
			require.Equal(t, http.StatusOK, r.code)
			requireKeys(t, r.json(t), []string{"backups", "backups_links", "count"}, []string{"backups"})
			for _, it := range r.json(t)["backups"].([]any) {
				requireKeys(t, it.(map[string]any), append(slices.Clone(backupShowKeys), "count"), backupShowRequired)
			}
			r = doAs(t, srv.URL, roles, "GET", base, ver, nil)
			require.Equal(t, http.StatusOK, r.code)
			requireKeys(t, r.json(t), []string{"backups", "backups_links", "count"}, []string{"backups"})
			for _, it := range r.json(t)["backups"].([]any) {
				requireKeys(t, it.(map[string]any), []string{"links", "id", "name", "count"}, []string{"links", "id", "name"})
			}
		}
	}

	r = doAs(t, srv.URL, memberRoles, "PUT", base+"/"+id, "3.0", map[string]any{"backup": map[string]any{"name": "x"}})
	require.Equal(t, http.StatusNotFound, r.code, "update is 3.9")
	r = doAs(t, srv.URL, memberRoles, "PUT", base+"/"+id, "3.9", map[string]any{"backup": map[string]any{"name": "x", "description": "y"}})
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	requireKeys(t, r.json(t)["backup"].(map[string]any), backupSummaryKeys, backupSummaryReq)
	requireFault(t, doAs(t, srv.URL, memberRoles, "PUT", base+"/"+id, "3.9", map[string]any{"backup": map[string]any{"metadata": map[string]any{}}}),
		http.StatusBadRequest, "badRequest", "'metadata' was unexpected")

	r = doAs(t, srv.URL, adminRoles, "GET", base+"/"+id+"/export_record", "3.70", nil)
	require.Equal(t, http.StatusOK, r.code)
	requireKeys(t, r.json(t), []string{"backup-record"}, []string{"backup-record"})
	exp := r.json(t)["backup-record"].(map[string]any)
	requireKeys(t, exp, []string{"backup_service", "backup_url"}, []string{"backup_service", "backup_url"})
	require.True(t, strings.HasPrefix(exp["backup_service"].(string), "cinder.backup.drivers"))
	requireFault(t, doAs(t, srv.URL, memberRoles, "GET", base+"/"+id+"/export_record", "3.70", nil), http.StatusForbidden, "forbidden", "")

	r = doAs(t, srv.URL, memberRoles, "POST", base+"/"+id+"/restore", "3.70", map[string]any{"restore": map[string]any{"name": "rv"}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	requireKeys(t, r.json(t), []string{"restore"}, []string{"restore"})
	rs := r.json(t)["restore"].(map[string]any)
	requireKeys(t, rs, []string{"backup_id", "volume_id", "volume_name"}, []string{"backup_id", "volume_id", "volume_name"})
	require.Equal(t, "rv", rs["volume_name"])
	nv, err := d.Store().GetVolume(context.Background(), rs["volume_id"].(string))
	require.NoError(t, err)
	require.Equal(t, model.StatusCreating, nv.Status, "a new volume of the backup's size is created for the restore")
	require.Equal(t, 1, nv.Size)
	require.Equal(t, model.BackupRestoring, waitBackup(t, d, id, model.BackupRestoring).Status)
	requireFault(t, doAs(t, srv.URL, memberRoles, "DELETE", base+"/"+id, "3.70", nil), http.StatusBadRequest, "badRequest",
		"Backup status must be available or error")

	// Bad requests change nothing.
	for _, tc := range []struct {
		body any
		msg  string
	}{
		{map[string]any{"backup": map[string]any{}}, "'volume_id' is a required property"},
		{map[string]any{"backup": map[string]any{"volume_id": "nope"}}, "volume_id"},
		{map[string]any{"backup": map[string]any{"volume_id": vol, "bogus": 1}}, "'bogus' was unexpected"},
		{map[string]any{"backup": map[string]any{"volume_id": vol, "incremental": true}}, "Incremental backups are not supported"},
		{map[string]any{"backup": map[string]any{"volume_id": vol, "container": "../x"}}, "Invalid container"},
		{map[string]any{"backup": map[string]any{"volume_id": vol, "force": "maybe"}}, "force"},
	} {
		requireFault(t, doAs(t, srv.URL, memberRoles, "POST", base, "3.70", tc.body), http.StatusBadRequest, "badRequest", tc.msg)
	}
	requireFault(t, doAs(t, srv.URL, memberRoles, "POST", base, "3.70", map[string]any{"backup": map[string]any{"volume_id": uuid.NewString()}}),
		http.StatusNotFound, "itemNotFound", "could not be found")
	requireFault(t, doAs(t, srv.URL, memberRoles, "GET", base+"/not-a-uuid", "3.70", nil), http.StatusNotFound, "itemNotFound", "")
	requireFault(t, doAs(t, srv.URL, adminRoles, "POST", base+"/"+id+"/action", "3.70", map[string]any{"os-reset_status": map[string]any{"status": "creating"}}),
		http.StatusBadRequest, "badRequest", "must be available or error")
	requireFault(t, doAs(t, srv.URL, adminRoles, "POST", base+"/import_record", "3.70", map[string]any{"backup-record": map[string]any{"backup_service": backup.ServiceName, "backup_url": "!!"}}),
		http.StatusBadRequest, "badRequest", "not base64")
	all, err := d.Store().ListBackups(context.Background(), db.BackupQuery{})
	require.NoError(t, err)
	require.Len(t, all, 1, "no bad request made a backup")
}
