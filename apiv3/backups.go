package apiv3

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// Backup microversions.
var (
	mvBackupUpdate   = Version{3, 9}
	mvBackupProject  = Version{3, 18}
	mvBackupMetadata = Version{3, 43}
	mvBackupAZ       = Version{3, 51}
	mvBackupUserID   = Version{3, 56}
)

// BackupService is the part of the service layer the backup routes call.
type BackupService interface {
	CreateBackup(ctx context.Context, c api.Caller, req api.CreateBackupRequest) (*model.Backup, error)
	GetBackup(ctx context.Context, c api.Caller, id string) (*model.Backup, error)
	ListBackups(ctx context.Context, c api.Caller, q db.BackupQuery, allTenants bool) ([]*model.Backup, error)
	CountBackups(ctx context.Context, c api.Caller, q db.BackupQuery, allTenants bool) (int, error)
	UpdateBackup(ctx context.Context, c api.Caller, id string, name, description *string, md map[string]string) (*model.Backup, error)
	DeleteBackup(ctx context.Context, c api.Caller, id string, force bool) error
	RestoreBackup(ctx context.Context, c api.Caller, id, volumeID, name string) (*api.Restore, error)
	ResetBackupStatus(ctx context.Context, c api.Caller, id, status string) error
	ExportBackup(ctx context.Context, c api.Caller, id string) (*api.BackupRecord, error)
	ImportBackup(ctx context.Context, c api.Caller, service, url string) (*model.Backup, error)
}

func (h *Handler) backupRoutes(add addFunc, v30 Version) {
	add("GET", "/backups", v30, h.listBackups(false))
	add("GET", "/backups/detail", v30, h.listBackups(true))
	add("POST", "/backups", v30, h.createBackup)
	add("POST", "/backups/import_record", v30, h.importBackup)
	add("GET", "/backups/{id}", v30, h.showBackup)
	add("PUT", "/backups/{id}", mvBackupUpdate, h.updateBackup)
	add("DELETE", "/backups/{id}", v30, h.deleteBackup)
	add("POST", "/backups/{id}/restore", v30, h.restoreBackup)
	add("POST", "/backups/{id}/action", v30, h.backupAction)
	add("GET", "/backups/{id}/export_record", v30, h.exportBackup)
}

func backupID(r *http.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if !isUUID(id) {
		return "", notFound("Backup %s could not be found.", id)
	}
	return id, nil
}

// backupSummary is Cinder's summary view: id, name, links.
func backupSummary(ctx context.Context, b *model.Backup) map[string]any {
	return map[string]any{"id": b.ID, "name": b.Name, "links": links(ctx, "backups", b.ID)}
}

// backupView is Cinder 21's backup detail view at the request's microversion; project and user
// ids are shown to admins only (Cinder's backup attributes policy).
func backupView(ctx context.Context, b *model.Backup) map[string]any {
	st := state(ctx)
	m := map[string]any{
		"id":                    b.ID,
		"status":                b.Status,
		"size":                  b.Size,
		"object_count":          b.ObjectCount,
		"availability_zone":     orNull(b.AvailabilityZone),
		"container":             orNull(b.Container),
		"created_at":            isoTime(b.CreatedAt),
		"updated_at":            isoTime(b.UpdatedAt),
		"name":                  b.Name,
		"description":           b.Description,
		"fail_reason":           orNull(b.FailReason),
		"volume_id":             b.VolumeID,
		"links":                 links(ctx, "backups", b.ID),
		"is_incremental":        false,
		"has_dependent_backups": false,
		"snapshot_id":           orNull(b.SnapshotID),
		"data_timestamp":        isoTime(b.DataTimestamp),
	}
	if st.ver.AtLeast(mvBackupMetadata) {
		m["metadata"] = nonNilMap(b.Metadata)
	}
	if st.caller.IsAdmin && st.ver.AtLeast(mvBackupProject) {
		m["os-backup-project-attr:project_id"] = b.ProjectID
	}
	if st.caller.IsAdmin && st.ver.AtLeast(mvBackupUserID) {
		m["user_id"] = b.UserID
	}
	return m
}

func (h *Handler) listBackups(detail bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		st := state(ctx)
		q := r.URL.Query()
		p, err := parseListParams(q)
		if err != nil {
			return err
		}
		bq := db.BackupQuery{Sort: p.sort, Limit: p.limit, Marker: p.marker, Offset: p.offset,
			VolumeID: q.Get("volume_id"), Status: q.Get("status"), Name: q.Get("name")}
		if bq.Name == "" {
			bq.Name = q.Get("display_name")
		}
		allTenants := st.caller.IsAdmin && boolParam(q.Get("all_tenants"))
		if pid := q.Get("project_id"); st.caller.IsAdmin && pid != "" {
			bq.ProjectID, allTenants = pid, true
		}
		if s := q.Get("metadata"); s != "" && st.ver.AtLeast(mvBackupMetadata) {
			if bq.Metadata, err = parseMetadataFilter(s); err != nil {
				return err
			}
		}
		bs, err := h.svc.ListBackups(ctx, st.caller, bq, allTenants)
		if err != nil {
			return err
		}
		list := make([]any, 0, len(bs))
		for _, b := range bs {
			if detail {
				list = append(list, backupView(ctx, b))
			} else {
				list = append(list, backupSummary(ctx, b))
			}
		}
		last := ""
		if len(bs) > 0 {
			last = bs[len(bs)-1].ID
		}
		out := listBody(r, "backups", detail, list, p.limit, last)
		if st.ver.AtLeast(mvCountInfo) && boolParam(q.Get("with_count")) {
			n, err := h.svc.CountBackups(ctx, st.caller, bq, allTenants)
			if err != nil {
				return err
			}
			out["count"] = n
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (h *Handler) showBackup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := backupID(r)
	if err != nil {
		return err
	}
	b, err := h.svc.GetBackup(ctx, state(ctx).caller, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"backup": backupView(ctx, b)})
	return nil
}

// decodeCreateBackup validates a POST /backups body at version ver.
func decodeCreateBackup(o object, ver Version) (api.CreateBackupRequest, error) {
	var c api.CreateBackupRequest
	bk, err := body(o, "backup")
	if err != nil {
		return c, err
	}
	allowed := []string{"volume_id", "container", "description", "incremental", "force", "name", "snapshot_id"}
	if ver.AtLeast(mvBackupMetadata) {
		allowed = append(allowed, "metadata")
	}
	if ver.AtLeast(mvBackupAZ) {
		allowed = append(allowed, "availability_zone")
	}
	if err := onlyKeys(bk, "backup", allowed...); err != nil {
		return c, err
	}
	if _, ok := bk["volume_id"]; !ok {
		return c, badRequest("Invalid input for field/attribute backup. Value: %s. 'volume_id' is a required property", repr(map[string]any(bk)))
	}
	if c.VolumeID, err = optUUID(bk, "volume_id"); err != nil {
		return c, err
	}
	if c.VolumeID == "" {
		return c, invalidField("volume_id", nil, "None is not of type 'string'")
	}
	if c.SnapshotID, err = optUUID(bk, "snapshot_id"); err != nil {
		return c, err
	}
	if c.Name, _, err = optString(bk, "name", 255, true); err != nil {
		return c, err
	}
	if c.Description, _, err = optString(bk, "description", 255, true); err != nil {
		return c, err
	}
	if c.Container, _, err = optString(bk, "container", 255, true); err != nil {
		return c, err
	}
	if c.AvailabilityZone, _, err = optString(bk, "availability_zone", 255, true); err != nil {
		return c, err
	}
	for _, f := range []struct {
		key string
		dst *bool
	}{{"incremental", &c.Incremental}, {"force", &c.Force}} {
		if v, ok := bk[f.key]; ok && v != nil {
			if *f.dst, err = parseBool(f.key, v); err != nil {
				return c, err
			}
		}
	}
	if v, ok := bk["metadata"]; ok {
		if c.Metadata, err = parseMetadata("metadata", v, true); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (h *Handler) createBackup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "backup:create"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	req, err := decodeCreateBackup(o, state(ctx).ver)
	if err != nil {
		return err
	}
	b, err := h.svc.CreateBackup(ctx, state(ctx).caller, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"backup": backupSummary(ctx, b)})
	return nil
}

func (h *Handler) updateBackup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := backupID(r)
	if err != nil {
		return err
	}
	if err := authorizeWrite(ctx, "backup:update"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	bk, err := body(o, "backup")
	if err != nil {
		return err
	}
	allowed := []string{"name", "description"}
	if state(ctx).ver.AtLeast(mvBackupMetadata) {
		allowed = append(allowed, "metadata")
	}
	if err := onlyKeys(bk, "backup", allowed...); err != nil {
		return err
	}
	var name, desc *string
	if s, present, err := optString(bk, "name", 255, true); err != nil {
		return err
	} else if present {
		name = &s
	}
	if s, present, err := optString(bk, "description", 255, true); err != nil {
		return err
	} else if present {
		desc = &s
	}
	var md map[string]string
	if v, ok := bk["metadata"]; ok {
		if md, err = parseMetadata("metadata", v, true); err != nil {
			return err
		}
		if md == nil {
			md = map[string]string{}
		}
	}
	b, err := h.svc.UpdateBackup(ctx, state(ctx).caller, id, name, desc, md)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"backup": backupSummary(ctx, b)})
	return nil
}

func (h *Handler) deleteBackup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := backupID(r)
	if err != nil {
		return err
	}
	if err := authorizeWrite(ctx, "backup:delete"); err != nil {
		return err
	}
	if err := h.svc.DeleteBackup(ctx, state(ctx).caller, id, false); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (h *Handler) restoreBackup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := backupID(r)
	if err != nil {
		return err
	}
	if err := authorizeWrite(ctx, "backup:restore"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	rs, err := body(o, "restore")
	if err != nil {
		return err
	}
	if err := onlyKeys(rs, "restore", "volume_id", "name"); err != nil {
		return err
	}
	volumeID, err := optUUID(rs, "volume_id")
	if err != nil {
		return err
	}
	name, _, err := optString(rs, "name", 255, true)
	if err != nil {
		return err
	}
	res, err := h.svc.RestoreBackup(ctx, state(ctx).caller, id, volumeID, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"restore": map[string]any{
		"backup_id": res.BackupID, "volume_id": res.VolumeID, "volume_name": res.VolumeName}})
	return nil
}

func (h *Handler) backupAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := backupID(r)
	if err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	name, arg, err := singleAction(o)
	if err != nil {
		return err
	}
	c := state(ctx).caller
	ok, err := adminAction(ctx, "backup", name, arg,
		func(status string) error { return h.svc.ResetBackupStatus(ctx, c, id, status) },
		func() error { return h.svc.DeleteBackup(ctx, c, id, true) })
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("There is no such action: %s. Verify the request body and Content-Type header and try again.", name)
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (h *Handler) exportBackup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := backupID(r)
	if err != nil {
		return err
	}
	if err := authorizeAdmin(ctx, "backup:export-import"); err != nil {
		return err
	}
	rec, err := h.svc.ExportBackup(ctx, state(ctx).caller, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"backup-record": map[string]any{
		"backup_service": rec.Service, "backup_url": rec.URL}})
	return nil
}

func (h *Handler) importBackup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "backup:export-import"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	rec, err := body(o, "backup-record")
	if err != nil {
		return err
	}
	if err := onlyKeys(rec, "backup-record", "backup_service", "backup_url"); err != nil {
		return err
	}
	service, sPresent, err := optString(rec, "backup_service", 255, false)
	if err != nil {
		return err
	}
	url, uPresent, err := optString(rec, "backup_url", 0, false)
	if err != nil {
		return err
	}
	if !sPresent || !uPresent || service == "" || url == "" {
		return badRequest("Invalid input for field/attribute backup-record. Value: %s. 'backup_service' and 'backup_url' are required properties", repr(map[string]any(rec)))
	}
	b, err := h.svc.ImportBackup(ctx, state(ctx).caller, service, url)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"backup": backupSummary(ctx, b)})
	return nil
}
