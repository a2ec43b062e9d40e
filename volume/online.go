package volume

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// hostJobs returns one attach job per host where the volume is assembled by a dlvm connector
// (attached or attaching, driver type "local"), with the host's row and the volume's legs.
func (m *Manager) hostJobs(ctx context.Context, v *model.Volume, legs []*model.Leg) ([]*attachJob, error) {
	st := m.db.Store()
	atts, err := st.ListAttachments(ctx, db.AttachmentQuery{VolumeID: v.ID})
	if err != nil {
		return nil, err
	}
	var jobs []*attachJob
	seen := map[string]bool{}
	for _, a := range atts {
		if a.Host == "" || seen[a.Host] || !assembledOnHost(a) {
			continue
		}
		seen[a.Host] = true
		j := &attachJob{att: a, vol: v, legs: legs}
		if len(a.Connector) > 0 {
			if err := json.Unmarshal(a.Connector, &j.conn); err != nil {
				return nil, model.Errorf(model.ErrInvalid, "The connector of attachment %s is not a JSON object.", a.ID)
			}
		}
		if j.conn.Host == "" {
			j.conn.Host = a.Host
		}
		if j.ihost, err = st.GetIHost(ctx, a.Host); err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// growHosts makes every host that assembles the volume grow its device to the volume's
// (new) size: the legs are exported again (idempotent) to build the plan, and the host rescans
// them and reloads its mirror/stripe. A host that no longer has the volume (detached meanwhile)
// is skipped.
func (m *Manager) growHosts(ctx context.Context, jobs []*attachJob, log *slog.Logger) error {
	for _, j := range jobs {
		hc := m.connectorFor(j.ihost.URL)
		if hc == nil {
			return model.Errorf(model.ErrInvalid, "Host %s runs no dlvm connector to grow volume %s.", j.att.Host, j.vol.ID)
		}
		plan, err := m.exportPlan(ctx, j)
		if err != nil {
			return err
		}
		if err := hc.Extend(ctx, plan); err != nil {
			var nf interface{ NotFound() bool }
			if errors.As(err, &nf) && nf.NotFound() {
				log.Info("host no longer has the volume; nothing to grow there", "host", j.att.Host)
				continue
			}
			return hostErr(j.att.Host, err)
		}
		log.Info("volume grown on its host", "host", j.att.Host, "size_bytes", plan.SizeBytes)
	}
	return nil
}

// notifyExtended sends Nova a volume-extended event for every server the volume is attached
// to, when Nova is configured. Failures are logged: the volume did grow, and the guest sees
// the new size at its next rescan.
func (m *Manager) notifyExtended(ctx context.Context, volumeID string, log *slog.Logger) {
	atts, err := m.db.Store().ListAttachments(ctx, db.AttachmentQuery{VolumeID: volumeID})
	if err != nil {
		log.Warn("cannot list attachments to tell Nova of the extend", "err", err)
		return
	}
	var servers []string
	for _, a := range atts {
		if a.InstanceUUID != "" && a.Status == model.AttachAttached {
			servers = append(servers, a.InstanceUUID)
		}
	}
	if len(servers) == 0 {
		return
	}
	if m.opts.Nova == nil {
		log.Info("no [nova] section configured: Nova is not told that the attached volume grew", "servers", servers)
		return
	}
	if err := m.opts.Nova.VolumeExtended(ctx, volumeID, servers); err != nil {
		log.Warn("Nova was not told that the attached volume grew", "servers", servers, "err", err)
		return
	}
	log.Info("Nova told that the attached volume grew", "servers", servers)
}
