package apiv3

import (
	"net/http"
	"sort"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

func (h *Handler) quotaRoutes(add addFunc, v30 Version) {
	add("GET", "/os-quota-sets/{project}/defaults", v30, h.defaultQuotas)
	add("GET", "/os-quota-sets/{project}", v30, h.showQuotas)
	add("PUT", "/os-quota-sets/{project}", v30, h.updateQuotas)
	add("DELETE", "/os-quota-sets/{project}", v30, h.deleteQuotas)
	add("GET", "/limits", v30, h.limits)
}

// quotaResources are the Cinder quota keys every quota_set carries.
var quotaResources = []string{
	model.ResVolumes, model.ResSnapshots, model.ResGigabytes, model.ResBackups,
	model.ResBackupGigabytes, model.ResPerVolumeGB, model.ResGroups,
}

func limitOf(m map[string]int64, k string) int64 {
	if v, ok := m[k]; ok {
		return v
	}
	return -1
}

// quotaSetView renders limits (and usages when usage is set) as Cinder's quota_set; id is
// omitted when empty.
func quotaSetView(id string, qs *api.QuotaSet, usage bool) map[string]any {
	m := map[string]any{}
	if id != "" {
		m["id"] = id
	}
	for _, k := range quotaResources {
		if !usage {
			m[k] = limitOf(qs.Limits, k)
			continue
		}
		u := qs.Usages[k]
		m[k] = map[string]any{"limit": limitOf(qs.Limits, k), "in_use": u.InUse, "reserved": u.Reserved, "allocated": 0}
	}
	return m
}

func (h *Handler) showQuotas(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	project := mux.Vars(r)["project"]
	qs, err := h.svc.GetQuotas(ctx, state(ctx).caller, project)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"quota_set": quotaSetView(project, qs, boolParam(r.URL.Query().Get("usage")))})
	return nil
}

func (h *Handler) defaultQuotas(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	limits, err := h.svc.DefaultQuotas(ctx)
	if err != nil {
		return err
	}
	// Every resource, the per-type ones (volumes_<type>, ...) included, as Cinder lists them.
	writeJSON(w, http.StatusOK, map[string]any{"quota_set": quotaClassView(mux.Vars(r)["project"], limits)})
	return nil
}

func (h *Handler) updateQuotas(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:quotas:update"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	set, err := body(o, "quota_set")
	if err != nil {
		return err
	}
	limits := map[string]int64{}
	var bad []string
	for k, v := range set {
		switch {
		case k == "skip_validation" || k == "id" || k == "tenant_id":
			continue
		case !contains(quotaResources, k):
			bad = append(bad, k)
			continue
		}
		n, err := parseInt(k, v, -1, dbMaxInt)
		if err != nil {
			return err
		}
		limits[k] = n
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return badRequest("Bad key(s) in quota set: %v", bad)
	}
	qs, err := h.svc.UpdateQuotas(ctx, state(ctx).caller, mux.Vars(r)["project"], limits)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"quota_set": quotaSetView("", qs, false)})
	return nil
}

func (h *Handler) deleteQuotas(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:quotas:delete"); err != nil {
		return err
	}
	if err := h.svc.DeleteQuotas(ctx, state(ctx).caller, mux.Vars(r)["project"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusOK)
	return nil
}

// limits answers GET /limits from the caller's quota set.
func (h *Handler) limits(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c := state(ctx).caller
	project := c.ProjectID
	if p := r.URL.Query().Get("project_id"); p != "" && c.IsAdmin && state(ctx).ver.AtLeast(Version{3, 39}) {
		project = p
	}
	qs, err := h.svc.GetQuotas(ctx, c, project)
	if err != nil {
		return err
	}
	l, u := qs.Limits, qs.Usages
	abs := map[string]any{
		"maxTotalVolumes":          limitOf(l, model.ResVolumes),
		"maxTotalSnapshots":        limitOf(l, model.ResSnapshots),
		"maxTotalVolumeGigabytes":  limitOf(l, model.ResGigabytes),
		"maxTotalBackups":          limitOf(l, model.ResBackups),
		"maxTotalBackupGigabytes":  limitOf(l, model.ResBackupGigabytes),
		"totalVolumesUsed":         u[model.ResVolumes].InUse,
		"totalGigabytesUsed":       u[model.ResGigabytes].InUse,
		"totalSnapshotsUsed":       u[model.ResSnapshots].InUse,
		"totalBackupsUsed":         u[model.ResBackups].InUse,
		"totalBackupGigabytesUsed": u[model.ResBackupGigabytes].InUse,
	}
	writeJSON(w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
	return nil
}
