package apiv3

import "net/http"

// versionDoc is the one version Cinder 21 advertises, as CONTRACTS.md gives it.
func versionDoc(base string) map[string]any {
	return map[string]any{"versions": []any{map[string]any{
		"id":          "v3.0",
		"status":      "CURRENT",
		"version":     MaxVersion.String(),
		"min_version": MinVersion.String(),
		"updated":     "2022-08-31T00:00:00Z",
		"links": []any{
			map[string]any{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
			map[string]any{"rel": "self", "href": base + "/v3/"},
		},
		"media-types": []any{map[string]any{
			"base": "application/json",
			"type": "application/vnd.openstack.volume+json;version=3",
		}},
	}}}
}

// versions answers GET / (300) and GET /v3/ (200).
func (h *Handler) versions(w http.ResponseWriter, r *http.Request, status int) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeFault(w, r, h.log, &fault{http.StatusMethodNotAllowed, "The method specified is not allowed for this resource."})
		return
	}
	writeJSON(w, status, versionDoc(state(r.Context()).base))
}
