package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// transferKeyBytes is the entropy of a transfer's authorization key (16 hex characters, as
// Cinder's default volume_transfer_key_length).
const transferKeyBytes = 8

// transferHash is the stored form of an authorization key.
func transferHash(salt, key string) string {
	h := sha256.Sum256([]byte(salt + key))
	return hex.EncodeToString(h[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// CreateTransfer offers an available volume of the caller's project to any other project: the
// volume goes to awaiting-transfer and the transfer is written with a salted hash of a fresh
// authorization key, which is returned here and never again. On error nothing is written.
func (a *API) CreateTransfer(ctx context.Context, c Caller, volumeID, name string, noSnapshots bool) (*model.Transfer, string, error) {
	if len(name) > 255 {
		return nil, "", model.Errorf(model.ErrInvalid, "Transfer name must be at most 255 characters.")
	}
	key := randomHex(transferKeyBytes)
	var t *model.Transfer
	err := a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, volumeID)
		if err != nil {
			return err
		}
		if v.Status != model.StatusAvailable {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Status of volume %s must be available, but current status is: %s.", volumeID, v.Status)
		}
		if v.GroupID != "" {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s is in group %s; remove it from the group before transferring it.", volumeID, v.GroupID)
		}
		if err := stateErr(s.SetVolumeStatus(ctx, volumeID, []string{model.StatusAvailable}, model.StatusAwaitingTransfer)); err != nil {
			return err
		}
		salt := randomHex(8)
		t = &model.Transfer{ID: uuid.NewString(), VolumeID: volumeID, Name: name, Salt: salt,
			CryptHash: transferHash(salt, key), NoSnapshots: noSnapshots, SourceProjectID: v.ProjectID}
		return s.CreateTransfer(ctx, t)
	})
	if err != nil {
		return nil, "", err
	}
	a.log.Info("volume transfer created", "transfer_id", t.ID, "volume_id", volumeID)
	return t, key, nil
}

// GetTransfer returns a transfer of the caller's project (any, for an admin).
func (a *API) GetTransfer(ctx context.Context, c Caller, id string) (*model.Transfer, error) {
	return getTransfer(ctx, a.db.Store(), c, id)
}

func getTransfer(ctx context.Context, s *db.Store, c Caller, id string) (*model.Transfer, error) {
	t, err := s.GetTransfer(ctx, id)
	if err != nil {
		return nil, notFound(err, "Transfer %s could not be found.", id)
	}
	if !visible(c, t.SourceProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "Transfer %s could not be found.", id)
	}
	return t, nil
}

// ListTransfers lists the caller's project's transfers (every project's for an admin with
// allTenants).
func (a *API) ListTransfers(ctx context.Context, c Caller, allTenants bool) ([]*model.Transfer, error) {
	p := c.ProjectID
	if c.IsAdmin && allTenants {
		p = ""
	}
	return a.db.Store().ListTransfers(ctx, p)
}

// DeleteTransfer withdraws a transfer; the volume is available again.
func (a *API) DeleteTransfer(ctx context.Context, c Caller, id string) error {
	return a.db.InTx(ctx, func(s *db.Store) error {
		t, err := getTransfer(ctx, s, c, id)
		if err != nil {
			return err
		}
		if err := s.DeleteTransfer(ctx, id, false, ""); err != nil {
			return err
		}
		err = s.SetVolumeStatus(ctx, t.VolumeID, []string{model.StatusAwaitingTransfer}, model.StatusAvailable)
		if err != nil && !isNotFound(err) {
			return stateErr(err)
		}
		return nil
	})
}

// AcceptTransfer gives the volume (and its snapshots unless the transfer says no_snapshots) to
// the caller's project, in one transaction with the quota: the accepting project reserves
// volumes, gigabytes and snapshots within its limits (ErrQuotaExceeded otherwise) and the
// giving project releases them. A wrong key is ErrInvalid and changes nothing.
func (a *API) AcceptTransfer(ctx context.Context, c Caller, id, authKey string) (*model.Transfer, error) {
	var t *model.Transfer
	err := a.db.InTx(ctx, func(s *db.Store) error {
		var err error
		t, err = s.GetTransfer(ctx, id)
		if err != nil {
			return notFound(err, "Transfer %s could not be found.", id)
		}
		if subtle.ConstantTimeCompare([]byte(transferHash(t.Salt, authKey)), []byte(t.CryptHash)) != 1 {
			return model.Errorf(model.ErrInvalid, "Invalid auth key: Attempt to transfer %s with invalid auth key.", id)
		}
		v, err := s.GetVolume(ctx, t.VolumeID)
		if err != nil {
			return notFound(err, "Volume %s could not be found.", t.VolumeID)
		}
		if v.Status != model.StatusAwaitingTransfer {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Status of volume %s must be awaiting-transfer, but current status is: %s.", v.ID, v.Status)
		}
		var snaps []*model.Snapshot
		if !t.NoSnapshots {
			if snaps, err = s.ListSnapshots(ctx, db.SnapshotQuery{VolumeID: v.ID}); err != nil {
				return err
			}
		}
		deltas := map[string]int64{model.ResVolumes: 1, model.ResGigabytes: int64(v.Size)}
		for _, sn := range snaps {
			deltas[model.ResSnapshots]++
			deltas[model.ResGigabytes] += int64(sn.Size)
		}
		limits, err := a.effectiveLimits(ctx, s, c.ProjectID)
		if err != nil {
			return err
		}
		if vt, err := s.GetType(ctx, v.VolumeTypeID); err == nil {
			if err := a.checkTypeQuota(ctx, s, c.ProjectID, vt, limits, 1, deltas[model.ResGigabytes], deltas[model.ResSnapshots]); err != nil {
				return err
			}
		}
		if err := s.Reserve(ctx, c.ProjectID, deltas, limits); err != nil {
			return err
		}
		release := map[string]int64{}
		for r, d := range deltas {
			release[r] = -d
		}
		if err := s.Reserve(ctx, v.ProjectID, release, nil); err != nil {
			return err
		}
		if err := s.MoveVolume(ctx, v.ID, c.ProjectID, c.UserID, !t.NoSnapshots); err != nil {
			return err
		}
		if err := s.SetVolumeStatus(ctx, v.ID, []string{model.StatusAwaitingTransfer}, model.StatusAvailable); err != nil {
			return err
		}
		return s.DeleteTransfer(ctx, id, true, c.ProjectID)
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("volume transfer accepted", "transfer_id", id, "volume_id", t.VolumeID, "project_id", c.ProjectID)
	return t, nil
}

func isNotFound(err error) bool { return errors.Is(err, model.ErrNotFound) }
