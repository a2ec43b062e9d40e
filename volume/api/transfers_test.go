package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

func TestTransferAcceptMovesVolumeSnapshotsAndQuota(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		v := e.volume(alice, 3, model.StatusAvailable)
		sn := e.snapshot(alice, v.ID, model.StatusAvailable)

		tr, key, err := e.api.CreateTransfer(e.ctx, alice, v.ID, "gift", false)
		require.NoError(t, err)
		require.Len(t, key, 2*transferKeyBytes)
		require.NotContains(t, tr.CryptHash, key, "only a hash of the key is kept")
		got, err := e.db.Store().GetVolume(e.ctx, v.ID)
		require.NoError(t, err)
		require.Equal(t, model.StatusAwaitingTransfer, got.Status)

		// Another project cannot see it, a second transfer of the same volume is refused.
		_, err = e.api.GetTransfer(e.ctx, bob, tr.ID)
		requireKind(t, err, model.ErrNotFound)
		_, _, err = e.api.CreateTransfer(e.ctx, alice, v.ID, "again", false)
		requireKind(t, err, model.ErrInvalid)
		list, err := e.api.ListTransfers(e.ctx, bob, false)
		require.NoError(t, err)
		require.Empty(t, list)

		// A wrong key changes nothing.
		before := e.usage(alice.ProjectID)
		_, err = e.api.AcceptTransfer(e.ctx, bob, tr.ID, "0000000000000000")
		requireKind(t, err, model.ErrInvalid)
		require.Equal(t, before, e.usage(alice.ProjectID))
		require.Equal(t, 1, e.countVolumes(alice.ProjectID))

		_, err = e.api.AcceptTransfer(e.ctx, bob, tr.ID, key)
		require.NoError(t, err)
		got, err = e.db.Store().GetVolume(e.ctx, v.ID)
		require.NoError(t, err)
		require.Equal(t, bob.ProjectID, got.ProjectID)
		require.Equal(t, bob.UserID, got.UserID)
		require.Equal(t, model.StatusAvailable, got.Status)
		gotSn, err := e.db.Store().GetSnapshot(e.ctx, sn.ID)
		require.NoError(t, err)
		require.Equal(t, bob.ProjectID, gotSn.ProjectID)

		ua, ub := e.usage(alice.ProjectID), e.usage(bob.ProjectID)
		require.EqualValues(t, 0, ua[model.ResVolumes].InUse)
		require.EqualValues(t, 0, ua[model.ResGigabytes].InUse)
		require.EqualValues(t, 0, ua[model.ResSnapshots].InUse)
		require.EqualValues(t, 1, ub[model.ResVolumes].InUse)
		require.EqualValues(t, 6, ub[model.ResGigabytes].InUse, "volume 3 + snapshot 3")
		require.EqualValues(t, 1, ub[model.ResSnapshots].InUse)

		// The transfer is gone once accepted.
		_, err = e.api.GetTransfer(e.ctx, alice, tr.ID)
		requireKind(t, err, model.ErrNotFound)
		_, err = e.api.AcceptTransfer(e.ctx, bob, tr.ID, key)
		requireKind(t, err, model.ErrNotFound)
	})
}

func TestTransferOverQuotaChangesNothing(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 5, model.StatusAvailable)
	tr, key, err := e.api.CreateTransfer(e.ctx, alice, v.ID, "", false)
	require.NoError(t, err)
	e.setLimits(bob.ProjectID, map[string]int64{model.ResGigabytes: 4})
	_, err = e.api.AcceptTransfer(e.ctx, bob, tr.ID, key)
	requireKind(t, err, model.ErrQuotaExceeded)
	got, err := e.db.Store().GetVolume(e.ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, alice.ProjectID, got.ProjectID)
	require.Equal(t, model.StatusAwaitingTransfer, got.Status)
	require.EqualValues(t, 5, e.usage(alice.ProjectID)[model.ResGigabytes].InUse)
	require.EqualValues(t, 0, e.usage(bob.ProjectID)[model.ResGigabytes].InUse)
}

func TestTransferNoSnapshotsAndDelete(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 1, model.StatusAvailable)
	sn := e.snapshot(alice, v.ID, model.StatusAvailable)
	tr, key, err := e.api.CreateTransfer(e.ctx, alice, v.ID, "", true)
	require.NoError(t, err)
	require.True(t, tr.NoSnapshots)
	_, err = e.api.AcceptTransfer(e.ctx, bob, tr.ID, key)
	require.NoError(t, err)
	gotSn, err := e.db.Store().GetSnapshot(e.ctx, sn.ID)
	require.NoError(t, err)
	require.Equal(t, alice.ProjectID, gotSn.ProjectID, "no_snapshots leaves the snapshots")
	require.EqualValues(t, 1, e.usage(bob.ProjectID)[model.ResGigabytes].InUse)

	// Delete: the volume is available again; a volume that is not available cannot be offered.
	v2 := e.volume(alice, 1, model.StatusAvailable)
	tr2, _, err := e.api.CreateTransfer(e.ctx, alice, v2.ID, "", false)
	require.NoError(t, err)
	requireKind(t, e.api.DeleteTransfer(e.ctx, bob, tr2.ID), model.ErrNotFound)
	require.NoError(t, e.api.DeleteTransfer(e.ctx, alice, tr2.ID))
	got, err := e.db.Store().GetVolume(e.ctx, v2.ID)
	require.NoError(t, err)
	require.Equal(t, model.StatusAvailable, got.Status)
	v3 := e.volume(alice, 1, model.StatusInUse)
	_, _, err = e.api.CreateTransfer(e.ctx, alice, v3.ID, "", false)
	requireKind(t, err, model.ErrInvalid)
}
