package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func newAttachment(id, volumeID, instance string, created time.Time) *model.Attachment {
	return &model.Attachment{ID: id, VolumeID: volumeID, InstanceUUID: instance, ProjectID: "p1",
		Status: model.AttachReserved, AttachMode: model.AttachModeRW, CreatedAt: created, UpdatedAt: created}
}

func TestAttachmentCRUD(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		a := newAttachment("a1", "vol-1", "inst-1", base)
		require.NoError(t, s.CreateAttachment(ctx, a))
		require.ErrorIs(t, s.CreateAttachment(ctx, newAttachment("a1", "vol-1", "", base)), model.ErrConflict)

		got, err := s.GetAttachment(ctx, "a1")
		require.NoError(t, err)
		require.Equal(t, a, got)
		require.Nil(t, got.Connector, "no connector stored as NULL")
		_, err = s.GetAttachment(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)

		at := base.Add(time.Minute)
		got.Status, got.Host, got.Mountpoint, got.AttachMode = model.AttachAttached, "compute-1", "/dev/vdb", model.AttachModeRO
		got.Connector = json.RawMessage(`{"host":"compute-1","initiator":"iqn.x"}`)
		got.ConnectionInfo = json.RawMessage(`{"driver_volume_type":"iscsi","target_lun":1}`)
		got.AttachedAt, got.ErrorReason = &at, "none"
		require.NoError(t, s.UpdateAttachment(ctx, got))
		again, err := s.GetAttachment(ctx, "a1")
		require.NoError(t, err)
		require.Equal(t, got, again)
		require.JSONEq(t, `{"host":"compute-1","initiator":"iqn.x"}`, string(again.Connector))
		require.ErrorIs(t, s.UpdateAttachment(ctx, &model.Attachment{ID: "nope"}), model.ErrNotFound)

		// Clearing the connection stores NULL again.
		again.ConnectionInfo = json.RawMessage("null")
		require.NoError(t, s.UpdateAttachment(ctx, again))
		cleared, err := s.GetAttachment(ctx, "a1")
		require.NoError(t, err)
		require.Nil(t, cleared.ConnectionInfo)

		require.NoError(t, s.DeleteAttachment(ctx, "a1"))
		require.NoError(t, s.DeleteAttachment(ctx, "a1"), "idempotent")
		require.NoError(t, s.DeleteAttachment(ctx, "never"), "missing is fine")
		_, err = s.GetAttachment(ctx, "a1")
		require.ErrorIs(t, err, model.ErrNotFound)
		require.ErrorIs(t, s.UpdateAttachment(ctx, again), model.ErrNotFound, "deleted rows are missing")
	})
}

func TestListAttachments(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		rows := []*model.Attachment{
			newAttachment("a1", "vol-1", "inst-1", base),
			newAttachment("a2", "vol-1", "inst-2", base.Add(time.Second)),
			newAttachment("a3", "vol-2", "inst-1", base.Add(2*time.Second)),
			newAttachment("a4", "vol-1", "inst-3", base.Add(3*time.Second)),
		}
		rows[1].Status, rows[1].Host = model.AttachAttached, "h1"
		rows[2].ProjectID = "p2"
		for _, a := range rows {
			require.NoError(t, s.CreateAttachment(ctx, a))
		}
		require.NoError(t, s.DeleteAttachment(ctx, "a4"))
		for _, tc := range []struct {
			name string
			q    db.AttachmentQuery
			want []string
		}{
			{"all live, oldest first", db.AttachmentQuery{}, []string{"a1", "a2", "a3"}},
			{"volume", db.AttachmentQuery{VolumeID: "vol-1"}, []string{"a1", "a2"}},
			{"project", db.AttachmentQuery{ProjectID: "p2"}, []string{"a3"}},
			{"instance", db.AttachmentQuery{InstanceUUID: "inst-1"}, []string{"a1", "a3"}},
			{"status", db.AttachmentQuery{Status: model.AttachAttached}, []string{"a2"}},
			{"host", db.AttachmentQuery{Host: "h1", VolumeID: "vol-1"}, []string{"a2"}},
			{"nothing", db.AttachmentQuery{VolumeID: "vol-9"}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListAttachments(ctx, tc.q)
				require.NoError(t, err)
				ids := []string{}
				for _, a := range got {
					ids = append(ids, a.ID)
				}
				require.Equal(t, tc.want, ids)
			})
		}
	})
}

func TestUpsertIHostKeepsCHAP(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		_, err := s.GetIHost(ctx, "compute-1")
		require.ErrorIs(t, err, model.ErrNotFound)
		require.ErrorIs(t, s.UpsertIHost(ctx, &model.IHost{}), model.ErrInvalid)

		h := &model.IHost{Host: "compute-1", Initiator: "iqn.1993-08.org.debian:01:aa", CHAPUser: "user-first",
			CHAPSecret: "secret-first-0123456789"}
		require.NoError(t, s.UpsertIHost(ctx, h))
		require.True(t, h.HeartbeatAt.IsZero())

		hb := base.Add(time.Hour)
		again := &model.IHost{Host: "compute-1", URL: "http://10.0.0.5:8810", CHAPUser: "user-second",
			CHAPSecret: "secret-second-0123456789", HeartbeatAt: hb}
		require.NoError(t, s.UpsertIHost(ctx, again))
		require.Equal(t, "user-first", again.CHAPUser, "credentials are generated once per host")
		require.Equal(t, "secret-first-0123456789", again.CHAPSecret)
		require.Equal(t, "iqn.1993-08.org.debian:01:aa", again.Initiator, "empty initiator keeps the stored one")
		require.Equal(t, "http://10.0.0.5:8810", again.URL)
		require.Equal(t, hb, again.HeartbeatAt)

		got, err := s.GetIHost(ctx, "compute-1")
		require.NoError(t, err)
		require.Equal(t, again, got)

		// Inside a transaction too.
		require.NoError(t, d.InTx(ctx, func(s *db.Store) error {
			return s.UpsertIHost(ctx, &model.IHost{Host: "compute-2", Initiator: "iqn.b", CHAPUser: "u", CHAPSecret: "s"})
		}))
		got, err = s.GetIHost(ctx, "compute-2")
		require.NoError(t, err)
		require.Equal(t, "iqn.b", got.Initiator)
	})
}
