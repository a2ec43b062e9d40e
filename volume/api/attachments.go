package api

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// AttachWait bounds how long an attachment update (or delete, or a legacy
// initialize/terminate_connection) waits for the volume manager's workflow, so that the answer
// can carry the connection_info. The workflow goes on after a timeout.
var AttachWait = 60 * time.Second

// hostOf returns the "host" of a connector dict; ErrInvalid if it is not an object or has none.
func hostOf(connector json.RawMessage) (string, error) {
	c, err := readConnector(connector)
	return c.Host, err
}

type connectorKeys struct {
	Host       string `json:"host"`
	Mountpoint string `json:"mountpoint"`
}

func readConnector(connector json.RawMessage) (connectorKeys, error) {
	var c connectorKeys
	if err := json.Unmarshal(connector, &c); err != nil || c.Host == "" {
		return c, model.Errorf(model.ErrInvalid, "Invalid input received: the connector must be an object with a host.")
	}
	return c, nil
}

// GetAttachment returns an attachment the caller may see (its project, or any if admin).
func (a *API) GetAttachment(ctx context.Context, c Caller, id string) (*model.Attachment, error) {
	return getAttachment(ctx, a.db.Store(), c, id)
}

func getAttachment(ctx context.Context, s *db.Store, c Caller, id string) (*model.Attachment, error) {
	att, err := s.GetAttachment(ctx, id)
	if err != nil {
		return nil, notFound(err, "VolumeAttachment %s could not be found.", id)
	}
	if !visible(c, att.ProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "VolumeAttachment %s could not be found.", id)
	}
	return att, nil
}

// ListAttachments lists live attachments, oldest first; q.ProjectID is forced to the caller's
// project unless the caller is admin and allTenants is set.
func (a *API) ListAttachments(ctx context.Context, c Caller, q db.AttachmentQuery, allTenants bool) ([]*model.Attachment, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().ListAttachments(ctx, q)
}

// VolumeAttachments returns the live attachments of a volume the caller may see.
func (a *API) VolumeAttachments(ctx context.Context, c Caller, volumeID string) ([]*model.Attachment, error) {
	if _, err := a.GetVolume(ctx, c, volumeID); err != nil {
		return nil, err
	}
	return a.db.Store().ListAttachments(ctx, db.AttachmentQuery{VolumeID: volumeID})
}

// AttachmentsOf returns the live attachments of volumes the caller has already been given
// (a list page), by volume id, in one query.
func (a *API) AttachmentsOf(ctx context.Context, volumeIDs []string) (map[string][]*model.Attachment, error) {
	out := map[string][]*model.Attachment{}
	if len(volumeIDs) == 0 {
		return out, nil
	}
	atts, err := a.db.Store().ListAttachments(ctx, db.AttachmentQuery{VolumeIDs: volumeIDs})
	if err != nil {
		return nil, err
	}
	for _, at := range atts {
		out[at.VolumeID] = append(out[at.VolumeID], at)
	}
	return out, nil
}

// reserve is Cinder's _attachment_reserve inside a transaction: the volume must be available
// (or, when multiattach, in-use); a non-multiattach volume already used by the same instance
// is accepted too (Nova's live migration, resize and rebuild create a second attachment), any
// other instance is refused with ErrInvalid. It inserts the attachment (status reserved).
func (a *API) reserve(ctx context.Context, s *db.Store, c Caller, volumeID, instance, mode string, connector json.RawMessage) (*model.Attachment, error) {
	v, err := getVolume(ctx, s, c, volumeID)
	if err != nil {
		return nil, err
	}
	expected := []string{model.StatusAvailable, "downloading"}
	if v.Multiattach {
		expected = []string{model.StatusAvailable, model.StatusInUse, "downloading"}
	}
	if !slices.Contains(expected, v.Status) {
		override := false
		if instance != "" && slices.Contains([]string{model.StatusInUse, model.StatusReserved, model.StatusAttaching}, v.Status) {
			atts, err := s.ListAttachments(ctx, db.AttachmentQuery{VolumeID: v.ID})
			if err != nil {
				return nil, err
			}
			for _, o := range atts {
				override = override || o.InstanceUUID == instance
			}
		}
		if !override {
			return nil, model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s status must be %s to reserve, but the current status is %s.",
				v.ID, orList(expected), v.Status)
		}
	}
	if mode == "" {
		mode = model.AttachModeRW
	}
	if v.ReadOnly {
		mode = model.AttachModeRO
	}
	att := &model.Attachment{ID: uuid.NewString(), VolumeID: v.ID, InstanceUUID: instance, ProjectID: v.ProjectID,
		Status: model.AttachReserved, AttachMode: mode, Connector: connector}
	if len(connector) > 0 && string(connector) != "null" {
		ck, err := readConnector(connector)
		if err != nil {
			return nil, err
		}
		att.Host, att.Mountpoint = ck.Host, ck.Mountpoint
	} else {
		att.Connector = nil
	}
	if err := s.CreateAttachment(ctx, att); err != nil {
		return nil, err
	}
	return att, s.SyncVolumeAttachState(ctx, v.ID)
}

func orList(ss []string) string {
	out := ""
	for i, s := range ss {
		switch {
		case i == 0:
		case i == len(ss)-1:
			out += " or "
		default:
			out += ", "
		}
		out += s
	}
	return out
}

// AttachmentCreate reserves the volume for instance (Cinder 3.27 attachment create). With a
// connector it also connects the volume to the connector's host, as AttachmentUpdate does.
// mode is "rw", "ro" or "" (rw; a read-only volume is always ro).
func (a *API) AttachmentCreate(ctx context.Context, c Caller, volumeID, instance string, connector json.RawMessage, mode string) (*model.Attachment, error) {
	if mode != "" && mode != model.AttachModeRW && mode != model.AttachModeRO {
		return nil, model.Errorf(model.ErrInvalid, "Invalid input received: Invalid attach mode %s.", mode)
	}
	var att *model.Attachment
	var wf *model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		var err error
		if att, err = a.reserve(ctx, s, c, volumeID, instance, mode, connector); err != nil {
			return err
		}
		if att.Connector != nil {
			wf, err = newAttachWorkflow(ctx, s, model.WfAttachVolume, att, false)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("attachment created", "attachment_id", att.ID, "volume_id", volumeID, "instance_uuid", instance)
	if wf == nil {
		return att, nil
	}
	return a.runAttachWorkflow(ctx, c, wf, att.ID)
}

// AttachmentUpdate connects the attachment's volume to the connector's host: the volume
// manager exports the legs (and assembles multi-leg volumes on the host) and the answer
// carries the flat connection_info. The volume must be reserved, attaching or in-use.
func (a *API) AttachmentUpdate(ctx context.Context, c Caller, id string, connector json.RawMessage) (*model.Attachment, error) {
	ck, err := readConnector(connector)
	if err != nil {
		return nil, err
	}
	var wf *model.Workflow
	err = a.db.InTx(ctx, func(s *db.Store) error {
		att, err := getAttachment(ctx, s, c, id)
		if err != nil {
			return err
		}
		v, err := s.GetVolume(ctx, att.VolumeID)
		if err != nil {
			return err
		}
		if !slices.Contains([]string{model.StatusReserved, model.StatusAttaching, model.StatusInUse, "downloading"}, v.Status) {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s status must be reserved, attaching or in-use to update an attachment, but the current status is %s.", v.ID, v.Status)
		}
		att.Connector, att.Host = connector, ck.Host
		if ck.Mountpoint != "" {
			att.Mountpoint = ck.Mountpoint
		}
		if err := s.UpdateAttachment(ctx, att); err != nil {
			return err
		}
		wf, err = newAttachWorkflow(ctx, s, model.WfAttachVolume, att, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return a.runAttachWorkflow(ctx, c, wf, id)
}

// AttachmentComplete marks the attachment attached and its volume in-use (os-complete, 3.44).
func (a *API) AttachmentComplete(ctx context.Context, c Caller, id string) error {
	return a.db.InTx(ctx, func(s *db.Store) error {
		att, err := getAttachment(ctx, s, c, id)
		if err != nil {
			return err
		}
		t := a.opts.Now().UTC()
		att.Status, att.AttachedAt = model.AttachAttached, &t
		if err := s.UpdateAttachment(ctx, att); err != nil {
			return err
		}
		return s.SyncVolumeAttachState(ctx, att.VolumeID)
	})
}

// AttachmentDelete disconnects (when connected) and deletes the attachment; the volume's
// status follows what remains (available when nothing does). It returns the volume's remaining
// attachments.
func (a *API) AttachmentDelete(ctx context.Context, c Caller, id string) ([]*model.Attachment, error) {
	att, err := a.GetAttachment(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if err := a.detach(ctx, c, att, true); err != nil {
		return nil, err
	}
	a.log.Info("attachment deleted", "attachment_id", id, "volume_id", att.VolumeID)
	return a.db.Store().ListAttachments(ctx, db.AttachmentQuery{VolumeID: att.VolumeID})
}

// detach tears att's connection down through a detach_volume workflow when it has one, then
// deletes it (del) or only clears the connection; an unconnected attachment is handled here.
func (a *API) detach(ctx context.Context, c Caller, att *model.Attachment, del bool) error {
	if att.Connector == nil && att.ConnectionInfo == nil {
		if !del && att.Status == model.AttachAttached {
			return nil
		}
		return a.db.InTx(ctx, func(s *db.Store) error {
			if err := s.DeleteAttachment(ctx, att.ID); err != nil {
				return err
			}
			return s.SyncVolumeAttachState(ctx, att.VolumeID)
		})
	}
	var wf *model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		var err error
		wf, err = newAttachWorkflow(ctx, s, model.WfDetachVolume, att, del)
		return err
	})
	if err != nil {
		return err
	}
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return a.waitWorkflow(ctx, wf.ID)
}

func newAttachWorkflow(ctx context.Context, s *db.Store, kind string, att *model.Attachment, del bool) (*model.Workflow, error) {
	params, _ := json.Marshal(model.AttachParams{AttachmentID: att.ID, Delete: del})
	wf := newWorkflow(kind, att.VolumeID, "", params)
	return wf, s.CreateWorkflow(ctx, wf)
}

// runAttachWorkflow casts an attach workflow, waits for it and returns the attachment.
func (a *API) runAttachWorkflow(ctx context.Context, c Caller, wf *model.Workflow, attID string) (*model.Attachment, error) {
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	if err := a.waitWorkflow(ctx, wf.ID); err != nil {
		return nil, err
	}
	return a.GetAttachment(ctx, c, attID)
}

// errAttachFailed is the kind of a failed attach or detach workflow (500 at the API edge: the
// backend could not do it); the message is the workflow's user-safe error.
var errAttachFailed = errors.New("attach workflow failed")

// waitWorkflow polls a workflow until it ends, AttachWait passes (ErrUnavailable; the workflow
// goes on) or ctx ends.
func (a *API) waitWorkflow(ctx context.Context, id string) error {
	deadline := time.NewTimer(AttachWait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		w, err := a.db.Store().GetWorkflow(ctx, id)
		if err != nil {
			return err
		}
		switch w.State {
		case model.WfDone:
			return nil
		case model.WfFailed:
			return &model.UserError{Kind: errAttachFailed, Msg: w.Error}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return model.Errorf(model.ErrUnavailable, "The volume service did not finish the operation in time; it goes on in the background.")
		case <-tick.C:
		}
	}
}
