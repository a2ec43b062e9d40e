package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

// FuzzPlace builds random snapshots and requests and checks that Place never panics, that every
// plan it returns obeys the placement invariants, and that it reports ErrNoPlacement only when
// no eligible dvg could hold the legs (it is complete).
func FuzzPlace(f *testing.F) {
	f.Add(uint64(1), uint8(2), uint8(6), uint8(1), uint8(2), uint8(5), false)
	f.Add(uint64(7), uint8(1), uint8(3), uint8(3), uint8(2), uint8(3), true)
	f.Add(uint64(42), uint8(3), uint8(12), uint8(2), uint8(3), uint8(40), true)
	f.Add(uint64(9), uint8(0), uint8(0), uint8(0), uint8(1), uint8(1), false)
	f.Fuzz(func(t *testing.T, seed uint64, nDVG, nDPV, stripes, mirrors, size uint8, clone bool) {
		rng := rand.New(rand.NewPCG(seed, uint64(nDPV)))
		st, req := randomInput(rng, int(nDVG%4), int(nDPV%16), int(stripes%5), int(mirrors%5), int(size%64), clone)

		plan, err := Place(req, st)
		if err != nil {
			require.Nil(t, plan)
			if errors.Is(err, model.ErrInvalid) {
				require.Error(t, validate(req))
				return
			}
			require.ErrorIs(t, err, model.ErrNoPlacement)
			require.NotEmpty(t, model.UserMessage(err))
			eligible, _ := filterSpecs(req, st, filterDVGs(req, st.DVGs))
			for _, g := range eligible {
				require.False(t, feasible(g, st, req), "Place gave up but dvg %s can hold the legs: %v", g.Name, err)
			}
			return
		}
		checkPlan(t, st, req, plan)
	})
}

func randomInput(rng *rand.Rand, nDVG, nDPV, stripes, mirrors, size int, clone bool) (State, Request) {
	azs := []string{"nova", "az2"}
	var st State
	st.Now = now
	st.HeartbeatTimeout = 30 * time.Second
	st.Provisioned = map[string]int64{}
	for i := range nDVG {
		st.DVGs = append(st.DVGs, &model.DVG{
			ID: fmt.Sprintf("g%d", i), Name: fmt.Sprintf("dvg%d", rng.IntN(3)), // names may clash
			AvailabilityZone: azs[rng.IntN(2)], BackendName: []string{"fast", "slow"}[rng.IntN(2)],
			OverSubscription: []float64{0, 1, 1.5, 20}[rng.IntN(4)], ReservedPercentage: rng.IntN(30),
		})
	}
	states := []string{"up", "up", "up", "down", "draining"}
	for i := range nDPV {
		total := rng.Int64N(200) * gib
		p := &model.DPV{
			ID: fmt.Sprintf("p%d", i), Name: fmt.Sprintf("dpv%d", rng.IntN(8)), // names may clash
			DVGID: fmt.Sprintf("g%d", rng.IntN(max(nDVG, 1))), Location: []string{"", "r1", "r2", "r3"}[rng.IntN(4)],
			TotalBytes: total, FreeBytes: rng.Int64N(total + 1), State: states[rng.IntN(len(states))],
			HeartbeatAt:      now.Add(-time.Duration(rng.IntN(60)) * time.Second),
			ProvisionedBytes: rng.Int64N(100) * gib,
		}
		if rng.IntN(3) > 0 {
			st.Provisioned[p.ID] = rng.Int64N(300) * gib
		}
		st.DPVs = append(st.DPVs, p)
	}
	req := Request{SizeGiB: size, Layout: model.Layout{Stripes: stripes, Mirrors: mirrors, ChunkKiB: []int{0, 4, 512}[rng.IntN(3)]}}
	if rng.IntN(2) == 0 {
		req.AvailabilityZone = azs[rng.IntN(2)]
	}
	if rng.IntN(3) == 0 {
		req.BackendName = "fast"
	}
	switch rng.IntN(6) {
	case 0:
		req.ExtraSpecs = map[string]string{"capabilities:volume_backend_name": "<or> fast <or> slow", "dlvm:mirrors": "9"}
	case 1:
		req.ExtraSpecs = map[string]string{"volume_backend_name": "slow", "thin_provisioning_support": "<is> True"}
	case 2:
		req.ExtraSpecs = map[string]string{"free_capacity_gb": fmt.Sprintf(">= %d", rng.IntN(300))}
	}
	if rng.IntN(4) == 0 && nDVG > 0 {
		req.DVGID = fmt.Sprintf("g%d", rng.IntN(nDVG))
	}
	if clone && nDPV > 0 {
		for g := range stripes {
			for m := range mirrors {
				req.SourceLegs = append(req.SourceLegs, &model.Leg{Group: g, Mirror: m, DPVID: fmt.Sprintf("p%d", rng.IntN(nDPV))})
			}
		}
	}
	return st, req
}

// room returns, for each usable dpv of g, its virtual room and whether its physical space allows
// a new leg — computed here independently of place.go.
func room(g *model.DVG, st State) map[string]int64 {
	r := g.OverSubscription
	if r < 1 {
		r = 1
	}
	out := map[string]int64{}
	for _, p := range st.DPVs {
		if p.DVGID != g.ID || p.State != "up" || st.Now.Sub(p.HeartbeatAt) > st.HeartbeatTimeout {
			continue
		}
		if p.FreeBytes-p.TotalBytes*int64(g.ReservedPercentage)/100 <= 0 {
			continue
		}
		prov, ok := st.Provisioned[p.ID]
		if !ok {
			prov = p.ProvisionedBytes
		}
		out[p.ID] = int64(float64(p.TotalBytes)*r) - prov
	}
	return out
}

// feasible: stripes rounds of mirrors distinct dpvs fit iff sum(min(legs each dpv can take,
// stripes)) >= stripes*mirrors.
func feasible(g *model.DVG, st State, req Request) bool {
	leg := req.Layout.LegSize(req.SizeGiB)
	sum := 0
	for _, free := range room(g, st) {
		if free >= leg {
			sum += int(min(free/leg, int64(req.Layout.Stripes)))
		}
	}
	return sum >= req.Layout.Legs()
}

func checkPlan(t *testing.T, st State, req Request, plan *Plan) {
	t.Helper()
	l := req.Layout
	require.NotNil(t, plan.DVG)
	require.Contains(t, filterDVGs(req, st.DVGs), plan.DVG)
	require.Empty(t, MatchSpecs(req.ExtraSpecs, CapabilitiesOf(plan.DVG, st)), "plan's dvg fails the extra specs")
	require.Len(t, plan.Legs, l.Legs())
	leg := l.LegSize(req.SizeGiB)
	free := room(plan.DVG, st)
	used := map[string]int64{}
	perGroup := map[int]map[string]bool{}
	for i, lg := range plan.Legs {
		require.Equal(t, i/l.Mirrors, lg.Group, "legs ordered by group")
		require.Equal(t, i%l.Mirrors, lg.Mirror, "legs ordered by mirror")
		require.Equal(t, leg, lg.SizeBytes)
		_, ok := free[lg.DPVID]
		require.True(t, ok, "leg on dpv %s that is not usable in dvg %s", lg.DPVID, plan.DVG.ID)
		if perGroup[lg.Group] == nil {
			perGroup[lg.Group] = map[string]bool{}
		}
		require.False(t, perGroup[lg.Group][lg.DPVID], "group %d uses dpv %s twice", lg.Group, lg.DPVID)
		perGroup[lg.Group][lg.DPVID] = true
		used[lg.DPVID] += lg.SizeBytes
	}
	for id, n := range used {
		require.LessOrEqual(t, n, free[id], "dpv %s over capacity", id)
	}
}
