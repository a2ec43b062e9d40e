package api

import (
	"context"
	"maps"
	"strings"

	"github.com/dlvm-project/dlvm/model"
)

// DefaultClassName is the quota class every project starts from (os-quota-class-sets/default).
const DefaultClassName = "default"

func checkClassName(class string) error {
	if strings.TrimSpace(class) == "" || len(class) > 255 {
		return model.Errorf(model.ErrInvalid, "Invalid quota class name: must be between 1 and 255 characters.")
	}
	return nil
}

// QuotaClass (admin) returns a quota class's limits: for "default", the default quotas
// (configuration overridden by the stored class); for another class, those defaults overridden
// by the class's own stored limits (dlvm assigns no project to such a class: Cinder's projects
// all use the default class too).
func (a *API) QuotaClass(ctx context.Context, c Caller, class string) (map[string]int64, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if err := checkClassName(class); err != nil {
		return nil, err
	}
	def, err := a.DefaultQuotas(ctx)
	if err != nil || class == DefaultClassName {
		return def, err
	}
	own, err := a.db.Store().QuotaLimits(ctx, "class:"+class)
	if err != nil {
		return nil, err
	}
	maps.Copy(def, own)
	return def, nil
}

// UpdateQuotaClass (admin) sets limits of a class and returns the class's new limits; for
// "default" these are the defaults every project gets (UpdateDefaultQuotas). Unknown
// resources and values below -1 are ErrInvalid, and nothing is written then.
func (a *API) UpdateQuotaClass(ctx context.Context, c Caller, class string, limits map[string]int64) (map[string]int64, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if err := checkClassName(class); err != nil {
		return nil, err
	}
	if class == DefaultClassName {
		return a.UpdateDefaultQuotas(ctx, c, limits)
	}
	cur, err := a.DefaultQuotas(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkLimits(limits, cur); err != nil {
		return nil, err
	}
	if err := a.db.Store().SetQuotaLimits(ctx, "class:"+class, limits); err != nil {
		return nil, err
	}
	return a.QuotaClass(ctx, c, class)
}
