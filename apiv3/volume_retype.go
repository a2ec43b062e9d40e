package apiv3

import (
	"context"
	"net/http"

	"github.com/dlvm-project/dlvm/volume/api"
)

// RetypeService is what os-retype and os-migrate_volume need from the service layer.
type RetypeService interface {
	RetypeVolume(ctx context.Context, c api.Caller, id, newType, policy string) error
	MigrateVolume(ctx context.Context, c api.Caller, id, host string, forceHostCopy bool) error
}

// actRetype: {"os-retype": {"new_type": "<id or name>", "migration_policy": "never"|"on-demand"}}
// -> 202; the retype finishes asynchronously (volume_type changes, or the volume migrates).
func actRetype(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeWrite(ctx, "volume:retype"); err != nil {
		return err
	}
	o, err := argObject("os-retype", arg)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "os-retype", "new_type", "migration_policy"); err != nil {
		return err
	}
	newType, present, err := optString(o, "new_type", 255, false)
	if err != nil {
		return err
	}
	if !present || newType == "" {
		return badRequest("Invalid input for field/attribute os-retype. Value: %s. 'new_type' is a required property", repr(map[string]any(o)))
	}
	policy, _, err := optString(o, "migration_policy", 255, false)
	if err != nil {
		return err
	}
	switch policy {
	case "", "never", "on-demand":
	default:
		return invalidField("migration_policy", o["migration_policy"], repr(policy)+" is not one of ['on-demand', 'never']")
	}
	if err := h.svc.RetypeVolume(ctx, state(ctx).caller, id, newType, policy); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

// actMigrateVolume (admin): {"os-migrate_volume": {"host": "dlvm@dlvm-2#dlvm-2",
// "force_host_copy": false, "lock_volume": false}} -> 202. dlvm always locks the volume and copies
// through its managers, so both flags are accepted and validated but change nothing.
func actMigrateVolume(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeAdmin(ctx, "volume_extension:volume_admin_actions:migrate_volume"); err != nil {
		return err
	}
	o, err := argObject("os-migrate_volume", arg)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "os-migrate_volume", "host", "force_host_copy", "lock_volume", "cluster"); err != nil {
		return err
	}
	host, _, err := optString(o, "host", 255, false)
	if err != nil {
		return err
	}
	if host == "" {
		return badRequest("Invalid input received: host must be given (dlvm has no clusters).")
	}
	force := false
	for _, k := range []string{"force_host_copy", "lock_volume"} {
		if v, ok := o[k]; ok {
			b, err := parseBool(k, v)
			if err != nil {
				return err
			}
			if k == "force_host_copy" {
				force = b
			}
		}
	}
	if err := h.svc.MigrateVolume(ctx, state(ctx).caller, id, host, force); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
