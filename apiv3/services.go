package apiv3

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// ServicesService is the part of the service layer the os-services, os-hosts and capabilities
// routes call.
type ServicesService interface {
	ListServices(ctx context.Context, c api.Caller, host, binary string) ([]api.ServiceStatus, error)
	SetServiceDisabled(ctx context.Context, c api.Caller, host, binary string, disabled bool, reason string) error
	FreezeHost(ctx context.Context, c api.Caller, host string, frozen bool) error
	HostUsage(ctx context.Context, c api.Caller, host string) ([]model.HostUsage, error)
	BackendCapabilities(ctx context.Context, c api.Caller, host string) (*api.Capabilities, error)
}

func (h *Handler) serviceRoutes(add addFunc, v30 Version) {
	add("GET", "/os-services", v30, h.listServices)
	add("PUT", "/os-services/{action}", v30, h.updateService)
	add("GET", "/os-hosts", v30, h.listHosts)
	add("GET", "/os-hosts/{host}", v30, h.showHost)
	add("GET", "/capabilities/{host}", v30, h.showCapabilities)
}

var (
	mvClusters     = Version{3, 7}
	mvBackendState = Version{3, 49}
)

func (h *Handler) listServices(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:services:index"); err != nil {
		return err
	}
	q := r.URL.Query()
	svcs, err := h.svc.ListServices(ctx, state(ctx).caller, q.Get("host"), q.Get("binary"))
	if err != nil {
		return err
	}
	ver := state(ctx).ver
	list := make([]any, 0, len(svcs))
	for _, s := range svcs {
		m := map[string]any{
			"binary":          s.Binary,
			"host":            s.Host,
			"zone":            s.Zone,
			"status":          enabledWord(s.Disabled),
			"state":           upWord(s.Up),
			"updated_at":      isoTime(s.UpdatedAt),
			"disabled_reason": orNull(s.DisabledReason),
		}
		if ver.AtLeast(mvClusters) {
			m["cluster"] = nil
		}
		if s.Binary == model.BinaryVolume {
			m["replication_status"] = s.ReplicationStatus
			m["active_backend_id"] = orNull(s.ActiveBackendID)
			m["frozen"] = s.Frozen
			if ver.AtLeast(mvBackendState) {
				m["backend_state"] = upWord(s.Up)
			}
		}
		list = append(list, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": list})
	return nil
}

func enabledWord(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "enabled"
}

func upWord(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// updateService serves PUT /os-services/{enable|disable|disable-log-reason|freeze|thaw}.
func (h *Handler) updateService(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:services:update"); err != nil {
		return err
	}
	action := mux.Vars(r)["action"]
	switch action {
	case "enable", "disable", "disable-log-reason", "freeze", "thaw":
	default:
		return notFound("Unknown action")
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	host, _, err := optString(o, "host", 255, true)
	if err != nil {
		return err
	}
	if host == "" {
		return badRequest("Missing required element 'host' in request body.")
	}
	c := state(ctx).caller
	if action == "freeze" || action == "thaw" {
		if err := h.svc.FreezeHost(ctx, c, host, action == "freeze"); err != nil {
			return err
		}
		writeEmpty(w, http.StatusOK)
		return nil
	}
	binary, _, err := optString(o, "binary", 255, true)
	if err != nil {
		return err
	}
	service, _, err := optString(o, "service", 255, true)
	if err != nil {
		return err
	}
	key := binary
	if key == "" {
		key = service
	}
	if key == "" {
		return badRequest("Missing required element 'binary' in request body.")
	}
	ret := map[string]any{"host": host, "service": service, "binary": binary, "status": "disabled", "disabled": true}
	reason := ""
	switch action {
	case "enable":
		ret["status"], ret["disabled"], ret["disabled_reason"] = "enabled", false, nil
	case "disable-log-reason":
		s, ok := o["disabled_reason"].(string)
		if s = strings.TrimSpace(s); !ok || s == "" || len(s) > 255 {
			return badRequest("Disabled reason contains invalid characters or is too long")
		}
		reason = s
		ret["disabled_reason"] = s
	}
	if err := h.svc.SetServiceDisabled(ctx, c, host, key, action != "enable", reason); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ret)
	return nil
}

func (h *Handler) listHosts(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:hosts"); err != nil {
		return err
	}
	svcs, err := h.svc.ListServices(ctx, state(ctx).caller, "", "")
	if err != nil {
		return err
	}
	zone := r.URL.Query().Get("zone")
	list := make([]any, 0, len(svcs))
	for _, s := range svcs {
		if zone != "" && s.Zone != zone {
			continue
		}
		status := "unavailable"
		if s.Up {
			status = "available"
		}
		list = append(list, map[string]any{
			"host_name":      s.Host,
			"service":        s.Binary,
			"zone":           s.Zone,
			"service-status": status,
			"service-state":  enabledWord(s.Disabled),
			"last-update":    isoTime(s.UpdatedAt),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"hosts": list})
	return nil
}

// showHost answers Cinder's per-host usage: a "(total)" row, then one row per project; every
// number is a string.
func (h *Handler) showHost(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:hosts"); err != nil {
		return err
	}
	host := mux.Vars(r)["host"]
	usage, err := h.svc.HostUsage(ctx, state(ctx).caller, host)
	if err != nil {
		return err
	}
	row := func(project string, vols, volGB, snaps, snapGB int64) map[string]any {
		return map[string]any{"resource": map[string]any{
			"host": host, "project": project,
			"volume_count": itoa(vols), "total_volume_gb": itoa(volGB),
			"snapshot_count": itoa(snaps), "total_snapshot_gb": itoa(snapGB),
		}}
	}
	var total model.HostUsage
	rows := []any{nil}
	for _, u := range usage {
		total.Volumes += u.Volumes
		total.VolumeGB += u.VolumeGB
		total.Snapshots += u.Snapshots
		total.SnapshotGB += u.SnapshotGB
		rows = append(rows, row(u.ProjectID, u.Volumes, u.VolumeGB, u.Snapshots, u.SnapshotGB))
	}
	rows[0] = row("(total)", total.Volumes, total.VolumeGB, total.Snapshots, total.SnapshotGB)
	writeJSON(w, http.StatusOK, map[string]any{"host": rows})
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (h *Handler) showCapabilities(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:capabilities"); err != nil {
		return err
	}
	host := mux.Vars(r)["host"]
	c, err := h.svc.BackendCapabilities(ctx, state(ctx).caller, host)
	if err != nil {
		return err
	}
	caps := c.Pool.Capabilities
	str := func(k string) string { s, _ := caps[k].(string); return s }
	props := map[string]any{}
	for k, v := range c.Properties {
		props[k] = v
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"namespace":           "OS::Storage::Capabilities::" + host,
		"vendor_name":         str("vendor_name"),
		"volume_backend_name": str("volume_backend_name"),
		"pool_name":           orNull(str("pool_name")),
		"driver_version":      str("driver_version"),
		"storage_protocol":    str("storage_protocol"),
		"display_name":        nil,
		"description":         nil,
		"visibility":          "pool",
		"replication_targets": []any{},
		"properties":          props,
	})
	return nil
}
