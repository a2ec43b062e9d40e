package api

import (
	"context"
	"encoding/json"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// The legacy attach actions (before 3.27; still used by Nova for begin/roll_detaching). They
// drive the same attachment records and workflows as the attachments API: a connection made by
// os-initialize_connection is an attachment with no instance until os-attach binds it.

// ReserveVolume (os-reserve) moves an available volume (or an in-use multiattach one) to
// attaching.
func (a *API) ReserveVolume(ctx context.Context, c Caller, id string) error {
	return a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		from := []string{model.StatusAvailable}
		if v.Multiattach {
			from = append(from, model.StatusInUse)
		}
		return stateErr(s.SetVolumeStatus(ctx, id, from, model.StatusAttaching))
	})
}

// UnreserveVolume (os-unreserve) undoes os-reserve: an attaching volume goes back to the status
// its attachments give it.
func (a *API) UnreserveVolume(ctx context.Context, c Caller, id string) error {
	return a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil || v.Status != model.StatusAttaching {
			return err
		}
		if err := s.SetVolumeStatus(ctx, id, nil, model.StatusAvailable); err != nil {
			return err
		}
		return s.SyncVolumeAttachState(ctx, id)
	})
}

// BeginDetaching (os-begin_detaching) moves an in-use volume to detaching.
func (a *API) BeginDetaching(ctx context.Context, c Caller, id string) error {
	return a.setStatusFrom(ctx, c, id, []string{model.StatusInUse}, model.StatusDetaching)
}

// RollDetaching (os-roll_detaching) moves a detaching volume back to in-use; any other status
// is left alone, as in Cinder.
func (a *API) RollDetaching(ctx context.Context, c Caller, id string) error {
	return a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil || v.Status != model.StatusDetaching {
			return err
		}
		return s.SetVolumeStatus(ctx, id, []string{model.StatusDetaching}, model.StatusInUse)
	})
}

func (a *API) setStatusFrom(ctx context.Context, c Caller, id string, from []string, to string) error {
	return a.db.InTx(ctx, func(s *db.Store) error {
		if _, err := getVolume(ctx, s, c, id); err != nil {
			return err
		}
		return stateErr(s.SetVolumeStatus(ctx, id, from, to))
	})
}

// InitializeConnection (os-initialize_connection) connects the volume to the connector's host
// and returns the flat connection_info (apiv3 nests it as {driver_volume_type, data}). It reuses
// the host's live attachment of the volume when there is one, else makes a new one with no
// instance yet.
func (a *API) InitializeConnection(ctx context.Context, c Caller, id string, connector json.RawMessage) (json.RawMessage, error) {
	host, err := hostOf(connector)
	if err != nil {
		return nil, err
	}
	var att *model.Attachment
	var wf *model.Workflow
	err = a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		atts, err := s.ListAttachments(ctx, db.AttachmentQuery{VolumeID: id, Host: host})
		if err != nil {
			return err
		}
		if len(atts) > 0 {
			att = atts[len(atts)-1]
			att.Connector = connector
			if err := s.UpdateAttachment(ctx, att); err != nil {
				return err
			}
		} else {
			if v.Status == model.StatusAttaching { // os-reserve came first
				if err := s.SetVolumeStatus(ctx, id, nil, model.StatusAvailable); err != nil {
					return err
				}
			}
			if att, err = a.reserve(ctx, s, c, id, "", "", connector); err != nil {
				return err
			}
		}
		wf, err = newAttachWorkflow(ctx, s, model.WfAttachVolume, att, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	got, err := a.runAttachWorkflow(ctx, c, wf, att.ID)
	if err != nil {
		return nil, err
	}
	return got.ConnectionInfo, nil
}

// AttachVolume (os-attach) records that instance uses the volume at mountpoint: the host's
// connection (or a new record) becomes an attached attachment and the volume in-use.
func (a *API) AttachVolume(ctx context.Context, c Caller, id, instance, hostName, mountpoint, mode string) error {
	if mode != "" && mode != model.AttachModeRW && mode != model.AttachModeRO {
		return model.Errorf(model.ErrInvalid, "Invalid input received: Invalid attach mode %s.", mode)
	}
	return a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		atts, err := s.ListAttachments(ctx, db.AttachmentQuery{VolumeID: id})
		if err != nil {
			return err
		}
		var att *model.Attachment
		for _, o := range atts {
			switch {
			case o.InstanceUUID == "" && (hostName == "" || o.Host == hostName || att == nil):
				att = o
			case o.InstanceUUID != instance && !v.Multiattach && o.Status == model.AttachAttached:
				return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s is attached to another instance and is not multiattach.", id)
			}
		}
		if att == nil {
			if v.Status == model.StatusAttaching {
				if err := s.SetVolumeStatus(ctx, id, nil, model.StatusAvailable); err != nil {
					return err
				}
			}
			if att, err = a.reserve(ctx, s, c, id, instance, mode, nil); err != nil {
				return err
			}
		}
		t := a.opts.Now().UTC()
		att.InstanceUUID, att.Mountpoint, att.Status, att.AttachedAt = instance, mountpoint, model.AttachAttached, &t
		if att.Host == "" {
			att.Host = hostName
		}
		if mode != "" && !v.ReadOnly {
			att.AttachMode = mode
		}
		if err := s.UpdateAttachment(ctx, att); err != nil {
			return err
		}
		return s.SyncVolumeAttachState(ctx, id)
	})
}

// TerminateConnection (os-terminate_connection) tears down the volume's connections to the
// connector's host. Attached records stay (os-detach ends them); unbound ones are deleted.
func (a *API) TerminateConnection(ctx context.Context, c Caller, id string, connector json.RawMessage) error {
	host, err := hostOf(connector)
	if err != nil {
		return err
	}
	if _, err := a.GetVolume(ctx, c, id); err != nil {
		return err
	}
	atts, err := a.db.Store().ListAttachments(ctx, db.AttachmentQuery{VolumeID: id, Host: host})
	if err != nil {
		return err
	}
	for _, att := range atts {
		if att.ConnectionInfo == nil && att.Status == model.AttachAttached {
			continue
		}
		if err := a.detach(ctx, c, att, false); err != nil {
			return err
		}
	}
	return nil
}

// DetachVolume (os-detach) ends an attachment (the only one when attachmentID is ""),
// disconnecting it first if still connected. A volume with no attachment left is available.
func (a *API) DetachVolume(ctx context.Context, c Caller, id, attachmentID string) error {
	if _, err := a.GetVolume(ctx, c, id); err != nil {
		return err
	}
	atts, err := a.db.Store().ListAttachments(ctx, db.AttachmentQuery{VolumeID: id})
	if err != nil {
		return err
	}
	var target *model.Attachment
	for _, o := range atts {
		if o.ID == attachmentID || (attachmentID == "" && len(atts) == 1) {
			target = o
		}
	}
	switch {
	case target != nil:
		return a.detach(ctx, c, target, true)
	case attachmentID == "" && len(atts) > 1:
		return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s has more than one attachment; attachment_id is required.", id)
	case attachmentID != "":
		return model.Errorf(model.ErrNotFound, "VolumeAttachment %s could not be found.", attachmentID)
	}
	return a.db.InTx(ctx, func(s *db.Store) error { return s.SyncVolumeAttachState(ctx, id) })
}

// ForceDetach (os-force_detach, admin) ends the named attachment, or every attachment of the
// volume when attachmentID is "". A failed disconnect does not keep the record.
func (a *API) ForceDetach(ctx context.Context, c Caller, id, attachmentID string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	atts, err := a.VolumeAttachments(ctx, c, id)
	if err != nil {
		return err
	}
	found := false
	for _, att := range atts {
		if attachmentID != "" && att.ID != attachmentID {
			continue
		}
		found = true
		if err := a.detach(ctx, c, att, true); err != nil {
			a.log.Warn("force detach: disconnect failed; deleting the record anyway", "attachment_id", att.ID, "err", err)
			if err := a.db.InTx(ctx, func(s *db.Store) error {
				if err := s.DeleteAttachment(ctx, att.ID); err != nil {
					return err
				}
				return s.SyncVolumeAttachState(ctx, id)
			}); err != nil {
				return err
			}
		}
	}
	if attachmentID != "" && !found {
		return model.Errorf(model.ErrNotFound, "VolumeAttachment %s could not be found.", attachmentID)
	}
	a.log.Info("volume force-detached", "volume_id", id, "attachment_id", attachmentID)
	return nil
}
