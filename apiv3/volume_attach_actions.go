package apiv3

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/dlvm-project/dlvm/volume/api"
)

type callerT = api.Caller

// The legacy attach verbs of POST /volumes/{id}/action (registered in volumeActions).

// simpleAttachAction returns a verb with no argument that calls fn and answers 202.
func simpleAttachAction(policy string, fn func(s AttachService) func(ctx context.Context, c callerT, id string) error) volumeActionFunc {
	return func(ctx context.Context, h *Handler, w http.ResponseWriter, id string, _ any) error {
		if err := authorizeWrite(ctx, policy); err != nil {
			return err
		}
		if err := fn(h.svc)(ctx, state(ctx).caller, id); err != nil {
			return err
		}
		writeEmpty(w, http.StatusAccepted)
		return nil
	}
}

var (
	actReserve = simpleAttachAction("volume_extension:volume_actions:reserve",
		func(s AttachService) func(context.Context, callerT, string) error { return s.ReserveVolume })
	actUnreserve = simpleAttachAction("volume_extension:volume_actions:unreserve",
		func(s AttachService) func(context.Context, callerT, string) error { return s.UnreserveVolume })
	actBeginDetaching = simpleAttachAction("volume_extension:volume_actions:begin_detaching",
		func(s AttachService) func(context.Context, callerT, string) error { return s.BeginDetaching })
	actRollDetaching = simpleAttachAction("volume_extension:volume_actions:roll_detaching",
		func(s AttachService) func(context.Context, callerT, string) error { return s.RollDetaching })
)

// requiredConnector reads the mandatory "connector" object of a connection verb.
func requiredConnector(action string, arg any) (json.RawMessage, error) {
	o, err := argObject(action, arg)
	if err != nil {
		return nil, err
	}
	conn, err := connectorField(o, action)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, badRequest("Invalid input for field/attribute %s. Value: %s. 'connector' is a required property", action, repr(map[string]any(o)))
	}
	return conn, nil
}

// actInitializeConnection answers {"connection_info":{"driver_volume_type":T,"data":{...}}}.
func actInitializeConnection(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeWrite(ctx, "volume_extension:volume_actions:initialize_connection"); err != nil {
		return err
	}
	conn, err := requiredConnector("os-initialize_connection", arg)
	if err != nil {
		return err
	}
	flat, err := h.svc.InitializeConnection(ctx, state(ctx).caller, id, conn)
	if err != nil {
		return err
	}
	data := map[string]any{}
	if err := json.Unmarshal(flat, &data); err != nil {
		return err
	}
	kind := data["driver_volume_type"]
	delete(data, "driver_volume_type")
	writeJSON(w, http.StatusOK, map[string]any{"connection_info": map[string]any{"driver_volume_type": kind, "data": data}})
	return nil
}

func actTerminateConnection(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeWrite(ctx, "volume_extension:volume_actions:terminate_connection"); err != nil {
		return err
	}
	conn, err := requiredConnector("os-terminate_connection", arg)
	if err != nil {
		return err
	}
	if err := h.svc.TerminateConnection(ctx, state(ctx).caller, id, conn); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

// actAttach is os-attach {instance_uuid, host_name, mountpoint, mode}.
func actAttach(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeWrite(ctx, "volume_extension:volume_actions:attach"); err != nil {
		return err
	}
	o, err := argObject("os-attach", arg)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "os-attach", "instance_uuid", "host_name", "mountpoint", "mode"); err != nil {
		return err
	}
	instance, err := optUUID(o, "instance_uuid")
	if err != nil {
		return err
	}
	var vals [3]string
	for i, k := range []string{"host_name", "mountpoint", "mode"} {
		if vals[i], _, err = optString(o, k, 255, false); err != nil {
			return err
		}
	}
	if vals[1] == "" {
		return badRequest("Invalid input for field/attribute os-attach. Value: %s. 'mountpoint' is a required property", repr(map[string]any(o)))
	}
	if instance == "" && vals[0] == "" {
		return badRequest("Invalid request to attach volume to an invalid target")
	}
	if vals[2] != "" && vals[2] != "rw" && vals[2] != "ro" {
		return badRequest("Invalid request to attach volume with an invalid mode. Attaching mode should be 'rw' or 'ro'")
	}
	if err := h.svc.AttachVolume(ctx, state(ctx).caller, id, instance, vals[0], vals[1], vals[2]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

// detachArgs reads os-detach / os-force_detach {attachment_id, connector}.
func detachArgs(action string, arg any) (string, error) {
	o, err := argObject(action, arg)
	if err != nil {
		return "", err
	}
	if err := onlyKeys(o, action, "attachment_id", "connector"); err != nil {
		return "", err
	}
	return optUUID(o, "attachment_id")
}

func actDetach(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeWrite(ctx, "volume_extension:volume_actions:detach"); err != nil {
		return err
	}
	attID, err := detachArgs("os-detach", arg)
	if err != nil {
		return err
	}
	if err := h.svc.DetachVolume(ctx, state(ctx).caller, id, attID); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func actForceDetach(ctx context.Context, h *Handler, w http.ResponseWriter, id string, arg any) error {
	if err := authorizeAdmin(ctx, "volume_extension:volume_admin_actions:force_detach"); err != nil {
		return err
	}
	attID, err := detachArgs("os-force_detach", arg)
	if err != nil {
		return err
	}
	if err := h.svc.ForceDetach(ctx, state(ctx).caller, id, attID); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
