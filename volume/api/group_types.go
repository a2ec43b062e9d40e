package api

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// DefaultGroupTypeName is the group type Cinder creates for migrated consistency groups; it is
// what GET /group_types/default answers when it exists.
const DefaultGroupTypeName = "default_group_type"

// GroupTypeUpdate holds what PUT /group_types/{id} may change; nil = unchanged.
type GroupTypeUpdate struct {
	Name        *string
	Description *string
	IsPublic    *bool
}

func checkGroupTypeName(name string) error {
	if name == "" || len(name) > 255 {
		return model.Errorf(model.ErrInvalid, "Group type name must be between 1 and 255 characters.")
	}
	return nil
}

func checkGroupSpecs(specs map[string]string) error {
	for k, v := range specs {
		if k == "" || len(k) > 255 || len(v) > 255 {
			return model.Errorf(model.ErrInvalid, "Group spec keys must be 1 to 255 characters and values at most 255 characters.")
		}
	}
	return nil
}

// CreateGroupType (admin) creates a group type; ErrConflict on a duplicate name.
func (a *API) CreateGroupType(ctx context.Context, c Caller, name, description string, isPublic bool, specs map[string]string) (*model.GroupType, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if err := checkGroupTypeName(name); err != nil {
		return nil, err
	}
	if len(description) > 255 {
		return nil, model.Errorf(model.ErrInvalid, "Group type description must be at most 255 characters.")
	}
	if err := checkGroupSpecs(specs); err != nil {
		return nil, err
	}
	if specs == nil {
		specs = map[string]string{}
	}
	t := &model.GroupType{ID: uuid.NewString(), Name: name, Description: description, IsPublic: isPublic, GroupSpecs: specs}
	s := a.db.Store()
	if err := s.CreateGroupType(ctx, t); err != nil {
		return nil, err
	}
	a.log.Info("group type created", "group_type_id", t.ID, "group_type", name)
	return s.GetGroupType(ctx, t.ID)
}

// GetGroupType returns a group type by id (then by name); "default" is the default group type.
// A private type is ErrNotFound for a non-admin.
func (a *API) GetGroupType(ctx context.Context, c Caller, idOrName string) (*model.GroupType, error) {
	if idOrName == "default" {
		return a.DefaultGroupType(ctx, c)
	}
	s := a.db.Store()
	t, err := s.GetGroupType(ctx, idOrName)
	if errors.Is(err, model.ErrNotFound) {
		t, err = s.GetGroupTypeByName(ctx, idOrName)
	}
	if err != nil {
		return nil, notFound(err, "Group type %s could not be found.", idOrName)
	}
	if !t.IsPublic && !c.IsAdmin {
		return nil, model.Errorf(model.ErrNotFound, "Group type %s could not be found.", idOrName)
	}
	return t, nil
}

// DefaultGroupType returns the default group type; ErrNotFound when it does not exist.
func (a *API) DefaultGroupType(ctx context.Context, c Caller) (*model.GroupType, error) {
	t, err := a.db.Store().GetGroupTypeByName(ctx, DefaultGroupTypeName)
	return t, notFound(err, "Default group type %s could not be found.", DefaultGroupTypeName)
}

// ListGroupTypes lists group types in sort order (default name); non-admins see public ones
// only. isPublic nil = all.
func (a *API) ListGroupTypes(ctx context.Context, c Caller, isPublic *bool, sort []db.SortKey) ([]*model.GroupType, error) {
	if !c.IsAdmin {
		t := true
		isPublic = &t
	}
	return a.db.Store().ListGroupTypes(ctx, isPublic, sort)
}

// UpdateGroupType (admin) changes name, description, is_public and returns the type.
func (a *API) UpdateGroupType(ctx context.Context, c Caller, id string, u GroupTypeUpdate) (*model.GroupType, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	var out *model.GroupType
	err := a.db.InTx(ctx, func(s *db.Store) error {
		t, err := s.GetGroupType(ctx, id)
		if err != nil {
			return notFound(err, "Group type %s could not be found.", id)
		}
		if u.Name != nil {
			n := strings.TrimSpace(*u.Name)
			if err := checkGroupTypeName(n); err != nil {
				return err
			}
			t.Name = n
		}
		if u.Description != nil {
			if len(*u.Description) > 255 {
				return model.Errorf(model.ErrInvalid, "Group type description must be at most 255 characters.")
			}
			t.Description = *u.Description
		}
		if u.IsPublic != nil {
			t.IsPublic = *u.IsPublic
		}
		if err := s.UpdateGroupType(ctx, t); err != nil {
			return err
		}
		out, err = s.GetGroupType(ctx, id)
		return err
	})
	return out, err
}

// DeleteGroupType (admin); ErrInvalid while groups use it, ErrNotFound if missing.
func (a *API) DeleteGroupType(ctx context.Context, c Caller, id string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	err := a.db.Store().DeleteGroupType(ctx, id)
	if errors.Is(err, model.ErrConflict) {
		return model.Wrap(model.ErrInvalid, err, model.UserMessage(err))
	}
	return notFound(err, "Group type %s could not be found.", id)
}

// SetGroupSpecs (admin) merges specs into a group type's specs.
func (a *API) SetGroupSpecs(ctx context.Context, c Caller, typeID string, specs map[string]string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if err := checkGroupSpecs(specs); err != nil {
		return err
	}
	return notFound(a.db.Store().SetGroupSpecs(ctx, typeID, specs), "Group type %s could not be found.", typeID)
}

// DeleteGroupSpec (admin) removes one key; ErrNotFound if the key or type is absent.
func (a *API) DeleteGroupSpec(ctx context.Context, c Caller, typeID, key string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	return a.db.Store().DeleteGroupSpec(ctx, typeID, key)
}
