package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/target"
)

// attachJob is what both attach flows load: the attachment, its volume, legs and host.
type attachJob struct {
	p     model.AttachParams
	att   *model.Attachment
	vol   *model.Volume
	legs  []*model.Leg
	conn  connectorDict
	ihost *model.IHost
}

// loadAttach reads the workflow's attachment and what goes with it. A nil job with a nil
// error means the attachment is gone (the workflow has nothing to do).
func (m *Manager) loadAttach(ctx context.Context, w *model.Workflow) (*attachJob, error) {
	j := &attachJob{}
	if err := json.Unmarshal(w.Params, &j.p); err != nil || j.p.AttachmentID == "" {
		return nil, model.Errorf(model.ErrInvalid, "bad attach parameters")
	}
	st := m.db.Store()
	var err error
	if j.att, err = st.GetAttachment(ctx, j.p.AttachmentID); errors.Is(err, model.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if len(j.att.Connector) > 0 {
		if err := json.Unmarshal(j.att.Connector, &j.conn); err != nil {
			return nil, model.Errorf(model.ErrInvalid, "The connector is not a JSON object.")
		}
	}
	if j.vol, err = st.GetVolume(ctx, j.att.VolumeID); err != nil {
		return nil, err
	}
	if j.legs, err = st.ListLegs(ctx, j.vol.ID); err != nil {
		return nil, err
	}
	return j, nil
}

// attachVolume exports every leg of the volume to the attaching host's initiator (with the
// host's CHAP credentials), assembles multi-leg volumes on the host's connector daemon, and
// stores the connection_info on the attachment (status attaching). Every step is idempotent;
// a permanent failure unexports what it exported and leaves the attachment error_attaching.
func (m *Manager) attachVolume(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	j, err := m.loadAttach(ctx, w)
	if err == nil && j == nil {
		return m.finish(ctx, w, model.WfFailed, "attachment no longer exists")
	}
	if err == nil {
		err = m.connect(ctx, j, log)
	}
	if err == nil {
		return m.db.InTx(ctx, func(s *db.Store) error {
			if err := s.UpdateAttachment(ctx, j.att); err != nil {
				return err
			}
			if err := s.SyncVolumeAttachState(ctx, j.vol.ID); err != nil {
				return err
			}
			return finishIn(ctx, s, w, model.WfDone, "")
		})
	}
	if isTransient(err) && w.Attempts < m.opts.MaxAttempts {
		return err
	}
	log.Error("attach failed, rolling back", "err", err)
	reason := model.UserMessage(err)
	if j != nil && j.ihost != nil {
		if uerr := m.disconnect(ctx, j, log); uerr != nil {
			log.Warn("attach rollback: unexport failed", "err", uerr)
		}
	}
	return m.db.InTx(ctx, func(s *db.Store) error {
		if j != nil {
			j.att.Status, j.att.ErrorReason, j.att.ConnectionInfo = model.AttachErrorAttaching, reason, nil
			if err := s.UpdateAttachment(ctx, j.att); err != nil && !errors.Is(err, model.ErrNotFound) {
				return err
			}
			if err := s.SyncVolumeAttachState(ctx, j.vol.ID); err != nil {
				return err
			}
		}
		return finishIn(ctx, s, w, model.WfFailed, reason)
	})
}

// connect does the attach steps and fills j.att (connection info, status, host).
func (m *Manager) connect(ctx context.Context, j *attachJob, log *slog.Logger) error {
	if j.conn.Host == "" {
		return model.Errorf(model.ErrInvalid, "The connector has no host.")
	}
	if len(j.legs) != j.vol.Layout.Legs() || len(j.legs) == 0 {
		return model.Errorf(model.ErrInvalid, "Volume %s has %d legs, its layout needs %d.", j.vol.ID, len(j.legs), j.vol.Layout.Legs())
	}
	user, secret := newCHAP()
	// The row's initiator is the host's dlvm connector's (its heartbeat reports it); the dict's
	// initiator is the host's own iSCSI stack's. Only the CHAP credentials are made here.
	j.ihost = &model.IHost{Host: j.conn.Host, CHAPUser: user, CHAPSecret: secret}
	if err := m.db.Store().UpsertIHost(ctx, j.ihost); err != nil {
		return err
	}
	plan, err := m.exportPlan(ctx, j)
	if err != nil {
		return err
	}
	kind, readOnly := driverKind(j.conn, j.vol), plan.ReadOnly
	device := ""
	if kind == "local" {
		if j.ihost.URL == "" || m.opts.Connectors == nil {
			return model.Errorf(model.ErrInvalid, "Host %s runs no dlvm connector; volume %s has %d legs and needs one.",
				j.conn.Host, j.vol.ID, len(j.legs))
		}
		a, err := m.opts.Connectors(j.ihost.URL).Attach(ctx, plan)
		if err != nil {
			return hostErr(j.conn.Host, err)
		}
		device = a.DevicePath
	}
	qos, err := m.frontEndQos(ctx, j.vol.VolumeTypeID)
	if err != nil {
		return err
	}
	info, err := connectionInfo(kind, j.att.ID, plan, device, qos)
	if err != nil {
		return err
	}
	if readOnly {
		j.att.AttachMode = model.AttachModeRO
	} else if j.att.AttachMode == "" {
		j.att.AttachMode = model.AttachModeRW
	}
	j.att.ConnectionInfo, j.att.Host, j.att.ErrorReason = info, j.conn.Host, ""
	if j.att.Status != model.AttachAttached {
		j.att.Status = model.AttachAttaching
	}
	log.Info("volume connected", "attachment_id", j.att.ID, "host", j.conn.Host, "driver_volume_type", kind)
	return nil
}

// detachVolume tears the attachment's connection down (connector daemon, then every leg's
// export to the host's initiator) unless another live attachment of the volume uses the same
// host, then either deletes the attachment (Delete) or clears its connection_info, and derives
// the volume's status from what remains. A missing attachment is success.
func (m *Manager) detachVolume(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	j, err := m.loadAttach(ctx, w)
	if err == nil && j == nil {
		return m.finish(ctx, w, model.WfDone, "")
	}
	if err == nil && j.conn.Host != "" {
		if j.ihost, err = m.db.Store().GetIHost(ctx, j.conn.Host); errors.Is(err, model.ErrNotFound) {
			j.ihost, err = &model.IHost{Host: j.conn.Host}, nil
		}
		if err == nil {
			err = m.disconnect(ctx, j, log)
		}
	}
	if err == nil {
		return m.db.InTx(ctx, func(s *db.Store) error {
			if j.p.Delete || j.att.Status != model.AttachAttached {
				if err := s.DeleteAttachment(ctx, j.att.ID); err != nil {
					return err
				}
			} else {
				j.att.ConnectionInfo = nil
				if err := s.UpdateAttachment(ctx, j.att); err != nil {
					return err
				}
			}
			if err := s.SyncVolumeAttachState(ctx, j.vol.ID); err != nil {
				return err
			}
			return finishIn(ctx, s, w, model.WfDone, "")
		})
	}
	if isTransient(err) && w.Attempts < m.opts.MaxAttempts {
		return err
	}
	log.Error("detach failed", "err", err)
	reason := model.UserMessage(err)
	return m.db.InTx(ctx, func(s *db.Store) error {
		if j != nil {
			j.att.Status, j.att.ErrorReason = model.AttachErrorDetaching, reason
			if err := s.UpdateAttachment(ctx, j.att); err != nil && !errors.Is(err, model.ErrNotFound) {
				return err
			}
		}
		return finishIn(ctx, s, w, model.WfFailed, reason)
	})
}

// disconnect undoes connect for j's host, unless another live, connected attachment of the
// volume is on the same host (a multiattach volume used twice there, or a retried attach).
func (m *Manager) disconnect(ctx context.Context, j *attachJob, log *slog.Logger) error {
	others, err := m.db.Store().ListAttachments(ctx, db.AttachmentQuery{VolumeID: j.vol.ID, Host: j.conn.Host})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != j.att.ID && o.ConnectionInfo != nil {
			log.Info("host still uses the volume; connection kept", "host", j.conn.Host, "other_attachment_id", o.ID)
			return nil
		}
	}
	if driverKind(j.conn, j.vol) == "local" && j.ihost.URL != "" && m.opts.Connectors != nil {
		if err := m.opts.Connectors(j.ihost.URL).Detach(ctx, j.vol.ID); err != nil {
			return hostErr(j.conn.Host, err)
		}
	}
	// Whoever logs in to the legs is the initiator to allow: the host's dlvm connector for a
	// volume it assembles, the host's own iSCSI stack (os-brick) for a plain iscsi attachment.
	kind := driverKind(j.conn, j.vol)
	initiator := firstNonEmpty(j.conn.Initiator, j.ihost.Initiator)
	if kind == "local" {
		initiator = firstNonEmpty(j.ihost.Initiator, j.conn.Initiator)
	}
	if initiator == "" {
		return nil // never exported to anybody
	}
	dpvs := map[string]*model.DPV{}
	for _, l := range j.legs {
		ex, err := m.agentFor(ctx, dpvs, l.DPVID)
		if errors.Is(err, model.ErrNotFound) {
			continue // the dpv is gone, and its exports with it
		} else if err != nil {
			return err
		}
		if err := ex.UnexportInitiator(ctx, l.ID, initiator); err != nil {
			return fmt.Errorf("unexport leg %s: %w", l.ID, err)
		}
	}
	log.Info("volume disconnected", "attachment_id", j.att.ID, "host", j.conn.Host)
	return nil
}

// exportPlan exports every leg of j's volume to the initiator that logs in to them from j's
// host, with the host's CHAP credentials (j.ihost), and returns the host's assembly plan at the
// volume's current size. Idempotent: exporting an exported leg again is success.
func (m *Manager) exportPlan(ctx context.Context, j *attachJob) (connector.Plan, error) {
	// Whoever logs in to the legs is the initiator to allow: the host's dlvm connector for a
	// volume it assembles, the host's own iSCSI stack (os-brick) for a plain iscsi attachment.
	initiator := firstNonEmpty(j.conn.Initiator, j.ihost.Initiator)
	if driverKind(j.conn, j.vol) == "local" {
		initiator = firstNonEmpty(j.ihost.Initiator, j.conn.Initiator)
	}
	if initiator == "" {
		return connector.Plan{}, model.Errorf(model.ErrInvalid, "The connector of host %s has no iSCSI initiator.", j.conn.Host)
	}
	creds := target.Access{InitiatorIQN: initiator, CHAPUser: j.ihost.CHAPUser, CHAPSecret: j.ihost.CHAPSecret}
	exports := map[string]target.Export{}
	dpvs := map[string]*model.DPV{}
	for _, l := range j.legs {
		ex, err := m.agentFor(ctx, dpvs, l.DPVID)
		if err != nil {
			return connector.Plan{}, err
		}
		e, err := ex.ExportLeg(ctx, l.ID, creds)
		if err != nil {
			return connector.Plan{}, fmt.Errorf("export leg %s: %w", l.ID, err)
		}
		if e.Portal == "" {
			e.Portal = dpvs[l.DPVID].TargetPortal
		}
		exports[l.ID] = e
	}
	readOnly := j.att.AttachMode == model.AttachModeRO || j.vol.ReadOnly
	return planFor(j.vol, j.legs, exports, creds, readOnly), nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
