package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func newMessage(id, project, resource string, created time.Time) *model.Message {
	m := model.NewMessage(project, model.MsgResourceVolume, resource, model.ActionScheduleAllocateVolume,
		model.DetailNoBackendAvailable, created, time.Hour)
	m.ID, m.RequestID = id, "req-"+id
	return m
}

func TestMessages(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		m1 := newMessage("m1", "p1", "vol-1", base)
		require.Equal(t, "VOLUME_VOLUME_001_003", m1.EventID)
		require.Equal(t, "schedule allocate volume: Could not find any available weighted backend.", m1.UserMessage)
		require.NoError(t, s.CreateMessage(ctx, m1))
		require.ErrorIs(t, s.CreateMessage(ctx, newMessage("m1", "p1", "vol-1", base)), model.ErrConflict)
		require.NoError(t, s.CreateMessage(ctx, newMessage("m2", "p1", "vol-2", base.Add(time.Second))))
		m3 := newMessage("m3", "p2", "vol-3", base.Add(2*time.Second))
		m3.ExpiresAt = base.Add(3 * time.Hour)
		require.NoError(t, s.CreateMessage(ctx, m3))

		got, err := s.GetMessage(ctx, "m1")
		require.NoError(t, err)
		require.Equal(t, m1, got)
		_, err = s.GetMessage(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)

		ids := func(q db.MessageQuery) []string {
			t.Helper()
			ms, err := s.ListMessages(ctx, q)
			require.NoError(t, err)
			var out []string
			for _, m := range ms {
				out = append(out, m.ID)
			}
			return out
		}
		require.Equal(t, []string{"m3", "m2", "m1"}, ids(db.MessageQuery{}))
		require.Equal(t, []string{"m2", "m1"}, ids(db.MessageQuery{ProjectID: "p1"}))
		require.Equal(t, []string{"m2"}, ids(db.MessageQuery{ResourceUUID: "vol-2"}))
		require.Equal(t, []string{"m1", "m2"}, ids(db.MessageQuery{ProjectID: "p1", Sort: []db.SortKey{{Key: "created_at"}}}))
		require.Equal(t, []string{"m1"}, ids(db.MessageQuery{ProjectID: "p1", Marker: "m2"}))
		require.Equal(t, []string{"m3"}, ids(db.MessageQuery{Limit: 1}))
		_, err = s.ListMessages(ctx, db.MessageQuery{ProjectID: "p2", Marker: "m1"})
		require.ErrorIs(t, err, model.ErrNotFound, "a marker of another project")
		_, err = s.ListMessages(ctx, db.MessageQuery{Sort: []db.SortKey{{Key: "user_message"}}})
		require.ErrorIs(t, err, model.ErrInvalid)

		n, err := s.DeleteExpiredMessages(ctx, base.Add(2*time.Hour))
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		require.Equal(t, []string{"m3"}, ids(db.MessageQuery{}))

		require.NoError(t, s.DeleteMessage(ctx, "m3"))
		require.ErrorIs(t, s.DeleteMessage(ctx, "m3"), model.ErrNotFound)
	})
}
