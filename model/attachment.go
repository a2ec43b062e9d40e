package model

import (
	"encoding/json"
	"time"
)

// Attach statuses beyond attached/detached (Cinder's VolumeAttachStatus). They are the status
// of an attachment and, derived from its attachments (AttachState), a volume's attach_status.
const (
	AttachReserved       = "reserved"
	AttachAttaching      = "attaching"
	AttachDetaching      = "detaching"
	AttachErrorAttaching = "error_attaching"
	AttachErrorDetaching = "error_detaching"
)

// Attachment modes.
const (
	AttachModeRW = "rw"
	AttachModeRO = "ro"
)

// Workflow kinds of the attach flows. Both take AttachParams.
const (
	WfAttachVolume = "attach_volume"
	WfDetachVolume = "detach_volume"
)

// AttachParams are the parameters of attach_volume and detach_volume workflows.
type AttachParams struct {
	AttachmentID string `json:"attachment_id"`
	// Delete (detach only): soft-delete the attachment once unexported, and derive the volume's
	// status from what remains. Without it only the connection is torn down and cleared
	// (os-terminate_connection keeps an attached record until os-detach).
	Delete bool `json:"delete,omitempty"`
}

// Attachment is one use of a volume by an instance (Cinder's volume_attachment). Connector is
// the raw connector dict the compute host sent; ConnectionInfo is what the attach workflow
// answered, flat (data keys + driver_volume_type + attachment_id), nil while not connected.
type Attachment struct {
	ID             string
	VolumeID       string
	InstanceUUID   string // "" for a legacy connection not yet bound to an instance (or Glance)
	ProjectID      string
	Status         string // AttachReserved, AttachAttaching, AttachAttached, AttachDetaching, AttachDetached, AttachErrorAttaching
	AttachMode     string // AttachModeRW or AttachModeRO
	Host           string // connector "host": the ihost the volume is connected to, "" if none yet
	Mountpoint     string
	Connector      json.RawMessage // nil if none
	ConnectionInfo json.RawMessage // nil if not connected
	ErrorReason    string          // last attach/detach failure, user-safe
	AttachedAt     *time.Time
	DetachedAt     *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Deleted        bool
}

// IHost is a compute host running the dlvm connector. CHAPUser/CHAPSecret are generated once,
// when the host is first seen, and used for every leg exported to its initiator.
type IHost struct {
	Host        string // the connector's "host" (Nova's compute host name)
	URL         string // connector daemon base URL, "" if the host runs none (stock os-brick)
	Initiator   string // iSCSI initiator IQN
	CHAPUser    string
	CHAPSecret  string
	HeartbeatAt time.Time // zero if the daemon never reported
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// AttachState derives a volume's status and attach_status from its live (not deleted, not
// detached) attachments, by Cinder's priority: attached (in-use) > attaching > detaching >
// reserved (error_attaching counts as reserved); none leaves it available and detached.
func AttachState(atts []*Attachment) (status, attachStatus string) {
	has := map[string]bool{}
	for _, a := range atts {
		if !a.Deleted && a.Status != AttachDetached {
			has[a.Status] = true
		}
	}
	switch {
	case has[AttachAttached]:
		return StatusInUse, AttachAttached
	case has[AttachAttaching]:
		return StatusAttaching, AttachAttaching
	case has[AttachDetaching]:
		return StatusDetaching, AttachDetaching
	case len(has) > 0:
		return StatusReserved, AttachReserved
	}
	return StatusAvailable, AttachDetached
}

// AttachStatuses are the volume statuses AttachState may set; a volume in another status
// (extending, maintenance, error...) keeps it when its attachments change.
var AttachStatuses = []string{StatusAvailable, StatusReserved, StatusAttaching, StatusInUse, StatusDetaching}
