package apiv3

import (
	"context"
	"net/http"
	"sort"
	"strings"
)

// volumeActionFunc handles one POST /volumes/{id}/action verb; arg is the verb's value.
type volumeActionFunc func(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error

// volumeActions are the verbs served now (the attach verbs are in volume_attach_actions.go).
var volumeActions = map[string]volumeActionFunc{
	"os-extend":                actExtend,
	"os-reset_status":          actResetStatus,
	"os-force_delete":          actForceDelete,
	"os-set_bootable":          actSetBootable,
	"os-update_readonly_flag":  actReadonly,
	"os-reserve":               actReserve,
	"os-unreserve":             actUnreserve,
	"os-begin_detaching":       actBeginDetaching,
	"os-roll_detaching":        actRollDetaching,
	"os-initialize_connection": actInitializeConnection,
	"os-terminate_connection":  actTerminateConnection,
	"os-attach":                actAttach,
	"os-detach":                actDetach,
	"os-force_detach":          actForceDetach,
	"os-retype":                actRetype,
	"os-migrate_volume":        actMigrateVolume,
	"os-unmanage":              actUnmanage,
}

// knownUnimplemented are Cinder verbs this service does not offer (yet): 501, not 400.
var knownUnimplemented = []string{
	"os-migrate_volume_completion", "revert",
	"os-enable_replication", "os-disable_replication", "os-failover_replication", "os-list_replication_targets",
}

// imageActions need an image service (Glance), which dlvm is not configured with: a clear 400.
var imageActions = []string{
	"os-volume_upload_image", "os-reimage", "os-set_image_metadata", "os-unset_image_metadata", "os-show_image_metadata",
}

// singleAction returns the one action of an action body.
func singleAction(o object) (string, any, error) {
	if len(o) != 1 {
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "", nil, badRequest("There is no such action: %s. Verify the request body and Content-Type header and try again.", strings.Join(keys, ","))
	}
	for k, v := range o {
		return k, v, nil
	}
	return "", nil, nil
}

func (h *Handler) volumeAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := volumeID(r)
	if err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	name, arg, err := singleAction(o)
	if err != nil {
		return err
	}
	f, ok := volumeActions[name]
	if !ok {
		if contains(knownUnimplemented, name) {
			return &fault{http.StatusNotImplemented, "Action " + name + " is not implemented by this service."}
		}
		if contains(imageActions, name) {
			if _, err := h.svc.GetVolume(ctx, state(ctx).caller, id); err != nil {
				return err
			}
			return badRequest("Action %s needs an image service, and this dlvm has none configured (no Glance).", name)
		}
		return badRequest("There is no such action: %s. Verify the request body and Content-Type header and try again.", name)
	}
	return f(ctx, h, w, id, arg)
}

// argObject returns an action's argument as an object (null -> {}).
func argObject(name string, arg any) (object, error) {
	if arg == nil {
		return object{}, nil
	}
	m, ok := arg.(map[string]any)
	if !ok {
		return nil, invalidField(name, arg, repr(arg)+" is not of type 'object'")
	}
	return object(m), nil
}

// adminAction runs the admin actions snapshots and backups share, each under its policy
// volume_extension:<resource>_admin_actions:*: os-reset_status (reset gets the status, lower
// case) and os-force_delete. ok is false for any other action, which the caller handles.
func adminAction(ctx context.Context, resource, name string, arg any, reset func(status string) error, forceDelete func() error) (ok bool, err error) {
	policy := "volume_extension:" + resource + "_admin_actions:"
	switch name {
	case "os-reset_status":
		if err := authorizeAdmin(ctx, policy+"reset_status"); err != nil {
			return true, err
		}
		_, status, err := statusArg(name, arg)
		if err != nil {
			return true, err
		}
		return true, reset(strings.ToLower(status))
	case "os-force_delete":
		if err := authorizeAdmin(ctx, policy+"force_delete"); err != nil {
			return true, err
		}
		return true, forceDelete()
	}
	return false, nil
}

// statusArg reads the argument of a status action (os-reset_status of snapshots and backups,
// os-update_snapshot_status): an object with a required, non-empty "status" and optionally the
// keys in extra. It returns the object (for the extra keys) and the status.
func statusArg(name string, arg any, extra ...string) (object, string, error) {
	a, err := argObject(name, arg)
	if err != nil {
		return nil, "", err
	}
	if err := onlyKeys(a, name, append([]string{"status"}, extra...)...); err != nil {
		return nil, "", err
	}
	status, present, err := optString(a, "status", 255, false)
	if err != nil {
		return nil, "", err
	}
	if !present || status == "" {
		return nil, "", badRequest("Invalid input for field/attribute %s. Value: %s. 'status' is a required property", name, repr(map[string]any(a)))
	}
	return a, status, nil
}

func actExtend(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeWrite(ctx, "volume:extend"); err != nil {
		return err
	}
	o, err := argObject("os-extend", arg)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "os-extend", "new_size"); err != nil {
		return err
	}
	v, ok := o["new_size"]
	if !ok {
		return badRequest("Invalid input for field/attribute os-extend. Value: %s. 'new_size' is a required property", repr(map[string]any(o)))
	}
	size, err := parseSize("new_size", v)
	if err != nil {
		return err
	}
	if err := h.extendFor(ctx)(ctx, state(ctx).caller, id, size); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func actResetStatus(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeAdmin(ctx, "volume_extension:volume_admin_actions:reset_status"); err != nil {
		return err
	}
	o, err := argObject("os-reset_status", arg)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "os-reset_status", "status", "attach_status", "migration_status"); err != nil {
		return err
	}
	var vals [3]string
	for i, k := range []string{"status", "attach_status", "migration_status"} {
		s, _, err := optString(o, k, 255, false)
		if err != nil {
			return err
		}
		vals[i] = strings.ToLower(s)
	}
	if vals == [3]string{} {
		return badRequest("Must specify 'status', 'attach_status' or 'migration_status' for update.")
	}
	if err := h.svc.ResetVolumeStatus(ctx, state(ctx).caller, id, vals[0], vals[1], vals[2]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func actForceDelete(ctx context.Context, h *Handler, w http.ResponseWriter, id string, _ any) error {
	if err := authorizeAdmin(ctx, "volume_extension:volume_admin_actions:force_delete"); err != nil {
		return err
	}
	if err := h.svc.DeleteVolume(ctx, state(ctx).caller, id, false, true); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

// flagArg reads the single boolean field of os-set_bootable / os-update_readonly_flag.
func flagArg(action, field string, arg any) (bool, error) {
	o, err := argObject(action, arg)
	if err != nil {
		return false, err
	}
	if err := onlyKeys(o, action, field); err != nil {
		return false, err
	}
	v, ok := o[field]
	if !ok {
		return false, badRequest("Invalid input for field/attribute %s. Value: %s. '%s' is a required property", action, repr(map[string]any(o)), field)
	}
	return parseBool(field, v)
}

func actSetBootable(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeWrite(ctx, "volume_extension:volume_actions:set_bootable"); err != nil {
		return err
	}
	b, err := flagArg("os-set_bootable", "bootable", arg)
	if err != nil {
		return err
	}
	if err := h.svc.SetBootable(ctx, state(ctx).caller, id, b); err != nil {
		return err
	}
	writeEmpty(w, http.StatusOK)
	return nil
}

func actReadonly(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeWrite(ctx, "volume:update_readonly_flag"); err != nil {
		return err
	}
	b, err := flagArg("os-update_readonly_flag", "readonly", arg)
	if err != nil {
		return err
	}
	if err := h.svc.SetReadOnly(ctx, state(ctx).caller, id, b); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
