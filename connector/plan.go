// Package connector is dlvm's compute-host side, like os-brick: it logs in to a volume's legs
// over iSCSI, assembles them into the volume's mirror/stripe geometry and exposes the result as
// one block device. Two engines sit behind Engine: kernel (iscsiadm + device-mapper) and
// userspace (a Go iSCSI initiator, mirror and stripe in Go, exported over NBD and a FUSE file
// under a loop device). It never imports server packages.
package connector

import "context"

// Plan is everything a host needs to assemble one volume: what the service returns in the
// connection_info of driver type "dlvm".
type Plan struct {
	VolumeID  string    `json:"volume_id"`
	SizeBytes int64     `json:"size_bytes"` // the volume's size (legs hold SizeBytes/Stripes each, chunk-rounded)
	Mirrors   int       `json:"mirrors"`
	Stripes   int       `json:"stripes"`
	ChunkKiB  int       `json:"chunk_kib"`
	ReadOnly  bool      `json:"read_only"`
	Legs      []PlanLeg `json:"legs"`
}

// PlanLeg is one leg: where its iSCSI LUN is and how to log in.
type PlanLeg struct {
	LegID      string `json:"leg_id"`
	Group      int    `json:"group"`
	Mirror     int    `json:"mirror"`
	SizeBytes  int64  `json:"size_bytes"`
	Portal     string `json:"target_portal"` // "ip:port"
	IQN        string `json:"target_iqn"`
	LUN        int    `json:"target_lun"`
	AuthMethod string `json:"auth_method,omitempty"` // "CHAP" or ""
	AuthUser   string `json:"auth_username,omitempty"`
	AuthSecret string `json:"auth_password,omitempty"`
}

// HostInfo is the connector properties a host reports (Nova's connector dict).
type HostInfo struct {
	Host      string `json:"host"`
	IP        string `json:"ip"`
	Initiator string `json:"initiator"` // this host's iSCSI initiator IQN
	Platform  string `json:"platform"`
	OSType    string `json:"os_type"`
	Multipath bool   `json:"multipath"`
}

// Attached describes an assembled volume on this host.
type Attached struct {
	VolumeID   string `json:"volume_id"`
	DevicePath string `json:"device_path"`          // /dev/mapper/dlvm-<id> or /dev/loopN
	NBDSocket  string `json:"nbd_socket,omitempty"` // userspace engine: nbd+unix:///?socket=...
}

// LegHealth is one leg's state as the host sees it.
type LegHealth struct {
	LegID   string `json:"leg_id"`
	State   string `json:"state"` // "ok", "failed", "resyncing"
	Message string `json:"message,omitempty"`
	// DirtyRegions counts the regions of the leg's mirror written while a leg was out of sync
	// (what a returning leg must be given); 0 where the engine cannot tell.
	DirtyRegions int64 `json:"dirty_regions,omitempty"`
}

// Engine assembles and tears down volumes on this host.
type Engine interface {
	// Attach logs in to every leg of the plan, assembles the geometry and returns the device.
	// Idempotent: attaching an attached volume returns the existing device. On failure nothing
	// is left behind (sessions logged out, devices removed).
	Attach(ctx context.Context, p Plan) (*Attached, error)
	// Detach flushes, removes the device and logs out of the legs. A volume not attached here
	// is not an error.
	Detach(ctx context.Context, volumeID string) error
	// Extend grows an attached volume to the plan's (larger) size after its legs grew.
	Extend(ctx context.Context, p Plan) error
	// ReplaceLeg swaps a failed leg for a new one and resyncs it while the volume stays in use.
	ReplaceLeg(ctx context.Context, volumeID string, old string, leg PlanLeg) error
	// Health reports every leg of an attached volume.
	Health(ctx context.Context, volumeID string) ([]LegHealth, error)
	// Quiesce pauses I/O on the volume (new writes wait) until the returned func is called;
	// used to take crash-consistent snapshots across legs.
	Quiesce(ctx context.Context, volumeID string) (resume func(), err error)
}
