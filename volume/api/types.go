package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// Extra spec bounds.
const (
	maxMirrors  = 3
	maxStripes  = 16
	minChunkKiB = 4
	maxChunkKiB = 4096
)

// CreateType (admin) creates a type; ErrConflict on a duplicate name; extra specs are checked
// (dlvm:mirrors 1..3, dlvm:stripes 1..16, dlvm:stripe_chunk_kib a power of two 4..4096).
func (a *API) CreateType(ctx context.Context, c Caller, name, description string, isPublic bool, specs map[string]string) (*model.VolumeType, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if err := checkTypeName(name); err != nil {
		return nil, err
	}
	if len(description) > 255 {
		return nil, model.Errorf(model.ErrInvalid, "Volume type description must be at most 255 characters.")
	}
	if err := ValidateExtraSpecs(specs); err != nil {
		return nil, err
	}
	if specs == nil {
		specs = map[string]string{}
	}
	t := &model.VolumeType{ID: uuid.NewString(), Name: name, Description: description, IsPublic: isPublic, ExtraSpecs: specs}
	s := a.db.Store()
	if _, err := s.GetTypeByName(ctx, name); err == nil {
		return nil, model.Errorf(model.ErrConflict, "Volume Type %s already exists.", name)
	}
	if err := s.CreateType(ctx, t); err != nil {
		if errors.Is(err, model.ErrConflict) {
			return nil, model.Wrap(model.ErrConflict, err, fmt.Sprintf("Volume Type %s already exists.", name))
		}
		return nil, err
	}
	a.log.Info("volume type created", "volume_type_id", t.ID, "volume_type", name)
	return s.GetType(ctx, t.ID)
}

// GetType returns a type by id (or by name when no id matches); "default" gives the default type.
// A private type is ErrNotFound for a non-admin whose project has no access to it.
func (a *API) GetType(ctx context.Context, c Caller, idOrName string) (*model.VolumeType, error) {
	if idOrName == "default" {
		return a.DefaultType(ctx, c)
	}
	return a.lookupType(ctx, c, idOrName)
}

// lookupType finds a type the caller may use by id, then by name.
func (a *API) lookupType(ctx context.Context, c Caller, idOrName string) (*model.VolumeType, error) {
	s := a.db.Store()
	t, err := s.GetType(ctx, idOrName)
	if errors.Is(err, model.ErrNotFound) {
		t, err = s.GetTypeByName(ctx, idOrName)
	}
	if err != nil {
		return nil, notFound(err, "Volume type %s could not be found.", idOrName)
	}
	if !t.IsPublic && !c.IsAdmin {
		ok, err := s.HasTypeAccess(ctx, t.ID, c.ProjectID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, model.Errorf(model.ErrNotFound, "Volume type %s could not be found.", idOrName)
		}
	}
	return t, nil
}

// DefaultType returns the configured default type (ErrNotFound if it does not exist).
func (a *API) DefaultType(ctx context.Context, c Caller) (*model.VolumeType, error) {
	return a.defaultType(ctx)
}

func (a *API) defaultType(ctx context.Context) (*model.VolumeType, error) {
	t, err := a.db.Store().GetTypeByName(ctx, a.opts.DefaultVolumeType)
	return t, notFound(err, "Volume type with name %s could not be found.", a.opts.DefaultVolumeType)
}

// ListTypes lists types; non-admins see the public types and the private ones their project
// was given access to. isPublic nil = all (admin).
func (a *API) ListTypes(ctx context.Context, c Caller, isPublic *bool) ([]*model.VolumeType, error) {
	if !c.IsAdmin {
		return a.db.Store().ListTypesVisible(ctx, c.ProjectID)
	}
	return a.db.Store().ListTypes(ctx, isPublic)
}

// UpdateType (admin) changes name/description/is_public (nil = unchanged) and returns the type.
// The default type cannot be renamed (its name is configuration).
func (a *API) UpdateType(ctx context.Context, c Caller, id string, name, description *string, isPublic *bool) (*model.VolumeType, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	var out *model.VolumeType
	err := a.db.InTx(ctx, func(s *db.Store) error {
		t, err := s.GetType(ctx, id)
		if err != nil {
			return notFound(err, "Volume type %s could not be found.", id)
		}
		if name != nil {
			n := strings.TrimSpace(*name)
			if err := checkTypeName(n); err != nil {
				return err
			}
			if n != t.Name && t.Name == a.opts.DefaultVolumeType {
				return model.Errorf(model.ErrInvalid, "The default volume type %s cannot be renamed.", t.Name)
			}
			if other, err := s.GetTypeByName(ctx, n); err == nil && other.ID != t.ID {
				return model.Errorf(model.ErrConflict, "Volume Type %s already exists.", n)
			}
			t.Name = n
		}
		if description != nil {
			if len(*description) > 255 {
				return model.Errorf(model.ErrInvalid, "Volume type description must be at most 255 characters.")
			}
			t.Description = *description
		}
		if isPublic != nil {
			t.IsPublic = *isPublic
		}
		if err := s.UpdateType(ctx, t); err != nil {
			if errors.Is(err, model.ErrConflict) {
				return model.Wrap(model.ErrConflict, err, fmt.Sprintf("Volume Type %s already exists.", t.Name))
			}
			return err
		}
		out, err = s.GetType(ctx, id)
		return err
	})
	return out, err
}

// DeleteType (admin); ErrInvalid while volumes use it or when it is the default type.
func (a *API) DeleteType(ctx context.Context, c Caller, id string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	s := a.db.Store()
	t, err := s.GetType(ctx, id)
	if err != nil {
		return notFound(err, "Volume type %s could not be found.", id)
	}
	if t.Name == a.opts.DefaultVolumeType {
		return model.Errorf(model.ErrInvalid, "Default volume type can not be deleted.")
	}
	n, err := s.CountVolumes(ctx, db.VolumeQuery{VolumeTypeID: id})
	if err != nil {
		return err
	}
	if n > 0 {
		return model.Errorf(model.ErrInvalid, "Target volume type is still in use.")
	}
	if err := s.DeleteType(ctx, id); err != nil {
		if errors.Is(err, model.ErrConflict) {
			return model.Wrap(model.ErrInvalid, err, "Target volume type is still in use.")
		}
		return notFound(err, "Volume type %s could not be found.", id)
	}
	a.log.Info("volume type deleted", "volume_type_id", id, "volume_type", t.Name)
	return nil
}

// SetExtraSpecs (admin) merges and validates specs; returns all specs.
func (a *API) SetExtraSpecs(ctx context.Context, c Caller, typeID string, specs map[string]string) (map[string]string, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if err := ValidateExtraSpecs(specs); err != nil {
		return nil, err
	}
	var out map[string]string
	err := a.db.InTx(ctx, func(s *db.Store) error {
		if _, err := s.GetType(ctx, typeID); err != nil {
			return notFound(err, "Volume type %s could not be found.", typeID)
		}
		if err := s.SetExtraSpecs(ctx, typeID, specs); err != nil {
			return err
		}
		t, err := s.GetType(ctx, typeID)
		if err != nil {
			return err
		}
		out = t.ExtraSpecs
		return nil
	})
	return out, err
}

// DeleteExtraSpec (admin) removes one key; ErrNotFound if the type or the key is missing.
func (a *API) DeleteExtraSpec(ctx context.Context, c Caller, typeID, key string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	s := a.db.Store()
	if _, err := s.GetType(ctx, typeID); err != nil {
		return notFound(err, "Volume type %s could not be found.", typeID)
	}
	return notFound(s.DeleteExtraSpec(ctx, typeID, key),
		"Volume Type %s has no extra specs with key %s.", typeID, key)
}

func checkTypeName(name string) error {
	if name == "" || len(name) > 255 {
		return model.Errorf(model.ErrInvalid, "Volume type name must be between 1 and 255 characters.")
	}
	return nil
}

// ValidateExtraSpecs checks spec keys (1..255 chars), values (<= 255 chars) and the dlvm layout
// specs: dlvm:mirrors 1..3, dlvm:stripes 1..16, dlvm:stripe_chunk_kib a power of two 4..4096.
// Errors wrap model.ErrInvalid.
func ValidateExtraSpecs(specs map[string]string) error {
	for k, v := range specs {
		if k == "" || len(k) > 255 {
			return model.Errorf(model.ErrInvalid, "Extra spec key must be between 1 and 255 characters.")
		}
		if len(v) > 255 {
			return model.Errorf(model.ErrInvalid, "Extra spec value for %s must be at most 255 characters.", k)
		}
	}
	_, err := layoutFromSpecs(specs, model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512})
	return err
}

// layoutOf computes a type's layout, falling back to the configured default layout.
func (a *API) layoutOf(specs map[string]string) (model.Layout, error) {
	return layoutFromSpecs(specs, a.opts.DefaultLayout)
}

func layoutFromSpecs(specs map[string]string, def model.Layout) (model.Layout, error) {
	l := def
	for _, f := range []struct {
		key      string
		dst      *int
		min, max int
	}{
		{model.SpecMirrors, &l.Mirrors, 1, maxMirrors},
		{model.SpecStripes, &l.Stripes, 1, maxStripes},
		{model.SpecChunkKiB, &l.ChunkKiB, minChunkKiB, maxChunkKiB},
	} {
		raw, ok := specs[f.key]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil || n < f.min || n > f.max {
			return l, model.Errorf(model.ErrInvalid, "Invalid extra spec %s=%q: must be an integer between %d and %d.", f.key, raw, f.min, f.max)
		}
		*f.dst = n
	}
	if err := checkLayout(l); err != nil {
		return l, err
	}
	return l, nil
}

// checkLayout enforces the bounds on a whole layout.
func checkLayout(l model.Layout) error {
	switch {
	case l.Mirrors < 1 || l.Mirrors > maxMirrors:
		return model.Errorf(model.ErrInvalid, "Invalid extra spec %s=%d: must be between 1 and %d.", model.SpecMirrors, l.Mirrors, maxMirrors)
	case l.Stripes < 1 || l.Stripes > maxStripes:
		return model.Errorf(model.ErrInvalid, "Invalid extra spec %s=%d: must be between 1 and %d.", model.SpecStripes, l.Stripes, maxStripes)
	case l.ChunkKiB < minChunkKiB || l.ChunkKiB > maxChunkKiB || l.ChunkKiB&(l.ChunkKiB-1) != 0:
		return model.Errorf(model.ErrInvalid, "Invalid extra spec %s=%d: must be a power of two between %d and %d.", model.SpecChunkKiB, l.ChunkKiB, minChunkKiB, maxChunkKiB)
	}
	return nil
}

// isTrueSpec reads a boolean extra spec the Cinder way ("<is> True", "True", "true").
func isTrueSpec(v string) bool {
	v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "<is>"))
	return strings.EqualFold(v, "true")
}
