package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// quiesceTimeout bounds how long a guest's I/O may stay paused for a snapshot.
const quiesceTimeout = 30 * time.Second

// quiesceHosts pauses I/O on every host where the volume is assembled by a dlvm connector
// (driver type "local"), so that every leg is snapshotted at one instant: the snapshot is then
// crash-consistent across legs. Single-leg iSCSI attachments need no pause (one leg is one
// instant). It returns the func that resumes them all.
func (m *Manager) quiesceHosts(ctx context.Context, volumeID string, log *slog.Logger) (func(), error) {
	atts, err := m.db.Store().ListAttachments(ctx, db.AttachmentQuery{VolumeID: volumeID})
	if err != nil {
		return nil, err
	}
	var paused []HostConnector
	resume := func() {
		for _, q := range paused {
			if err := q.Resume(context.WithoutCancel(ctx), volumeID); err != nil {
				log.Warn("resume after snapshot failed; the host resumes by itself", "err", err)
			}
		}
	}
	hosts := map[string]bool{}
	for _, a := range atts {
		if a.Host == "" || hosts[a.Host] || !assembledOnHost(a) {
			continue
		}
		hosts[a.Host] = true
		ih, err := m.db.Store().GetIHost(ctx, a.Host)
		if err != nil {
			resume()
			return nil, fmt.Errorf("host %s of attachment %s: %w", a.Host, a.ID, err)
		}
		q := m.connectorFor(ih.URL)
		if q == nil {
			resume()
			return nil, model.Errorf(model.ErrInvalid, "Host %s runs no dlvm connector to pause I/O for a snapshot.", a.Host)
		}
		if err := q.Quiesce(ctx, volumeID, quiesceTimeout); err != nil {
			resume()
			return nil, hostErr(a.Host, err)
		}
		paused = append(paused, q)
		log.Info("I/O paused for the snapshot", "host", a.Host)
	}
	return resume, nil
}

// connectorFor returns the daemon client at url, or nil when the manager has no dialer.
func (m *Manager) connectorFor(url string) HostConnector {
	if m.opts.Connectors == nil || url == "" {
		return nil
	}
	return m.opts.Connectors(url)
}

// assembledOnHost says whether an attachment's volume is assembled by the host's dlvm connector.
func assembledOnHost(a *model.Attachment) bool {
	if a.Status != model.AttachAttached && a.Status != model.AttachAttaching {
		return false
	}
	var ci struct {
		Kind string `json:"driver_volume_type"`
	}
	if err := json.Unmarshal(a.ConnectionInfo, &ci); err != nil {
		return false
	}
	return ci.Kind == "local"
}
