package model

// WfReplaceLeg replaces a leg lost with its dpv by a new leg on another dpv, resynced while
// the volume stays in use (params: the volume manager's ReplaceParams).
const WfReplaceLeg = "replace_leg"

// Owner kinds of legs in the middle of a replacement.
const (
	// OwnerReplacement: a new leg being filled; OwnerID is the replace_leg workflow. It joins
	// its volume (OwnerVolume) once in sync.
	OwnerReplacement = "replacement"
	// OwnerRetired: a replaced leg, LegDeleting until its dpv answers again and it is deleted
	// there; OwnerID is the leg that replaced it.
	OwnerRetired = "retired"
)
