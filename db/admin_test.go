package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestQosSpecs(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		q := &model.QosSpecs{ID: "q1", Name: "fast", Consumer: model.QosFrontEnd,
			Specs: map[string]string{"read_iops_sec": "2000", "total_bytes_sec": "1"}, CreatedAt: base}
		require.NoError(t, s.CreateQos(ctx, q))
		require.ErrorIs(t, s.CreateQos(ctx, &model.QosSpecs{ID: "q2", Name: "fast", Consumer: model.QosBoth}), model.ErrConflict)
		require.ErrorIs(t, s.CreateQos(ctx, &model.QosSpecs{ID: "q1", Name: "other", Consumer: model.QosBoth}), model.ErrConflict)
		require.NoError(t, s.CreateQos(ctx, &model.QosSpecs{ID: "q3", Name: "slow", Consumer: model.QosBackEnd, CreatedAt: base.Add(time.Second)}))

		got, err := s.GetQos(ctx, "q1")
		require.NoError(t, err)
		require.Equal(t, q, got)
		_, err = s.GetQos(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)

		all, err := s.ListQos(ctx)
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, "q3", all[0].ID, "newest first")
		require.Equal(t, q.Specs, all[1].Specs)
		require.Empty(t, all[0].Specs)

		require.NoError(t, s.UpdateQos(ctx, "q1", model.QosBoth, map[string]string{"read_iops_sec": "10", "iops_bytes": "5"}))
		got, err = s.GetQos(ctx, "q1")
		require.NoError(t, err)
		require.Equal(t, model.QosBoth, got.Consumer)
		require.Equal(t, map[string]string{"read_iops_sec": "10", "iops_bytes": "5", "total_bytes_sec": "1"}, got.Specs)
		require.NoError(t, s.UpdateQos(ctx, "q1", "", nil))
		got, _ = s.GetQos(ctx, "q1")
		require.Equal(t, model.QosBoth, got.Consumer, "empty consumer keeps it")
		require.ErrorIs(t, s.UpdateQos(ctx, "nope", "", map[string]string{"a": "b"}), model.ErrNotFound)

		t.Run("delete keys is all or nothing", func(t *testing.T) {
			require.ErrorIs(t, s.DeleteQosKeys(ctx, "q1", []string{"iops_bytes", "missing"}), model.ErrNotFound)
			got, _ := s.GetQos(ctx, "q1")
			require.Contains(t, got.Specs, "iops_bytes")
			require.NoError(t, s.DeleteQosKeys(ctx, "q1", []string{"iops_bytes"}))
			got, _ = s.GetQos(ctx, "q1")
			require.NotContains(t, got.Specs, "iops_bytes")
		})

		t.Run("associations", func(t *testing.T) {
			for _, id := range []string{"ta", "tb"} {
				require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: id, Name: "type-" + id, IsPublic: true}))
			}
			require.NoError(t, s.AssociateQos(ctx, "q1", "ta"))
			require.NoError(t, s.AssociateQos(ctx, "q1", "ta"), "idempotent")
			require.NoError(t, s.AssociateQos(ctx, "q1", "tb"))
			require.ErrorIs(t, s.AssociateQos(ctx, "q3", "ta"), model.ErrConflict)
			require.ErrorIs(t, s.AssociateQos(ctx, "q1", "nope"), model.ErrNotFound)
			require.ErrorIs(t, s.AssociateQos(ctx, "nope", "ta"), model.ErrNotFound)
			as, err := s.QosAssociations(ctx, "q1")
			require.NoError(t, err)
			require.Len(t, as, 2)
			require.Equal(t, "type-ta", as[0].Name)
			vt, _ := s.GetType(ctx, "ta")
			require.Equal(t, "q1", vt.QosSpecsID)

			require.NoError(t, s.DisassociateQos(ctx, "q1", "ta"))
			require.NoError(t, s.DisassociateQos(ctx, "q3", "tb"), "other specs' type is left alone")
			as, _ = s.QosAssociations(ctx, "q1")
			require.Len(t, as, 1)
			require.ErrorIs(t, s.DisassociateQos(ctx, "q1", "nope"), model.ErrNotFound)

			require.ErrorIs(t, s.DeleteQos(ctx, "q1", false), model.ErrConflict)
			_, err = s.GetQos(ctx, "q1")
			require.NoError(t, err, "a refused delete changes nothing")
			require.NoError(t, s.DisassociateAllQos(ctx, "q1"))
			as, _ = s.QosAssociations(ctx, "q1")
			require.Empty(t, as)
			require.NoError(t, s.AssociateQos(ctx, "q1", "tb"))
			require.NoError(t, s.DeleteQos(ctx, "q1", true))
			_, err = s.GetQos(ctx, "q1")
			require.ErrorIs(t, err, model.ErrNotFound)
			vt, _ = s.GetType(ctx, "tb")
			require.Empty(t, vt.QosSpecsID, "forced delete disassociates")
			require.ErrorIs(t, s.DeleteQos(ctx, "q1", true), model.ErrNotFound)
			require.NoError(t, s.CreateQos(ctx, &model.QosSpecs{ID: "q4", Name: "fast", Consumer: model.QosBoth}), "name reusable after delete")
		})
	})
}

func TestTypeAccessAndEncryption(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: "pub", Name: "pub", IsPublic: true}))
		require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: "priv", Name: "priv", IsPublic: false}))
		require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: "priv2", Name: "priv2", IsPublic: false}))

		require.NoError(t, s.AddTypeAccess(ctx, "priv", "p1"))
		require.NoError(t, s.AddTypeAccess(ctx, "priv", "p2"))
		require.ErrorIs(t, s.AddTypeAccess(ctx, "priv", "p1"), model.ErrConflict)
		require.ErrorIs(t, s.AddTypeAccess(ctx, "nope", "p1"), model.ErrNotFound)
		got, err := s.ListTypeAccess(ctx, "priv")
		require.NoError(t, err)
		require.Equal(t, []string{"p1", "p2"}, got)
		ok, err := s.HasTypeAccess(ctx, "priv", "p1")
		require.NoError(t, err)
		require.True(t, ok)

		names := func(project string) []string {
			ts, err := s.ListTypesVisible(ctx, project)
			require.NoError(t, err)
			var out []string
			for _, t := range ts {
				out = append(out, t.Name)
			}
			return out
		}
		require.Equal(t, []string{"priv", "pub"}, names("p1"))
		require.Equal(t, []string{"pub"}, names("p3"))

		require.NoError(t, s.RemoveTypeAccess(ctx, "priv", "p1"))
		require.ErrorIs(t, s.RemoveTypeAccess(ctx, "priv", "p1"), model.ErrNotFound)
		require.ErrorIs(t, s.RemoveTypeAccess(ctx, "nope", "p1"), model.ErrNotFound)
		require.Equal(t, []string{"pub"}, names("p1"))

		_, err = s.GetTypeEncryption(ctx, "pub")
		require.ErrorIs(t, err, model.ErrNotFound)
		ks := 256
		e := &model.TypeEncryption{VolumeTypeID: "pub", EncryptionID: "e1", Provider: "luks", Cipher: "aes-xts-plain64",
			KeySize: &ks, ControlLocation: "front-end"}
		require.NoError(t, s.CreateTypeEncryption(ctx, e))
		require.ErrorIs(t, s.CreateTypeEncryption(ctx, e), model.ErrConflict)
		require.ErrorIs(t, s.CreateTypeEncryption(ctx, &model.TypeEncryption{VolumeTypeID: "nope", EncryptionID: "e2", Provider: "x"}), model.ErrNotFound)
		got1, err := s.GetTypeEncryption(ctx, "pub")
		require.NoError(t, err)
		require.Equal(t, e, got1)
		pub, err := s.GetType(ctx, "pub")
		require.NoError(t, err)
		require.True(t, pub.Encrypted, "GetType reads the encryption with the type")
		pub, err = s.GetTypeByName(ctx, pub.Name)
		require.NoError(t, err)
		require.True(t, pub.Encrypted)

		upd := &model.TypeEncryption{VolumeTypeID: "pub", Provider: "other", ControlLocation: "back-end"}
		require.NoError(t, s.UpdateTypeEncryption(ctx, upd))
		got1, _ = s.GetTypeEncryption(ctx, "pub")
		require.Equal(t, "other", got1.Provider)
		require.Nil(t, got1.KeySize)
		require.Equal(t, "e1", got1.EncryptionID)
		require.ErrorIs(t, s.UpdateTypeEncryption(ctx, &model.TypeEncryption{VolumeTypeID: "priv"}), model.ErrNotFound)
		require.NoError(t, s.DeleteTypeEncryption(ctx, "pub"))
		require.ErrorIs(t, s.DeleteTypeEncryption(ctx, "pub"), model.ErrNotFound)
		pub, err = s.GetType(ctx, "pub")
		require.NoError(t, err)
		require.False(t, pub.Encrypted)
	})
}

func TestServices(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		require.NoError(t, s.HeartbeatService(ctx, "node1", model.BinaryScheduler, "nova", base))
		require.NoError(t, s.HeartbeatService(ctx, "dlvm@b1", model.BinaryVolume, "nova", base))
		require.NoError(t, s.HeartbeatService(ctx, "dlvm@b2", model.BinaryVolume, "az2", base))
		require.NoError(t, s.HeartbeatService(ctx, "dlvmx@b1", model.BinaryVolume, "nova", base))
		require.ErrorIs(t, s.HeartbeatService(ctx, "", model.BinaryVolume, "nova", base), model.ErrInvalid)

		require.NoError(t, s.SetServiceDisabled(ctx, "dlvm@b1", model.BinaryVolume, true, "maintenance"))
		require.NoError(t, s.HeartbeatService(ctx, "dlvm@b1", model.BinaryVolume, "az1", base.Add(time.Minute)))
		v, err := s.GetService(ctx, "dlvm@b1", model.BinaryVolume)
		require.NoError(t, err)
		require.Equal(t, &model.Service{Host: "dlvm@b1", Binary: model.BinaryVolume, Zone: "az1", Disabled: true,
			DisabledReason: "maintenance", ReplicationStatus: "disabled", CreatedAt: base, UpdatedAt: base.Add(time.Minute)}, v)
		_, err = s.GetService(ctx, "dlvm", model.BinaryVolume)
		require.ErrorIs(t, err, model.ErrNotFound)
		require.ErrorIs(t, s.SetServiceDisabled(ctx, "dlvm@b1", "cinder-nope", true, ""), model.ErrNotFound)

		hosts := func(host, binary string) []string {
			l, err := s.ListServices(ctx, host, binary)
			require.NoError(t, err)
			var out []string
			for _, v := range l {
				out = append(out, v.Host)
			}
			return out
		}
		require.Equal(t, []string{"node1", "dlvm@b1", "dlvm@b2", "dlvmx@b1"}, hosts("", ""))
		require.Equal(t, []string{"dlvm@b1", "dlvm@b2"}, hosts("dlvm", ""))
		require.Equal(t, []string{"dlvm@b1"}, hosts("dlvm@b1", model.BinaryVolume))
		require.Empty(t, hosts("dlvm", model.BinaryScheduler))
		require.Empty(t, hosts("dlv%", ""), "LIKE wildcards are literal")

		n, err := s.SetServicesFrozen(ctx, "dlvm", model.BinaryVolume, true)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		v, _ = s.GetService(ctx, "dlvm@b2", model.BinaryVolume)
		require.True(t, v.Frozen)
		n, err = s.SetServicesFrozen(ctx, "invalid", model.BinaryVolume, true)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestHostUsage(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		mk := func(id, project, host string, size int) {
			v := newVolume(id, project, base)
			v.Host, v.Size = host, size
			require.NoError(t, s.CreateVolume(ctx, v))
		}
		mk("v1", "pa", "dlvm@b1#g1", 2)
		mk("v2", "pa", "dlvm@b1#g2", 3)
		mk("v3", "pb", "dlvm@b1#g1", 4)
		mk("v4", "pb", "dlvm@b2#g1", 8)
		require.NoError(t, s.CreateSnapshot(ctx, &model.Snapshot{ID: "s1", ProjectID: "pb", VolumeID: "v3", Size: 4,
			Status: model.StatusAvailable, CreatedAt: base, UpdatedAt: base}))
		require.NoError(t, s.CreateSnapshot(ctx, &model.Snapshot{ID: "s2", ProjectID: "pb", VolumeID: "v4", Size: 8,
			Status: model.StatusAvailable, CreatedAt: base, UpdatedAt: base}))
		got, err := s.HostUsage(ctx, "dlvm@b1")
		require.NoError(t, err)
		require.Equal(t, []model.HostUsage{
			{ProjectID: "pa", Volumes: 2, VolumeGB: 5},
			{ProjectID: "pb", Volumes: 1, VolumeGB: 4, Snapshots: 1, SnapshotGB: 4},
		}, got)
		got, err = s.HostUsage(ctx, "nowhere")
		require.NoError(t, err)
		require.Empty(t, got)
	})
}
