package rpc

// MethodIHostHeartbeat is cast to TopicVolume by a connector daemon every few seconds
// (args: IHostHeartbeat); the volume manager records the host (model.IHost).
const MethodIHostHeartbeat = "ihost_heartbeat"

// IHostHeartbeat is what a compute host's connector daemon reports about itself.
type IHostHeartbeat struct {
	Host      string `json:"host"`      // the connector's "host", as Nova's connector dict names it
	URL       string `json:"url"`       // the daemon's base URL, e.g. http://10.0.0.5:8810
	Initiator string `json:"initiator"` // the host's iSCSI initiator IQN
}

// MethodLegHealth is cast to TopicVolume by a connector daemon when a leg changes state and
// every few seconds (args: LegHealthReport); the volume manager records it (leg_health).
const MethodLegHealth = "leg_health"

// LegHealthReport is a connector daemon's view of every volume it assembles
// (connector/daemon.HealthReport on the wire). A volume missing is no longer assembled there.
type LegHealthReport struct {
	Host    string `json:"host"`
	Volumes []struct {
		VolumeID string `json:"volume_id"`
		Legs     []struct {
			LegID        string `json:"leg_id"`
			State        string `json:"state"`
			Message      string `json:"message,omitempty"`
			DirtyRegions int64  `json:"dirty_regions,omitempty"`
		} `json:"legs"`
	} `json:"volumes"`
}
