package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

func TestPrivateTypeAccess(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		priv, err := e.api.CreateType(e.ctx, admin, "private", "", false, nil)
		require.NoError(t, err)
		pub, err := e.api.CreateType(e.ctx, admin, "public", "", true, nil)
		require.NoError(t, err)

		_, err = e.api.GetType(e.ctx, alice, priv.ID)
		requireKind(t, err, model.ErrNotFound)
		_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1, VolumeType: priv.ID})
		requireKind(t, err, model.ErrNotFound)
		requireKind(t, e.api.AddTypeAccess(e.ctx, alice, priv.ID, alice.ProjectID), model.ErrForbidden)
		requireKind(t, e.api.AddTypeAccess(e.ctx, admin, pub.ID, alice.ProjectID), model.ErrInvalid)
		requireKind(t, e.api.AddTypeAccess(e.ctx, admin, priv.ID, " "), model.ErrInvalid)

		require.NoError(t, e.api.AddTypeAccess(e.ctx, admin, priv.ID, alice.ProjectID))
		requireKind(t, e.api.AddTypeAccess(e.ctx, admin, priv.ID, alice.ProjectID), model.ErrConflict)
		got, err := e.api.GetType(e.ctx, alice, "private")
		require.NoError(t, err, "by name too")
		require.Equal(t, priv.ID, got.ID)
		names := func(c Caller) []string {
			ts, err := e.api.ListTypes(e.ctx, c, nil)
			require.NoError(t, err)
			var out []string
			for _, t := range ts {
				out = append(out, t.Name)
			}
			return out
		}
		require.ElementsMatch(t, []string{"__DEFAULT__", "private", "public"}, names(alice))
		require.ElementsMatch(t, []string{"__DEFAULT__", "public"}, names(bob))
		v, err := e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1, VolumeType: priv.ID})
		require.NoError(t, err)
		require.Equal(t, priv.ID, v.VolumeTypeID)
		_, err = e.api.CreateVolume(e.ctx, bob, CreateVolumeRequest{Size: 1, VolumeType: priv.ID})
		requireKind(t, err, model.ErrNotFound)

		projects, err := e.api.ListTypeAccess(e.ctx, admin, priv.ID)
		require.NoError(t, err)
		require.Equal(t, []string{alice.ProjectID}, projects)
		_, err = e.api.ListTypeAccess(e.ctx, admin, pub.ID)
		requireKind(t, err, model.ErrNotFound)

		require.NoError(t, e.api.RemoveTypeAccess(e.ctx, admin, priv.ID, alice.ProjectID))
		requireKind(t, e.api.RemoveTypeAccess(e.ctx, admin, priv.ID, alice.ProjectID), model.ErrNotFound)
		_, err = e.api.GetType(e.ctx, alice, priv.ID)
		requireKind(t, err, model.ErrNotFound)
	})
}

func TestTypeEncryption(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		vt, err := e.api.CreateType(e.ctx, admin, "enc", "", true, nil)
		require.NoError(t, err)
		str := func(s string) *string { return &s }
		ks := 256

		enc, err := e.api.GetTypeEncryption(e.ctx, alice, vt.ID)
		require.NoError(t, err)
		require.Nil(t, enc)
		_, err = e.api.CreateTypeEncryption(e.ctx, alice, vt.ID, EncryptionUpdate{Provider: str("luks")})
		requireKind(t, err, model.ErrForbidden)
		_, err = e.api.CreateTypeEncryption(e.ctx, admin, vt.ID, EncryptionUpdate{Cipher: str("aes")})
		requireKind(t, err, model.ErrInvalid)
		_, err = e.api.CreateTypeEncryption(e.ctx, admin, "nope", EncryptionUpdate{Provider: str("luks")})
		requireKind(t, err, model.ErrNotFound)

		enc, err = e.api.CreateTypeEncryption(e.ctx, admin, vt.ID, EncryptionUpdate{Provider: str("luks"), KeySize: &ks, KeySizeSet: true})
		require.NoError(t, err)
		require.Equal(t, "front-end", enc.ControlLocation, "default control location")
		_, err = e.api.CreateTypeEncryption(e.ctx, admin, vt.ID, EncryptionUpdate{Provider: str("luks")})
		requireKind(t, err, model.ErrInvalid)

		// A volume of an encrypted type is refused and nothing is written.
		_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1, VolumeType: vt.ID})
		requireKind(t, err, model.ErrInvalid)
		require.Zero(t, e.countVolumes(alice.ProjectID))
		require.Zero(t, e.usage(alice.ProjectID)[model.ResVolumes].InUse)

		upd, err := e.api.UpdateTypeEncryption(e.ctx, admin, vt.ID, EncryptionUpdate{ControlLocation: str("back-end"), KeySizeSet: true})
		require.NoError(t, err)
		require.Equal(t, "back-end", upd.ControlLocation)
		require.Nil(t, upd.KeySize)
		require.Equal(t, "luks", upd.Provider)
		require.NoError(t, e.api.DeleteTypeEncryption(e.ctx, admin, vt.ID))
		requireKind(t, e.api.DeleteTypeEncryption(e.ctx, admin, vt.ID), model.ErrNotFound)

		// Once volumes use the type, its encryption cannot change.
		_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1, VolumeType: vt.ID})
		require.NoError(t, err)
		_, err = e.api.CreateTypeEncryption(e.ctx, admin, vt.ID, EncryptionUpdate{Provider: str("luks")})
		requireKind(t, err, model.ErrInvalid)
	})
}

func TestServicesState(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := newEnv(t, "sqlite", Options{ServiceDownTime: 30 * time.Second, Now: func() time.Time { return now }})
	s := e.db.Store()
	require.NoError(t, s.HeartbeatService(e.ctx, "a", model.BinaryScheduler, "nova", now.Add(-30*time.Second)))
	require.NoError(t, s.HeartbeatService(e.ctx, "b", model.BinaryScheduler, "nova", now.Add(-31*time.Second)))
	_, err := e.api.ListServices(e.ctx, alice, "", "")
	requireKind(t, err, model.ErrForbidden)
	svcs, err := e.api.ListServices(e.ctx, admin, "", "")
	require.NoError(t, err)
	require.Len(t, svcs, 2)
	require.True(t, svcs[0].Up, "exactly service_down_time old is still up")
	require.False(t, svcs[1].Up)

	requireKind(t, e.api.FreezeHost(e.ctx, admin, "a", true), model.ErrInvalid) // no cinder-volume there
	requireKind(t, e.api.SetServiceDisabled(e.ctx, admin, "a", model.BinaryVolume, true, ""), model.ErrNotFound)
	_, err = e.api.HostUsage(e.ctx, admin, "a")
	requireKind(t, err, model.ErrNotFound)
	_, err = e.api.BackendCapabilities(e.ctx, admin, "dlvm@dlvm")
	requireKind(t, err, model.ErrNotFound)
}
