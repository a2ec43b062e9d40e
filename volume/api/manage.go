package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// Reference names of what os-unmanage left on the dpvs: "volume-<id>" and "snapshot-<id>" with
// the id the volume or snapshot had (its legs keep their own ids on the dpvs).
const (
	VolumeRefPrefix   = "volume-"
	SnapshotRefPrefix = "snapshot-"
	statusManaging    = "managing"
)

// ManageVolumeRequest is a validated POST /os-volume-manage body.
type ManageVolumeRequest struct {
	Host             string
	Ref              map[string]string // {"source-name": "volume-<id>"} or {"source-id": "<id>"}
	Name             string
	Description      string
	VolumeType       string
	AvailabilityZone string
	Metadata         map[string]string
	Bootable         bool
}

// Manageable is one entry of GET /manageable_volumes or /manageable_snapshots.
type Manageable struct {
	Reference map[string]string
	Size      int
	SourceRef map[string]string // snapshots: the volume they belong to
}

// refID reads the id of an unmanaged object from a manage reference.
func refID(ref map[string]string, prefix string) (string, error) {
	id := ref["source-id"]
	if name, ok := ref["source-name"]; ok {
		id = strings.TrimPrefix(name, prefix)
	}
	if _, err := uuid.Parse(id); err != nil || len(ref) != 1 {
		return "", model.Errorf(model.ErrInvalid, "Manage existing failed due to invalid backend reference %v: use {\"source-name\": \"%s<id>\"} or {\"source-id\": \"<id>\"}.", ref, prefix)
	}
	return id, nil
}

// unmanagedLegs returns the legs os-unmanage left for id, checking they form a whole layout.
func unmanagedLegs(ctx context.Context, s *db.Store, id, kind string) ([]*model.Leg, model.Layout, error) {
	all, err := s.ListLegs(ctx, id)
	if err != nil {
		return nil, model.Layout{}, err
	}
	var legs []*model.Leg
	var lay model.Layout
	for _, l := range all {
		if l.Status != model.LegUnmanaged || l.OwnerKind != kind {
			continue
		}
		legs = append(legs, l)
		lay.Mirrors, lay.Stripes = max(lay.Mirrors, l.Mirror+1), max(lay.Stripes, l.Group+1)
	}
	if len(legs) == 0 {
		return nil, lay, model.Errorf(model.ErrInvalid, "Manage existing failed: no unmanaged %s %s was found on the storage servers.", kind, id)
	}
	if len(legs) != lay.Legs() {
		return nil, lay, model.Errorf(model.ErrInvalid, "Manage existing failed: %s %s has %d legs, not a whole %dx%d layout.", kind, id, len(legs), lay.Stripes, lay.Mirrors)
	}
	return legs, lay, nil
}

// UnmanageVolume (admin) forgets an available (or error) volume without snapshots: its legs stay
// on their dpvs (status unmanaged, for os-volume-manage), the volume row is deleted and its quota
// released.
func (a *API) UnmanageVolume(ctx context.Context, c Caller, id string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	return a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		if v.Status != model.StatusAvailable && v.Status != model.StatusError || v.AttachStatus == model.AttachAttached {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume status must be available or error and not attached, but current status is: %s.", v.Status)
		}
		snaps, err := s.ListSnapshots(ctx, db.SnapshotQuery{VolumeID: id})
		if err != nil {
			return err
		}
		if len(snaps) > 0 {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s has snapshots; unmanage or delete them first.", id)
		}
		if _, err := s.SetLegsStatus(ctx, id, model.LegUnmanaged); err != nil {
			return err
		}
		if err := s.DeleteVolume(ctx, id); err != nil {
			return err
		}
		a.log.Info("volume unmanaged; its legs stay on the dpvs", "volume_id", id)
		return s.Reserve(ctx, v.ProjectID, map[string]int64{model.ResVolumes: -1, model.ResGigabytes: -int64(v.Size)}, nil)
	})
}

// ManageVolume (admin) adopts the legs an unmanaged volume left on the dpvs as a new volume of
// the caller's project: the volume type's layout must be the legs' layout, host its dvg. The
// volume is managing until the volume manager has found every leg on its dpv (then available).
func (a *API) ManageVolume(ctx context.Context, c Caller, req ManageVolumeRequest) (*model.Volume, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return nil, err
	}
	oldID, err := refID(req.Ref, VolumeRefPrefix)
	if err != nil {
		return nil, err
	}
	var vt *model.VolumeType
	if req.VolumeType != "" {
		vt, err = a.lookupType(ctx, c, req.VolumeType)
	} else {
		vt, err = a.defaultType(ctx)
	}
	if err != nil {
		return nil, err
	}
	typeLay, err := a.layoutOf(vt.ExtraSpecs)
	if err != nil {
		return nil, err
	}
	var v *model.Volume
	var wf *model.Workflow
	err = a.db.InTx(ctx, func(s *db.Store) error {
		legs, lay, err := unmanagedLegs(ctx, s, oldID, model.OwnerVolume)
		if err != nil {
			return err
		}
		if lay.Mirrors != typeLay.Mirrors || lay.Stripes != typeLay.Stripes {
			return model.Errorf(model.ErrInvalid, "Manage existing failed: the legs form %d stripes x %d mirrors, volume type %s asks for %d x %d.", lay.Stripes, lay.Mirrors, vt.Name, typeLay.Stripes, typeLay.Mirrors)
		}
		size := 0
		for g := 1; g <= 1<<16; g++ {
			if typeLay.LegSize(g) == legs[0].SizeBytes {
				size = g
				break
			}
		}
		if size == 0 {
			return model.Errorf(model.ErrInvalid, "Manage existing failed: leg size %d is not a whole volume size for volume type %s.", legs[0].SizeBytes, vt.Name)
		}
		dvg, host, err := a.legHost(ctx, s, legs[0])
		if err != nil {
			return err
		}
		if req.Host != host && req.Host != strings.Split(host, "#")[0] {
			return model.Errorf(model.ErrInvalid, "Manage existing failed: the legs are on host %s, not %s.", host, req.Host)
		}
		az := dvg.AvailabilityZone
		if req.AvailabilityZone != "" && req.AvailabilityZone != az {
			return model.Errorf(model.ErrInvalid, "Manage existing failed: the legs are in availability zone %s, not %s.", az, req.AvailabilityZone)
		}
		limits, err := a.effectiveLimits(ctx, s, c.ProjectID)
		if err != nil {
			return err
		}
		if err := a.checkTypeQuota(ctx, s, c.ProjectID, vt, limits, 1, int64(size), 0); err != nil {
			return err
		}
		if err := s.Reserve(ctx, c.ProjectID, map[string]int64{model.ResVolumes: 1, model.ResGigabytes: int64(size)}, limits); err != nil {
			return err
		}
		md := req.Metadata
		if md == nil {
			md = map[string]string{}
		}
		v = &model.Volume{ID: uuid.NewString(), ProjectID: c.ProjectID, UserID: c.UserID, Name: req.Name,
			Description: req.Description, Size: size, Status: statusManaging, AttachStatus: model.AttachDetached,
			AvailabilityZone: az, VolumeTypeID: vt.ID, Bootable: req.Bootable, Host: host, DVGID: dvg.ID,
			Layout: typeLay, Metadata: md}
		if err := s.CreateVolume(ctx, v); err != nil {
			return err
		}
		if _, err := s.AdoptLegs(ctx, oldID, model.OwnerVolume, v.ID); err != nil {
			return err
		}
		wf = newWorkflow(model.WfManageVolume, v.ID, "", nil)
		return s.CreateWorkflow(ctx, wf)
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("volume manage started", "volume_id", v.ID, "ref", oldID, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return v, nil
}

// legHost returns the dvg of a leg's dpv and the Cinder host of volumes there.
func (a *API) legHost(ctx context.Context, s *db.Store, l *model.Leg) (*model.DVG, string, error) {
	p, err := s.GetDPV(ctx, l.DPVID)
	if err != nil {
		return nil, "", err
	}
	dvgs, err := s.ListDVGs(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, g := range dvgs {
		if g.ID == p.DVGID {
			return g, fmt.Sprintf("dlvm@%s#%s", a.opts.Backend, g.Name), nil
		}
	}
	return nil, "", model.Errorf(model.ErrInvalid, "Manage existing failed: dpv %s belongs to no known dvg.", p.Name)
}

// UnmanageSnapshot (admin) forgets an available (or error) snapshot: its legs stay on their dpvs
// for os-snapshot-manage, the row is deleted and its quota released.
func (a *API) UnmanageSnapshot(ctx context.Context, c Caller, id string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	return a.db.InTx(ctx, func(s *db.Store) error {
		sn, err := getSnapshot(ctx, s, c, id)
		if err != nil {
			return err
		}
		if sn.Status != model.StatusAvailable && sn.Status != model.StatusError {
			return model.Errorf(model.ErrInvalid, "Invalid snapshot: Snapshot status must be available or error, but current status is: %s.", sn.Status)
		}
		if _, err := s.SetLegsStatus(ctx, id, model.LegUnmanaged); err != nil {
			return err
		}
		if err := s.DeleteSnapshot(ctx, id); err != nil {
			return err
		}
		a.log.Info("snapshot unmanaged; its legs stay on the dpvs", "snapshot_id", id)
		return s.Reserve(ctx, sn.ProjectID, map[string]int64{model.ResSnapshots: -1, model.ResGigabytes: -int64(sn.Size)}, nil)
	})
}

// ManageSnapshot (admin) adopts the legs an unmanaged snapshot left as a snapshot of volumeID,
// which must be the volume they were taken from (each leg's source is one of its legs).
func (a *API) ManageSnapshot(ctx context.Context, c Caller, volumeID string, ref map[string]string, name, description string, md map[string]string) (*model.Snapshot, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if err := checkMetadata(md); err != nil {
		return nil, err
	}
	oldID, err := refID(ref, SnapshotRefPrefix)
	if err != nil {
		return nil, err
	}
	if md == nil {
		md = map[string]string{}
	}
	var sn *model.Snapshot
	var wf *model.Workflow
	err = a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, volumeID)
		if err != nil {
			return err
		}
		legs, _, err := unmanagedLegs(ctx, s, oldID, model.OwnerSnapshot)
		if err != nil {
			return err
		}
		vlegs, err := s.ListLegs(ctx, v.ID)
		if err != nil {
			return err
		}
		mine := map[string]bool{}
		for _, l := range vlegs {
			mine[l.ID] = true
		}
		for _, l := range legs {
			if !mine[l.SourceLegID] {
				return model.Errorf(model.ErrInvalid, "Manage existing failed: snapshot %s was not taken from volume %s.", oldID, v.ID)
			}
		}
		limits, err := a.effectiveLimits(ctx, s, v.ProjectID)
		if err != nil {
			return err
		}
		if err := s.Reserve(ctx, v.ProjectID, map[string]int64{model.ResSnapshots: 1, model.ResGigabytes: int64(v.Size)}, limits); err != nil {
			return err
		}
		sn = &model.Snapshot{ID: uuid.NewString(), ProjectID: v.ProjectID, UserID: c.UserID, VolumeID: v.ID, Name: name,
			Description: description, Size: v.Size, Status: statusManaging, Progress: "0%", Metadata: md}
		if err := s.CreateSnapshot(ctx, sn); err != nil {
			return err
		}
		if _, err := s.AdoptLegs(ctx, oldID, model.OwnerSnapshot, sn.ID); err != nil {
			return err
		}
		wf = newWorkflow(model.WfManageSnapshot, v.ID, sn.ID, nil)
		return s.CreateWorkflow(ctx, wf)
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("snapshot manage started", "snapshot_id", sn.ID, "ref", oldID, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return sn, nil
}

// ManageableVolumes (admin) lists what os-volume-manage can adopt: volumes os-unmanage left.
func (a *API) ManageableVolumes(ctx context.Context, c Caller) ([]Manageable, error) {
	return a.manageable(ctx, c, model.OwnerVolume, VolumeRefPrefix)
}

// ManageableSnapshots (admin) lists what os-snapshot-manage can adopt.
func (a *API) ManageableSnapshots(ctx context.Context, c Caller) ([]Manageable, error) {
	return a.manageable(ctx, c, model.OwnerSnapshot, SnapshotRefPrefix)
}

func (a *API) manageable(ctx context.Context, c Caller, kind, prefix string) ([]Manageable, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	s := a.db.Store()
	legs, err := s.ListUnmanagedLegs(ctx, kind)
	if err != nil {
		return nil, err
	}
	byOwner := map[string][]*model.Leg{}
	var owners []string
	for _, l := range legs {
		if byOwner[l.OwnerID] == nil {
			owners = append(owners, l.OwnerID)
		}
		byOwner[l.OwnerID] = append(byOwner[l.OwnerID], l)
	}
	out := []Manageable{}
	for _, id := range owners {
		ls := byOwner[id]
		var lay model.Layout
		for _, l := range ls {
			lay.Mirrors, lay.Stripes = max(lay.Mirrors, l.Mirror+1), max(lay.Stripes, l.Group+1)
		}
		per := ls[0].SizeBytes
		if lay.Mirrors > 1 {
			per -= model.MirrorMetadataBytes
		}
		m := Manageable{Reference: map[string]string{"source-name": prefix + id},
			Size: int((per*int64(lay.Stripes) + model.GiB - 1) / model.GiB)}
		if kind == model.OwnerSnapshot {
			if vol, err := s.LegOwner(ctx, ls[0].SourceLegID); err == nil {
				m.SourceRef = map[string]string{"source-name": VolumeRefPrefix + vol}
			}
		}
		out = append(out, m)
	}
	return out, nil
}
