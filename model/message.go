package model

import "time"

// Message is a user message (Cinder 3.3+): what went wrong with a resource, in words a project
// member may read, built from an action and a detail as Cinder's message_field does.
type Message struct {
	ID           string
	ProjectID    string
	RequestID    string
	ResourceType string // MsgResourceVolume, MsgResourceSnapshot
	ResourceUUID string
	EventID      string // "VOLUME_<resource type>_<action id>_<detail id>"
	Level        string // "ERROR"
	UserMessage  string // "<action>: <detail>"
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// Message resource types and level, spelled as Cinder spells them.
const (
	MsgResourceVolume   = "VOLUME"
	MsgResourceSnapshot = "VOLUME_SNAPSHOT"
	MsgLevelError       = "ERROR"
)

// MsgAction is one of Cinder's message actions: an id and the words for it.
type MsgAction struct{ ID, Text string }

// MsgDetail is one of Cinder's message details.
type MsgDetail struct{ ID, Text string }

// Actions and details dlvm reports, with Cinder's ids and text (cinder/message/message_field.py).
var (
	ActionScheduleAllocateVolume  = MsgAction{"001", "schedule allocate volume"}
	ActionExtendVolume            = MsgAction{"007", "extend volume"}
	ActionCreateVolumeFromBackend = MsgAction{"008", "create volume from backend storage"}
	ActionSnapshotCreate          = MsgAction{"009", "create snapshot"}
	ActionSnapshotDelete          = MsgAction{"010", "delete snapshot"}

	DetailUnknownError        = MsgDetail{"001", "An unknown error occurred."}
	DetailNoBackendAvailable  = MsgDetail{"003", "Could not find any available weighted backend."}
	DetailDriverFailedExtend  = MsgDetail{"010", "Volume Driver failed to extend volume."}
	DetailDriverFailedCreate  = MsgDetail{"012", "Driver failed to create the volume."}
	DetailSnapshotCreateError = MsgDetail{"013", "Snapshot failed to create."}
	DetailSnapshotDeleteError = MsgDetail{"016", "Snapshot failed to delete."}

	// dlvm's own, numbered above Cinder's: a mirror leg lost with its storage server and rebuilt
	// on another while the volume stays in use.
	ActionReplaceLeg = MsgAction{"900", "replace mirror leg"}
	DetailLegLostDPV = MsgDetail{"900", "A storage server holding a mirror of this volume stopped answering; the mirror is being rebuilt on another server while the volume stays usable."}
)

// DefaultMessageTTL is Cinder's message_ttl default: a message is kept 30 days.
const DefaultMessageTTL = 30 * 24 * time.Hour

// NewMessage builds the message for action failing with detail on a resource of project,
// created at now and kept for ttl. ID and RequestID are left to the caller.
func NewMessage(project, resourceType, resourceUUID string, action MsgAction, detail MsgDetail, now time.Time, ttl time.Duration) *Message {
	if ttl <= 0 {
		ttl = DefaultMessageTTL
	}
	return &Message{
		ProjectID: project, ResourceType: resourceType, ResourceUUID: resourceUUID,
		EventID:     "VOLUME_" + resourceType + "_" + action.ID + "_" + detail.ID,
		Level:       MsgLevelError,
		UserMessage: action.Text + ": " + detail.Text,
		CreatedAt:   now, ExpiresAt: now.Add(ttl),
	}
}
