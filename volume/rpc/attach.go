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
