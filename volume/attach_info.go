package volume

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"time"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
	"github.com/dlvm-project/dlvm/volume/target"
)

// HostConnector is a compute host's connector daemon (connector/daemon.Client).
type HostConnector interface {
	// Attach assembles the plan's volume on the host and returns its device; attaching an
	// attached volume returns the existing device. On failure nothing is left on the host.
	Attach(ctx context.Context, p connector.Plan) (*connector.Attached, error)
	// Detach tears the volume down on the host; a volume not attached there is success.
	Detach(ctx context.Context, volumeID string) error
	// Quiesce pauses the volume's I/O on the host: new writes wait, writes in flight complete
	// and are flushed. The host resumes by itself after timeout, so a manager that dies
	// mid-snapshot never freezes a guest.
	Quiesce(ctx context.Context, volumeID string, timeout time.Duration) error
	// Resume ends a Quiesce; resuming a volume that is not paused is success.
	Resume(ctx context.Context, volumeID string) error
	// Extend grows the assembled volume to the plan's size after its legs (and their LUNs)
	// grew; repeating it is success. A volume not attached there is an error whose NotFound()
	// is true.
	Extend(ctx context.Context, p connector.Plan) error
	// ReplaceLeg swaps leg old of the assembled volume for leg and resyncs it fully while the
	// volume stays in use; replacing a leg already replaced is success.
	ReplaceLeg(ctx context.Context, volumeID, old string, leg connector.PlanLeg) error
	// Health reports every leg of the assembled volume as the host sees it.
	Health(ctx context.Context, volumeID string) ([]connector.LegHealth, error)
}

// ConnectorDialer returns the client of the connector daemon at url (model.IHost.URL).
type ConnectorDialer func(url string) HostConnector

// connectorDict is what the attach flows read of Nova's connector dict.
type connectorDict struct {
	Host      string `json:"host"`
	IP        string `json:"ip"`
	Initiator string `json:"initiator"`
	Mode      string `json:"mode"`
	// DLVM asks for the "dlvm" driver type with the full plan (the project's own clients).
	DLVM bool `json:"dlvm"`
}

// errBackend is the kind of attach failures that are the backend's fault (500 at the API).
var errBackend = errors.New("backend failure")

// temporary is implemented by connector daemon client errors.
type temporary interface{ Temporary() bool }

// hostErr classifies a connector daemon failure: unreachable or busy is ErrUnavailable (the
// workflow retries), anything else a backend failure.
func hostErr(host string, err error) error {
	var t temporary
	if errors.As(err, &t) && t.Temporary() {
		return model.Wrap(model.ErrUnavailable, err, "The connector on host "+host+" cannot be reached.")
	}
	return &model.UserError{Kind: errBackend, Msg: "The connector on host " + host + " could not assemble the volume.", Cause: err}
}

// RecordIHostHeartbeat stores a connector daemon's report (URL, initiator, heartbeat time). A
// host seen for the first time gets its CHAP credentials here.
func (m *Manager) RecordIHostHeartbeat(ctx context.Context, hb rpc.IHostHeartbeat) error {
	user, secret := newCHAP()
	return m.db.Store().UpsertIHost(ctx, &model.IHost{Host: hb.Host, URL: hb.URL, Initiator: hb.Initiator,
		CHAPUser: user, CHAPSecret: secret, HeartbeatAt: time.Now().UTC()})
}

// newCHAP returns fresh CHAP credentials: a 16-character user name and a 24-character secret
// (letters and digits; tgt and open-iscsi accept 12..255).
func newCHAP() (user, secret string) {
	return "dlvm" + randomText(12), randomText(24)
}

func randomText(n int) string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// planFor builds the connector plan of a volume from its legs and their exports.
func planFor(v *model.Volume, legs []*model.Leg, exports map[string]target.Export, creds target.Access, readOnly bool) connector.Plan {
	p := connector.Plan{VolumeID: v.ID, SizeBytes: int64(v.Size) * model.GiB, Mirrors: v.Layout.Mirrors,
		Stripes: v.Layout.Stripes, ChunkKiB: v.Layout.ChunkKiB, ReadOnly: readOnly}
	for _, l := range legs {
		e := exports[l.ID]
		p.Legs = append(p.Legs, connector.PlanLeg{LegID: l.ID, Group: l.Group, Mirror: l.Mirror, SizeBytes: l.SizeBytes,
			Portal: e.Portal, IQN: e.IQN, LUN: e.LUN, AuthMethod: "CHAP", AuthUser: creds.CHAPUser, AuthSecret: creds.CHAPSecret})
	}
	return p
}

// connectionInfo returns Cinder's flat connection_info (the driver's data keys,
// driver_volume_type and attachment_id, as attachment_update answers Nova):
//   - "dlvm" when the connector asked for it: data carries the full plan under "plan";
//   - "iscsi" for a single-leg volume: stock os-brick logs in to the one LUN with CHAP;
//   - "local" otherwise: device_path is the device the host's connector assembled.
//
// qos is the hypervisor's share of the type's QoS specs (frontEndQos); nil answers null.
func connectionInfo(kind, attachmentID string, p connector.Plan, devicePath string, qos map[string]string) ([]byte, error) {
	mode := model.AttachModeRW
	if p.ReadOnly {
		mode = model.AttachModeRO
	}
	info := map[string]any{
		"driver_volume_type": kind,
		"attachment_id":      attachmentID,
		"volume_id":          p.VolumeID,
		"access_mode":        mode,
		"encrypted":          false,
		"qos_specs":          qos,
		"discard":            true,
	}
	switch kind {
	case "dlvm":
		info["plan"] = p
		if devicePath != "" {
			info["device_path"] = devicePath
		}
	case "iscsi":
		l := p.Legs[0]
		info["target_discovered"] = false
		info["target_portal"] = l.Portal
		info["target_iqn"] = l.IQN
		info["target_lun"] = l.LUN
		info["auth_method"] = "CHAP"
		info["auth_username"] = l.AuthUser
		info["auth_password"] = l.AuthSecret
	case "local":
		info["device_path"] = devicePath
	}
	return json.Marshal(info)
}

// driverKind picks the connection type of an attachment (see connectionInfo).
func driverKind(c connectorDict, v *model.Volume) string {
	switch {
	case c.DLVM:
		return "dlvm"
	case v.Layout.Legs() == 1:
		return "iscsi"
	}
	return "local"
}

// frontEndQos returns the QoS keys the hypervisor should apply to volumes of type typeID
// (connection_info's qos_specs, as Cinder fills it): the keys of the type's QoS specs when their
// consumer is front-end or both; nil when the type has no specs, back-end ones only, or the
// type or specs were deleted meanwhile.
func (m *Manager) frontEndQos(ctx context.Context, typeID string) (map[string]string, error) {
	if typeID == "" {
		return nil, nil
	}
	s := m.db.Store()
	t, err := s.GetType(ctx, typeID)
	if errors.Is(err, model.ErrNotFound) || (err == nil && t.QosSpecsID == "") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	q, err := s.GetQos(ctx, t.QosSpecsID)
	if errors.Is(err, model.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if q.Consumer != model.QosFrontEnd && q.Consumer != model.QosBoth {
		return nil, nil
	}
	return q.Specs, nil
}
