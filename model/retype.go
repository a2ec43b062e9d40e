package model

// WfRetypeVolume changes a volume's type; when the new type needs another dvg or another layout
// (and the policy allows), it migrates the volume: new legs, a byte copy, a swap, the old legs
// deleted. The admin action os-migrate_volume uses it too, with no new type.
const WfRetypeVolume = "retype_volume"

// Volume status while a retype or migration runs, and migration statuses, as Cinder names them.
const (
	StatusRetyping     = "retyping"
	MigrationMigrating = "migrating"
	MigrationSuccess   = "success"
	MigrationError     = "error"
)

// Retype migration policies (os-retype migration_policy).
const (
	MigrationNever    = "never"
	MigrationOnDemand = "on-demand"
)

// RetypeParams are the parameters of a retype_volume workflow. The API fills the request part;
// the scheduler fills the placement part when the volume must move.
type RetypeParams struct {
	NewTypeID string `json:"new_type_id,omitempty"` // "" = keep the type (os-migrate_volume)
	Layout    Layout `json:"layout"`                // the layout the new type asks for
	Policy    string `json:"policy"`                // MigrationNever or MigrationOnDemand
	OldStatus string `json:"old_status"`            // status to return to: available
	DestDVGID string `json:"dest_dvg_id,omitempty"` // forced destination (os-migrate_volume host)
	ForceCopy bool   `json:"force_copy,omitempty"`  // migrate even when the current dvg would do

	// Set by the scheduler when the volume moves: the new legs are owned by the workflow id
	// until the swap.
	Migrate bool   `json:"migrate,omitempty"`
	DVGID   string `json:"dvg_id,omitempty"`
	Host    string `json:"host,omitempty"`
}
