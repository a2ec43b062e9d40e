package scheduler

import (
	"slices"

	"github.com/dlvm-project/dlvm/model"
)

// ReplaceRequest asks for a dpv for one new leg that takes the place of a lost one.
type ReplaceRequest struct {
	DVGID     string       // the volume's dvg
	SizeBytes int64        // the leg's size
	Group     int          // the lost leg's group
	Legs      []*model.Leg // every other leg of the volume (Group and DPVID set)
	Exclude   []string     // dpvs that must not be chosen (the lost leg's dpv)
}

// PlaceReplacement chooses the dpv of a replacement leg by Place's rules for one slot: a usable
// dpv of the volume's dvg with room for the leg, never one holding another leg of the same group
// (hard rule) nor an excluded one; then, in order, a location the group does not use, the dpv
// with the fewest legs of the volume, the most free virtual bytes, the name. ErrNoPlacement, with
// a user-safe reason, when no dpv qualifies.
func PlaceReplacement(req ReplaceRequest, st State) (string, error) {
	var g *model.DVG
	for _, d := range st.DVGs {
		if d.ID == req.DVGID {
			g = d
		}
	}
	if g == nil {
		return "", model.Errorf(model.ErrNoPlacement, "No valid backend was found. The volume's dvg %s is unknown.", req.DVGID)
	}
	pvs := usablePVs(g, st)
	byID := map[string]*pv{}
	for _, d := range pvs {
		byID[d.p.ID] = d
	}
	used := map[string]bool{}
	taken := map[string]bool{}
	for _, l := range req.Legs {
		if d := byID[l.DPVID]; d != nil {
			d.legs++
		}
		if l.Group == req.Group {
			taken[l.DPVID] = true
			if d := byID[l.DPVID]; d != nil {
				used[d.domain()] = true
			} else if p := dpvByID(st.DPVs, l.DPVID); p != nil {
				used[(&pv{p: p}).domain()] = true
			}
		}
	}
	var best *pv
	for _, d := range pvs {
		if taken[d.p.ID] || slices.Contains(req.Exclude, d.p.ID) || !d.fits(req.SizeBytes) {
			continue
		}
		if best == nil || spreadRank(d, best, used) < 0 {
			best = d
		}
	}
	if best == nil {
		return "", model.Errorf(model.ErrNoPlacement, "No valid backend was found. No other dpv of dvg %s can hold a %d-byte leg away from its mirrors.", g.Name, req.SizeBytes)
	}
	return best.p.ID, nil
}

func dpvByID(ps []*model.DPV, id string) *model.DPV {
	for _, p := range ps {
		if p.ID == id {
			return p
		}
	}
	return nil
}
