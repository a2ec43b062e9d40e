// Package target exports a dpv's legs over iSCSI: one target per leg
// (iqn.<date>.<domain>.dlvm:<leg-id>), the leg as LUN 1, an ACL entry and a CHAP account per
// ihost initiator. Implementations: tgt (tgtd driven by tgtadm, the default) and lio
// (configfs, for hosts with the kernel target).
package target

import "context"

// Export is how an initiator reaches a leg.
type Export struct {
	IQN    string `json:"target_iqn"`
	LUN    int    `json:"target_lun"`
	Portal string `json:"target_portal"` // "ip:port"
}

// Access is one initiator allowed on a target, with its CHAP credentials.
type Access struct {
	InitiatorIQN string `json:"initiator"`
	CHAPUser     string `json:"auth_username"`
	CHAPSecret   string `json:"auth_password"`
}

// Target exports legs. Every method is idempotent.
type Target interface {
	// Export creates (or finds) the leg's target with devicePath as its LUN and returns it.
	Export(ctx context.Context, legID, devicePath string) (Export, error)
	// Allow adds an initiator (ACL + CHAP account bound to the target); allowing one already
	// allowed updates its secret.
	Allow(ctx context.Context, legID string, a Access) error
	// Deny removes an initiator; its sessions on the target are closed. Missing is not an error.
	Deny(ctx context.Context, legID, initiatorIQN string) error
	// Unexport removes the leg's target and its sessions. Missing is not an error.
	Unexport(ctx context.Context, legID string) error
	// Resize makes LUN 1 of the leg's target report the current size of devicePath (the device
	// it exports) after the leg grew. Sessions stay logged in; initiators re-read the capacity
	// (READ CAPACITY) to see it. A leg that is not exported is success. Idempotent. With tgt the
	// LUN is re-created, so the caller pauses the hosts' I/O on the leg around it.
	Resize(ctx context.Context, legID, devicePath string) error
	// List returns the leg ids of every dlvm target present (to resync after a reboot and to
	// report targets nobody knows).
	List(ctx context.Context) ([]string, error)
}
