package api

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// AddTypeAccess (admin) lets project use the private type typeID. ErrNotFound if the type is
// missing, ErrInvalid for a public type (Cinder refuses it), ErrConflict if already granted.
func (a *API) AddTypeAccess(ctx context.Context, c Caller, typeID, project string) error {
	if err := a.checkAccessChange(ctx, c, typeID, project); err != nil {
		return err
	}
	if err := a.db.Store().AddTypeAccess(ctx, typeID, project); err != nil {
		return notFound(err, "Volume type %s could not be found.", typeID)
	}
	a.log.Info("volume type access added", "volume_type_id", typeID, "project_id", project)
	return nil
}

// RemoveTypeAccess (admin) revokes it; ErrNotFound if the type is missing or the project has no
// access, ErrInvalid for a public type.
func (a *API) RemoveTypeAccess(ctx context.Context, c Caller, typeID, project string) error {
	if err := a.checkAccessChange(ctx, c, typeID, project); err != nil {
		return err
	}
	if err := a.db.Store().RemoveTypeAccess(ctx, typeID, project); err != nil {
		return err
	}
	a.log.Info("volume type access removed", "volume_type_id", typeID, "project_id", project)
	return nil
}

func (a *API) checkAccessChange(ctx context.Context, c Caller, typeID, project string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if project = strings.TrimSpace(project); project == "" || len(project) > 255 {
		return model.Errorf(model.ErrInvalid, "Invalid project: must be 1 to 255 characters.")
	}
	t, err := a.db.Store().GetType(ctx, typeID)
	if err != nil {
		return notFound(err, "Volume type %s could not be found.", typeID)
	}
	if t.IsPublic {
		return model.Errorf(model.ErrInvalid, "Invalid volume type: Type access modification is not applicable to public volume type.")
	}
	return nil
}

// ListTypeAccess (admin) returns the projects with access to a private type; ErrNotFound if the
// type is missing or public (Cinder: "Access list not available for public volume types.").
func (a *API) ListTypeAccess(ctx context.Context, c Caller, typeID string) ([]string, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	s := a.db.Store()
	t, err := s.GetType(ctx, typeID)
	if err != nil {
		return nil, notFound(err, "Volume type %s could not be found.", typeID)
	}
	if t.IsPublic {
		return nil, model.Errorf(model.ErrNotFound, "Access list not available for public volume types.")
	}
	return s.ListTypeAccess(ctx, typeID)
}

// Encryption control locations and the providers' short names Cinder accepts.
var controlLocations = []string{"front-end", "back-end"}

// EncryptionUpdate is a partial encryption spec; nil fields are unchanged (KeySizeSet with a nil
// KeySize clears the key size).
type EncryptionUpdate struct {
	Provider        *string
	Cipher          *string
	KeySize         *int
	KeySizeSet      bool
	ControlLocation *string
}

// GetTypeEncryption returns the type's encryption spec, or nil when it has none; ErrNotFound if
// the type is missing (or private and invisible to c).
func (a *API) GetTypeEncryption(ctx context.Context, c Caller, typeID string) (*model.TypeEncryption, error) {
	s := a.db.Store()
	t, err := s.GetType(ctx, typeID)
	if err != nil {
		return nil, notFound(err, "Volume type %s could not be found.", typeID)
	}
	if _, err := a.lookupType(ctx, c, t.ID); err != nil {
		return nil, err
	}
	e, err := s.GetTypeEncryption(ctx, typeID)
	if errors.Is(err, model.ErrNotFound) {
		return nil, nil
	}
	return e, err
}

// CreateTypeEncryption (admin) gives a type an encryption spec. ErrNotFound for a missing
// type; ErrInvalid when the type already has one, while volumes use the type, or for a bad
// spec (provider required, control_location front-end or back-end, key_size >= 0).
func (a *API) CreateTypeEncryption(ctx context.Context, c Caller, typeID string, u EncryptionUpdate) (*model.TypeEncryption, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	e := &model.TypeEncryption{VolumeTypeID: typeID, EncryptionID: uuid.NewString(), ControlLocation: "front-end"}
	if err := applyEncryption(e, u); err != nil {
		return nil, err
	}
	if e.Provider == "" {
		return nil, model.Errorf(model.ErrInvalid, "Invalid input received: provider must be specified.")
	}
	err := a.db.InTx(ctx, func(s *db.Store) error {
		if err := typeNotInUse(ctx, s, typeID, "create"); err != nil {
			return err
		}
		if _, err := s.GetTypeEncryption(ctx, typeID); err == nil {
			return model.Errorf(model.ErrInvalid, "Volume type encryption for type %s already exists.", typeID)
		}
		return s.CreateTypeEncryption(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("volume type encryption created", "volume_type_id", typeID)
	return e, nil
}

// UpdateTypeEncryption (admin) changes the given fields; ErrNotFound when the type or its
// spec is missing, ErrInvalid while volumes use the type or for a bad value.
func (a *API) UpdateTypeEncryption(ctx context.Context, c Caller, typeID string, u EncryptionUpdate) (*model.TypeEncryption, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	var out *model.TypeEncryption
	err := a.db.InTx(ctx, func(s *db.Store) error {
		if err := typeNotInUse(ctx, s, typeID, "update"); err != nil {
			return err
		}
		e, err := s.GetTypeEncryption(ctx, typeID)
		if err != nil {
			return err
		}
		if err := applyEncryption(e, u); err != nil {
			return err
		}
		if e.Provider == "" {
			return model.Errorf(model.ErrInvalid, "Invalid input received: provider must not be empty.")
		}
		out = e
		return s.UpdateTypeEncryption(ctx, e)
	})
	return out, err
}

// DeleteTypeEncryption (admin) removes the spec; ErrNotFound when the type or its spec is
// missing, ErrInvalid while volumes use the type.
func (a *API) DeleteTypeEncryption(ctx context.Context, c Caller, typeID string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	return a.db.InTx(ctx, func(s *db.Store) error {
		if err := typeNotInUse(ctx, s, typeID, "delete"); err != nil {
			return err
		}
		return s.DeleteTypeEncryption(ctx, typeID)
	})
}

func typeNotInUse(ctx context.Context, s *db.Store, typeID, op string) error {
	if _, err := s.GetType(ctx, typeID); err != nil {
		return notFound(err, "Volume type %s could not be found.", typeID)
	}
	n, err := s.CountVolumes(ctx, db.VolumeQuery{VolumeTypeID: typeID})
	if err != nil {
		return err
	}
	if n > 0 {
		return model.Errorf(model.ErrInvalid, "Cannot %s encryption specs. Volume type in use.", op)
	}
	return nil
}

func applyEncryption(e *model.TypeEncryption, u EncryptionUpdate) error {
	if u.Provider != nil {
		if len(*u.Provider) > 255 {
			return model.Errorf(model.ErrInvalid, "Invalid input received: provider must be at most 255 characters.")
		}
		e.Provider = *u.Provider
	}
	if u.Cipher != nil {
		if len(*u.Cipher) > 255 {
			return model.Errorf(model.ErrInvalid, "Invalid input received: cipher must be at most 255 characters.")
		}
		e.Cipher = *u.Cipher
	}
	if u.KeySizeSet {
		if u.KeySize != nil && *u.KeySize < 0 {
			return model.Errorf(model.ErrInvalid, "Invalid input received: key_size must be non-negative.")
		}
		e.KeySize = u.KeySize
	}
	if u.ControlLocation != nil {
		ok := false
		for _, l := range controlLocations {
			ok = ok || *u.ControlLocation == l
		}
		if !ok {
			return model.Errorf(model.ErrInvalid, "Invalid input received: Valid control location are: %s", strings.Join(controlLocations, ", "))
		}
		e.ControlLocation = *u.ControlLocation
	}
	return nil
}

// refuseEncrypted refuses a volume of an encrypted type: dlvm has no key manager to create and
// hold the volume's key (Cinder's encryption_key_id), so it cannot make such a volume honestly.
func (a *API) refuseEncrypted(vt *model.VolumeType) error {
	if vt.Encrypted { // read with the type (db.Store.GetType, GetTypeByName)
		return model.Errorf(model.ErrInvalid, "Invalid volume type %s: encrypted volume types are not supported (no key manager is configured).", vt.Name)
	}
	return nil
}
