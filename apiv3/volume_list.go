package apiv3

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/dlvm-project/dlvm/db"
)

// listParams are the pagination and sort parameters common to list calls.
type listParams struct {
	sort   []db.SortKey
	limit  int
	marker string
	offset int
}

// maxLimit is Cinder's osapi_max_limit.
const maxLimit = 1000

var sortKeys = map[string]string{
	"created_at": "created_at", "updated_at": "updated_at", "name": "name", "display_name": "name",
	"size": "size", "status": "status", "id": "id",
}

// parseListParams reads limit, marker, offset, sort=k1:dir,k2 and the legacy sort_key/sort_dir.
func parseListParams(q map[string][]string) (listParams, error) {
	return parseListParamsKeys(q, sortKeys)
}

// parseListParamsKeys is parseListParams with the collection's own sort keys (API key -> the
// repository's key).
func parseListParamsKeys(q map[string][]string, sortKeys map[string]string) (listParams, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	p := listParams{limit: maxLimit, marker: get("marker")}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, badRequest("limit param must be an integer")
		}
		if n < 0 {
			return p, badRequest("limit param must be positive")
		}
		p.limit = min(n, maxLimit)
	}
	if s := get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > dbMaxInt {
			return p, badRequest("Invalid offset value: %s", s)
		}
		p.offset = n
	}
	var specs []string
	if s := get("sort"); s != "" {
		if get("sort_key") != "" || get("sort_dir") != "" {
			return p, badRequest("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.")
		}
		specs = strings.Split(s, ",")
	} else if k := get("sort_key"); k != "" {
		specs = []string{k + ":" + get("sort_dir")}
	} else if d := get("sort_dir"); d != "" {
		specs = []string{"created_at:" + d}
	}
	for _, spec := range specs {
		k, dir, _ := strings.Cut(strings.TrimSpace(spec), ":")
		key, ok := sortKeys[strings.TrimSpace(k)]
		if !ok {
			return p, badRequest("Invalid input received: Invalid sort key %s", k)
		}
		switch strings.ToLower(strings.TrimSpace(dir)) {
		case "", "desc":
			p.sort = append(p.sort, db.SortKey{Key: key, Desc: true})
		case "asc":
			p.sort = append(p.sort, db.SortKey{Key: key})
		default:
			return p, badRequest("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'")
		}
	}
	return p, nil
}

// parseMetadataFilter reads the metadata query filter: JSON, or the Python dict repr that
// cinderclient sends ({'k': 'v'}).
func parseMetadataFilter(s string) (map[string]string, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		py := strings.NewReplacer(`u'`, `"`, `'`, `"`, "True", "true", "False", "false", "None", "null").Replace(s)
		if err := json.Unmarshal([]byte(py), &raw); err != nil {
			return nil, badRequest("Invalid input received: metadata filter %s is not a dict", s)
		}
	}
	out := map[string]string{}
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
			out[k] = ""
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	return out, nil
}

// volumeQuery builds the volume filter of a list request; allTenants says whether an admin asked
// for other projects.
func (h *Handler) volumeQuery(ctx context.Context, q map[string][]string) (db.VolumeQuery, bool, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var vq db.VolumeQuery
	admin := isAdmin(ctx)
	allTenants := admin && boolParam(get("all_tenants"))
	if p := get("project_id"); admin && p != "" {
		vq.ProjectID, allTenants = p, true
	}
	vq.Name = get("name")
	if vq.Name == "" {
		vq.Name = get("display_name")
	}
	if state(ctx).ver.AtLeast(mvLikeFilter) {
		vq.NameLike = get("name~")
	}
	vq.Status = get("status")
	if state(ctx).ver.AtLeast(mvGroupVolume) {
		vq.GroupID = get("group_id")
	}
	vq.AvailabilityZone = get("availability_zone")
	if s := get("bootable"); s != "" {
		b := boolParam(s)
		vq.Bootable = &b
	}
	if s := get("metadata"); s != "" {
		md, err := parseMetadataFilter(s)
		if err != nil {
			return vq, false, err
		}
		vq.Metadata = md
	}
	if t := get("volume_type"); t != "" {
		vt, err := h.svc.GetType(ctx, state(ctx).caller, t)
		if err != nil {
			vq.VolumeTypeID = t // matches nothing unless t is an id
		} else {
			vq.VolumeTypeID = vt.ID
		}
	}
	return vq, allTenants, nil
}

func (h *Handler) listVolumes(detail bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		q := r.URL.Query()
		vq, allTenants, err := h.volumeQuery(ctx, q)
		if err != nil {
			return err
		}
		p, err := parseListParams(q)
		if err != nil {
			return err
		}
		vq.Sort, vq.Limit, vq.Marker, vq.Offset = p.sort, p.limit, p.marker, p.offset
		caller := state(ctx).caller
		var items [][]byte
		last := ""
		if p.limit > 0 { // limit=0 asks for an empty page, as Cinder's paginate_query gives
			if items, last, err = h.volumePage(ctx, vq, allTenants, detail); err != nil {
				return err
			}
		}
		if items == nil {
			items = [][]byte{} // a list field, not a value
		}
		fields := []rawField{{key: "volumes", list: items}}
		if l := nextLinks(r, listPath("volumes", detail), len(items), p.limit, last); l != nil {
			b, err := appendJSON(nil, l)
			if err != nil {
				return err
			}
			fields = append(fields, rawField{key: "volumes_links", val: b})
		}
		if state(ctx).ver.AtLeast(mvCountInfo) && boolParam(q.Get("with_count")) {
			n, err := h.svc.CountVolumes(ctx, caller, vq, allTenants)
			if err != nil {
				return err
			}
			fields = append(fields, rawField{key: "count", val: strconv.AppendInt(nil, int64(n), 10)})
		}
		writeJSONObject(w, http.StatusOK, fields)
		return nil
	}
}

// volumePage returns the encoded views of one page of volumes (detailed, from the view cache,
// or the summary) and the id of its last volume.
func (h *Handler) volumePage(ctx context.Context, vq db.VolumeQuery, allTenants, detail bool) ([][]byte, string, error) {
	caller := state(ctx).caller
	if detail {
		revs, err := h.svc.ListVolumeRevs(ctx, caller, vq, allTenants)
		if err != nil || len(revs) == 0 {
			return nil, "", err
		}
		items, err := h.volumeViews(ctx, revs)
		return items, revs[len(revs)-1].ID, err
	}
	vols, err := h.svc.ListVolumes(ctx, caller, vq, allTenants)
	if err != nil || len(vols) == 0 {
		return nil, "", err
	}
	items := make([][]byte, len(vols))
	for i, v := range vols {
		if items[i], err = appendJSON(nil, volumeSummary(ctx, v)); err != nil {
			return nil, "", err
		}
	}
	return items, vols[len(vols)-1].ID, nil
}

func (h *Handler) volumeSummary(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st := state(ctx)
	allTenants := st.caller.IsAdmin && boolParam(r.URL.Query().Get("all_tenants"))
	vols, err := h.svc.ListVolumes(ctx, st.caller, db.VolumeQuery{}, allTenants)
	if err != nil {
		return err
	}
	size := 0
	distinct := map[string]map[string]bool{}
	for _, v := range vols {
		size += v.Size
		for k, val := range v.Metadata {
			if distinct[k] == nil {
				distinct[k] = map[string]bool{}
			}
			distinct[k][val] = true
		}
	}
	sum := map[string]any{"total_size": size, "total_count": len(vols)}
	if st.ver.AtLeast(mvSummaryMetadata) {
		md := map[string]any{}
		for k, vals := range distinct {
			l := make([]string, 0, len(vals))
			for v := range vals {
				l = append(l, v)
			}
			sort.Strings(l)
			md[k] = l
		}
		sum["metadata"] = md
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume-summary": sum})
	return nil
}
