package scheduler

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

func TestPlace(t *testing.T) {
	nova := func(size int, l model.Layout) Request {
		return Request{VolumeID: "vol-1", SizeGiB: size, Layout: l, AvailabilityZone: "nova"}
	}
	withReq := func(r Request, f func(*Request)) Request { f(&r); return r }

	tests := []struct {
		name string
		st   State
		req  Request
		want string
	}{{
		name: "single leg goes to the dpv with most free",
		st:   state([]*model.DVG{vg("gold")}, []*model.DPV{dpv("a", "gold", 100), dpv("b", "gold", 200)}, nil),
		req:  nova(1, layout(1, 1)),
		want: `dvg gold
		       g0m0 b 1073741824`,
	}, {
		name: "two mirrors on distinct dpvs",
		st: state([]*model.DVG{vg("gold")},
			[]*model.DPV{dpv("a", "gold", 100), dpv("b", "gold", 100), dpv("c", "gold", 50)}, nil),
		req: nova(1, layout(1, 2)),
		want: `dvg gold
		       g0m0 a 1073741824
		       g0m1 b 1073741824`,
	}, {
		name: "mirrors on distinct locations before more free space",
		st: state([]*model.DVG{vg("gold")}, []*model.DPV{
			dpv("a", "gold", 100, at("r1")), dpv("b", "gold", 90, at("r1")), dpv("c", "gold", 50, at("r2"))}, nil),
		req: nova(1, layout(1, 2)),
		want: `dvg gold
		       g0m0 a 1073741824
		       g0m1 c 1073741824`,
	}, {
		name: "locations scarcer than mirrors fall back to distinct dpvs",
		st: state([]*model.DVG{vg("gold")}, []*model.DPV{
			dpv("a", "gold", 100, at("r1")), dpv("b", "gold", 100, at("r1")), dpv("c", "gold", 100, at("r2"))}, nil),
		req: nova(1, layout(1, 3)),
		want: `dvg gold
		       g0m0 a 1073741824
		       g0m1 c 1073741824
		       g0m2 b 1073741824`,
	}, {
		name: "2x2 groups spread over four dpvs",
		st: state([]*model.DVG{vg("gold")}, []*model.DPV{
			dpv("a", "gold", 100), dpv("b", "gold", 100), dpv("c", "gold", 100), dpv("d", "gold", 100)}, nil),
		req: nova(2, layout(2, 2)),
		want: `dvg gold
		       g0m0 a 1073741824
		       g0m1 b 1073741824
		       g1m0 c 1073741824
		       g1m1 d 1073741824`,
	}, {
		name: "2x2 on three dpvs reuses the one with most room left",
		st: state([]*model.DVG{vg("gold")},
			[]*model.DPV{dpv("a", "gold", 100), dpv("b", "gold", 100), dpv("c", "gold", 100)}, map[string]int64{"a": 50}),
		req: nova(3, layout(2, 2)),
		want: `dvg gold
		       g0m0 b 1610612736
		       g0m1 c 1610612736
		       g1m0 a 1610612736
		       g1m1 b 1610612736`,
	}, {
		name: "packing pass when spreading cannot fit every leg",
		st: state([]*model.DVG{vg("gold")}, []*model.DPV{
			dpv("a", "gold", 3, roomForMetadata(3)), dpv("b", "gold", 1, roomForMetadata(1)),
			dpv("c", "gold", 1, roomForMetadata(1)), dpv("d", "gold", 1, roomForMetadata(1))}, nil),
		req: nova(3, layout(3, 2)),
		want: `dvg gold
		       g0m0 a 1073741824
		       g0m1 b 1073741824
		       g1m0 a 1073741824
		       g1m1 c 1073741824
		       g2m0 a 1073741824
		       g2m1 d 1073741824`,
	}, {
		name: "over-subscription ratio allows thin overcommit",
		st: state([]*model.DVG{vg("gold", ratio(2))},
			[]*model.DPV{dpv("a", "gold", 10, roomForMetadata(1)), dpv("b", "gold", 10, roomForMetadata(1))}, map[string]int64{"a": 15, "b": 15}),
		req: nova(5, layout(1, 2)),
		want: `dvg gold
		       g0m0 a 5368709120
		       g0m1 b 5368709120`,
	}, {
		name: "over-subscription ratio refuses beyond it",
		st: state([]*model.DVG{vg("gold", ratio(1.5))},
			[]*model.DPV{dpv("a", "gold", 10), dpv("b", "gold", 10)}, map[string]int64{"a": 15, "b": 15}),
		req:  nova(5, layout(1, 2)),
		want: `error: no valid placement: No valid backend was found. 2 mirrors need 2 distinct dpvs with 5 GiB free in availability zone nova; dvg gold has 0.`,
	}, {
		name: "reserved percentage eats the last physical space",
		st: state([]*model.DVG{vg("gold", reservedPct(10))},
			[]*model.DPV{dpv("a", "gold", 100, freeGiB(10)), dpv("b", "gold", 100, freeGiB(50))}, nil),
		req: nova(1, layout(1, 1)),
		want: `dvg gold
		       g0m0 b 1073741824`,
	}, {
		name: "reserved percentage below the physical free space",
		st: state([]*model.DVG{vg("gold", reservedPct(5))},
			[]*model.DPV{dpv("a", "gold", 100, freeGiB(10)), dpv("b", "gold", 100, freeGiB(50))}, nil),
		req: nova(1, layout(1, 1)),
		want: `dvg gold
		       g0m0 a 1073741824`,
	}, {
		name: "dead dpvs ignored: stale heartbeat and state down",
		st: state([]*model.DVG{vg("gold")}, []*model.DPV{
			dpv("a", "gold", 900, beatAgo(time.Minute)), dpv("b", "gold", 900, stateIs("down")),
			dpv("c", "gold", 100), dpv("d", "gold", 100), dpv("e", "gold", 900, stateIs("draining"))}, nil),
		req: nova(1, layout(1, 2)),
		want: `dvg gold
		       g0m0 c 1073741824
		       g0m1 d 1073741824`,
	}, {
		name: "dvg with most free capacity wins",
		st: state([]*model.DVG{vg("gold"), vg("silver")}, []*model.DPV{
			dpv("a", "gold", 100), dpv("b", "gold", 100), dpv("x", "silver", 200), dpv("y", "silver", 200)}, nil),
		req: nova(1, layout(1, 2)),
		want: `dvg silver
		       g0m0 x 1073741824
		       g0m1 y 1073741824`,
	}, {
		name: "availability zone filter",
		st: state([]*model.DVG{vg("gold"), vg("silver", az("az2"))},
			[]*model.DPV{dpv("a", "gold", 900), dpv("x", "silver", 100)}, nil),
		req: withReq(nova(1, layout(1, 1)), func(r *Request) { r.AvailabilityZone = "az2" }),
		want: `dvg silver
		       g0m0 x 1073741824`,
	}, {
		name: "backend name filter",
		st: state([]*model.DVG{vg("gold", backend("fast")), vg("silver", backend("slow"))},
			[]*model.DPV{dpv("a", "gold", 900), dpv("x", "silver", 100)}, nil),
		req: withReq(nova(1, layout(1, 1)), func(r *Request) { r.BackendName = "slow" }),
		want: `dvg silver
		       g0m0 x 1073741824`,
	}, {
		name: "extra spec volume_backend_name picks the backend",
		st: state([]*model.DVG{vg("gold", backend("fast")), vg("silver", backend("slow"))},
			[]*model.DPV{dpv("a", "gold", 900), dpv("x", "silver", 100)}, nil),
		req: withReq(nova(1, layout(1, 1)), func(r *Request) {
			r.ExtraSpecs = map[string]string{"capabilities:volume_backend_name": "slow", "dlvm:mirrors": "1"}
		}),
		want: `dvg silver
		       g0m0 x 1073741824`,
	}, {
		name: "extra spec <or> and a capacity comparison",
		st: state([]*model.DVG{vg("gold", backend("fast")), vg("silver", backend("slow")), vg("tin", backend("cheap"))},
			[]*model.DPV{dpv("a", "gold", 900), dpv("x", "silver", 100), dpv("t", "tin", 50)}, nil),
		req: withReq(nova(1, layout(1, 1)), func(r *Request) {
			r.ExtraSpecs = map[string]string{"volume_backend_name": "<or> slow <or> cheap", "free_capacity_gb": ">= 60"}
		}),
		want: `dvg silver
		       g0m0 x 1073741824`,
	}, {
		name: "no dvg satisfies the extra specs",
		st: state([]*model.DVG{vg("gold"), vg("silver")},
			[]*model.DPV{dpv("a", "gold", 900), dpv("x", "silver", 100)}, nil),
		req: withReq(nova(1, layout(1, 1)), func(r *Request) {
			r.ExtraSpecs = map[string]string{"vendor_name": "acme", "storage_protocol": "iSCSI"}
		}),
		want: `error: no valid placement: No valid backend was found. No dvg in availability zone nova matches the volume type's extra specs (dvg gold: vendor_name=acme, dvg silver: vendor_name=acme).`,
	}, {
		name: "forced dvg",
		st: state([]*model.DVG{vg("gold"), vg("silver")},
			[]*model.DPV{dpv("a", "gold", 900), dpv("x", "silver", 100)}, nil),
		req: withReq(nova(1, layout(1, 1)), func(r *Request) { r.DVGID = "silver" }),
		want: `dvg silver
		       g0m0 x 1073741824`,
	}, {
		name: "clone with the same layout stays on the source dpvs",
		st: state([]*model.DVG{vg("gold")}, []*model.DPV{
			dpv("a", "gold", 100), dpv("b", "gold", 500), dpv("c", "gold", 100), dpv("d", "gold", 100)}, nil),
		req: withReq(nova(1, layout(1, 2)), func(r *Request) { r.SourceLegs = srcLegs("g0m0=c", "g0m1=a") }),
		want: `dvg gold
		       g0m0 c 1073741824
		       g0m1 a 1073741824`,
	}, {
		name: "clone with a dead source dpv places that leg normally",
		st: state([]*model.DVG{vg("gold")}, []*model.DPV{
			dpv("a", "gold", 100), dpv("b", "gold", 500), dpv("c", "gold", 100, stateIs("down")), dpv("d", "gold", 100)}, nil),
		req: withReq(nova(1, layout(1, 2)), func(r *Request) { r.SourceLegs = srcLegs("g0m0=c", "g0m1=a") }),
		want: `dvg gold
		       g0m0 b 1073741824
		       g0m1 a 1073741824`,
	}, {
		name: "clone with another layout is placed normally",
		st: state([]*model.DVG{vg("gold")}, []*model.DPV{
			dpv("a", "gold", 100), dpv("b", "gold", 500), dpv("c", "gold", 100)}, nil),
		req: withReq(nova(1, layout(1, 2)), func(r *Request) { r.SourceLegs = srcLegs("g0m0=c") }),
		want: `dvg gold
		       g0m0 b 1073741824
		       g0m1 a 1073741824`,
	}, {
		name: "clone prefers the dvg holding its source over more free space",
		st: state([]*model.DVG{vg("gold"), vg("silver")}, []*model.DPV{
			dpv("a", "gold", 100), dpv("b", "gold", 100), dpv("x", "silver", 500), dpv("y", "silver", 500)}, nil),
		req: withReq(nova(1, layout(1, 2)), func(r *Request) { r.SourceLegs = srcLegs("g0m0=b", "g0m1=a") }),
		want: `dvg gold
		       g0m0 b 1073741824
		       g0m1 a 1073741824`,
	}, {
		name: "not enough dpvs",
		st:   state([]*model.DVG{vg("gold")}, []*model.DPV{dpv("a", "gold", 100), dpv("b", "gold", 100, stateIs("down"))}, nil),
		req:  nova(5, layout(1, 2)),
		want: `error: no valid placement: No valid backend was found. 2 mirrors need 2 distinct dpvs with 5 GiB free in availability zone nova; dvg gold has 1.`,
	}, {
		name: "not enough room for every stripe",
		st: state([]*model.DVG{vg("gold"), vg("silver")},
			[]*model.DPV{dpv("a", "gold", 1, roomForMetadata(1)), dpv("b", "gold", 1, roomForMetadata(1)), dpv("x", "silver", 100)}, nil),
		req:  withReq(nova(2, layout(2, 2)), func(r *Request) { r.BackendName = "dlvm" }),
		want: `error: no valid placement: No valid backend was found. 2 mirrors need 2 distinct dpvs with 1 GiB free for each of 2 stripes in availability zone nova for backend dlvm; dvg gold has 2 but too little room for all 4 legs, dvg silver has 1.`,
	}, {
		name: "leg sizes below a GiB are reported in MiB",
		st:   state([]*model.DVG{vg("gold")}, nil, nil),
		req:  nova(1, layout(4, 1)),
		want: `error: no valid placement: No valid backend was found. 1 leg needs a dpv with 256 MiB free for each of 4 stripes in availability zone nova; dvg gold has 0.`,
	}, {
		name: "no dvg matches the filters",
		st:   state([]*model.DVG{vg("gold")}, []*model.DPV{dpv("a", "gold", 100)}, nil),
		req:  withReq(nova(1, layout(1, 1)), func(r *Request) { r.AvailabilityZone = "mars"; r.DVGID = "gold" }),
		want: `error: no valid placement: No valid backend was found. No dvg in availability zone mars in dvg gold.`,
	}, {
		name: "no dvg at all",
		st:   state(nil, nil, nil),
		req:  withReq(nova(1, layout(1, 1)), func(r *Request) { r.AvailabilityZone = "" }),
		want: `error: no valid placement: No valid backend was found. No dvg is configured.`,
	}, {
		name: "zero mirrors is invalid",
		st:   state([]*model.DVG{vg("gold")}, []*model.DPV{dpv("a", "gold", 100)}, nil),
		req:  nova(1, layout(1, 0)),
		want: `error: invalid input: Invalid layout: mirrors must be at least 1, got 0.`,
	}, {
		name: "zero stripes is invalid",
		st:   state([]*model.DVG{vg("gold")}, []*model.DPV{dpv("a", "gold", 100)}, nil),
		req:  nova(1, layout(0, 1)),
		want: `error: invalid input: Invalid layout: stripes must be at least 1, got 0.`,
	}, {
		name: "zero chunk is invalid",
		st:   state([]*model.DVG{vg("gold")}, []*model.DPV{dpv("a", "gold", 100)}, nil),
		req:  nova(1, model.Layout{Stripes: 1, Mirrors: 1}),
		want: `error: invalid input: Invalid layout: stripe chunk must be positive, got 0 KiB.`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Place(tt.req, tt.st)
			requirePlan(t, tt.want, p, err)
		})
	}
}

// TestPlaceDeterministic: the same input gives the same plan, also when the snapshot lists
// dvgs and dpvs in another order (database order must not matter).
func TestPlaceDeterministic(t *testing.T) {
	var dpvs []*model.DPV
	for i, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		dpvs = append(dpvs, dpv(name, []string{"gold", "silver"}[i%2], 100, at([]string{"r1", "r2", "r3"}[i%3])))
	}
	st := state([]*model.DVG{vg("gold"), vg("silver")}, dpvs, map[string]int64{"a": 3, "d": 7})
	req := Request{SizeGiB: 4, Layout: layout(2, 2), AvailabilityZone: "nova"}

	first, err := Place(req, st)
	require.NoError(t, err)
	want := render(first, nil)

	again, err := Place(req, st)
	require.NoError(t, err)
	require.Equal(t, want, render(again, nil))

	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := st
		shuffled.DPVs = append([]*model.DPV(nil), st.DPVs...)
		shuffled.DVGs = append([]*model.DVG(nil), st.DVGs...)
		rng.Shuffle(len(shuffled.DPVs), func(i, j int) { shuffled.DPVs[i], shuffled.DPVs[j] = shuffled.DPVs[j], shuffled.DPVs[i] })
		rng.Shuffle(len(shuffled.DVGs), func(i, j int) { shuffled.DVGs[i], shuffled.DVGs[j] = shuffled.DVGs[j], shuffled.DVGs[i] })
		p, err := Place(req, shuffled)
		require.NoError(t, err)
		require.Equal(t, want, render(p, nil), "shuffle %d", i)
	}
}

// TestPlaceLeavesStateAlone: Place reads the snapshot only.
func TestPlaceLeavesStateAlone(t *testing.T) {
	st := state([]*model.DVG{vg("gold")}, []*model.DPV{dpv("a", "gold", 100), dpv("b", "gold", 100)}, map[string]int64{"a": 1})
	dpvsBefore := []model.DPV{*st.DPVs[0], *st.DPVs[1]}
	dvgBefore := *st.DVGs[0]
	_, err := Place(Request{SizeGiB: 1, Layout: layout(2, 2)}, st)
	require.NoError(t, err)
	require.Equal(t, dpvsBefore, []model.DPV{*st.DPVs[0], *st.DPVs[1]})
	require.Equal(t, dvgBefore, *st.DVGs[0])
	require.Equal(t, map[string]int64{"a": 1 * gib}, st.Provisioned)
}
