package apiv3

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// fakeService is an in-memory Service with the ownership rules of volume/api, enough to drive
// the handler in tests without a database.
type fakeService struct {
	// The attach methods are not faked: routes that need them are tested against the real
	// service layer (attachments_test.go); calling one here panics.
	AttachService
	// AdminService: the admin routes are tested against the real service layer (admin_test.go).
	AdminService
	groupsUnfaked  // groups, group types and transfers: tested against the real service (groups_test.go)
	MessageService // tested against the real service layer (messages_test.go)
	RetypeService  // tested against the real service layer (volume/api retype_test.go)
	BackupService  // likewise: backups are tested against the real service layer (backups_test.go)
	ManageService  // and manage/unmanage (manage_test.go)

	mu     sync.Mutex
	vols   map[string]*model.Volume
	snaps  map[string]*model.Snapshot
	types  map[string]*model.VolumeType
	limits map[string]map[string]int64
	now    time.Time
}

func newFakeService() *fakeService {
	f := &fakeService{vols: map[string]*model.Volume{}, snaps: map[string]*model.Snapshot{},
		types: map[string]*model.VolumeType{}, limits: map[string]map[string]int64{},
		now: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)}
	f.types["9d0a1c7e-35c6-4e1e-9a53-0d4a6cc4b0a1"] = &model.VolumeType{ID: "9d0a1c7e-35c6-4e1e-9a53-0d4a6cc4b0a1",
		Name: "__DEFAULT__", IsPublic: true, ExtraSpecs: map[string]string{"dlvm:mirrors": "2", "multiattach": "<is> False"}}
	return f
}

func (f *fakeService) visible(c api.Caller, project string) bool {
	return c.IsAdmin || c.ProjectID == project
}

func (f *fakeService) CreateVolumeShown(ctx context.Context, c api.Caller, req api.CreateVolumeRequest) (*model.Volume, *model.VolumeType, error) {
	v, err := f.createVolume(c, req)
	return v, nil, err // the handler reads the type with GetType
}

func (f *fakeService) createVolume(c api.Caller, req api.CreateVolumeRequest) (*model.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Size <= 0 {
		return nil, model.Errorf(model.ErrInvalid, "Invalid input received: size must be > 0")
	}
	typeID := "9d0a1c7e-35c6-4e1e-9a53-0d4a6cc4b0a1"
	if req.VolumeType != "" {
		typeID = ""
		for _, t := range f.types {
			if t.Name == req.VolumeType || t.ID == req.VolumeType {
				typeID = t.ID
			}
		}
		if typeID == "" {
			return nil, model.Errorf(model.ErrNotFound, "Volume type with name %s could not be found.", req.VolumeType)
		}
	}
	if req.Size > 1000 {
		return nil, &model.QuotaError{Resource: "gigabytes", Requested: int64(req.Size), Limit: 1000}
	}
	az := req.AvailabilityZone
	if az == "" {
		az = "nova"
	}
	f.now = f.now.Add(time.Second)
	v := &model.Volume{ID: uuid.NewString(), ProjectID: c.ProjectID, UserID: c.UserID, Name: req.Name,
		Description: req.Description, Size: req.Size, Status: model.StatusCreating, AvailabilityZone: az,
		VolumeTypeID: typeID, Metadata: maps.Clone(req.Metadata), CreatedAt: f.now, UpdatedAt: f.now,
		SnapshotID: req.SnapshotID, SourceVolID: req.SourceVolID, Host: "dlvm@dlvm#pool1"}
	f.vols[v.ID] = v
	cp := *v
	return &cp, nil
}

func (f *fakeService) vol(c api.Caller, id string) (*model.Volume, error) {
	v, ok := f.vols[id]
	if !ok || !f.visible(c, v.ProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "Volume %s could not be found.", id)
	}
	return v, nil
}

func (f *fakeService) GetVolume(ctx context.Context, c api.Caller, id string) (*model.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, id)
	if err != nil {
		return nil, err
	}
	cp := *v
	cp.Metadata = maps.Clone(v.Metadata)
	cp.Rev = fakeRev(v)
	return &cp, nil
}

func (f *fakeService) GetVolumeShown(ctx context.Context, c api.Caller, id string) (*model.Volume, *model.VolumeType, error) {
	v, err := f.GetVolume(ctx, c, id)
	if err != nil || v.VolumeTypeID == "" {
		return v, nil, err
	}
	vt, err := f.GetType(ctx, c, v.VolumeTypeID)
	if errors.Is(err, model.ErrNotFound) {
		return v, nil, nil
	}
	return v, vt, err
}

// fakeRev stands for the database's revision: a hash of everything the fake keeps of a volume,
// so it moves whenever a fake write changes the volume.
func fakeRev(v *model.Volume) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%+v", *v)
	for _, k := range slices.Sorted(maps.Keys(v.Metadata)) {
		fmt.Fprintf(h, "\x00%s=%s", k, v.Metadata[k])
	}
	return int64(h.Sum64() >> 1)
}

func (f *fakeService) GetVolumeRev(ctx context.Context, c api.Caller, id string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, id)
	if err != nil {
		return 0, err
	}
	return fakeRev(v), nil
}

func (f *fakeService) ListVolumeRevs(ctx context.Context, c api.Caller, q db.VolumeQuery, allTenants bool) ([]db.VolumeRev, error) {
	vols, err := f.ListVolumes(ctx, c, q, allTenants)
	out := make([]db.VolumeRev, len(vols))
	for i, v := range vols {
		out[i] = db.VolumeRev{ID: v.ID, ProjectID: v.ProjectID, Rev: v.Rev}
	}
	return out, err
}

// AttachmentsOf: the fake keeps no attachments (attachments_test.go uses the real service).
func (f *fakeService) AttachmentsOf(ctx context.Context, volumeIDs []string) (map[string][]*model.Attachment, error) {
	return map[string][]*model.Attachment{}, nil
}

func (f *fakeService) CountVolumes(ctx context.Context, c api.Caller, q db.VolumeQuery, allTenants bool) (int, error) {
	q.Limit, q.Marker, q.Offset, q.Sort = 0, "", 0, nil
	vols, err := f.ListVolumes(ctx, c, q, allTenants)
	return len(vols), err
}

func (f *fakeService) ListVolumes(ctx context.Context, c api.Caller, q db.VolumeQuery, allTenants bool) ([]*model.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !(c.IsAdmin && allTenants) {
		q.ProjectID = c.ProjectID
	}
	var out []*model.Volume
	for _, v := range f.vols {
		if (q.ProjectID != "" && v.ProjectID != q.ProjectID) || (q.Name != "" && v.Name != q.Name) ||
			(q.Status != "" && v.Status != q.Status) || (len(q.IDs) > 0 && !slices.Contains(q.IDs, v.ID)) {
			continue
		}
		cp := *v
		cp.Rev = fakeRev(v)
		out = append(out, &cp)
	}
	slices.SortFunc(out, func(a, b *model.Volume) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if q.Marker != "" {
		i := slices.IndexFunc(out, func(v *model.Volume) bool { return v.ID == q.Marker })
		if i < 0 {
			return nil, model.Errorf(model.ErrNotFound, "Marker %s could not be found.", q.Marker)
		}
		out = out[i+1:]
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (f *fakeService) UpdateVolume(ctx context.Context, c api.Caller, id string, u api.VolumeUpdate) (*model.Volume, error) {
	f.mu.Lock()
	v, err := f.vol(c, id)
	if err == nil {
		if u.Name != nil {
			v.Name = *u.Name
		}
		if u.Description != nil {
			v.Description = *u.Description
		}
		if u.Metadata != nil {
			v.Metadata = maps.Clone(u.Metadata)
		}
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.GetVolume(ctx, c, id)
}

func (f *fakeService) DeleteVolume(ctx context.Context, c api.Caller, id string, cascade, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, id)
	if err != nil {
		return err
	}
	if v.Status == model.StatusInUse && !force {
		return model.Wrap(model.ErrConflict, errSecret, "Invalid volume: Volume status must be available or error")
	}
	delete(f.vols, id)
	return nil
}

func (f *fakeService) ExtendVolume(ctx context.Context, c api.Caller, id string, newSize int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, id)
	if err != nil {
		return err
	}
	if newSize <= v.Size {
		return model.Errorf(model.ErrInvalid, "Invalid input received: New size for extend must be greater than current size.")
	}
	v.Size = newSize
	return nil
}

func (f *fakeService) ResetVolumeStatus(ctx context.Context, c api.Caller, id, status, attach, mig string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, id)
	if err != nil {
		return err
	}
	if status != "" {
		v.Status = status
	}
	return nil
}

func (f *fakeService) SetBootable(ctx context.Context, c api.Caller, id string, b bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, id)
	if err == nil {
		v.Bootable = b
	}
	return err
}

func (f *fakeService) SetReadOnly(ctx context.Context, c api.Caller, id string, ro bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, id)
	if err == nil {
		v.ReadOnly, v.ReadOnlySet = ro, true
	}
	return err
}

func (f *fakeService) SetVolumeMetadata(ctx context.Context, c api.Caller, id string, md map[string]string, replace bool) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, id)
	if err != nil {
		return nil, err
	}
	if replace || v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	maps.Copy(v.Metadata, md)
	return maps.Clone(v.Metadata), nil
}

func (f *fakeService) DeleteVolumeMetadata(ctx context.Context, c api.Caller, id, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, id)
	if err != nil {
		return err
	}
	if _, ok := v.Metadata[key]; !ok {
		return model.Errorf(model.ErrNotFound, "Metadata item was not found")
	}
	delete(v.Metadata, key)
	return nil
}

func (f *fakeService) CreateSnapshot(ctx context.Context, c api.Caller, volumeID, name, desc string, force bool, md map[string]string) (*model.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.vol(c, volumeID)
	if err != nil {
		return nil, err
	}
	f.now = f.now.Add(time.Second)
	s := &model.Snapshot{ID: uuid.NewString(), ProjectID: c.ProjectID, UserID: c.UserID, VolumeID: v.ID,
		Name: name, Description: desc, Size: v.Size, Status: model.StatusCreating, Metadata: md,
		CreatedAt: f.now}
	f.snaps[s.ID] = s
	cp := *s
	return &cp, nil
}

func (f *fakeService) snap(c api.Caller, id string) (*model.Snapshot, error) {
	s, ok := f.snaps[id]
	if !ok || !f.visible(c, s.ProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "Snapshot %s could not be found.", id)
	}
	return s, nil
}

func (f *fakeService) GetSnapshot(ctx context.Context, c api.Caller, id string) (*model.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.snap(c, id)
	if err != nil {
		return nil, err
	}
	cp := *s
	return &cp, nil
}

func (f *fakeService) CountSnapshots(ctx context.Context, c api.Caller, q db.SnapshotQuery, allTenants bool) (int, error) {
	q.Limit, q.Marker, q.Offset, q.Sort = 0, "", 0, nil
	snaps, err := f.ListSnapshots(ctx, c, q, allTenants)
	return len(snaps), err
}

func (f *fakeService) ListSnapshots(ctx context.Context, c api.Caller, q db.SnapshotQuery, allTenants bool) ([]*model.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*model.Snapshot
	for _, s := range f.snaps {
		if f.visible(c, s.ProjectID) && (allTenants || s.ProjectID == c.ProjectID) {
			cp := *s
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (f *fakeService) UpdateSnapshot(ctx context.Context, c api.Caller, id string, name, desc *string) (*model.Snapshot, error) {
	f.mu.Lock()
	s, err := f.snap(c, id)
	if err == nil {
		if name != nil {
			s.Name = *name
		}
		if desc != nil {
			s.Description = *desc
		}
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.GetSnapshot(ctx, c, id)
}

func (f *fakeService) DeleteSnapshot(ctx context.Context, c api.Caller, id string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.snap(c, id); err != nil {
		return err
	}
	delete(f.snaps, id)
	return nil
}

func (f *fakeService) ResetSnapshotStatus(ctx context.Context, c api.Caller, id, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.snap(c, id)
	if err == nil {
		s.Status = status
	}
	return err
}

func (f *fakeService) UpdateSnapshotStatus(ctx context.Context, c api.Caller, id, status, progress string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.snap(c, id)
	if err == nil {
		s.Status, s.Progress = status, progress
	}
	return err
}

func (f *fakeService) SetSnapshotMetadata(ctx context.Context, c api.Caller, id string, md map[string]string, replace bool) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.snap(c, id)
	if err != nil {
		return nil, err
	}
	if replace || s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	maps.Copy(s.Metadata, md)
	return maps.Clone(s.Metadata), nil
}

func (f *fakeService) DeleteSnapshotMetadata(ctx context.Context, c api.Caller, id, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.snap(c, id)
	if err != nil {
		return err
	}
	delete(s.Metadata, key)
	return nil
}

func (f *fakeService) CreateType(ctx context.Context, c api.Caller, name, desc string, public bool, specs map[string]string) (*model.VolumeType, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.types {
		if t.Name == name {
			return nil, model.Errorf(model.ErrConflict, "Volume Type %s already exists.", name)
		}
	}
	t := &model.VolumeType{ID: uuid.NewString(), Name: name, Description: desc, IsPublic: public, ExtraSpecs: specs}
	f.types[t.ID] = t
	cp := *t
	return &cp, nil
}

func (f *fakeService) GetType(ctx context.Context, c api.Caller, idOrName string) (*model.VolumeType, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.types {
		if t.ID == idOrName || t.Name == idOrName {
			cp := *t
			cp.ExtraSpecs = maps.Clone(t.ExtraSpecs)
			return &cp, nil
		}
	}
	return nil, model.Errorf(model.ErrNotFound, "Volume type %s could not be found.", idOrName)
}

func (f *fakeService) DefaultType(ctx context.Context, c api.Caller) (*model.VolumeType, error) {
	return f.GetType(ctx, c, "__DEFAULT__")
}

func (f *fakeService) ListTypes(ctx context.Context, c api.Caller, isPublic *bool) ([]*model.VolumeType, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*model.VolumeType
	for _, t := range f.types {
		if isPublic == nil || *isPublic == t.IsPublic {
			cp := *t
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (f *fakeService) UpdateType(ctx context.Context, c api.Caller, id string, name, desc *string, public *bool) (*model.VolumeType, error) {
	f.mu.Lock()
	t, ok := f.types[id]
	if ok {
		if name != nil {
			t.Name = *name
		}
		if desc != nil {
			t.Description = *desc
		}
		if public != nil {
			t.IsPublic = *public
		}
	}
	f.mu.Unlock()
	if !ok {
		return nil, model.Errorf(model.ErrNotFound, "Volume type %s could not be found.", id)
	}
	return f.GetType(ctx, c, id)
}

func (f *fakeService) DeleteType(ctx context.Context, c api.Caller, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.types, id)
	return nil
}

func (f *fakeService) SetExtraSpecs(ctx context.Context, c api.Caller, typeID string, specs map[string]string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.types[typeID]
	if !ok {
		return nil, model.Errorf(model.ErrNotFound, "Volume type %s could not be found.", typeID)
	}
	if t.ExtraSpecs == nil {
		t.ExtraSpecs = map[string]string{}
	}
	maps.Copy(t.ExtraSpecs, specs)
	return maps.Clone(t.ExtraSpecs), nil
}

func (f *fakeService) DeleteExtraSpec(ctx context.Context, c api.Caller, typeID, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.types[typeID]; ok {
		delete(t.ExtraSpecs, key)
	}
	return nil
}

var fakeDefaults = map[string]int64{"volumes": 10, "snapshots": 10, "gigabytes": 1000, "backups": 10,
	"backup_gigabytes": 1000, "per_volume_gigabytes": -1, "groups": 10}

func (f *fakeService) GetQuotas(ctx context.Context, c api.Caller, projectID string) (*api.QuotaSet, error) {
	if !c.IsAdmin && c.ProjectID != projectID {
		return nil, model.Errorf(model.ErrForbidden, "Policy doesn't allow volume_extension:quotas:show to be performed.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l := maps.Clone(fakeDefaults)
	maps.Copy(l, f.limits[projectID])
	u := map[string]model.Usage{}
	for _, v := range f.vols {
		if v.ProjectID == projectID {
			u["volumes"] = model.Usage{InUse: u["volumes"].InUse + 1}
			u["gigabytes"] = model.Usage{InUse: u["gigabytes"].InUse + int64(v.Size)}
		}
	}
	return &api.QuotaSet{ProjectID: projectID, Limits: l, Usages: u}, nil
}

func (f *fakeService) DefaultQuotas(ctx context.Context) (map[string]int64, error) {
	return maps.Clone(fakeDefaults), nil
}

func (f *fakeService) UpdateQuotas(ctx context.Context, c api.Caller, projectID string, limits map[string]int64) (*api.QuotaSet, error) {
	f.mu.Lock()
	if f.limits[projectID] == nil {
		f.limits[projectID] = map[string]int64{}
	}
	maps.Copy(f.limits[projectID], limits)
	f.mu.Unlock()
	return f.GetQuotas(ctx, c, projectID)
}

func (f *fakeService) DeleteQuotas(ctx context.Context, c api.Caller, projectID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.limits, projectID)
	return nil
}

func (f *fakeService) Pools(ctx context.Context) ([]api.Pool, error) {
	return []api.Pool{{Name: "dlvm@dlvm#pool1", Capabilities: map[string]any{
		"total_capacity_gb": 100.0, "free_capacity_gb": 90.0, "volume_backend_name": "dlvm",
		"vendor_name": "dlvm", "driver_version": "1.0", "storage_protocol": "iSCSI", "reserved_percentage": 0}}}, nil
}

func (f *fakeService) AvailabilityZones(ctx context.Context) ([]string, error) {
	return []string{"nova"}, nil
}
