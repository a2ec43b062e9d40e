package apiv3

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// timeFormat is how Cinder (oslo) prints datetimes: ISO 8601, microseconds, no zone.
const timeFormat = "2006-01-02T15:04:05.000000"

func isoTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeFormat)
}

func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// volumeMetadataView is the volume's metadata as Cinder's views show it: the user's keys plus
// the visible admin key "readonly" ("True"/"False") once os-update_readonly_flag has set it.
func volumeMetadataView(v *model.Volume) map[string]string {
	if !v.ReadOnlySet {
		return nonNilMap(v.Metadata)
	}
	md := make(map[string]string, len(v.Metadata)+1)
	maps.Copy(md, v.Metadata)
	md["readonly"] = "False"
	if v.ReadOnly {
		md["readonly"] = "True"
	}
	return md
}

// links returns Cinder's self and bookmark links of a resource in collection coll.
func links(ctx context.Context, coll, id string) []any {
	st := state(ctx)
	bookmark := st.base + "/" + coll + "/" + id
	if st.projectID != "" {
		bookmark = st.base + "/" + st.projectID + "/" + coll + "/" + id
	}
	return []any{
		map[string]any{"rel": "self", "href": st.prefix + "/" + coll + "/" + id},
		map[string]any{"rel": "bookmark", "href": bookmark},
	}
}

// listBody is a list response: items under coll and, when the page is full, the next link under
// coll+"_links" (pointing at coll or coll/detail). lastID is the page's last item.
func listBody(r *http.Request, coll string, detail bool, items []any, limit int, lastID string) map[string]any {
	out := map[string]any{coll: items}
	if l := nextLinks(r, listPath(coll, detail), len(items), limit, lastID); l != nil {
		out[coll+"_links"] = l
	}
	return out
}

// listPath is the path of collection coll's list: coll, or coll/detail.
func listPath(coll string, detail bool) string {
	if detail {
		return coll + "/detail"
	}
	return coll
}

// nextLinks returns the collection's "next" link when a full page was returned.
func nextLinks(r *http.Request, path string, n, limit int, lastID string) []any {
	if limit <= 0 || n < limit || lastID == "" {
		return nil
	}
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		q[k] = vs
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("marker", lastID)
	q.Del("offset")
	return []any{map[string]any{"rel": "next", "href": state(r.Context()).prefix + "/" + path + "?" + q.Encode()}}
}

// viewLookups resolves what volume views show from other resources, once per request: type
// names, and the attachments of a list page when read in one query (newListLookups).
type viewLookups struct {
	h     *Handler
	cache map[string]*model.VolumeType
	atts  map[string][]*model.Attachment // nil: each attached volume's are read on their own
	// failed: a lookup failed for another reason than not found; the views rendered with these
	// lookups show a fallback and must not be cached
	failed bool
}

func (h *Handler) newLookups() *viewLookups {
	return &viewLookups{h: h, cache: map[string]*model.VolumeType{}}
}

func (t *viewLookups) get(ctx context.Context, id string) *model.VolumeType {
	if id == "" {
		return nil
	}
	if vt, ok := t.cache[id]; ok {
		return vt
	}
	vt, err := t.h.svc.GetType(ctx, state(ctx).caller, id)
	if err != nil {
		vt = nil
		t.failed = t.failed || !errors.Is(err, model.ErrNotFound)
	}
	t.cache[id] = vt
	return vt
}

func volumeSummary(ctx context.Context, v *model.Volume) map[string]any {
	return map[string]any{"id": v.ID, "name": v.Name, "links": links(ctx, "volumes", v.ID)}
}

// volumeDetail is Cinder 21's detailed volume view at the request's microversion. ext adds the
// attributes Cinder's controller extensions add to show and detail (not to create or update).
func volumeDetail(ctx context.Context, v *model.Volume, types *viewLookups, ext bool) map[string]any {
	st := state(ctx)
	ver, admin := st.ver, st.caller.IsAdmin
	var typeName any = orNull(v.VolumeTypeID)
	if vt := types.get(ctx, v.VolumeTypeID); vt != nil {
		typeName = vt.Name
	}
	status := v.Status
	m := map[string]any{
		"id":                  v.ID,
		"status":              status,
		"size":                v.Size,
		"availability_zone":   v.AvailabilityZone,
		"created_at":          isoTime(v.CreatedAt),
		"updated_at":          isoTime(v.UpdatedAt),
		"name":                v.Name,
		"description":         v.Description,
		"volume_type":         typeName,
		"snapshot_id":         orNull(v.SnapshotID),
		"source_volid":        orNull(v.SourceVolID),
		"metadata":            volumeMetadataView(v),
		"links":               links(ctx, "volumes", v.ID),
		"user_id":             v.UserID,
		"bootable":            strconv.FormatBool(v.Bootable),
		"encrypted":           false,
		"replication_status":  "disabled",
		"consistencygroup_id": nil,
		"multiattach":         v.Multiattach,
		"attachments":         types.attachments(ctx, v),
	}
	if admin {
		m["migration_status"] = orNull(v.MigrationStatus)
	}
	if ver.AtLeast(mvGroupVolume) {
		m["group_id"] = orNull(v.GroupID)
	}
	if admin && ver.AtLeast(mvProviderID) {
		m["provider_id"] = nil
	}
	if ver.AtLeast(mvSharedTargets) {
		m["shared_targets"] = false
		m["service_uuid"] = nil
	}
	if admin && ver.AtLeast(mvClusterName) {
		m["cluster_name"] = nil
	}
	if ver.AtLeast(mvTypeIDInDetail) {
		m["volume_type_id"] = orNull(v.VolumeTypeID)
	}
	if ver.AtLeast(mvUseQuota) {
		m["consumes_quota"] = true
	}
	if ext {
		m["os-vol-tenant-attr:tenant_id"] = v.ProjectID
		if admin {
			m["os-vol-host-attr:host"] = orNull(v.Host)
			m["os-vol-mig-status-attr:migstat"] = orNull(v.MigrationStatus)
			m["os-vol-mig-status-attr:name_id"] = nil
		}
	}
	return m
}
