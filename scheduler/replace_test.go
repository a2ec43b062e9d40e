package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

func TestPlaceReplacement(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dpv := func(id, loc string, free int64) *model.DPV {
		return &model.DPV{ID: id, Name: id, DVGID: "g", Location: loc, State: DPVUp, HeartbeatAt: now,
			TotalBytes: 100 * model.GiB, FreeBytes: free * model.GiB}
	}
	st := State{Now: now, HeartbeatTimeout: time.Minute,
		DVGs: []*model.DVG{{ID: "g", Name: "gold", OverSubscription: 1}},
		DPVs: []*model.DPV{dpv("a", "r1", 90), dpv("b", "r2", 90), dpv("c", "r1", 90), dpv("d", "r3", 90), dpv("e", "r3", 90)}}
	st.DPVs[1].HeartbeatAt = now.Add(-time.Hour) // b is dead: its leg is the one replaced
	// Volume: group 0 on a (r1) and b (lost), group 1 on d and e.
	legs := []*model.Leg{{Group: 0, Mirror: 0, DPVID: "a"}, {Group: 1, Mirror: 0, DPVID: "d"}, {Group: 1, Mirror: 1, DPVID: "e"}}
	req := ReplaceRequest{DVGID: "g", SizeBytes: model.GiB, Group: 0, Legs: legs, Exclude: []string{"b"}}

	got, err := PlaceReplacement(req, st)
	require.NoError(t, err)
	// c shares r1 with the surviving mirror; d and e are in r3 (new) but carry legs of the
	// volume: a new location wins over fewer legs.
	require.Equal(t, "d", got)

	st.DPVs[3].State, st.DPVs[4].State = "draining", "draining"
	got, err = PlaceReplacement(req, st)
	require.NoError(t, err)
	require.Equal(t, "c", got, "only c is left: same location as the mirror, but a distinct dpv")

	st.DPVs[2].FreeBytes = 0
	_, err = PlaceReplacement(req, st)
	require.ErrorIs(t, err, model.ErrNoPlacement, "never on the surviving mirror's dpv")

	_, err = PlaceReplacement(ReplaceRequest{DVGID: "nope"}, st)
	require.ErrorIs(t, err, model.ErrNoPlacement)
}
