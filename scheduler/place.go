package scheduler

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/dlvm-project/dlvm/model"
)

// pv is a usable dpv of the dvg being tried, with the capacity accounting of the plan in progress.
type pv struct {
	p      *model.DPV
	cap    int64 // virtual capacity: total * over-subscription ratio
	base   int64 // bytes provisioned before this plan
	prov   int64 // bytes provisioned including the legs of this plan
	physOK bool  // physical free bytes minus the reserved share stay above zero
	legs   int   // legs of this plan on the dpv
}

func (d *pv) fits(size int64) bool { return d.physOK && size <= d.cap-d.prov }

// free is the virtual room left, counting the legs placed so far.
func (d *pv) free() int64 { return d.cap - d.prov }

// domain is the failure domain: the location, or the dpv itself when it declares none.
func (d *pv) domain() string {
	if d.p.Location == "" {
		return "dpv:" + d.p.ID
	}
	return "loc:" + d.p.Location
}

func (d *pv) take(size int64) {
	d.prov += size
	d.legs++
}

// rank orders two candidate dpvs for the next leg of a group whose legs use the domains in used;
// negative means a is better.
type rank func(a, b *pv, used map[string]bool) int

// spreadRank: a new location for the group, then the dpv with fewest legs of the plan, then most
// free, then name.
func spreadRank(a, b *pv, used map[string]bool) int {
	return cmp.Or(
		cmpFalseFirst(used[a.domain()], used[b.domain()]),
		cmp.Compare(a.legs, b.legs),
		cmp.Compare(b.free(), a.free()),
		cmp.Compare(a.p.Name, b.p.Name),
		cmp.Compare(a.p.ID, b.p.ID))
}

// packRank: most free first. Legs of one volume are equal, so taking the dpvs with the most room
// for each group in turn places every leg whenever any placement exists.
func packRank(a, b *pv, _ map[string]bool) int {
	return cmp.Or(
		cmp.Compare(b.free(), a.free()),
		cmp.Compare(a.p.Name, b.p.Name),
		cmp.Compare(a.p.ID, b.p.ID))
}

func cmpFalseFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// passes are tried in order until one places every leg.
var passes = []struct {
	rank rank
	pins bool
}{
	{spreadRank, true}, // the normal rules
	{packRank, true},   // spread gave up: pack, still cloning locally where possible
	{packRank, false},  // local clones cost room another leg needed: plain packing
}

// placeIn places every leg in dvg g, or returns nil and the reason (e.g. "dvg gold has 1").
func placeIn(g *model.DVG, st State, l model.Layout, size int64, pins map[slot]string) (*candidate, string) {
	pvs := usablePVs(g, st)
	var free int64
	fitting := 0
	for _, d := range pvs {
		if d.physOK && d.free() > 0 {
			free = satAdd(free, d.free())
		}
		if d.fits(size) {
			fitting++
		}
	}
	for _, pass := range passes {
		for _, d := range pvs {
			d.prov, d.legs = d.base, 0
		}
		p := pins
		if !pass.pins {
			p = nil
		}
		if legs, local, ok := assign(pvs, l, size, p, pass.rank); ok {
			return &candidate{plan: &Plan{DVG: g, Legs: legs}, local: local, free: free}, ""
		}
	}
	if fitting < l.Mirrors {
		return nil, fmt.Sprintf("dvg %s has %d", g.Name, fitting)
	}
	return nil, fmt.Sprintf("dvg %s has %d but too little room for all %d legs", g.Name, fitting, l.Legs())
}

// usablePVs returns the usable dpvs of g, ordered by name then id, with their capacities.
func usablePVs(g *model.DVG, st State) []*pv {
	ratio := g.OverSubscription
	if !(ratio >= 1) { // also catches NaN
		ratio = 1
	}
	pct := min(max(g.ReservedPercentage, 0), 100)
	var out []*pv
	for _, p := range st.DPVs {
		if p == nil || p.DVGID != g.ID || !st.Usable(p) {
			continue
		}
		total := max(p.TotalBytes, 0)
		prov, ok := st.Provisioned[p.ID]
		if !ok {
			prov = p.ProvisionedBytes
		}
		prov = max(prov, 0)
		reserved := int64(float64(total) * float64(pct) / 100)
		out = append(out, &pv{
			p:      p,
			cap:    mulClamp(total, ratio),
			base:   prov,
			prov:   prov,
			physOK: p.FreeBytes-reserved > 0,
		})
	}
	slices.SortFunc(out, func(a, b *pv) int {
		return cmp.Or(cmp.Compare(a.p.Name, b.p.Name), cmp.Compare(a.p.ID, b.p.ID))
	})
	return out
}

// assign fills every (group, mirror) slot: pinned slots first, so that legs placed by rank
// cannot take the room a local clone needs, then the other slots group by group.
func assign(pvs []*pv, l model.Layout, size int64, pins map[slot]string, rank rank) ([]*model.Leg, int, bool) {
	byID := make(map[string]*pv, len(pvs))
	for _, d := range pvs {
		byID[d.p.ID] = d
	}
	chosen := make([][]*pv, l.Stripes)
	for g := range chosen {
		chosen[g] = make([]*pv, l.Mirrors)
	}
	local := 0
	for g := range l.Stripes {
		for m := range l.Mirrors {
			id, ok := pins[slot{g, m}]
			d := byID[id]
			if !ok || d == nil || !d.fits(size) || slices.Contains(chosen[g], d) {
				continue
			}
			d.take(size)
			chosen[g][m] = d
			local++
		}
	}
	for g := range l.Stripes {
		used := map[string]bool{}
		for _, d := range chosen[g] {
			if d != nil {
				used[d.domain()] = true
			}
		}
		for m := range l.Mirrors {
			if chosen[g][m] != nil {
				continue
			}
			var best *pv
			for _, d := range pvs {
				if !d.fits(size) || slices.Contains(chosen[g], d) {
					continue
				}
				if best == nil || rank(d, best, used) < 0 {
					best = d
				}
			}
			if best == nil {
				return nil, 0, false
			}
			best.take(size)
			chosen[g][m] = best
			used[best.domain()] = true
		}
	}
	legs := make([]*model.Leg, 0, l.Legs())
	for g := range l.Stripes {
		for m, d := range chosen[g] {
			legs = append(legs, &model.Leg{Group: g, Mirror: m, DPVID: d.p.ID, SizeBytes: size})
		}
	}
	return legs, local, true
}

// mulClamp returns n*f saturated to [0, MaxInt64].
func mulClamp(n int64, f float64) int64 {
	v := float64(n) * f
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	if v <= 0 {
		return 0
	}
	return int64(v)
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
