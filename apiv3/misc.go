package apiv3

import (
	"net/http"
)

func (h *Handler) miscRoutes(add addFunc, v30 Version) {
	add("GET", "/os-availability-zone", v30, h.availabilityZones)
	add("GET", "/extensions", v30, h.extensions)
	add("GET", "/scheduler-stats/get_pools", v30, h.getPools)
}

func (h *Handler) availabilityZones(w http.ResponseWriter, r *http.Request) error {
	zones, err := h.svc.AvailabilityZones(r.Context())
	if err != nil {
		return err
	}
	list := make([]any, 0, len(zones))
	for _, z := range zones {
		list = append(list, map[string]any{"zoneName": z, "zoneState": map[string]any{"available": true}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"availabilityZoneInfo": list})
	return nil
}

// extensionList is what Cinder 21 lists (the subset this service honours, plus the aliases
// clients probe for).
var extensionList = []struct{ alias, name, desc, updated string }{
	{"os-admin-actions", "AdminActions", "Enable admin actions.", "2012-08-25T00:00:00+00:00"},
	{"os-availability-zone", "AvailabilityZones", "Describe Availability Zones.", "2013-06-27T00:00:00+00:00"},
	{"os-extended-snapshot-attributes", "ExtendedSnapshotAttributes", "Extended SnapshotAttributes support.", "2012-06-19T00:00:00+00:00"},
	{"os-quota-sets", "Quotas", "Quota management support.", "2011-08-08T00:00:00+00:00"},
	{"os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support.", "2011-08-24T00:00:00+00:00"},
	{"os-types-manage", "TypesManage", "Types manage support.", "2011-08-24T00:00:00+00:00"},
	{"os-volume-type-access", "VolumeTypeAccess", "Volume type access support.", "2014-06-26T00:00:00Z"},
	{"os-used-limits", "UsedLimits", "Provide data on limited resources that are being used.", "2013-10-03T00:00:00+00:00"},
	{"os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume.", "2011-11-03T00:00:00+00:00"},
	{"os-vol-mig-status-attr", "VolumeMigStatusAttribute", "Expose migration_status as an attribute of a volume.", "2013-08-08T00:00:00+00:00"},
	{"os-vol-tenant-attr", "VolumeTenantAttribute", "Expose the internal project_id as an attribute of a volume.", "2011-11-03T00:00:00+00:00"},
	{"os-volume-actions", "VolumeActions", "Enable volume actions.", "2012-05-31T00:00:00+00:00"},
	{"os-volume-transfer", "VolumeTransfer", "Volume transfer management support.", "2013-05-29T00:00:00+00:00"},
	{"os-volume-encryption-metadata", "VolumeEncryptionMetadata", "Volume encryption metadata retrieval support.", "2013-07-10T00:00:00+00:00"},
	{"encryption", "VolumeTypeEncryption", "Encryption support for volume types.", "2013-07-01T00:00:00+00:00"},
	{"scheduler-stats", "Scheduler_stats", "Scheduler stats support.", "2014-09-07T00:00:00+00:00"},
	{"os-snapshot-actions", "SnapshotActions", "Enable snapshot manager actions.", "2013-07-16T00:00:00+00:00"},
	{"os-hosts", "Hosts", "Admin-only host administration.", "2011-06-29T00:00:00+00:00"},
	{"os-services", "Services", "Services support.", "2012-10-28T00:00:00-00:00"},
	{"qos-specs", "Qos_specs_manage", "QoS specs support.", "2013-08-02T00:00:00+00:00"},
	{"os-quota-class-sets", "Quota_classes", "Quota classes management support.", "2012-03-12T00:00:00+00:00"},
	{"capabilities", "Capabilities", "Capabilities support.", "2015-08-31T00:00:00+00:00"},
}

func (h *Handler) extensions(w http.ResponseWriter, r *http.Request) error {
	list := make([]any, 0, len(extensionList))
	for _, e := range extensionList {
		list = append(list, map[string]any{
			"alias": e.alias, "name": e.name, "description": e.desc, "updated": e.updated,
			"links": []any{}, "namespace": "https://docs.openstack.org/",
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"extensions": list})
	return nil
}

// getPools is admin only, as Cinder's scheduler_extension:scheduler_stats:get_pools.
func (h *Handler) getPools(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "scheduler_extension:scheduler_stats:get_pools"); err != nil {
		return err
	}
	pools, err := h.svc.Pools(ctx)
	if err != nil {
		return err
	}
	detail := boolParam(r.URL.Query().Get("detail"))
	q := r.URL.Query()
	list := make([]any, 0, len(pools))
	for _, p := range pools {
		if n := q.Get("name"); n != "" && n != p.Name {
			continue
		}
		if b := q.Get("volume_backend_name"); b != "" && b != p.Capabilities["volume_backend_name"] {
			continue
		}
		m := map[string]any{"name": p.Name}
		if detail {
			caps := p.Capabilities
			if caps == nil {
				caps = map[string]any{}
			}
			m["capabilities"] = caps
		}
		list = append(list, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"pools": list})
	return nil
}
