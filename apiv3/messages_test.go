package apiv3

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

// tempestMessageKeys is Tempest's common_show_message schema (additionalProperties false).
var tempestMessageKeys = []string{"request_id", "message_level", "links", "event_id", "created_at",
	"guaranteed_until", "resource_uuid", "id", "resource_type", "user_message"}

func TestMessages(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i, p := range []string{projA, projA, projB} {
		m := model.NewMessage(p, model.MsgResourceVolume, "1b8f0a52-8d0d-4c4b-9a55-1b3d1f1c7a0"+string(rune('0'+i)),
			model.ActionScheduleAllocateVolume, model.DetailNoBackendAvailable, now.Add(time.Duration(i)*time.Second), time.Hour)
		m.ID, m.RequestID = "0f6e8f3e-1c5a-4c1e-9f7e-2b8a7d6c5b4"+string(rune('0'+i)), "req-x"
		require.NoError(t, s.d.Store().CreateMessage(ctx, m))
	}
	const m0, m1, m2 = "0f6e8f3e-1c5a-4c1e-9f7e-2b8a7d6c5b40", "0f6e8f3e-1c5a-4c1e-9f7e-2b8a7d6c5b41", "0f6e8f3e-1c5a-4c1e-9f7e-2b8a7d6c5b42"

	r := doVer(t, s.srv.URL, "GET", "/v3/"+projA+"/messages", "3.2", nil)
	require.Equal(t, http.StatusNotFound, r.code, "messages start at 3.3")

	r = doVer(t, s.srv.URL, "GET", "/v3/"+projA+"/messages", "3.3", nil)
	require.Equal(t, http.StatusOK, r.code)
	list := r.json(t)["messages"].([]any)
	require.Len(t, list, 2, "only the caller's project")
	first := list[0].(map[string]any)
	require.ElementsMatch(t, tempestMessageKeys, keysOf(first))
	require.Equal(t, m1, first["id"], "newest first")
	require.Equal(t, "VOLUME_VOLUME_001_003", first["event_id"])
	require.Equal(t, "schedule allocate volume: Could not find any available weighted backend.", first["user_message"])
	require.Equal(t, "ERROR", first["message_level"])

	r = doVer(t, s.srv.URL, "GET", "/v3/"+projA+"/messages?sort=created_at:asc&limit=1", "3.70", nil)
	require.Equal(t, m0, r.json(t)["messages"].([]any)[0].(map[string]any)["id"])
	r = doVer(t, s.srv.URL, "GET", "/v3/"+projA+"/messages?sort=resource_uuid:desc", "3.70", nil)
	require.Equal(t, m1, r.json(t)["messages"].([]any)[0].(map[string]any)["id"])
	r = doVer(t, s.srv.URL, "GET", "/v3/"+projA+"/messages?sort=size", "3.70", nil)
	require.Equal(t, http.StatusBadRequest, r.code)
	r = doVer(t, s.srv.URL, "GET", "/v3/"+projA+"/messages?marker="+m1, "3.70", nil)
	require.Len(t, r.json(t)["messages"].([]any), 1)

	r = doVer(t, s.srv.URL, "GET", "/v3/"+projA+"/messages/"+m0, "3.3", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.ElementsMatch(t, tempestMessageKeys, keysOf(r.json(t)["message"].(map[string]any)))
	r = doVer(t, s.srv.URL, "GET", "/v3/"+projA+"/messages/"+m2, "3.3", nil)
	require.Equal(t, http.StatusNotFound, r.code, "another project's message")

	r = doVer(t, s.srv.URL, "DELETE", "/v3/"+projA+"/messages/"+m0, "3.3", nil)
	require.Equal(t, http.StatusNoContent, r.code)
	r = doVer(t, s.srv.URL, "DELETE", "/v3/"+projA+"/messages/"+m0, "3.3", nil)
	require.Equal(t, http.StatusNotFound, r.code)
	r = doVer(t, s.srv.URL, "DELETE", "/v3/"+projA+"/messages/"+m2, "3.3", nil)
	require.Equal(t, http.StatusNotFound, r.code)
	_, err := s.d.Store().GetMessage(ctx, m2)
	require.NoError(t, err, "another project's message is left alone")
}
