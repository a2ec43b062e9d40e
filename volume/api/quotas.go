package api

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// DefaultQuotaClass is the quota "project" holding the default class limits.
const DefaultQuotaClass = "class:default"

// builtinQuotas are Cinder's built-in defaults, the last fallback of every limit.
var builtinQuotas = map[string]int64{
	model.ResVolumes:         10,
	model.ResSnapshots:       10,
	model.ResGigabytes:       1000,
	model.ResBackups:         10,
	model.ResBackupGigabytes: 1000,
	model.ResGroups:          10,
	model.ResPerVolumeGB:     -1,
}

// GlobalResources are the quota resources that do not depend on a volume type, in report order.
var GlobalResources = []string{model.ResVolumes, model.ResGigabytes, model.ResSnapshots,
	model.ResPerVolumeGB, model.ResBackups, model.ResBackupGigabytes, model.ResGroups}

func isGlobalResource(r string) bool { return slices.Contains(GlobalResources, r) }

// TypeResources returns the per-type resources Cinder reports for a volume type:
// volumes_<name>, gigabytes_<name>, snapshots_<name>.
func TypeResources(typeName string) []string {
	return []string{"volumes_" + typeName, "gigabytes_" + typeName, "snapshots_" + typeName}
}

// QuotaSet is a project's limits and (optionally) usages.
type QuotaSet struct {
	ProjectID string
	Limits    map[string]int64       // every resource, defaults merged in
	Usages    map[string]model.Usage // every resource
}

// GetQuotas returns the effective limits and usage of a project: the global resources plus
// volumes_/gigabytes_/snapshots_<type> for every existing type (-1 unless set). Per-type usage is
// counted from live rows. A non-admin may only read their own project (ErrForbidden otherwise).
func (a *API) GetQuotas(ctx context.Context, c Caller, projectID string) (*QuotaSet, error) {
	if !c.IsAdmin && projectID != c.ProjectID {
		return nil, model.Errorf(model.ErrForbidden, "Policy doesn't allow this operation to be performed.")
	}
	return a.quotaSet(ctx, a.db.Store(), projectID)
}

func (a *API) quotaSet(ctx context.Context, s *db.Store, projectID string) (*QuotaSet, error) {
	types, err := s.ListTypes(ctx, nil)
	if err != nil {
		return nil, err
	}
	limits, err := a.effectiveLimits(ctx, s, projectID)
	if err != nil {
		return nil, err
	}
	used, err := s.QuotaUsages(ctx, projectID)
	if err != nil {
		return nil, err
	}
	qs := &QuotaSet{ProjectID: projectID, Limits: map[string]int64{}, Usages: map[string]model.Usage{}}
	for _, r := range GlobalResources {
		qs.Limits[r] = limits[r]
		qs.Usages[r] = used[r]
	}
	byType, err := usageByType(ctx, s, projectID, "")
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		u := byType[t.ID]
		for i, r := range TypeResources(t.Name) {
			qs.Limits[r] = limitOr(limits, r, -1)
			qs.Usages[r] = model.Usage{InUse: u[i]}
		}
	}
	return qs, nil
}

// DefaultQuotas returns the default limits (config, overridden by the default quota class),
// including -1 (or the class value) for each type's per-type resources.
func (a *API) DefaultQuotas(ctx context.Context) (map[string]int64, error) {
	s := a.db.Store()
	def, err := a.defaultLimits(ctx, s)
	if err != nil {
		return nil, err
	}
	types, err := s.ListTypes(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, r := range GlobalResources {
		out[r] = def[r]
	}
	for _, t := range types {
		for _, r := range TypeResources(t.Name) {
			out[r] = limitOr(def, r, -1)
		}
	}
	return out, nil
}

// UpdateQuotas (admin) sets limits for a project; a limit below current usage is ErrInvalid;
// unknown resources are ErrInvalid. It returns the project's new quota set.
func (a *API) UpdateQuotas(ctx context.Context, c Caller, projectID string, limits map[string]int64) (*QuotaSet, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if projectID == "" || strings.HasPrefix(projectID, "class:") {
		return nil, model.Errorf(model.ErrInvalid, "Invalid project id %q.", projectID)
	}
	var out *QuotaSet
	err := a.db.InTx(ctx, func(s *db.Store) error {
		cur, err := a.quotaSet(ctx, s, projectID)
		if err != nil {
			return err
		}
		if err := checkLimits(limits, cur.Limits); err != nil {
			return err
		}
		for _, r := range slices.Sorted(maps.Keys(limits)) {
			u := cur.Usages[r]
			if v := limits[r]; v != -1 && r != model.ResPerVolumeGB && v < u.InUse+u.Reserved {
				return model.Errorf(model.ErrInvalid, "Quota limit %d for %s must be greater than or equal to already used and reserved %d.", v, r, u.InUse+u.Reserved)
			}
		}
		if err := s.SetQuotaLimits(ctx, projectID, limits); err != nil {
			return err
		}
		out, err = a.quotaSet(ctx, s, projectID)
		return err
	})
	if err == nil {
		a.log.Info("quotas updated", "project_id", projectID, "limits", limits)
	}
	return out, err
}

// UpdateDefaultQuotas (admin) sets limits of the default quota class (os-quota-class-sets/default)
// and returns the new defaults. Unknown resources and values below -1 are ErrInvalid.
func (a *API) UpdateDefaultQuotas(ctx context.Context, c Caller, limits map[string]int64) (map[string]int64, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	cur, err := a.DefaultQuotas(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkLimits(limits, cur); err != nil {
		return nil, err
	}
	if err := a.db.Store().SetQuotaLimits(ctx, DefaultQuotaClass, limits); err != nil {
		return nil, err
	}
	return a.DefaultQuotas(ctx)
}

// DeleteQuotas (admin) returns a project to the defaults.
func (a *API) DeleteQuotas(ctx context.Context, c Caller, projectID string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	return a.db.Store().DeleteQuotaLimits(ctx, projectID)
}

// checkLimits refuses resources absent from known and values below -1.
func checkLimits(limits, known map[string]int64) error {
	var bad []string
	for r := range limits {
		if _, ok := known[r]; !ok {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return model.Errorf(model.ErrInvalid, "Bad key(s) in quota set: %s", strings.Join(bad, ","))
	}
	for _, r := range slices.Sorted(maps.Keys(limits)) {
		if limits[r] < -1 {
			return model.Errorf(model.ErrInvalid, "Quota limit %d for %s must be -1 or greater.", limits[r], r)
		}
	}
	return nil
}

// defaultLimits merges built-in defaults < Options.QuotaDefaults < the default class rows.
func (a *API) defaultLimits(ctx context.Context, s *db.Store) (map[string]int64, error) {
	class, err := s.QuotaLimits(ctx, DefaultQuotaClass)
	if err != nil {
		return nil, err
	}
	return a.mergeLimits(class), nil
}

// effectiveLimits is defaultLimits overridden by the project's own rows. Per-type resources are
// present only when a row sets them (absent means unlimited).
func (a *API) effectiveLimits(ctx context.Context, s *db.Store, projectID string) (map[string]int64, error) {
	rows, err := s.QuotaLimitsOf(ctx, DefaultQuotaClass, projectID) // one query for both
	if err != nil {
		return nil, err
	}
	return a.mergeLimits(rows[DefaultQuotaClass], rows[projectID]), nil
}

// mergeLimits is built-in defaults < Options.QuotaDefaults < each of rows in turn.
func (a *API) mergeLimits(rows ...map[string]int64) map[string]int64 {
	out := maps.Clone(builtinQuotas)
	maps.Copy(out, a.opts.QuotaDefaults)
	for _, r := range rows {
		maps.Copy(out, r)
	}
	return out
}

func limitOr(limits map[string]int64, r string, def int64) int64 {
	if v, ok := limits[r]; ok {
		return v
	}
	return def
}

// checkPerVolume enforces per_volume_gigabytes on a volume of size GiB.
func checkPerVolume(limits map[string]int64, size int) error {
	if max := limitOr(limits, model.ResPerVolumeGB, -1); max >= 0 && int64(size) > max {
		return model.Errorf(model.ErrQuotaExceeded, "Requested volume size %dG is larger than maximum allowed limit %dG (per_volume_gigabytes quota exceeded).", size, max)
	}
	return nil
}

// checkTypeQuota enforces volumes_/gigabytes_/snapshots_<type> limits when set, counting live
// rows. Unlike the global counters this check is not race-free across concurrent transactions on
// MySQL; it is skipped entirely when no per-type limit is set.
func (a *API) checkTypeQuota(ctx context.Context, s *db.Store, projectID string, vt *model.VolumeType, limits map[string]int64, dVols, dGigs, dSnaps int64) error {
	res := TypeResources(vt.Name)
	lim := [3]int64{limitOr(limits, res[0], -1), limitOr(limits, res[1], -1), limitOr(limits, res[2], -1)}
	if lim == [3]int64{-1, -1, -1} {
		return nil
	}
	byType, err := usageByType(ctx, s, projectID, vt.ID)
	if err != nil {
		return err
	}
	u := byType[vt.ID]
	for i, x := range [3]struct{ used, delta int64 }{{u[0], dVols}, {u[1], dGigs}, {u[2], dSnaps}} {
		if x.delta > 0 && lim[i] >= 0 && x.used+x.delta > lim[i] {
			return &model.QuotaError{Resource: res[i], Requested: x.delta, InUse: x.used, Limit: lim[i]}
		}
	}
	return nil
}

// usageByType counts, per volume type id, a project's live volumes, their gigabytes plus their
// snapshots' gigabytes, and their snapshots. typeID "" counts every type.
func usageByType(ctx context.Context, s *db.Store, projectID, typeID string) (map[string][3]int64, error) {
	vs, err := s.ListVolumes(ctx, db.VolumeQuery{ProjectID: projectID, VolumeTypeID: typeID})
	if err != nil {
		return nil, err
	}
	out := map[string][3]int64{}
	if len(vs) == 0 {
		return out, nil
	}
	typeOf := map[string]string{}
	for _, v := range vs {
		typeOf[v.ID] = v.VolumeTypeID
		u := out[v.VolumeTypeID]
		u[0]++
		u[1] += int64(v.Size)
		out[v.VolumeTypeID] = u
	}
	sns, err := s.ListSnapshots(ctx, db.SnapshotQuery{ProjectID: projectID})
	if err != nil {
		return nil, err
	}
	for _, sn := range sns {
		if t, ok := typeOf[sn.VolumeID]; ok {
			u := out[t]
			u[1] += int64(sn.Size)
			u[2]++
			out[t] = u
		}
	}
	return out, nil
}
