package apiv3

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/volume/api"
)

// QuotaClassService is the part of the service layer the os-quota-class-sets routes call.
type QuotaClassService interface {
	QuotaClass(ctx context.Context, c api.Caller, class string) (map[string]int64, error)
	UpdateQuotaClass(ctx context.Context, c api.Caller, class string, limits map[string]int64) (map[string]int64, error)
}

func (h *Handler) quotaClassRoutes(add addFunc, v30 Version) {
	add("GET", "/os-quota-class-sets/{class}", v30, h.showQuotaClass)
	add("PUT", "/os-quota-class-sets/{class}", v30, h.updateQuotaClass)
}

// quotaClassView is the class's limits: the global resources and every per-type one
// (volumes_<type>, ...); id is omitted when empty (update responses).
func quotaClassView(id string, limits map[string]int64) map[string]any {
	m := map[string]any{}
	for k, v := range limits {
		m[k] = v
	}
	for _, k := range quotaResources {
		m[k] = limitOf(limits, k)
	}
	if id != "" {
		m["id"] = id
	}
	return m
}

func (h *Handler) showQuotaClass(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:quota_classes"); err != nil {
		return err
	}
	class := mux.Vars(r)["class"]
	limits, err := h.svc.QuotaClass(ctx, state(ctx).caller, class)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"quota_class_set": quotaClassView(class, limits)})
	return nil
}

func (h *Handler) updateQuotaClass(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:quota_classes:update"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	set, err := body(o, "quota_class_set")
	if err != nil {
		return err
	}
	limits := map[string]int64{}
	var bad []string
	for k, v := range set {
		if k == "id" || k == "class_name" {
			continue
		}
		if !strings.Contains(k, "_") && !contains(quotaResources, k) {
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
	out, err := h.svc.UpdateQuotaClass(ctx, state(ctx).caller, mux.Vars(r)["class"], limits)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"quota_class_set": quotaClassView("", out)})
	return nil
}
